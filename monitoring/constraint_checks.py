"""Compare the current window with the baseline: drift per feature and constraint violations.

Violations use ``constraint_violations.json``'s documented check types:
``data_type_check`` (values not of the baseline's inferred type, more than
``datatype_check_threshold`` allows; an Integral baseline also rejects fractions),
``completeness_check`` (share of present values below the baseline's completeness
beyond binomial sampling noise, three standard errors, so a nullable feature does not
flap), ``baseline_drift_check``, ``missing_column_check`` / ``extra_column_check``
(requests with fewer / more values than the schema, or unknown keys), and
``categorical_values_check`` (values outside the domain beyond
``domain_content_threshold``). One addition of ours, ``range_check``: values that break
``is_non_negative`` or the schema's min/max (the issue asks for range violations;
Model Monitor's list has no such type).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from config.schema import DatasetSchema, Feature
from monitoring.baseline import NUMERIC_TYPES, Baseline, FeatureBaseline, MonitoringConfig
from monitoring.drift import categorical_distance, numeric_distance, robust
from monitoring.sketches import CategoricalState, FeatureState, NumericState

DOCUMENTED_CHECKS = (
    "data_type_check",
    "completeness_check",
    "baseline_drift_check",
    "missing_column_check",
    "extra_column_check",
    "categorical_values_check",
)
RANGE_CHECK = "range_check"
SAMPLING_SIGMAS = 3.0


@dataclass(frozen=True)
class FeatureDrift:
    name: str
    distance: float
    threshold: float
    compared: bool

    @property
    def drifted(self) -> bool:
        return self.compared and self.distance > self.threshold


def _violation(feature: str, check: str, description: str) -> dict[str, str]:
    return {"feature_name": feature, "constraint_check_type": check, "description": description}


def drift(
    schema: DatasetSchema, baseline: Baseline, states: dict[str, FeatureState]
) -> list[FeatureDrift]:
    """The distance of every feature with a baseline distribution and current values."""
    config = baseline.config
    results = []
    for feature in schema.features:
        reference = baseline.features.get(feature.name)
        state = states[feature.name]
        distance, threshold, compared = 0.0, config.comparison_threshold, False
        if (
            reference is not None
            and reference.numeric is not None
            and isinstance(state, NumericState)
        ):
            compared = state.present > 0 and config.perform_comparison
            distance = numeric_distance(reference.numeric, state)
            n, m = reference.numeric.count, state.present
        elif (
            reference is not None
            and reference.categorical is not None
            and isinstance(state, CategoricalState)
        ):
            compared = state.present > 0 and config.perform_comparison
            threshold = config.categorical_comparison_threshold
            distance = categorical_distance(reference.categorical, state)
            n, m = reference.categorical.count, state.present
        else:
            n = m = 0
        if config.robust:
            distance = robust(distance, n, m)
        results.append(FeatureDrift(feature.name, distance, threshold, compared))
    return results


def _inferred_type(state: FeatureState, threshold: float) -> str:
    if isinstance(state, CategoricalState):
        return "String"
    typed = state.present + state.invalid
    if typed == 0:
        return "Unknown"
    if state.present / typed < threshold:
        return "String"
    return "Fractional" if state.fractional else "Integral"


def current_types(baseline: Baseline, states: dict[str, FeatureState]) -> dict[str, str]:
    threshold = baseline.config.datatype_check_threshold
    return {name: _inferred_type(state, threshold) for name, state in states.items()}


def violations(
    schema: DatasetSchema,
    baseline: Baseline,
    states: dict[str, FeatureState],
    drifts: list[FeatureDrift],
    *,
    short_rows: int = 0,
    long_rows: int = 0,
    extra_columns: set[str] | None = None,
) -> list[dict[str, str]]:
    """``constraint_violations.json``'s ``violations`` list for this window."""
    found = _column_violations(schema, short_rows, long_rows, extra_columns)
    drifted = [
        _violation(d.name, "baseline_drift_check", _drift_text(d)) for d in drifts if d.drifted
    ]
    if not baseline.config.evaluate_constraints:
        return found + drifted
    types = current_types(baseline, states)
    for feature in schema.features:
        state = states[feature.name]
        reference = baseline.features.get(feature.name)
        if reference is None:
            continue
        total = (
            state.present
            + state.missing
            + (state.invalid if isinstance(state, NumericState) else 0)
        )
        if total == 0:
            continue
        checks = (
            _type_violation(feature, state, reference, types[feature.name], total),
            _completeness_violation(feature, state, reference, baseline, total),
            _domain_violation(feature, state, reference, baseline.config),
            _range_violation(feature, state, reference),
        )
        found += [violation for violation in checks if violation is not None]
    return found + drifted


