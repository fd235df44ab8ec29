"""SageMaker Processing entry point: drift, data quality and model quality of captured traffic.

Contract (processing job; every path and URI overridable for local runs)::

  python3 monitoring/monitor.py --schema config/datasets/<ds>.json
      --capture-uri s3://<artifacts>/data-capture/<endpoint>/
      --ground-truth-uri s3://<artifacts>/ground-truth/<endpoint>/
      --state-uri s3://<artifacts>/monitoring/<endpoint>/state/checkpoint.json
      --model-package-group <group> --endpoint-name <endpoint> --schedule-name <schedule>
      --feedback-uri s3://<raw>/incoming/feedback/
      --output /opt/ml/processing/output

  reads    the capture objects written since the checkpoint (SageMaker data-capture
           JSON lines), the ground truth since the checkpoint (Model Monitor's format),
           and the newest Approved model package's DriftCheckBaselines.ModelDataQuality
           (statistics.json, constraints.json), ModelMetrics.ModelQuality (evaluation.json)
           and, when it has them, DriftCheckBaselines.Bias / .Explainability (Evaluate's
           bias and explanations reports) with its model.tar.gz (to explain the window)
  writes   <output>/statistics.json, constraint_violations.json (Model Monitor formats),
           model_quality.json (when ground truth matched), bias_drift.json and
           attribution_drift.json (when judged), report.html + its PNGs, summary.json;
           the feedback batch (captured rows with their labels, a raw-zone CSV) to
           --feedback-uri; CloudWatch metrics (see monitoring/cloudwatch.py),
           once per window (a marker under the checkpoint's folder); then, last, the
           checkpoint.

AWS is reached with plain boto3, so AWS_ENDPOINT_URL points it at moto locally.
"""

from __future__ import annotations

import sys
from pathlib import Path

# SageMaker runs this file as a script from the uploaded source directory, which mirrors
# the repository (monitoring/, features/, config/, training/): make that root importable.
if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse
import csv
import json
import logging
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3

from config.schema import DatasetSchema, load_schema
from features.checkpoint import Checkpoint
from features.packaged_model import load_packaged
from features.s3_objects import (
    S3Object,
    get_json_or_none,
    list_objects,
    put_json,
    split_uri,
)
from monitoring import cloudwatch
from monitoring.analyzer import WindowAnalyzer, worker_pool
from monitoring.attribution_drift import (
    MIN_SAMPLE_ROWS,
    SAMPLE_ROWS,
    AttributionDrift,
    attribution_drift,
    window_explanations,
)
from monitoring.attribution_drift import html_section as attribution_section
from monitoring.baseline import Baseline
from monitoring.bias_drift import DEFAULT_TOLERANCE as BIAS_TOLERANCE
from monitoring.bias_drift import BiasDrift, bias_drift
from monitoring.bias_drift import html_section as bias_section
from monitoring.constraint_checks import FeatureDrift, current_types, drift, violations
from monitoring.data_statistics import statistics
from monitoring.model_quality import DEFAULT_TOLERANCE, QualityResult, evaluate
from monitoring.registered import Registered, load_registered
from monitoring.report import write_report
from monitoring.window import (
    advanced_checkpoint,
    consume_capture,
    publish_metrics_once,
    published_marker,
    read_ground_truth,
    upload_feedback,
    window_run_id,
)

LOG = logging.getLogger("monitor")
PROCESSING = Path("/opt/ml/processing")
DEFAULT_LOOKBACK_HOURS = 24.0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--schema", type=Path, required=True)
    parser.add_argument("--capture-uri", required=True)
    parser.add_argument("--ground-truth-uri", default="")
    parser.add_argument("--state-uri", required=True)
    parser.add_argument("--model-package-group", required=True)
    parser.add_argument("--endpoint-name", required=True)
    parser.add_argument("--schedule-name", required=True)
    parser.add_argument("--feedback-uri", default="")
    parser.add_argument("--output", type=Path, default=PROCESSING / "output")
    parser.add_argument(
        "--ground-truth-lookback-hours",
        type=float,
        default=DEFAULT_LOOKBACK_HOURS,
        help="also join labels with capture consumed this long before the window",
    )
    parser.add_argument("--quality-tolerance", type=float, default=DEFAULT_TOLERANCE)
    parser.add_argument(
        "--bias-tolerance",
        type=float,
        default=BIAS_TOLERANCE,
        help="how much further from fair than the registered value a bias metric may be",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="processes analyzing chunks in parallel (default: one per CPU)",
    )
    return parser.parse_args(argv)


