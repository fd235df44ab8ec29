"""The evaluation's bias and explanation part: Clarify-shaped reports, plots and the
report page's tables, for the test split the quality metrics are measured on.

Writes, beside ``evaluation.json``:
  bias_pre_training.json, bias_post_training.json   Clarify ``analysis.json`` shape, one
                                                     entry per facet group (schema ``facets``)
  explanations.json                                  global SHAP importance (TreeSHAP)
  shap_importance.png, bias.png                      their plots
The model registry takes the three reports as the version's ``ModelMetrics.Bias`` and
``ModelMetrics.Explainability`` (the pipeline's Register step names them).
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import xgboost as xgb
from matplotlib.figure import Figure

from config.layout import BIAS_POST_TRAINING_REPORT, BIAS_PRE_TRAINING_REPORT, EXPLANATIONS_REPORT
from config.schema import DatasetSchema
from features.attribution import contributions, explanations_report, global_importance
from features.bias import bias_reports
from features.quality import POSITIVE_AT
from training.splits import load_raw_test


@dataclass(frozen=True)
class Explained:
    """What ``explain`` wrote: the reports and the plot files."""

    pre_training: dict[str, Any] | None
    post_training: dict[str, Any] | None
    explanations: dict[str, Any]
    # Mean |SHAP| per feature, over the rows (and a multiclass model's classes).
    importance: dict[str, float]
    images: list[str]


def explain(
    schema: DatasetSchema,
    booster: xgb.Booster,
    features: np.ndarray,
    names: list[str],
    labels: np.ndarray,
    predictions: np.ndarray,
    test_dir: Path,
    out: Path,
) -> Explained:
    """Write the bias reports (when the schema has facets), the SHAP importance and
    their plots for the test split; return them."""
    values = contributions(booster, features, names)
    explanations = explanations_report(values, names, schema)
    (out / EXPLANATIONS_REPORT).write_text(json.dumps(explanations, indent=2))
    importance = global_importance(values, names, schema)  # over the classes, if several
    images = [_importance_plot(importance, schema, out)]
    pre = post = None
    if schema.facets:  # the schema admits facets for a binary target only
        records = load_raw_test(test_dir)
        raw = {f.name: [record[f.name] for record in records] for f in schema.facets}
        pre, post = bias_reports(schema, raw, labels, predictions >= POSITIVE_AT)
        (out / BIAS_PRE_TRAINING_REPORT).write_text(json.dumps(pre, indent=2))
        (out / BIAS_POST_TRAINING_REPORT).write_text(json.dumps(post, indent=2))
        images.append(_bias_plot(pre, post, out))
    return Explained(pre, post, explanations, importance, images)


def _importance_plot(importance: dict[str, float], schema: DatasetSchema, out: Path) -> str:
    top = list(importance.items())[:15][::-1]
    figure = Figure(figsize=(6, 5))
    axes = figure.subplots()
    axes.barh([name for name, _ in top], [value for _, value in top], color="#4c72b0")
    over = " over the classes" if schema.target.classes else ""
    axes.set(xlabel=f"mean |SHAP value| (margin){over}", title="Feature importance (TreeSHAP)")
    figure.tight_layout()
    figure.savefig(out / "shap_importance.png", dpi=110)
    return "shap_importance.png"


def _rows(pre: dict[str, Any], post: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(facet = group, {metric: value or None}) for every group, pre and post merged."""
    merged: dict[str, dict[str, Any]] = {}
    for report in (pre["pre_training_bias_metrics"], post["post_training_bias_metrics"]):
        for facet, groups in report["facets"].items():
            for group in groups:
                label = f"{facet} = {group['value_or_threshold']}"
                for metric in group["metrics"]:
                    merged.setdefault(label, {})[metric["name"]] = metric["value"]
    return list(merged.items())


def _bias_plot(pre: dict[str, Any], post: dict[str, Any], out: Path) -> str:
    rows = _rows(pre, post)
    shown = ("DPL", "DPPL", "RD")
    figure = Figure(figsize=(7, max(3.0, 0.5 * len(rows) + 1.5)))
    axes = figure.subplots()
    y = np.arange(len(rows))
    for offset, metric in zip((-0.25, 0.0, 0.25), shown, strict=True):
        values = [r[metric] if r.get(metric) is not None else np.nan for _, r in rows]
        axes.barh(y + offset, values, 0.25, label=metric)
    axes.axvline(0, color="grey", linewidth=0.8)
    axes.set_yticks(y, [label for label, _ in rows])
    axes.set(xlabel="rest (a) minus group (d)", title="Bias per facet group")
    axes.legend()
    figure.tight_layout()
    figure.savefig(out / "bias.png", dpi=110)
    return "bias.png"


def html_tables(explained: Explained) -> str:
    """The report page's bias table (one row per facet group) and top attributions."""
    parts = []
    if explained.pre_training is not None and explained.post_training is not None:
        metrics = ("CI", "DPL", "DPPL", "DI", "RD")
        head = "".join(f"<th>{m}</th>" for m in metrics)
        body = "".join(
            f"<tr><td>{html.escape(label)}</td>"
            + "".join(
                f"<td>{values[m]:.3f}</td>" if values.get(m) is not None else "<td>n/a</td>"
                for m in metrics
            )
            + "</tr>"
            for label, values in _rows(explained.pre_training, explained.post_training)
        )
        parts.append(f"<h2>Bias per facet group</h2><table><tr><th></th>{head}</tr>{body}</table>")
    body = "".join(
        f"<tr><td>{html.escape(name)}</td><td>{value:.4f}</td></tr>"
        for name, value in list(explained.importance.items())[:10]
    )
    parts.append(f"<h2>Mean |SHAP value|</h2><table>{body}</table>")
    return "".join(parts)
