"""The lines ``make run`` prints about what its steps did (``local/lifecycle/``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from glue.validate import ProcessedCounts
from local.image.container import describe_runtime
from local.lake.synthetic import RawBatch
from local.pipeline.batch_run import BatchRun
from local.pipeline.training_run import TrainingRun
from local.serving.promotion import LABEL as PROMOTION_LABEL
from local.serving.promotion import Promotion


def print_zones(zones: dict[str, Any]) -> None:
    """The rows in each zone of the lake, and why rows were quarantined."""
    raw, processed, curated = zones["raw"], zones["processed"], zones["curated"]
    print()
    print(f"{'zone':<11}{'rows in':>10}{'valid':>10}{'quarantined':>13}{'duplicates':>12}")
    print(f"{'raw':<11}{raw['rows']:>10}")
    print(
        f"{'processed':<11}{processed['input_rows']:>10}{processed['valid_rows']:>10}"
        f"{processed['quarantined_rows']:>13}{processed['duplicates_dropped']:>12}"
    )
    print(f"{'curated':<11}{curated['input_rows']:>10}{curated['curated_rows']:>10}")
    print("quarantined by reason:")
    for reason, count in processed["quarantined_by_reason"].items():
        print(f"  {reason:<20}{count:>6}")
    print(f"counts balance (in = valid + quarantined + duplicates): {processed['balanced']}")


def print_batches(batches: list[RawBatch]) -> None:
    """Each generated raw file with its injected dirty rows."""
    for batch in batches:
        dirty_note = f"{batch.dirty.quarantined} dirty, {batch.dirty.duplicates} stale duplicates"
        print(f"      {batch.path.name}: {batch.total_rows} rows ({dirty_note})")


def print_training(training: TrainingRun) -> None:
    """The registered versions and their evaluation metrics."""
    for package in training.model_packages:
        metrics = ", ".join(f"{k} {v:.3f}" for k, v in package["metrics"].items())
        print(f"      model v{package['version']} ({package['approval_status']}): {metrics}")


def print_batch(run: BatchRun) -> None:
    """Rows in and out of the batch transform, where the scores are, and a sample."""
    print(
        f"      {run.input_rows} rows in, {run.output_rows} scored lines out, "
        f"every line keyed by its row: {run.keyed}"
    )
    for uri in run.outputs:
        print(f"      scores: {uri}")
    print(f"      copied to {run.scores_dir}")
    for line in run.sample:
        print(f"        {line}")
    print("      [local stand-in: batch transform] (local/pipeline/transform_job.py)")


def print_endpoint(endpoint: dict[str, Any]) -> None:
    """Status counts, latency and what data capture wrote."""
    print(
        f"      {endpoint['requests']} requests: {endpoint['requests_ok']} ok, "
        f"{endpoint['requests_client_error']} client errors (4xx), "
        f"{endpoint['requests_server_error']} server errors; "
        f"p50 {endpoint['p50_ms']:.1f} ms, p99 {endpoint['p99_ms']:.1f} ms"
    )
    print(f"      endpoint in the image: {describe_runtime(endpoint['runtime'])}")
    print(
        f"      data capture: {endpoint['capture_records']} records in "
        f"{endpoint['capture_files']} file(s) under {endpoint['capture_location']}"
    )


def print_promotion(promotion: Promotion) -> None:
    """Dev's approved release against what Prod's synthesized model loads."""
    verdict = "same bytes" if promotion.same_bytes else "DIFFERENT bytes"
    container = "the same" if promotion.same_container else "DIFFERENT"
    print(
        f"      promotion {PROMOTION_LABEL}: Dev approved {promotion.approved_arn}, model data "
        f"sha256 {promotion.approved_sha256}; Prod's endpoint (cdk.out Prod/Serving) serves "
        f"{promotion.prod_package_arn}, model data sha256 {promotion.prod_sha256}: {verdict} "
        f"(endpoint config tag {promotion.prod_tag_sha256}; image and environment {container})"
    )


def print_file_report(counts: ProcessedCounts, base: Path) -> None:
    """Files quarantined whole, extra columns ignored, files skipped: one line each."""

    def name(path: str) -> str:
        local = Path(path.removeprefix("file:"))
        return str(local.relative_to(base)) if local.is_relative_to(base) else path

    for path, problem in counts.rejected_files.items():
        reason = problem.split(": ", 1)[-1]
        print(f"      quarantined whole: {name(path)}: {reason} (reason missing_columns)")
    for path, columns in counts.extra_columns.items():
        print(f"      ignored columns in {name(path)}: {', '.join(columns)}")
    for path in counts.skipped_files:
        print(f"      skipped (not .csv/.jsonl/.json): {name(path)}")


def print_traffic(shift: dict[str, float], user_rows: bool) -> None:
    """What the monitor's windows send: the seeded shift, or the user's rows as they are."""
    if not user_rows:
        shifted = ", ".join(f"{k} {v:+.0%}" for k, v in shift.items())
        print(f"      shift (seeded): {shifted}; labels from a changed concept", flush=True)
    else:
        print(
            "      traffic: your held-out rows as they are (no shift injected), "
            "their own labels as ground truth",
            flush=True,
        )


def print_window(window: int, record: dict[str, Any], transition: str) -> None:
    """One monitor window: what was captured, what the monitor found, the alarm's move."""
    print(
        f"      window {window}: {record['requests_ok']} requests captured, "
        f"{record['ground_truth_labels']} labels uploaded; monitor job "
        f"{record['monitor_job']}: {record['rows_analyzed']} rows, drifted: "
        f"{', '.join(record['features_drifted']) or 'none'}",
        flush=True,
    )
    model_drift = []
    if record.get("bias_drift") is not None:
        violations = record["bias_drift"]["violations"]
        named = ", ".join(sorted({f"{v['facet']} {v['metric_name']}" for v in violations}))
        model_drift.append(f"bias drift: {named or 'none'}")
    if record.get("attribution_drift") is not None:
        ndcg = min(record["attribution_drift"]["ndcg"].values())
        model_drift.append(f"attribution nDCG {ndcg:.3f} (violation below 0.9)")
    if model_drift:
        print(f"      {'; '.join(model_drift)}", flush=True)
    print(f"      {transition}", flush=True)


def print_comparison(scores: dict[str, Any], v2_version: int, repeat: dict[str, Any]) -> None:
    """v1 vs v2 on the same held-out rows, and what the repeated event did."""
    names = [n for n in scores["v1"] if n in ("auc", "accuracy", "f1", "rmse", "mae", "r2")]
    print(f"      on {scores['rows']} held-out shifted rows (seed {scores['seed']}):")
    for version in ("v1", f"v{v2_version}"):
        print(f"        {version}: " + ", ".join(f"{n} {scores[version][n]:.3f}" for n in names))
    if "paired" in scores:  # v2 as the challenger of v1, on the same rows
        print(f"        v{v2_version} against v1: {scores['paired']['line']}")
    print(
        f"      same event again: {'duplicate, ' if repeat['duplicate'] else ''}"
        f"decision {repeat['decision']} (recorded), "
        f"{repeat['new_executions']} new execution(s)"
    )