@dataclass
class Clients:
    s3: Any
    sagemaker: Any
    cloudwatch: Any

    @classmethod
    def default(cls) -> Clients:
        return cls(boto3.client("s3"), boto3.client("sagemaker"), boto3.client("cloudwatch"))


@dataclass
class WindowResult:
    """The comparison of one window with the baseline: what the outputs are made of."""

    drifts: list[FeatureDrift]
    violations: list[dict[str, str]]
    statistics: dict[str, Any]
    quality: QualityResult | None = None
    bias: BiasDrift | None = None
    attribution: AttributionDrift | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def drifted(self) -> list[str]:
        return [d.name for d in self.drifts if d.drifted]


def compare(
    analyzer: WindowAnalyzer,
    *,
    evaluation: dict[str, Any] | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
) -> WindowResult:
    """Drift, violations, statistics and (with joined labels) model quality of a window."""
    schema, baseline, states = analyzer.schema, analyzer.baseline, analyzer.states
    drifts = drift(schema, baseline, states)
    found = violations(
        schema,
        baseline,
        states,
        drifts,
        short_rows=analyzer.short_rows,
        long_rows=analyzer.long_rows,
        extra_columns=analyzer.extra_columns,
    )
    stats = statistics(schema, states, current_types(baseline, states), analyzer.rows)
    quality = None
    if analyzer.joined.scores:
        quality = evaluate(
            schema, analyzer.joined.scores, analyzer.joined.labels, evaluation, tolerance
        )
    return WindowResult(drifts, found, stats, quality)


def model_drift(
    s3: Any,
    analyzer: WindowAnalyzer,
    registered: Registered,
    result: WindowResult,
    *,
    bias_tolerance: float = BIAS_TOLERANCE,
) -> None:
    """Bias drift (labelled rows) and attribution drift (the row sample) against the
    registered version's baselines, into ``result``; each only when the version has its
    baseline, as Model Monitor runs each check only with one, and attribution drift only
    over ``MIN_SAMPLE_ROWS`` rows or more (a ranking of a handful of rows is noise)."""
    joined = analyzer.joined
    if registered.bias and joined.scores:
        result.bias = bias_drift(
            analyzer.schema,
            joined.facets,
            joined.labels,
            joined.scores,  # type: ignore[arg-type]  # binary: one score per row
            registered.bias,
            tolerance=bias_tolerance,
        )
    rows = analyzer.sampled_rows
    if registered.explanations and registered.model_data_url and len(rows) >= MIN_SAMPLE_ROWS:
        with tempfile.TemporaryDirectory() as scratch:
            archive = Path(scratch) / "model.tar.gz"
            s3.download_file(*split_uri(registered.model_data_url), str(archive))
            booster, transform = load_packaged(archive)
        live = window_explanations(analyzer.schema, booster, transform, rows)
        if live is not None:
            result.attribution = attribution_drift(live, registered.explanations)


def analyze_lines(
    schema: DatasetSchema,
    baseline: Baseline,
    sources: Iterable[Iterable[str | bytes]],
    workers: int = 1,
) -> WindowResult:
    """The analysis alone, over local line sources (no AWS): what the benchmark times."""
    with worker_pool(schema, baseline, {}, workers) as pool:
        analyzer = WindowAnalyzer(schema=schema, baseline=baseline, pool=pool, workers=workers)
        for lines in sources:
            analyzer.consume(lines)
    return compare(analyzer)


