"""Bias metrics as SageMaker Clarify defines them, for the platform's own analysis
(Clarify no longer admits new customers).

The definitions are Clarify's (its open-source core, ``smclarify.bias.metrics``, and the
Clarify documentation): facet ``d`` is the group of interest, ``a`` the rest of the rows,
``n`` counts rows, ``q`` is a share of positive labels (``q̂``: of positive predictions).

- CI, class imbalance: ``(n_a - n_d) / (n_a + n_d)``
- DPL, difference in positive proportions in labels: ``q_a - q_d``
- DPPL, the same on predicted labels: ``q̂_a - q̂_d``
- DI, disparate impact: ``q̂_d / q̂_a``
- RD, recall difference (equal opportunity): ``TPR_a - TPR_d``

Ratios follow Clarify's division: ``0/0`` is 0, ``x/0`` is infinite; an infinite DI
is reported as null with the reason (JSON has no infinity). The reports have the shape
of Clarify's ``analysis.json`` (``pre_training_bias_metrics``,
``post_training_bias_metrics``), so whoever reads Clarify's reads ours.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from config.schema import FALSE_TOKENS, TRUE_TOKENS, DatasetSchema, Facet, FeatureType
from features.values import number_or_nan

DESCRIPTIONS = {
    "CI": "Class Imbalance (CI)",
    "DPL": "Difference in Positive Proportions in Labels (DPL)",
    "DPPL": "Difference in Positive Proportions in Predicted Labels (DPPL)",
    "DI": "Disparate Impact (DI)",
    "RD": "Recall Difference (RD)",
}
PRE_TRAINING = ("CI", "DPL")
POST_TRAINING = ("DPPL", "DI", "RD")


@dataclass(frozen=True)
class Group:
    """One facet group ``d``: its rows, and the rows whose facet value is known."""

    facet: str
    value_or_threshold: str
    sensitive: np.ndarray  # bool, rows in d
    known: np.ndarray  # bool, rows in d or a


def _divide(numerator: float, denominator: float) -> float:
    if denominator == 0:
        return 0.0 if numerator == 0 else math.copysign(math.inf, numerator)
    return numerator / denominator


def facet_groups(schema: DatasetSchema, facet: Facet, raw: Sequence[str | None]) -> list[Group]:
    """The groups of ``facet`` over the raw text of its column. A value that is blank or
    not one the feature admits ("abc" for a number, "maybe" for a boolean, a category the
    schema does not list: captured traffic may hold them) is unknown, in neither side."""
    feature = schema.feature(facet.name)
    text = [None if v is None or str(v).strip() == "" else str(v).strip() for v in raw]
    known = np.array([v is not None for v in text], dtype=bool)
    if feature.type is FeatureType.NUMERIC:
        assert facet.threshold is not None  # the schema requires it
        values = np.array([number_or_nan(v) for v in text], dtype=np.float64)
        known &= ~np.isnan(values)
        above = np.where(known, values > facet.threshold, False)
        return [Group(facet.name, f"(>{facet.threshold:g})", above, known)]
    if feature.type is FeatureType.BOOLEAN:
        lowered = [v.lower() if v is not None else None for v in text]
        true = np.array([v in TRUE_TOKENS for v in lowered])
        known &= np.array([v in TRUE_TOKENS or v in FALSE_TOKENS for v in lowered])
        return [Group(facet.name, "true", true & known, known)]
    known &= np.array([v in feature.categories for v in text], dtype=bool)
    if facet.values:
        chosen = np.array([v in facet.values for v in text], dtype=bool)
        return [Group(facet.name, ", ".join(facet.values), chosen, known)]
    return [
        Group(facet.name, category, np.array([v == category for v in text], dtype=bool), known)
        for category in feature.categories
    ]


def group_metrics(
    group: Group, positive_label: np.ndarray, positive_predicted: np.ndarray | None
) -> dict[str, float | str]:
    """Each metric of ``group`` (``d`` against the other known rows ``a``): a number, or
    the reason it has none."""
    d, a = group.sensitive & group.known, ~group.sensitive & group.known
    n_d, n_a = int(d.sum()), int(a.sum())
    if n_d == 0 or n_a == 0:
        empty = "facet" if n_d == 0 else "negated facet"
        names = PRE_TRAINING + (POST_TRAINING if positive_predicted is not None else ())
        return {name: f"{empty} set is empty" for name in names}
    found: dict[str, float | str] = {
        "CI": (n_a - n_d) / (n_a + n_d),
        "DPL": positive_label[a].mean() - positive_label[d].mean(),
    }
    if positive_predicted is None:
        return found
    q_a, q_d = positive_predicted[a].mean(), positive_predicted[d].mean()
    found["DPPL"] = q_a - q_d
    impact = _divide(q_d, q_a)
    found["DI"] = impact if math.isfinite(impact) else "infinite: no positive prediction in a"

    def recall(rows: np.ndarray) -> float:
        positives = positive_label & rows
        return _divide(float((positives & positive_predicted).sum()), float(positives.sum()))

    found["RD"] = recall(a) - recall(d)
    return found


def _report(
    schema: DatasetSchema,
    measured: list[tuple[Group, dict[str, float | str]]],
    names: Sequence[str],
) -> dict[str, Any]:
    facets: dict[str, list[dict[str, Any]]] = {}
    for group, values in measured:
        metrics = []
        for name in names:
            value = values[name]
            entry: dict[str, Any] = {"name": name, "description": DESCRIPTIONS[name]}
            if isinstance(value, str):
                entry.update(value=None, error=value)
            else:
                entry["value"] = round(float(value), 6)
            metrics.append(entry)
        facets.setdefault(group.facet, []).append(
            {"value_or_threshold": group.value_or_threshold, "metrics": metrics}
        )
    return {"label": schema.target.name, "label_value_or_threshold": "1", "facets": facets}


def all_groups(schema: DatasetSchema, raw: Mapping[str, Sequence[str | None]]) -> list[Group]:
    """Every facet group of ``schema`` over the rows whose raw facet text is ``raw[name]``."""
    return [g for facet in schema.facets for g in facet_groups(schema, facet, raw[facet.name])]


def reports_of(
    schema: DatasetSchema, measured: list[tuple[Group, dict[str, float | str]]]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The two Clarify ``analysis.json`` documents of measured groups (pre, post)."""
    return (
        {"version": "1.0", "pre_training_bias_metrics": _report(schema, measured, PRE_TRAINING)},
        {"version": "1.0", "post_training_bias_metrics": _report(schema, measured, POST_TRAINING)},
    )


def bias_reports(
    schema: DatasetSchema,
    raw: Mapping[str, Sequence[str | None]],
    labels: np.ndarray,
    predicted_positive: np.ndarray,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Pre- and post-training bias of every facet of ``schema`` over the rows whose raw
    facet text is ``raw[name]``, as two Clarify ``analysis.json`` documents."""
    positive = np.asarray(labels) == 1
    predicted = np.asarray(predicted_positive, dtype=bool)
    # Each group measured once; the two reports take their metrics from it.
    return reports_of(
        schema, [(g, group_metrics(g, positive, predicted)) for g in all_groups(schema, raw)]
    )
