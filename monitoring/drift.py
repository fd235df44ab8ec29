"""Model Monitor's distribution distances, on the monitor's fixed-size state.

Model Monitor's analyzer (built on Deequ) measures drift as an L-infinity distance:
for a numeric feature the largest gap between the baseline's and the current CDF (the
two-sample Kolmogorov-Smirnov statistic, read off the KLL sketches); for a
categorical one, ``categorical_drift_method: LInfinity``, the largest gap between the
two frequency tables. ``comparison_method: Robust`` subtracts the KS test's critical
value term for the two sample sizes, ``max(0, d - 1.8 * sqrt((n + m) / (n * m)))``,
so a small window does not look drifted by chance; ``Simple`` keeps ``d``. A feature
drifts when the distance is above ``comparison_threshold`` (categorical:
``categorical_comparison_threshold``).

Here the current CDF is exact at every baseline bin edge (the histogram counts values
at or below each edge) and the baseline's is its sketch's, so the numeric distance is
the KS statistic up to the sketch's resolution (1/256 of the baseline's mass).
"""

from __future__ import annotations

import math

import numpy as np

from monitoring.baseline import CategoricalBaseline, NumericBaseline
from monitoring.sketches import CategoricalState, NumericState

KS_FACTOR = 1.8


def robust(distance: float, n: int, m: int) -> float:
    """Deequ's small-sample correction of an L-infinity distance (n, m: sample sizes)."""
    if n <= 0 or m <= 0:
        return distance
    return max(0.0, distance - KS_FACTOR * math.sqrt((n + m) / (n * m)))


def numeric_distance(baseline: NumericBaseline, state: NumericState) -> float:
    """Largest |F_baseline - F_current| over the baseline's edges (0 with no data)."""
    if state.present == 0 or baseline.edges.size == 0:
        return 0.0
    return float(np.max(np.abs(baseline.cdf - state.cdf())))


def categorical_distance(baseline: CategoricalBaseline, state: CategoricalState) -> float:
    """Largest |p_baseline(v) - p_current(v)| over the values of either side."""
    current = state.frequencies()
    n = sum(baseline.counts.values())
    m = sum(current.values())
    if n <= 0 or m <= 0:
        return 0.0
    keys = set(baseline.counts) | set(current)
    return max(abs(baseline.counts.get(k, 0.0) / n - current.get(k, 0) / m) for k in keys)