def write_outputs(
    out: Path, analyzer: WindowAnalyzer, result: WindowResult, summary: dict[str, Any]
) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "statistics.json").write_text(json.dumps(result.statistics, indent=2))
    (out / "constraint_violations.json").write_text(
        json.dumps({"violations": result.violations}, indent=2)
    )
    if result.quality is not None:
        (out / "model_quality.json").write_text(json.dumps(result.quality.document, indent=2))
    # Model Monitor writes each check's analysis and violations apart; so do we.
    if result.bias is not None:
        document = {**result.bias.reports, "violations": result.bias.violations}
        (out / "bias_drift.json").write_text(json.dumps(document, indent=2))
    if result.attribution is not None:
        document = {"ndcg": result.attribution.scores, "violations": result.attribution.violations}
        (out / "attribution_drift.json").write_text(json.dumps(document, indent=2))
    summary["report"] = str(
        write_report(
            out=out,
            summary=summary,
            drifts=result.drifts,
            statistics=result.statistics,
            violations=result.violations,
            baselines=analyzer.baseline.features,
            states=analyzer.states,
            sections=bias_section(result.bias, out) + attribution_section(result.attribution, out),
        )
    )
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str))


def _summary(
    *,
    run_id: str,
    endpoint_name: str,
    registered: Registered,
    analyzer: WindowAnalyzer,
    result: WindowResult,
    objects: tuple[list[S3Object], list[S3Object]],
    labels: tuple[int, int, int],
    feedback_target: str,
) -> dict[str, Any]:
    """The run's summary (``summary.json``). ``objects``: the new capture and ground-truth
    objects; ``labels``: labels available, unreadable label lines, labels still pending."""
    new_capture, new_truth = objects
    labels_read, unreadable_lines, pending_labels = labels
    quality = result.quality
    return {
        "run_id": run_id,
        "endpoint": endpoint_name,
        "model_package_arn": registered.arn,
        "capture_objects": len(new_capture),
        "records": analyzer.records,
        "rows_analyzed": analyzer.rows,
        "malformed_records": sum(analyzer.malformed.values()),
        "malformed_by_reason": dict(analyzer.malformed),
        "rows_with_missing_columns": analyzer.short_rows,
        "rows_with_extra_columns": analyzer.long_rows,
        "features_drifted": result.drifted if analyzer.rows else [],
        "drift": {d.name: round(d.distance, 6) for d in result.drifts},
        "data_quality_violations": len(result.violations),
        "ground_truth": {
            "objects": len(new_truth),
            "labels_available": labels_read,
            "unreadable_lines": unreadable_lines,
            "joined_rows": analyzer.joined.rows,
            "label_count_mismatch": analyzer.joined.label_count_mismatch,
            "pending_labels": pending_labels,
        },
        "model_quality": (
            {
                "metrics": quality.metrics,
                "violation": quality.violation,
                "status": quality.document.get("status", "ok"),
            }
            if quality is not None
            else None
        ),
        "bias_drift": (
            {"judged": result.bias.judged_count, "violations": result.bias.violations}
            if result.bias is not None
            else None
        ),
        "attribution_drift": (
            {"rows": result.attribution.rows, "ndcg": result.attribution.scores}
            if result.attribution is not None
            else None
        ),
        "feedback": feedback_target,
    }


def _run_metrics(
    schema: DatasetSchema,
    registered: Registered,
    analyzer: WindowAnalyzer,
    result: WindowResult,
    summary: dict[str, Any],
    endpoint_name: str,
    schedule_name: str,
) -> list[cloudwatch.Datum]:
    """The run's CloudWatch datapoints."""
    quality = result.quality
    config = registered.baseline.config
    return cloudwatch.run_metrics(
        endpoint=endpoint_name,
        schedule=schedule_name,
        rows=analyzer.rows,
        drift={d.name: d.distance for d in result.drifts if d.compared}
        if config.emit_metrics
        else {},
        drifted=len(summary["features_drifted"]),
        violations=len(result.violations),
        quality=quality.metrics if quality else {},
        quality_violation=quality.violation if quality else None,
        gate_metric=schema.quality_gate.metric,
    ) + cloudwatch.model_drift_metrics(
        endpoint=endpoint_name,
        schedule=schedule_name,
        label=schema.target.name,
        bias=result.bias,
        attribution=result.attribution,
    )


