"""Model quality of the labelled window, compared with the registered version's evaluation.

Metrics come from ``features/quality.py`` (the same code that wrote the registered
``evaluation.json`` in the evaluation step), so the live and the registered numbers mean
the same thing. The comparison uses the schema's quality-gate metric and direction: the live model
violates when it is worse than the registered value by more than ``tolerance``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from config.schema import DatasetSchema, ProblemType
from features.profile import FORMAT_VERSION
from features.quality import quality_report
from features.registry import metric_at
from features.values import number_or_nan

DEFAULT_TOLERANCE = 0.05


@dataclass(frozen=True)
class QualityResult:
    document: dict[str, Any]
    metrics: dict[str, float]
    violation: bool | None  # None: nothing to compare (no labels, one class, no registry value)


def numeric_labels(schema: DatasetSchema, labels: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Numeric labels and a mask of the usable ones (a binary label must be 0 or 1; a
    multiclass label is one of the schema's classes, as in the raw data, -> its index)."""
    if schema.problem_type is ProblemType.MULTICLASS_CLASSIFICATION:
        index = {name: float(i) for i, name in enumerate(schema.target.classes)}
        values = np.array([index.get(v.strip(), np.nan) for v in labels], dtype=np.float64)
        return values, ~np.isnan(values)
    values = np.array([number_or_nan(v) for v in labels], dtype=np.float64)
    usable = ~np.isnan(values)
    if schema.problem_type is ProblemType.BINARY_CLASSIFICATION:
        usable &= np.isin(values, (0.0, 1.0))
    return values, usable


def _scores(schema: DatasetSchema, scores: Sequence[float | Sequence[float]]) -> np.ndarray:
    """Scores as an array, and for multiclass as rows of k probabilities: a row of
    another width (a response of another model) is NaN, so its label is not usable."""
    if schema.problem_type is not ProblemType.MULTICLASS_CLASSIFICATION:
        return np.asarray(scores, dtype=np.float64)
    width = schema.class_count
    rows = np.full((len(scores), width), np.nan)
    for position, score in enumerate(scores):
        if isinstance(score, Sequence) and len(score) == width:
            rows[position] = score
    return rows


def evaluate(
    schema: DatasetSchema,
    scores: Sequence[float | Sequence[float]],
    labels: list[str],
    registered: dict[str, Any] | None,
    tolerance: float = DEFAULT_TOLERANCE,
) -> QualityResult:
    """``model_quality.json`` for the joined rows, and the gate metric's comparison.

    ``scores`` are the captured responses' scores: probabilities or values, or for a
    multiclass model each row's class probabilities (in ``target.classes`` order)."""
    gate = schema.quality_gate
    values, usable = numeric_labels(schema, labels)
    predicted = _scores(schema, scores)
    if predicted.ndim == 2:
        usable &= ~np.isnan(predicted).any(axis=1)
    y, p = values[usable], predicted[usable]
    document: dict[str, Any] = {
        "version": FORMAT_VERSION,
        "dataset": {"item_count": int(y.size), "unusable_labels": int((~usable).sum())},
    }
    classes = np.unique(y).size
    enough = y.size > 0 and (
        schema.problem_type is not ProblemType.BINARY_CLASSIFICATION or classes == 2
    )
    if not enough:
        document["status"] = "insufficient_labels"
        return QualityResult(document, {}, None)
    report = quality_report(schema.problem_type, y, p, schema.target.classes)
    document.update(report)
    metrics = {
        name: float(value["value"])
        for name, value in report[gate.group].items()
        if isinstance(value, dict) and "value" in value
    }
    live = metric_at(report, gate.json_path)
    reference = None
    if registered is not None:
        try:
            reference = metric_at(registered, gate.json_path)
        except KeyError:
            reference = None
    violation = None
    if reference is not None:
        shortfall = reference - live if gate.higher_is_better else live - reference
        violation = shortfall > tolerance
    document["comparison"] = {
        "metric": gate.metric,
        "higher_is_better": gate.higher_is_better,
        "live": live,
        "registered": reference,
        "tolerance": tolerance,
        "violation": violation,
    }
    return QualityResult(document, metrics, violation)
