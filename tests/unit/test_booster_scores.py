"""``BoosterScores`` gives exactly ``inplace_predict``'s scores: binary, regression and
multiclass boosters, 1 and 1000 rows, missing values included (the contract tier checks
the same under the image's Python: tests/contract/test_image_environment.py)."""

from __future__ import annotations

import numpy as np
import pytest
import xgboost as xgb

from features.booster_scores import BoosterScores

FEATURES = 7


def _booster(objective: str, labels: np.ndarray, **params: object) -> xgb.Booster:
    rng = np.random.default_rng(0)
    data = rng.normal(size=(len(labels), FEATURES)).astype(np.float32)
    data[rng.random(data.shape) < 0.1] = np.nan
    train = xgb.DMatrix(data, label=labels)
    return xgb.train({"objective": objective, "max_depth": 4, **params}, train, 12)


BOOSTERS = {
    "binary": lambda: _booster("binary:logistic", np.arange(400) % 2),
    "regression": lambda: _booster("reg:squarederror", np.linspace(0, 5, 400)),
    "multiclass": lambda: _booster("multi:softprob", np.arange(400) % 3, num_class=3),
}


@pytest.mark.parametrize("problem", sorted(BOOSTERS))
@pytest.mark.parametrize("rows", [1, 1000])
def test_the_scores_are_inplace_predicts_bit_for_bit(problem: str, rows: int) -> None:
    booster = BOOSTERS[problem]()
    booster.set_param({"nthread": 1})
    rng = np.random.default_rng(rows)
    matrix = rng.normal(size=(rows, FEATURES)).astype(np.float32)
    matrix[rng.random(matrix.shape) < 0.2] = np.nan
    expected = np.asarray(booster.inplace_predict(matrix), dtype=np.float64)
    scores = BoosterScores.of(booster)(matrix)
    assert scores.dtype == np.float64 and scores.shape == expected.shape
    assert np.array_equal(scores, expected)
    # A second call reads its own result, not the first call's buffer.
    assert np.array_equal(BoosterScores.of(booster)(matrix[:1]), expected[:1])


def test_a_matrix_of_another_layout_is_refused() -> None:
    scores = BoosterScores.of(BOOSTERS["binary"]())
    with pytest.raises(ValueError, match="float32"):
        scores(np.zeros((2, FEATURES)))  # float64
    with pytest.raises(ValueError, match="C order"):
        scores(np.zeros((FEATURES, 2), dtype=np.float32).T)


def test_an_error_of_the_library_is_raised_with_its_message() -> None:
    scores = BoosterScores.of(BOOSTERS["binary"]())
    with pytest.raises(RuntimeError, match="feature"):
        scores(np.zeros((2, FEATURES + 3), dtype=np.float32))
