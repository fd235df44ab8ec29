"""Champion against challenger on the same rows: McNemar's exact test for classifiers,
a paired permutation test for regression, and the verdict at alpha."""

from __future__ import annotations

import numpy as np
import pytest

from config.schema import ProblemType
from monitoring.paired_comparison import BETTER, TIE, WORSE, compare


def _binary(wins: int, losses: int, both: int = 20) -> tuple[np.ndarray, ...]:
    """Labels and two models' probabilities: ``wins`` rows only the challenger gets
    right, ``losses`` only the champion, ``both`` rows both do."""
    labels = np.ones(wins + losses + both, dtype=int)
    champion = np.r_[np.full(wins, 0.2), np.full(losses, 0.8), np.full(both, 0.9)]
    challenger = np.r_[np.full(wins, 0.8), np.full(losses, 0.2), np.full(both, 0.9)]
    return labels, champion, challenger


def test_mcnemar_exact_p_value_is_the_binomial_tail_computed_by_hand() -> None:
    # 2 wins against 10 losses among 12 discordant rows: p = 2 * P(X <= 2 | 12, 1/2)
    # = 2 * (1 + 12 + 66) / 4096 = 158 / 4096.
    verdict = compare(ProblemType.BINARY_CLASSIFICATION, *_binary(2, 10))
    assert verdict.p_value == pytest.approx(158 / 4096)
    assert verdict.verdict == WORSE
    assert verdict.details == {"challenger_only_right": 2, "champion_only_right": 10}
    assert verdict.rows == 32
    assert "challenger worse (McNemar's exact test, p = 0.0386" in verdict.line()


def test_the_verdict_needs_evidence() -> None:
    assert compare(ProblemType.BINARY_CLASSIFICATION, *_binary(10, 2)).verdict == BETTER
    close = compare(ProblemType.BINARY_CLASSIFICATION, *_binary(6, 4))
    assert close.verdict == TIE and close.p_value > 0.05
    same = compare(ProblemType.BINARY_CLASSIFICATION, *_binary(0, 0))
    assert same.p_value == 1.0 and same.verdict == TIE


def test_multiclass_rows_are_right_or_wrong_by_the_most_probable_class() -> None:
    labels = np.array([0, 1, 2] * 10)
    champion = np.eye(3)[np.zeros(30, dtype=int)]  # always class 0: right on 10 rows
    challenger = np.eye(3)[labels]  # always right
    verdict = compare(ProblemType.MULTICLASS_CLASSIFICATION, labels, champion, challenger)
    assert verdict.details == {"challenger_only_right": 20, "champion_only_right": 0}
    assert verdict.verdict == BETTER and verdict.p_value == pytest.approx(2 * 0.5**20)


def test_regression_uses_a_seeded_paired_permutation_test_on_squared_error() -> None:
    rng = np.random.default_rng(3)
    labels = rng.normal(size=200)
    champion = labels + rng.normal(scale=1.0, size=200)
    challenger = labels + rng.normal(scale=0.5, size=200)
    verdict = compare(ProblemType.REGRESSION, labels, champion, challenger, seed=1)
    assert verdict.verdict == BETTER and verdict.p_value < 0.001
    assert verdict.details["challenger_mse"] < verdict.details["champion_mse"]
    again = compare(ProblemType.REGRESSION, labels, champion, challenger, seed=1)
    assert again.p_value == verdict.p_value
    tied = compare(ProblemType.REGRESSION, labels, champion, champion)
    assert tied.verdict == TIE


def test_rows_that_do_not_pair_are_refused() -> None:
    with pytest.raises(ValueError, match="same rows"):
        compare(ProblemType.REGRESSION, np.zeros(3), np.zeros(3), np.zeros(2))
    with pytest.raises(ValueError, match="no paired rows"):
        compare(ProblemType.REGRESSION, np.zeros(0), np.zeros(0), np.zeros(0))
