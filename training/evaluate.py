"""SageMaker Processing entry point: score the test split, write evaluation.json and plots.

Contract (processing job; paths overridable for local runs):
  inputs   /opt/ml/processing/model/model.tar.gz   the training job's output
           /opt/ml/processing/test/test.npz
  outputs  /opt/ml/processing/evaluation/evaluation.json   SageMaker model-quality format
           /opt/ml/processing/evaluation/bias_*.json, explanations.json   (training/explain.py)
           /opt/ml/processing/evaluation/*.png, report.html

``evaluation.json`` follows the model-quality metrics format the model registry
displays: ``binary_classification_metrics`` (auc, accuracy, precision, recall, f1,
confusion_matrix, receiver_operating_characteristic_curve, precision_recall_curve),
``multiclass_classification_metrics`` (accuracy, macro_f1, weighted_f1, log_loss,
confusion_matrix keyed actual -> predicted class name, per_class precision / recall /
f1 / support) or ``regression_metrics`` (mse, rmse, mae, r2), each metric as
``{"value": v, "standard_deviation": "NaN"}``. Plots: ROC, precision-recall and
calibration (binary), confusion matrix and per-class scores (multiclass), residuals
(regression), feature importance (all).
"""

from __future__ import annotations

import sys
from pathlib import Path

# SageMaker runs this file as a script from the uploaded source directory, which mirrors
# the repository (training/, features/, config/): make that root importable.
if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse
import html
import json
import tempfile
from typing import Any

import numpy as np
import xgboost as xgb
from matplotlib.figure import Figure

from config.schema import DatasetSchema, QualityGate
from features.packaged_model import load_packaged
from features.quality import quality_report
from features.registry import download, latest_approved, metric_at
from features.transform import FeatureTransform, InvalidInputError
from training.explain import explain, html_tables
from training.failure import report_failure
from training.splits import load_raw_test, load_split

PROCESSING = Path("/opt/ml/processing")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--model", type=Path, default=PROCESSING / "model", help="holds model.tar.gz"
    )
    parser.add_argument("--test", type=Path, default=PROCESSING / "test")
    parser.add_argument("--output", type=Path, default=PROCESSING / "evaluation")
    parser.add_argument(
        "--model-package-group",
        default="",
        help="compare with this group's approved model (empty: no comparison)",
    )
    return parser.parse_args(argv)


def _figure(width: float, height: float) -> tuple[Figure, Any]:
    # A Figure without pyplot: no backend to choose, no global state (PNGs need no display).
    figure = Figure(figsize=(width, height))
    return figure, figure.subplots()


def _save(figure: Figure, path: Path) -> str:
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    return path.name


def plots(
    report: dict[str, Any], y: np.ndarray, p: np.ndarray, booster: xgb.Booster, out: Path
) -> list[str]:
    """PNG plots next to evaluation.json; returns their file names."""
    written = []
    if "binary_classification_metrics" in report:
        m = report["binary_classification_metrics"]
        roc = m["receiver_operating_characteristic_curve"]
        fig, ax = _figure(5, 4)
        ax.plot(
            roc["false_positive_rates"],
            roc["true_positive_rates"],
            label=f"AUC {m['auc']['value']:.3f}",
        )
        ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="chance")
        ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC curve")
        ax.legend()
        written.append(_save(fig, out / "roc.png"))
        pr = m["precision_recall_curve"]
        fig, ax = _figure(5, 4)
        ax.plot(pr["recalls"], pr["precisions"])
        ax.axhline(float(np.mean(y)), linestyle="--", color="grey", label="base rate")
        ax.set(xlabel="recall", ylabel="precision", title="Precision-recall curve")
        ax.legend()
        written.append(_save(fig, out / "precision_recall.png"))
        edges = np.linspace(0, 1, 11)
        bins = np.clip(np.digitize(p, edges) - 1, 0, 9)
        filled = [b for b in range(10) if np.any(bins == b)]
        fig, ax = _figure(5, 4)
        ax.plot(
            [p[bins == b].mean() for b in filled], [y[bins == b].mean() for b in filled], marker="o"
        )
        ax.plot([0, 1], [0, 1], linestyle="--", color="grey")
        ax.set(xlabel="mean predicted probability", ylabel="observed rate", title="Calibration")
        written.append(_save(fig, out / "calibration.png"))
    elif "multiclass_classification_metrics" in report:
        written += _multiclass_plots(report["multiclass_classification_metrics"], out)
    else:
        fig, ax = _figure(5, 4)
        ax.scatter(p, y - p, s=4, alpha=0.4)
        ax.axhline(0, color="grey", linestyle="--")
        ax.set(xlabel="predicted", ylabel="residual (actual - predicted)", title="Residuals")
        written.append(_save(fig, out / "residuals.png"))
    gains = booster.get_score(importance_type="gain")
    top = sorted(gains.items(), key=lambda kv: kv[1])[-15:]
    fig, ax = _figure(6, 5)
    ax.barh([name for name, _ in top], [value for _, value in top])
    ax.set(xlabel="average gain per split", title="Feature importance (gain)")
    written.append(_save(fig, out / "feature_importance.png"))
    return written


