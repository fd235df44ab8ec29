"""Feature attributions from XGBoost's own exact TreeSHAP (``pred_contribs``).

A model input is an encoded column (a one-hot category, a timestamp part); a user asks
about the schema's features. SHAP values add up, so a feature's value for a row is the
sum of its columns' values, and its global importance is the mean absolute value of
that sum over the rows (and over the classes of a multiclass model), as Clarify's
``global_shap_values`` are. Values are in the model's margin (log-odds for a
classifier), where TreeSHAP is exact.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import xgboost as xgb

from config.schema import DatasetSchema


def feature_of(column: str, schema: DatasetSchema) -> str:
    """The schema feature (raw or derived) an encoded column comes from."""
    for separator in ("=", "."):
        head = column.split(separator, 1)[0]
        if head != column and head in schema.model_feature_names():
            return head
    return column


def contributions(booster: xgb.Booster, matrix: np.ndarray, names: list[str]) -> np.ndarray:
    """Per row SHAP values of each encoded column plus the bias (last): shape (rows,
    columns + 1), or (rows, classes, columns + 1) for a multiclass model."""
    return np.asarray(booster.predict(xgb.DMatrix(matrix, feature_names=names), pred_contribs=True))


def per_feature(
    values: np.ndarray, names: list[str], schema: DatasetSchema
) -> dict[str, np.ndarray]:
    """Each schema feature's SHAP values (its columns summed), bias column dropped."""
    by_feature: dict[str, np.ndarray] = {}
    for index, column in enumerate(names):
        feature = feature_of(column, schema)
        part = values[..., index]
        by_feature[feature] = by_feature[feature] + part if feature in by_feature else part.copy()
    return by_feature


def global_importance(
    values: np.ndarray, names: list[str], schema: DatasetSchema
) -> dict[str, float]:
    """Mean absolute SHAP value per schema feature, largest first."""
    means = {f: float(np.abs(v).mean()) for f, v in per_feature(values, names, schema).items()}
    return dict(sorted(means.items(), key=lambda kv: -kv[1]))


def explanations_report(
    values: np.ndarray, names: list[str], schema: DatasetSchema
) -> dict[str, Any]:
    """A Clarify-shaped ``explanations`` document (method ``tree_shap``): one entry for
    the target, or, for a multiclass model, one per class (its own margin), as Clarify
    reports one per label."""
    if values.ndim == 3:
        labels = {c: values[:, k, :] for k, c in enumerate(schema.target.classes)}
    else:
        labels = {schema.target.name: values}
    return {
        "version": "1.0",
        "explanations": {
            "tree_shap": {
                label: {
                    "global_shap_values": {
                        k: round(v, 6) for k, v in global_importance(part, names, schema).items()
                    },
                    "expected_value": round(float(np.mean(part[:, -1])), 6),
                    "space": "margin",
                    "rows": int(part.shape[0]),
                }
                for label, part in labels.items()
            }
        },
    }


def row_explanations(
    booster: xgb.Booster,
    matrix: np.ndarray,
    names: list[str],
    schema: DatasetSchema,
    classes: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """Each row's SHAP value per schema feature and the expected value (margin), as the
    endpoint returns them: ``{"expected_value": e, "shap": {feature: v}}``; for a
    multiclass model both are keyed by class. A row's values add up to its margin."""
    values = contributions(booster, matrix, names)
    features = per_feature(values, names, schema)
    order = [f for f in schema.model_feature_names() if f in features]  # the schema's order
    stacked = np.stack([features[f] for f in order], axis=-1)
    bias = values[..., -1]

    def one(shap: np.ndarray, expected: float) -> tuple[float, dict[str, float]]:
        return round(float(expected), 6), {
            f: round(float(v), 6) for f, v in zip(order, shap, strict=True)
        }

    rows: list[dict[str, Any]] = []
    for index in range(values.shape[0]):
        if values.ndim == 2:
            expected, shap = one(stacked[index], bias[index])
            rows.append({"expected_value": expected, "shap": shap})
            continue
        per_class = {c: one(stacked[index, k], bias[index, k]) for k, c in enumerate(classes)}
        rows.append(
            {
                "expected_value": {c: e for c, (e, _) in per_class.items()},
                "shap": {c: v for c, (_, v) in per_class.items()},
            }
        )
    return rows