def monitor(
    *,
    schema_path: Path,
    capture_uri: str,
    ground_truth_uri: str,
    state_uri: str,
    model_package_group: str,
    endpoint_name: str,
    schedule_name: str,
    feedback_uri: str,
    output_dir: Path,
    clients: Clients | None = None,
    now: datetime | None = None,
    lookback: timedelta = timedelta(hours=DEFAULT_LOOKBACK_HOURS),
    tolerance: float = DEFAULT_TOLERANCE,
    bias_tolerance: float = BIAS_TOLERANCE,
    workers: int = 1,
) -> dict[str, Any]:
    """One monitoring run over the window since the checkpoint; returns its summary."""
    clients = clients or Clients.default()
    now = now or datetime.now(UTC)
    s3 = clients.s3
    schema = load_schema(schema_path)
    registered = load_registered(s3, clients.sagemaker, model_package_group, schema)
    checkpoint = Checkpoint.from_json(get_json_or_none(s3, state_uri))

    listed_capture = list_objects(s3, capture_uri)
    new_capture = checkpoint.capture.select(listed_capture)
    new_truth, labels, truth_malformed = read_ground_truth(s3, checkpoint, ground_truth_uri)
    labels_read = len(labels)
    with tempfile.TemporaryDirectory() as scratch:
        feedback_path = Path(scratch) / "feedback.csv"
        with (
            feedback_path.open("w", newline="", encoding="utf-8") as feedback,
            worker_pool(schema, registered.baseline, labels, workers) as pool,
        ):
            csv.writer(feedback, lineterminator="\n").writerow(schema.raw_header_names)
            analyzer = WindowAnalyzer(
                schema=schema,
                baseline=registered.baseline,
                labels=labels,
                feedback=feedback,
                pool=pool,
                workers=workers,
                sample_rows=SAMPLE_ROWS if registered.explanations else 0,
            )
            consume_capture(
                analyzer, s3, labels, new_capture, listed_capture, now=now, lookback=lookback
            )
        result = compare(analyzer, evaluation=registered.evaluation, tolerance=tolerance)
        model_drift(s3, analyzer, registered, result, bias_tolerance=bias_tolerance)
        run_id = window_run_id(endpoint_name, [*new_capture, *new_truth], now)
        feedback_target = upload_feedback(
            s3, feedback_path, feedback_uri, run_id, rows=analyzer.joined.rows
        )
    summary = _summary(
        run_id=run_id,
        endpoint_name=endpoint_name,
        registered=registered,
        analyzer=analyzer,
        result=result,
        objects=(new_capture, new_truth),
        labels=(labels_read, sum(truth_malformed.values()), len(labels)),
        feedback_target=feedback_target,
    )
    write_outputs(output_dir, analyzer, result, summary)
    summary["metrics_published"] = publish_metrics_once(
        s3,
        clients.cloudwatch,
        _run_metrics(schema, registered, analyzer, result, summary, endpoint_name, schedule_name),
        marker=published_marker(state_uri, run_id),
        run_id=run_id,
        now=now,
    )
    last_run = {"run_id": run_id, "at": now.isoformat(), "rows": analyzer.rows}
    put_json(
        s3, state_uri, advanced_checkpoint(checkpoint, new_capture, new_truth, labels, last_run)
    )
    LOG.info("monitor %s", json.dumps(summary, default=str))
    return summary


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Entry point the processing container runs."""
    logging.basicConfig(level=logging.INFO, stream=sys.stdout)
    args = parse_args(argv)
    return monitor(
        schema_path=args.schema,
        capture_uri=args.capture_uri,
        ground_truth_uri=args.ground_truth_uri,
        state_uri=args.state_uri,
        model_package_group=args.model_package_group,
        endpoint_name=args.endpoint_name,
        schedule_name=args.schedule_name,
        feedback_uri=args.feedback_uri,
        output_dir=args.output,
        lookback=timedelta(hours=args.ground_truth_lookback_hours),
        tolerance=args.quality_tolerance,
        bias_tolerance=args.bias_tolerance,
        workers=args.workers,
    )


if __name__ == "__main__":
    main()
