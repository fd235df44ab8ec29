"""DensePredictor gives exactly Booster.inplace_predict's scores, as float64, for every
objective the platform trains, and refuses matrices the C call must not see."""

from __future__ import annotations

import ctypes

import numpy as np
import pytest
import xgboost as xgb

from scoring.dense_predict import DensePredictor

WIDTH = 6


def _booster(objective: str, labels: np.ndarray, **params: object) -> xgb.Booster:
    rng = np.random.default_rng(7)
    features = rng.normal(size=(400, WIDTH)).astype(np.float32)
    features[rng.random(features.shape) < 0.1] = np.nan  # missing values take default paths
    return xgb.train(
        {"objective": objective, "max_depth": 4, "nthread": 1, **params},
        xgb.DMatrix(features, label=labels),
        num_boost_round=20,
    )


def _matrix(rows: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    matrix = rng.normal(size=(rows, WIDTH)).astype(np.float32)
    matrix[rng.random(matrix.shape) < 0.1] = np.nan
    return matrix


LABELS = np.random.default_rng(3).integers(0, 3, size=400)
BOOSTERS = {
    "binary": lambda: _booster("binary:logistic", (LABELS > 0).astype(float)),
    "multiclass": lambda: _booster("multi:softprob", LABELS, num_class=3),
    "regression": lambda: _booster("reg:squarederror", LABELS * 1.5),
}


@pytest.mark.parametrize("kind", sorted(BOOSTERS))
@pytest.mark.parametrize("rows", [1, 7, 1000])
def test_scores_equal_inplace_predict_bit_for_bit(kind: str, rows: int) -> None:
    booster = BOOSTERS[kind]()
    matrix = _matrix(rows, seed=rows)
    expected = booster.inplace_predict(matrix)
    scores = DensePredictor(booster)(matrix)
    assert scores.dtype == np.float64
    assert scores.shape == expected.shape
    assert np.array_equal(scores, expected.astype(np.float64))


def test_a_result_survives_the_next_call() -> None:
    """The C API hands back the booster's per-thread buffer; the scores are copied out."""
    booster = BOOSTERS["binary"]()
    predict = DensePredictor(booster)
    first, second = _matrix(50, seed=1), _matrix(50, seed=2)
    scores = predict(first)
    kept = scores.copy()
    predict(second)
    assert np.array_equal(scores, kept)
    assert not np.array_equal(scores, predict(second))


def test_many_batch_sizes_leave_no_types_behind() -> None:
    """Copying out must not mint a ctypes type per shape: ctypes keeps those forever,
    so a worker serving every batch size from 1 to 6000 rows would grow without end."""
    predict = DensePredictor(BOOSTERS["multiclass"]())
    matrix = _matrix(300, seed=4)
    predict(matrix[:1])
    before = len(ctypes._pointer_type_cache)  # type: ignore[attr-defined]  # CPython's cache
    for rows in range(2, 300):
        predict(matrix[:rows])
    assert len(ctypes._pointer_type_cache) == before  # type: ignore[attr-defined]


def test_zero_rows_give_an_empty_result_of_the_wrapper_shape() -> None:
    booster = BOOSTERS["multiclass"]()
    empty = np.empty((0, WIDTH), dtype=np.float32)
    scores = DensePredictor(booster)(empty)
    assert scores.size == 0
    assert scores.shape == booster.inplace_predict(empty).shape


@pytest.mark.parametrize(
    "matrix",
    [
        pytest.param(np.zeros((3, WIDTH)), id="float64"),
        pytest.param(np.zeros((3, WIDTH + 1), dtype=np.float32), id="too-wide"),
        pytest.param(np.zeros((3, WIDTH - 1), dtype=np.float32), id="too-narrow"),
        pytest.param(np.zeros((WIDTH, 3), dtype=np.float32).T, id="column-major"),
        pytest.param(np.zeros(WIDTH, dtype=np.float32), id="one-dimensional"),
    ],
)
def test_matrices_the_c_call_must_not_see_are_refused(matrix: np.ndarray) -> None:
    with pytest.raises(ValueError, match=f"C-contiguous float32 matrix of {WIDTH} columns"):
        DensePredictor(BOOSTERS["regression"]())(matrix)
