"""Champion against challenger on the same rows: a paired significance test and its verdict.

Both models scored the same requests, so their errors are paired, and a paired test
sees a difference an unpaired one misses:

- classification (binary and multiclass): McNemar's exact test on the rows where exactly
  one model is right. Under "no difference" each such row is the challenger's with
  probability 1/2, so the p-value is the two-sided binomial test of the challenger's
  wins among them (``scipy.stats.binomtest``);
- regression: a paired permutation test of the mean difference in squared error
  (``scipy.stats.permutation_test`` flipping each row's pair, seeded).

The verdict is ``challenger better`` or ``challenger worse`` when p < ``alpha``, else
``no significant difference``: a promotion needs evidence, a retirement too.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import stats

from config.schema import ProblemType
from features.quality import POSITIVE_AT

ALPHA = 0.05
PERMUTATIONS = 9999
PERMUTATION_BATCH = 500
BETTER, WORSE, TIE = "challenger better", "challenger worse", "no significant difference"


@dataclass(frozen=True)
class PairedVerdict:
    """The test, its p-value, what it counted and the verdict at ``alpha``."""

    test: str
    rows: int
    p_value: float
    verdict: str
    alpha: float
    # McNemar: rows only the challenger / only the champion got right; regression: the
    # mean squared error of each.
    details: dict[str, float]

    def as_dict(self) -> dict[str, Any]:
        """The verdict as the run's summary stores it."""
        return asdict(self)

    def line(self) -> str:
        """One line for a report: verdict, test and p-value, and what it rests on."""
        shown = ", ".join(f"{k} {v:g}" for k, v in self.details.items())
        return (
            f"{self.verdict} ({self.test}, p = {self.p_value:.3g} at alpha {self.alpha:g}, "
            f"{self.rows} paired rows; {shown})"
        )


def _labels(problem_type: ProblemType, scores: np.ndarray) -> np.ndarray:
    if problem_type is ProblemType.MULTICLASS_CLASSIFICATION:
        winners: np.ndarray = np.asarray(scores).argmax(axis=1)
        return winners
    return (np.asarray(scores) >= POSITIVE_AT).astype(int)


def compare(
    problem_type: ProblemType,
    labels: np.ndarray,
    champion: np.ndarray,
    challenger: np.ndarray,
    *,
    alpha: float = ALPHA,
    seed: int = 0,
) -> PairedVerdict:
    """Test the challenger's scores against the champion's on the same labelled rows."""
    labels = np.asarray(labels)
    if len(champion) != len(labels) or len(challenger) != len(labels):
        raise ValueError("champion, challenger and labels must hold the same rows")
    if len(labels) == 0:
        raise ValueError("no paired rows to compare")
    if problem_type is ProblemType.REGRESSION:
        champion_error = (np.asarray(champion, dtype=float) - labels) ** 2
        challenger_error = (np.asarray(challenger, dtype=float) - labels) ** 2
        result = stats.permutation_test(
            (challenger_error, champion_error),
            lambda x, y, axis: np.mean(x - y, axis=axis),
            permutation_type="samples",
            n_resamples=PERMUTATIONS,
            # In batches: all resamples at once hold 9999 x rows floats (1.5 GB at 2000).
            batch=PERMUTATION_BATCH,
            alternative="two-sided",
            random_state=seed,
        )
        p_value, challenger_ahead = float(result.pvalue), result.statistic < 0
        test = "paired permutation test of the squared error"
        details = {
            "champion_mse": round(float(champion_error.mean()), 6),
            "challenger_mse": round(float(challenger_error.mean()), 6),
        }
    else:
        truth = labels.astype(int)
        champion_right = _labels(problem_type, champion) == truth
        challenger_right = _labels(problem_type, challenger) == truth
        wins = int((challenger_right & ~champion_right).sum())
        losses = int((champion_right & ~challenger_right).sum())
        discordant = wins + losses
        p_value = 1.0 if discordant == 0 else float(stats.binomtest(wins, discordant).pvalue)
        challenger_ahead = wins > losses
        test = "McNemar's exact test"
        details = {"challenger_only_right": wins, "champion_only_right": losses}
    verdict = TIE if p_value >= alpha else (BETTER if challenger_ahead else WORSE)
    return PairedVerdict(test, len(labels), p_value, verdict, alpha, details)
