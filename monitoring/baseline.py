"""The baseline a monitor run compares with: Model Monitor's statistics.json + constraints.json.

Both files come from the model package's ``DriftCheckBaselines.ModelDataQuality`` (the
pipeline's DataQualityBaseline step, ``features/profile.py``). A numeric feature's
reference distribution is its quantile sketch: ``data`` holds one list per KLL
compactor level, an item of level ``i`` standing for ``2**i`` values (our profile
writes exact quantiles as a single level, so each weighs 1). Its distinct points are
the fixed bin edges the monitor counts current values into.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from config.schema import DatasetSchema, FeatureType
from features.values import InvalidValueError, boolean_text

NUMERIC_TYPES = ("Integral", "Fractional")


class BaselineError(ValueError):
    """The baseline files are unusable; the message names the field."""


@dataclass(frozen=True)
class MonitoringConfig:
    """``constraints.json``'s ``monitoring_config`` with Model Monitor's defaults."""

    evaluate_constraints: bool = True
    emit_metrics: bool = True
    datatype_check_threshold: float = 1.0
    domain_content_threshold: float = 1.0
    perform_comparison: bool = True
    comparison_threshold: float = 0.1
    categorical_comparison_threshold: float = 0.1
    robust: bool = True

    @classmethod
    def from_constraints(cls, constraints: dict[str, Any]) -> MonitoringConfig:
        config = constraints.get("monitoring_config") or {}
        drift = config.get("distribution_constraints") or {}
        # The documentation's own example spells it "comparion_method"; accept both.
        method = str(drift.get("comparison_method", drift.get("comparion_method", "Robust")))
        if method not in ("Robust", "Simple"):
            raise BaselineError(f"comparison_method {method!r} must be Robust or Simple")
        categorical = str(drift.get("categorical_drift_method", "LInfinity"))
        if categorical != "LInfinity":
            raise BaselineError(
                f"categorical_drift_method {categorical!r} is not supported; use LInfinity"
            )
        threshold = float(drift.get("comparison_threshold", 0.1))
        return cls(
            evaluate_constraints=config.get("evaluate_constraints", "Enabled") == "Enabled",
            emit_metrics=config.get("emit_metrics", "Enabled") == "Enabled",
            datatype_check_threshold=float(config.get("datatype_check_threshold", 1.0)),
            domain_content_threshold=float(config.get("domain_content_threshold", 1.0)),
            perform_comparison=drift.get("perform_comparison", "Enabled") == "Enabled",
            comparison_threshold=threshold,
            categorical_comparison_threshold=float(
                drift.get("categorical_comparison_threshold", threshold)
            ),
            robust=method == "Robust",
        )


@dataclass(frozen=True)
class NumericBaseline:
    """Bin edges (distinct sketch points) and the baseline's CDF at each edge."""

    edges: np.ndarray
    cdf: np.ndarray
    count: int


@dataclass(frozen=True)
class CategoricalBaseline:
    """Baseline frequency per value (booleans normalised to "true"/"false")."""

    counts: dict[str, float]
    count: int


@dataclass(frozen=True)
class FeatureBaseline:
    name: str
    inferred_type: str
    completeness: float | None = None
    is_non_negative: bool = False
    domains: tuple[str, ...] = ()
    numeric: NumericBaseline | None = None
    categorical: CategoricalBaseline | None = None


@dataclass(frozen=True)
class Baseline:
    features: dict[str, FeatureBaseline]
    config: MonitoringConfig
    item_count: int = 0
    raw: dict[str, Any] = field(default_factory=dict)


def normal_boolean(value: str) -> str:
    """ "true"/"false" for any boolean token, else the value unchanged."""
    try:
        return boolean_text(value)
    except InvalidValueError:
        return value


def _numeric(name: str, stats: dict[str, Any]) -> NumericBaseline | None:
    kll = (stats.get("distribution") or {}).get("kll") or {}
    levels = (kll.get("sketch") or {}).get("data") or []
    values: list[float] = []
    weights: list[float] = []
    for level, items in enumerate(levels):
        values += [float(v) for v in items]
        weights += [2.0**level] * len(items)
    if not values:
        buckets = kll.get("buckets") or []
        if not buckets:
            return None
        # No sketch: bucket upper bounds with their counts are the next best CDF.
        values = [float(b["upper_bound"]) for b in buckets]
        weights = [float(b["count"]) for b in buckets]
    order = np.argsort(values, kind="stable")
    points, mass = np.asarray(values)[order], np.asarray(weights)[order]
    if not np.all(np.isfinite(points)) or mass.sum() <= 0:
        raise BaselineError(f"statistics: feature {name!r} has an unusable sketch")
    edges = np.unique(points)
    cumulative = np.cumsum(mass) / mass.sum()
    # CDF at each distinct point: the cumulative mass up to its last occurrence.
    last = np.searchsorted(points, edges, side="right") - 1
    common = stats.get("common") or {}
    return NumericBaseline(
        edges=edges, cdf=cumulative[last], count=int(common.get("num_present", 0))
    )


def _categorical(stats: dict[str, Any], boolean: bool) -> CategoricalBaseline:
    buckets = ((stats.get("distribution") or {}).get("categorical") or {}).get("buckets") or []
    counts: dict[str, float] = {}
    for bucket in buckets:
        value = str(bucket["value"])
        value = normal_boolean(value) if boolean else value
        counts[value] = counts.get(value, 0.0) + float(bucket["count"])
    common = stats.get("common") or {}
    return CategoricalBaseline(counts=counts, count=int(common.get("num_present", 0)))


def parse_baseline(
    statistics: dict[str, Any], constraints: dict[str, Any], schema: DatasetSchema
) -> Baseline:
    """The per-feature reference of every schema feature the baseline describes."""
    stats_by_name = {f["name"]: f for f in statistics.get("features", [])}
    constraints_by_name = {f["name"]: f for f in constraints.get("features", [])}
    features: dict[str, FeatureBaseline] = {}
    for feature in schema.features:
        stats = stats_by_name.get(feature.name)
        constraint = constraints_by_name.get(feature.name, {})
        if stats is None and not constraint:
            continue
        stats = stats or {}
        inferred = str(constraint.get("inferred_type") or stats.get("inferred_type", "Unknown"))
        boolean = feature.type is FeatureType.BOOLEAN
        numeric = categorical = None
        if "numerical_statistics" in stats:
            numeric = _numeric(feature.name, stats["numerical_statistics"])
        elif "string_statistics" in stats:
            categorical = _categorical(stats["string_statistics"], boolean)
        domains = (constraint.get("string_constraints") or {}).get("domains") or []
        features[feature.name] = FeatureBaseline(
            name=feature.name,
            inferred_type=inferred,
            completeness=(
                float(constraint["completeness"]) if "completeness" in constraint else None
            ),
            is_non_negative=bool(
                (constraint.get("num_constraints") or {}).get("is_non_negative", False)
            ),
            domains=tuple(normal_boolean(str(d)) if boolean else str(d) for d in domains),
            numeric=numeric,
            categorical=categorical,
        )
    return Baseline(
        features=features,
        config=MonitoringConfig.from_constraints(constraints),
        item_count=int((statistics.get("dataset") or {}).get("item_count", 0)),
        raw=statistics,
    )
