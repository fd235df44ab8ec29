"""Model-quality metrics in SageMaker's ``evaluation.json`` format, from labels and
predictions: one owner for what "auc" or "rmse" means, for the evaluation step
(``training/evaluate.py``, which writes the registered report) and the monitor
(``monitoring/model_quality.py``, which scores the labelled live window).

Groups: ``binary_classification_metrics``, ``multiclass_classification_metrics`` and
``regression_metrics``, each metric as ``{"value": v, "standard_deviation": "NaN"}``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn import metrics as skm

from config.schema import ProblemType

CURVE_POINTS = 101

# A binary model's positive prediction: the score at or above which it says 1.
POSITIVE_AT = 0.5


def _metric(value: float) -> dict[str, Any]:
    return {"value": float(value), "standard_deviation": "NaN"}


def _thin(values: np.ndarray) -> list[float]:
    """At most CURVE_POINTS points of a curve, evenly spaced, ends kept."""
    index = np.unique(np.linspace(0, len(values) - 1, min(CURVE_POINTS, len(values))).astype(int))
    return [round(float(v), 6) for v in values[index]]


def classification_report(
    y: np.ndarray, p: np.ndarray, threshold: float = POSITIVE_AT
) -> dict[str, Any]:
    label = (p >= threshold).astype(int)
    fpr, tpr, _ = skm.roc_curve(y, p)
    precision, recall, _ = skm.precision_recall_curve(y, p)
    matrix = skm.confusion_matrix(y, label, labels=[0, 1])
    return {
        "binary_classification_metrics": {
            "auc": _metric(skm.roc_auc_score(y, p)),
            "accuracy": _metric(skm.accuracy_score(y, label)),
            "precision": _metric(skm.precision_score(y, label, zero_division=0)),
            "recall": _metric(skm.recall_score(y, label, zero_division=0)),
            "f1": _metric(skm.f1_score(y, label, zero_division=0)),
            "confusion_matrix": {
                str(actual): {str(pred): int(matrix[actual][pred]) for pred in (0, 1)}
                for actual in (0, 1)
            },
            "receiver_operating_characteristic_curve": {
                "false_positive_rates": _thin(fpr),
                "true_positive_rates": _thin(tpr),
            },
            "precision_recall_curve": {"precisions": _thin(precision), "recalls": _thin(recall)},
        }
    }


def multiclass_report(y: np.ndarray, p: np.ndarray, classes: Sequence[str] = ()) -> dict[str, Any]:
    """Metrics of class-probability rows ``p`` (n x k, ``classes`` order) against class
    indices ``y``; the predicted class is the most probable one."""
    p = np.asarray(p, dtype=np.float64).reshape(len(y), -1)
    # Answers rounded to 6 decimals (the endpoint's, as captured) sum to 1 only nearly.
    totals = p.sum(axis=1, keepdims=True)
    p = np.divide(p, totals, out=p.copy(), where=totals > 0)
    names = [str(c) for c in classes] or [str(i) for i in range(p.shape[1])]
    if len(names) != p.shape[1]:
        raise ValueError(f"{p.shape[1]} probabilities per row for {len(names)} classes")
    index = list(range(len(names)))
    actual = y.astype(int)
    predicted = p.argmax(axis=1)
    matrix = skm.confusion_matrix(actual, predicted, labels=index)
    precision, recall, f1, support = skm.precision_recall_fscore_support(
        actual, predicted, labels=index, zero_division=0
    )
    return {
        "multiclass_classification_metrics": {
            "accuracy": _metric(skm.accuracy_score(actual, predicted)),
            # Averaged over the classes present (actual or predicted), as sklearn does by
            # default: a window or split without some class is not scored 0 for it.
            "macro_f1": _metric(skm.f1_score(actual, predicted, average="macro", zero_division=0)),
            "weighted_f1": _metric(
                skm.f1_score(actual, predicted, average="weighted", zero_division=0)
            ),
            "log_loss": _metric(skm.log_loss(actual, p, labels=index)),
            "confusion_matrix": {
                names[a]: {names[b]: int(matrix[a][b]) for b in index} for a in index
            },
            "per_class": {
                names[i]: {
                    "precision": round(float(precision[i]), 6),
                    "recall": round(float(recall[i]), 6),
                    "f1": round(float(f1[i]), 6),
                    "support": int(support[i]),
                }
                for i in index
            },
        }
    }


def regression_report(y: np.ndarray, p: np.ndarray) -> dict[str, Any]:
    mse = skm.mean_squared_error(y, p)
    return {
        "regression_metrics": {
            "mse": _metric(mse),
            "rmse": _metric(np.sqrt(mse)),
            "mae": _metric(skm.mean_absolute_error(y, p)),
            "r2": _metric(skm.r2_score(y, p)),
        }
    }


def quality_report(
    problem: ProblemType,
    labels: np.ndarray,
    predictions: np.ndarray,
    classes: Sequence[str] = (),
) -> dict[str, Any]:
    """The evaluation.json metrics group of ``problem``; ``classes`` names a multiclass
    target's classes (by index) in the confusion matrix and per-class scores."""
    if problem is ProblemType.BINARY_CLASSIFICATION:
        return classification_report(labels.astype(int), predictions)
    if problem is ProblemType.MULTICLASS_CLASSIFICATION:
        return multiclass_report(labels, predictions, classes)
    return regression_report(labels, predictions)
