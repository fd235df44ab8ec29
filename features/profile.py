"""The platform's data-quality analyzer: Model Monitor's ``statistics.json`` and
``constraints.json``, computed from a table of raw feature values.

SageMaker Model Monitor no longer admits new customers, so this module stands in for
its analyzer container: the pipeline's baseline step writes these two files from the
training split, and the monitoring job will compare captured traffic against them.
The files follow Model Monitor's documented formats, so the registry's drift-check
baselines and a Model Monitor schedule (where an account still has it) read them too.

Numeric features get count, mean, sum, standard deviation, min, max and a
distribution: ten equal-width buckets plus a quantile sketch. Model Monitor stores a
KLL sketch there; this one holds exact quantiles at ``SKETCH_POINTS`` evenly spaced
ranks, in the same ``{"parameters": ..., "data": [[...]]}`` shape, which a drift
comparison reads the same way. Categorical and boolean features get their distinct
count and a frequency per value. Timestamp features get their completeness and
distinct count only: their raw values move on with time, so a frequency table would
grow with every row and always look drifted; the model's inputs derived from them are
hour, weekday, month and trend (features/transform.py).

Missing values and numbers are judged by the value rules (``features/values.py``), as
the ETL and the monitor judge them: a value that is not a number is present but left
out of the numeric statistics.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from config.schema import DatasetSchema, Feature, FeatureType
from features.columns import count_numbers
from features.values import is_missing

FORMAT_VERSION = 0.0
HISTOGRAM_BUCKETS = 10
SKETCH_POINTS = 256
# Model Monitor's defaults: a drift distance above 0.1 is a violation.
COMPARISON_THRESHOLD = 0.1


def _missing(column: pd.Series) -> np.ndarray:
    return np.fromiter(map(is_missing, column), dtype=bool, count=len(column))


def _common(column: pd.Series) -> dict[str, int]:
    missing = int(_missing(column).sum())
    return {"num_present": int(len(column) - missing), "num_missing": missing}


def _numbers(column: pd.Series) -> np.ndarray:
    """The column's numbers (missing and invalid values left out)."""
    parsed = count_numbers(column.to_numpy()).values
    numbers: np.ndarray = parsed[~np.isnan(parsed)]
    return numbers


def _numeric_statistics(column: pd.Series) -> dict[str, Any]:
    values = _numbers(column)
    stats: dict[str, Any] = {"common": _common(column)}
    if values.size == 0:
        return stats
    counts, edges = np.histogram(values, bins=HISTOGRAM_BUCKETS)
    ranks = np.linspace(0.0, 1.0, min(SKETCH_POINTS, values.size))
    stats.update(
        mean=float(values.mean()),
        sum=float(values.sum()),
        std_dev=float(values.std()),
        min=float(values.min()),
        max=float(values.max()),
        distribution={
            "kll": {
                "buckets": [
                    {"lower_bound": float(lo), "upper_bound": float(hi), "count": float(n)}
                    for lo, hi, n in zip(edges[:-1], edges[1:], counts, strict=True)
                ],
                "sketch": {
                    "parameters": {"c": 1.0, "k": float(SKETCH_POINTS)},
                    "data": [[float(q) for q in np.quantile(values, ranks)]],
                },
            }
        },
    )
    return stats


def _string_statistics(column: pd.Series) -> dict[str, Any]:
    present = column[~_missing(column)].astype(str)
    counts = present.value_counts()
    return {
        "common": _common(column),
        "distinct_count": float(len(counts)),
        "distribution": {
            "categorical": {
                "buckets": [{"value": str(v), "count": float(n)} for v, n in counts.items()]
            }
        },
    }


def _inferred_type(feature: Feature, column: pd.Series) -> str:
    if feature.type is not FeatureType.NUMERIC:
        return "String"
    values = _numbers(column)
    return "Integral" if values.size and bool((values % 1 == 0).all()) else "Fractional"


def statistics(frame: pd.DataFrame, schema: DatasetSchema) -> dict[str, Any]:
    """``statistics.json`` for the schema's raw features in ``frame``."""
    features = []
    for feature in schema.features:
        column = frame[feature.name]
        entry: dict[str, Any] = {
            "name": feature.name,
            "inferred_type": _inferred_type(feature, column),
        }
        if feature.type is FeatureType.NUMERIC:
            entry["numerical_statistics"] = _numeric_statistics(column)
        elif feature.type is FeatureType.TIMESTAMP:
            entry["string_statistics"] = {
                "common": _common(column),
                "distinct_count": float(column[~_missing(column)].nunique()),
            }
        else:
            entry["string_statistics"] = _string_statistics(column)
        features.append(entry)
    return {
        "version": FORMAT_VERSION,
        "dataset": {"item_count": len(frame)},
        "features": features,
    }


def constraints(stats: dict[str, Any], schema: DatasetSchema) -> dict[str, Any]:
    """``constraints.json`` suggested from ``stats``, as Model Monitor's baseline job does.

    Completeness is the observed share of present values; numeric features never seen
    negative must stay non-negative; categorical domains are the schema's categories
    (the schema, not the sample, says what is valid).
    """
    entries = []
    for entry in stats["features"]:
        feature = schema.feature(entry["name"])
        group = entry.get("numerical_statistics") or entry["string_statistics"]
        common = group["common"]
        total = common["num_present"] + common["num_missing"]
        constraint: dict[str, Any] = {
            "name": feature.name,
            "inferred_type": entry["inferred_type"],
            "completeness": common["num_present"] / total if total else 0.0,
        }
        if feature.type is FeatureType.NUMERIC:
            constraint["num_constraints"] = {"is_non_negative": group.get("min", 0.0) >= 0}
        elif feature.type is FeatureType.CATEGORICAL:
            constraint["string_constraints"] = {"domains": list(feature.categories)}
        elif feature.type is FeatureType.BOOLEAN:
            constraint["string_constraints"] = {"domains": ["true", "false"]}
        entries.append(constraint)
    return {
        "version": FORMAT_VERSION,
        "features": entries,
        "monitoring_config": {
            "evaluate_constraints": "Enabled",
            "emit_metrics": "Enabled",
            "datatype_check_threshold": 1.0,
            "domain_content_threshold": 1.0,
            "distribution_constraints": {
                "perform_comparison": "Enabled",
                "comparison_threshold": COMPARISON_THRESHOLD,
                "comparison_method": "Robust",
                "categorical_comparison_threshold": COMPARISON_THRESHOLD,
                "categorical_drift_method": "LInfinity",
            },
        },
    }