def _column_violations(
    schema: DatasetSchema, short_rows: int, long_rows: int, extra_columns: set[str] | None
) -> list[dict[str, str]]:
    """Rows with fewer or more columns (or unknown keys) than the baseline has."""
    found: list[dict[str, str]] = []
    if short_rows:
        found.append(
            _violation(
                "",
                "missing_column_check",
                f"{short_rows} rows have fewer than the "
                f"{len(schema.features)} columns of the baseline",
            )
        )
    if long_rows or extra_columns:
        detail = f"{long_rows} rows have more than {len(schema.features)} columns"
        if extra_columns:
            detail += f"; unknown keys {sorted(extra_columns)[:20]}"
        found.append(_violation("", "extra_column_check", detail))
    return found


def _type_violation(
    feature: Feature,
    state: FeatureState,
    reference: FeatureBaseline,
    current: str,
    total: int,
) -> dict[str, str] | None:
    """A numeric feature whose values no longer have the baseline's type."""
    if reference.inferred_type not in NUMERIC_TYPES or not isinstance(state, NumericState):
        return None
    incompatible = current == "String" or (
        reference.inferred_type == "Integral" and current == "Fractional"
    )
    if not incompatible:
        return None
    return _violation(
        feature.name,
        "data_type_check",
        f"Data type match requirement is not met. Expected data type: "
        f"{reference.inferred_type}, Observed: {current} "
        f"({state.invalid} non-numeric, {state.fractional} fractional of {total})",
    )


def _completeness_violation(
    feature: Feature,
    state: FeatureState,
    reference: FeatureBaseline,
    baseline: Baseline,
    total: int,
) -> dict[str, str] | None:
    """A feature missing (null) clearly more often than in the baseline."""
    if reference.completeness is None:
        return None
    # Completeness is the non-null share: a value of the wrong type is not null.
    completeness = (total - state.missing) / total
    # Both shares are estimates: the baseline's from its sample, ours from this one.
    variance = max(reference.completeness * (1 - reference.completeness), 0.0)
    samples = 1 / total + (1 / baseline.item_count if baseline.item_count else 0.0)
    noise = SAMPLING_SIGMAS * math.sqrt(variance * samples)
    if completeness >= reference.completeness - noise:
        return None
    return _violation(
        feature.name,
        "completeness_check",
        f"Data completeness is {completeness:.4f}; the baseline's is "
        f"{reference.completeness:.4f} (tolerance {noise:.4f})",
    )


def _domain_violation(
    feature: Feature, state: FeatureState, reference: FeatureBaseline, config: MonitoringConfig
) -> dict[str, str] | None:
    """A categorical feature with too many values outside the baseline's domain."""
    # A feature without a domain (a timestamp) has no values to be outside of.
    if not (isinstance(state, CategoricalState) and state.present and reference.domains):
        return None
    unknown_share = state.unknown_count / state.present
    if unknown_share <= 1 - config.domain_content_threshold:
        return None
    examples = [v for v, _ in state.unknown.most_common(5)]
    return _violation(
        feature.name,
        "categorical_values_check",
        f"{state.unknown_count} of {state.present} values "
        f"({unknown_share:.2%}) are outside the baseline domain, e.g. {examples}",
    )


def _range_violation(
    feature: Feature, state: FeatureState, reference: FeatureBaseline
) -> dict[str, str] | None:
    """A numeric feature with values outside the schema's range, or negative ones where
    the baseline had none."""
    if not isinstance(state, NumericState):
        return None
    outside = state.below_minimum + state.above_maximum
    negative = state.negative if reference.is_non_negative else 0
    if not (outside or negative):
        return None
    return _violation(
        feature.name,
        RANGE_CHECK,
        f"{negative} negative values (is_non_negative), {outside} outside the "
        f"schema's range [{feature.minimum}, {feature.maximum}]",
    )


def _drift_text(d: FeatureDrift) -> str:
    return f"Baseline drift distance: {d.distance:.6f} exceeds threshold: {d.threshold}"


def violations_document(found: list[dict[str, str]]) -> dict[str, Any]:
    return {"violations": found}
