"""``statistics.json`` of the current window, in Model Monitor's format (as features/profile.py).

Numeric features get count, missing, mean, sum, std_dev, min and max from exact running
sums, and a ``kll`` distribution whose buckets are the monitor's histogram (the
baseline's bin edges, the first and last bucket reaching the current min and max) and
whose sketch holds ``SKETCH_POINTS`` quantiles interpolated from that histogram.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from config.schema import DatasetSchema
from features.profile import FORMAT_VERSION, SKETCH_POINTS
from monitoring.sketches import CategoricalState, FeatureState, NumericState


def _common(present: int, missing: int) -> dict[str, int]:
    return {"num_present": present, "num_missing": missing}


def _bounds(state: NumericState) -> np.ndarray:
    """Bucket boundaries: current min, the baseline edges, current max (kept monotone)."""
    low = min(state.minimum, float(state.edges[0])) if state.edges.size else state.minimum
    high = max(state.maximum, float(state.edges[-1])) if state.edges.size else state.maximum
    return np.concatenate([[low], state.edges, [high]])


def _numeric(state: NumericState) -> dict[str, Any]:
    stats: dict[str, Any] = {"common": _common(state.present, state.missing + state.invalid)}
    if state.present == 0:
        return stats
    bounds = _bounds(state)
    cumulative = np.concatenate([[0.0], np.cumsum(state.counts) / state.present])
    ranks = np.linspace(0.0, 1.0, SKETCH_POINTS)
    # Quantiles by linear interpolation inside each bucket of the histogram.
    quantiles = np.interp(ranks, cumulative, bounds)
    stats.update(
        mean=state.mean,
        sum=state.total,
        std_dev=state.std_dev,
        min=state.minimum,
        max=state.maximum,
        distribution={
            "kll": {
                "buckets": [
                    {"lower_bound": float(lo), "upper_bound": float(hi), "count": float(n)}
                    for lo, hi, n in zip(bounds[:-1], bounds[1:], state.counts, strict=True)
                    if n
                ],
                "sketch": {
                    "parameters": {"c": 1.0, "k": float(SKETCH_POINTS)},
                    "data": [[float(q) for q in quantiles]],
                },
            }
        },
    )
    return stats


def _string(state: CategoricalState) -> dict[str, Any]:
    frequencies = {value: n for value, n in state.frequencies().items() if n}
    return {
        "common": _common(state.present, state.missing),
        "distinct_count": float(len(frequencies)),
        "distribution": {
            "categorical": {
                "buckets": [{"value": v, "count": float(n)} for v, n in frequencies.items()]
            }
        },
    }


def statistics(
    schema: DatasetSchema, states: dict[str, FeatureState], types: dict[str, str], rows: int
) -> dict[str, Any]:
    """The window's ``statistics.json``."""
    features = []
    for feature in schema.features:
        state = states[feature.name]
        entry: dict[str, Any] = {"name": feature.name, "inferred_type": types[feature.name]}
        if isinstance(state, NumericState):
            entry["numerical_statistics"] = _numeric(state)
        else:
            entry["string_statistics"] = _string(state)
        features.append(entry)
    return {"version": FORMAT_VERSION, "dataset": {"item_count": rows}, "features": features}