def _multiclass_plots(metrics: dict[str, Any], out: Path) -> list[str]:
    """Confusion matrix (counts, rows = actual) and per-class precision / recall / F1."""
    matrix = metrics["confusion_matrix"]
    names = list(matrix)
    counts = np.array([[matrix[a][b] for b in names] for a in names])
    size = max(4.0, 0.6 * len(names) + 2.5)
    fig, ax = _figure(size, size * 0.85)
    image = ax.imshow(counts, cmap="Blues")
    fig.colorbar(image, ax=ax)
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
    ax.set_yticks(range(len(names)), names)
    middle = counts.max() / 2 if counts.size else 0
    for a in range(len(names)):
        for b in range(len(names)):
            colour = "white" if counts[a, b] > middle else "black"
            ax.text(b, a, str(counts[a, b]), ha="center", va="center", color=colour)
    ax.set(xlabel="predicted", ylabel="actual", title="Confusion matrix")
    written = [_save(fig, out / "confusion_matrix.png")]
    per_class = metrics["per_class"]
    x = np.arange(len(names))
    fig, ax = _figure(max(5.0, 0.9 * len(names) + 2), 4)
    for offset, score in ((-0.27, "precision"), (0.0, "recall"), (0.27, "f1")):
        ax.bar(x + offset, [per_class[n][score] for n in names], 0.27, label=score)
    ax.set_xticks(x, names, rotation=45, ha="right")
    ax.set(ylim=(0, 1.05), ylabel="score", title="Per-class scores")
    ax.legend()
    written.append(_save(fig, out / "per_class.png"))
    return written


def html_report(report: dict[str, Any], images: list[str], out: Path, tables: str = "") -> Path:
    """``report.html``: the metrics, then ``tables`` (bias, attributions), then the plots."""
    group = next(iter(report.values()))
    rows = "".join(
        f"<tr><td>{html.escape(name)}</td><td>{value['value']:.4f}</td></tr>"
        for name, value in group.items()
        if isinstance(value, dict) and "value" in value
    )
    figures = "".join(
        f'<img src="{html.escape(name)}" alt="{html.escape(name)}">' for name in images
    )
    page = (
        "<!doctype html><html><head><meta charset='utf-8'><title>Model evaluation</title>"
        "<style>body{font-family:sans-serif;margin:2em}td{padding:2px 12px}"
        "img{max-width:48%}</style>"
        f"</head><body><h1>Model evaluation</h1><table>{rows}</table>{tables}{figures}"
        "</body></html>"
    )
    path = out / "report.html"
    path.write_text(page)
    return path


class IncomparableModelError(ValueError):
    """The approved model cannot score this execution's rows (another schema)."""


def _same_target(approved: DatasetSchema, candidate: DatasetSchema) -> None:
    """Raise ``IncomparableModelError`` when the two models predict different things: its
    metrics would be of another kind, or its class indices would mean other classes."""
    if approved.problem_type is not candidate.problem_type:
        raise IncomparableModelError(
            f"it is a {approved.problem_type.value} model, this one {candidate.problem_type.value}"
        )
    if approved.target.classes != candidate.target.classes:
        raise IncomparableModelError(
            f"it predicts classes {list(approved.target.classes)}, this data has "
            f"{list(candidate.target.classes)}"
        )


def score_raw(
    booster: xgb.Booster,
    transform: FeatureTransform,
    test_dir: Path,
    labels: np.ndarray,
    candidate: DatasetSchema | None = None,
) -> dict[str, Any]:
    """Score the raw test rows with a model and its own transformation.

    Columns are taken by name, so a model trained on an older schema scores the same
    rows on the features it knows; ``IncomparableModelError`` when it needs a feature
    these rows lack or rejects their values (a category or range it does not know), or,
    given the ``candidate``'s schema, when it predicts another kind of target or
    another list of classes (the labels are indices into the candidate's classes).
    """
    if candidate is not None:
        _same_target(transform.schema, candidate)
    records = load_raw_test(test_dir)
    names = transform.schema.feature_names
    missing = [name for name in names if records and name not in records[0]]
    if missing:
        raise IncomparableModelError(f"it was trained on features this data lacks: {missing}")
    try:
        columns = transform.parse_rows([[record[name] for name in names] for record in records])
    except InvalidInputError as error:
        raise IncomparableModelError(f"it rejects this data: {error}") from None
    predictions = booster.inplace_predict(transform.encode(columns))
    schema = transform.schema
    return quality_report(schema.problem_type, labels, predictions, schema.target.classes)


def comparison(
    report: dict[str, Any],
    gate: QualityGate,
    group: str,
    test_dir: Path,
    labels: np.ndarray,
    schema: DatasetSchema | None = None,
) -> dict[str, Any]:
    """The ``approved_model`` block of the report: what the quality gate compares against.

    The approved model is scored here, on this execution's test split (with its own
    fitted transformation on the raw rows), so both numbers describe the same data.
    With no approved model (or no group), or one trained on a schema these rows no
    longer fit, the candidate is compared with itself, so the "not worse than the
    approved model" half of the gate holds trivially; ``skipped`` says why. Given the
    candidate's ``schema``, an approved model of another problem type or other classes
    is skipped as well (its metric would not be comparable).
    """
    candidate = metric_at(report, gate.json_path)
    approved = latest_approved(group) if group else None
    value, skipped = candidate, None if approved else "no approved model to compare with"
    if approved is not None:
        with tempfile.TemporaryDirectory() as scratch:
            archive = download(approved.model_data_url, Path(scratch) / "model.tar.gz")
            booster, transform = load_packaged(archive)
        try:
            scored = score_raw(booster, transform, test_dir, labels, schema)
            value = metric_at(scored, gate.json_path)
        except IncomparableModelError as error:
            skipped = f"approved model {approved.model_package_arn} not compared: {error}"
            print(skipped, flush=True)  # the processing job's log, for whoever reads why
    return {
        "metric": gate.metric,
        "higher_is_better": gate.higher_is_better,
        "model_package_arn": approved.model_package_arn if approved else None,
        "value": value,
        "skipped": skipped,
    }


def evaluate(
    *, model_dir: Path, test_dir: Path, output_dir: Path, model_package_group: str = ""
) -> dict[str, Any]:
    """Score the test split with the packaged model; write the report; return it."""
    booster, transform = load_packaged(model_dir / "model.tar.gz")
    features, labels, names = load_split(test_dir, "test")
    booster.feature_names = names
    predictions = booster.inplace_predict(features)
    schema = transform.schema
    report = quality_report(schema.problem_type, labels, predictions, schema.target.classes)
    report["approved_model"] = comparison(
        report, schema.quality_gate, model_package_group, test_dir, labels, schema
    )
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "evaluation.json").write_text(json.dumps(report, indent=2))
    explained = explain(schema, booster, features, names, labels, predictions, test_dir, output_dir)
    images = plots(report, labels, predictions, booster, output_dir) + explained.images
    html_report(report, images, output_dir, html_tables(explained))
    return report


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Entry point the processing container runs."""
    args = parse_args(argv if argv is not None else sys.argv[1:])
    with report_failure("message"):
        return evaluate(
            model_dir=args.model,
            test_dir=args.test,
            output_dir=args.output,
            model_package_group=args.model_package_group,
        )


if __name__ == "__main__":
    main()
