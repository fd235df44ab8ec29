"""``make run``: the platform's lifecycle on this machine, no AWS account needed.

1. synthesize the CDK app (both stages) and check it with cdk-nag and cfn-lint;
2. generate raw customer data with a known number of dirty rows (CSV and JSON lines);
3. run the Glue job raw -> processed on each batch (quarantine, dedup) on local Spark;
4. run the Glue job processed -> curated (latest row per id, derived features);
5. run the synthesized SageMaker Pipeline (Dev) on a moto server: preprocess, data
   quality baseline, train, evaluate, quality gate, register model version 1;
6. approve it, serve the latest approved version behind the local endpoint (gunicorn
   workers, data capture to moto S3) and send it a few hundred requests;
7. send v1 traffic with a known shift in three features plus ground truth, and run the
   monitor job as the synthesized schedule runs it, once per window (two windows);
   evaluate the synthesized drift alarm on what the monitor published (LOCAL stand-in);
8. match the alarm's state-change event against the synthesized rule (LOCAL stand-in)
   and invoke the real retrain handler against moto: it starts a pipeline execution;
9. put the monitor's feedback batches through the same Glue jobs into curated and run
   the started execution: model version 2, trained with the feedback;
10. score v1 and v2 on the same held-out shifted rows; send the same event again (the
   handler answers it as a duplicate);
11. draw the synthesized Operations dashboard from the metrics this run put in moto's
   CloudWatch (the AWS services' own put by their LOCAL stand-ins): local-run/dashboard.html;
and print what happened, also written to ``local-run/summary.json``.

With ``--raw <file or folder>`` (``make run DATASET=<name> RAW=<path>``) nothing is
generated: the user's own CSV / JSON lines files are the data. Step 2 then holds out a
quarter of their records (by a hash of each record, ``local/lake/user_files.py``) before
the ETL: the held-out files go through the raw -> processed job on their own, and their
valid rows are the endpoint's traffic (step 6) and the monitor's windows with their own
labels as ground truth (step 7: two thirds, one window each); the last third is kept for
v1 vs v2 (step 10). No shift is injected into the user's data: when the monitor finds no
drift, the alarm stays OK, and the run says so and skips the retrain (steps 8 to 10).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd

from app import check_dataset
from config.layout import resource_name
from config.schema import (
    DATASETS_DIR,
    DEFAULT_DATASET,
    DatasetSchema,
    SchemaError,
    load_schema,
)
from config.settings import stage_settings
from config.synthetic_hints import synthetic_hint_problems
from glue.validate import ProcessedCounts
from local.dashboard import render_dashboard
from local.image.container import describe_runtime
from local.lake.etl import LocalLake, run_processed_to_curated, run_raw_to_processed
from local.lake.synthetic import DirtyRows, RawBatch, generate_clean, write_raw
from local.lake.user_files import StagedFiles, UserDataError, find_raw_files, stage_user_files
from local.monitoring.alarms import ALARM
from local.monitoring.loop import COOLDOWN_OVERRIDE, EVENT_LABEL, LoopState, MonitoringLoop
from local.monitoring.retrain_function import LABEL as DELIVERY_LABEL
from local.monitoring.shifted_traffic import default_shift
from local.moto_platform import LocalPlatform, local_platform
from local.pipeline.pipeline_runtime import Execution
from local.pipeline.training_run import TrainingRun, approve_latest, execute, installed_pipeline
from local.service_metrics import LABEL as SERVICE_LABEL
from local.serving.endpoint_run import hosted_endpoint, serve_and_probe
from local.synth_check import synth_and_check

T = TypeVar("T")
STEPS = 11
# Shifted rows per monitor window: at least this many, and 1/8 of the first batch, so the
# two windows' feedback is about a fifth of curated. The quality gate scores the approved
# v1 on v2's test split, which is mostly pre-shift rows (many of them v1's own training
# rows): with much less feedback v2 cannot beat v1 there, and is rightly not registered.
MIN_ROWS_PER_WINDOW = 1000
WINDOW_SHARE_OF_BATCH = 8
HOLDOUT_ROWS = 2000
# The user's records held out of training as live traffic (``--raw``).
USER_HOLDOUT_SHARE = 0.25


@dataclass(frozen=True)
class UserTraffic:
    """The user's held-out rows (valid, typed as in the processed zone), in three parts:
    monitor window 1, window 2, and the endpoint probe's rows (never labelled, so never
    fed back), which are also v1 vs v2's rows."""

    frame: pd.DataFrame

    def part(self, index: int) -> pd.DataFrame:
        third = len(self.frame) // 3
        return self.frame.iloc[index * third : (index + 1) * third if index < 2 else None]


def step(number: int, title: str, work: Callable[[], T]) -> tuple[T, float]:
    """Run one lifecycle step, showing that it started and how long it took."""
    print(f"[{number}/{STEPS}] {title} ...", flush=True)
    started = time.perf_counter()
    result = work()
    seconds = time.perf_counter() - started
    print(f"[{number}/{STEPS}] {title}: done in {seconds:.1f}s", flush=True)
    return result, seconds


def merge_counts(counts: list[ProcessedCounts]) -> dict[str, Any]:
    """Sum per-batch raw -> processed counts into one zone summary."""
    total: dict[str, Any] = {
        "input_rows": 0,
        "valid_rows": 0,
        "quarantined_rows": 0,
        "duplicates_dropped": 0,
        "quarantined_by_reason": {},
    }
    for batch in counts:
        for key in ("input_rows", "valid_rows", "quarantined_rows", "duplicates_dropped"):
            total[key] += getattr(batch, key)
        for reason, count in batch.quarantined_by_reason.items():
            total["quarantined_by_reason"][reason] = (
                total["quarantined_by_reason"].get(reason, 0) + count
            )
    total["quarantined_by_reason"] = dict(sorted(total["quarantined_by_reason"].items()))
    total["balanced"] = all(batch.balanced for batch in counts)
    return total


def print_zones(zones: dict[str, Any]) -> None:
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


def print_training(training: TrainingRun) -> None:
    """The registered versions and their evaluation metrics."""
    for package in training.model_packages:
        metrics = ", ".join(f"{k} {v:.3f}" for k, v in package["metrics"].items())
        print(f"      model v{package['version']} ({package['approval_status']}): {metrics}")


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


def write_summary(out: Path, summary: dict[str, Any]) -> None:
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")


def fail_on(execution: Execution, out: Path, summary: dict[str, Any]) -> None:
    """A failed execution stops the run (non-zero exit) with its reason and log tail."""
    if execution.status == "Succeeded":
        return
    write_summary(out, summary)
    for record in execution.steps:
        if record.status == "Failed" and record.log_tail:
            print(f"--- {record.name} log (last lines) ---", file=sys.stderr)
            print(record.log_tail, file=sys.stderr)
    raise SystemExit(f"the training pipeline failed: {execution.failure_reason}")


def train_and_serve(
    out: Path,
    lake: LocalLake,
    schema: DatasetSchema,
    schema_path: Path,
    summary: dict[str, Any],
    platform: LocalPlatform,
    *,
    window_rows: int,
    traffic: UserTraffic | None = None,
) -> None:
    """Steps 5 to 10: the Dev pipeline on moto, the approved model behind the endpoint,
    then the monitoring loop that retrains it (``traffic``: the user's held-out rows)."""
    with installed_pipeline(out / "cdk.out", lake.curated, out / "pipeline", platform=platform) as (
        platform,
        pipeline,
    ):
        training, seconds = step(
            5,
            "SageMaker Pipeline (Dev) on moto: preprocess -> baseline -> train -> evaluate -> gate",
            lambda: execute(platform, pipeline),
        )
        summary["steps"]["training_pipeline"] = round(seconds, 2)
        summary["pipeline"] = training.execution_summary()
        summary["model_packages"] = training.model_packages
        print_training(training)
        fail_on(training.executions[-1], out, summary)

        approve_latest(platform, training)
        dev = stage_settings("Dev", account="local", region="local")
        endpoint, seconds = step(
            6,
            "Approve v1; serve it with the XGBoost image's stack (data capture); send requests",
            lambda: serve_and_probe(
                platform,
                schema,
                out / "endpoint",
                endpoint_name=resource_name(dev.name, schema.name, "endpoint"),
                rows=None if traffic is None else traffic.part(2),
            ),
        )
        summary["steps"]["endpoint"] = round(seconds, 2)
        summary["endpoint"] = endpoint
        print_endpoint(endpoint)
        loop = MonitoringLoop(
            platform=platform,
            pipeline=pipeline,
            schema=schema,
            schema_path=schema_path,
            lake=lake,
            cdk_out=out / "cdk.out",
            work_dir=out / "monitoring",
            endpoint_name=endpoint["endpoint_name"],
        )
        monitor_and_retrain(
            loop,
            endpoint["model_package_arn"],
            out,
            summary,
            window_rows=window_rows,
            traffic=traffic,
        )


def monitor_and_retrain(
    loop: MonitoringLoop,
    v1_arn: str,
    out: Path,
    summary: dict[str, Any],
    *,
    window_rows: int,
    traffic: UserTraffic | None = None,
) -> None:
    """Steps 7 to 10: shifted traffic (or the user's held-out rows) -> monitor -> alarm
    -> rule -> handler -> v2."""
    state = LoopState(shift={} if traffic is not None else default_shift(loop.schema))
    section: dict[str, Any] = {"shift": state.shift, "windows": []}
    summary["monitoring"] = section

    def windows() -> None:
        if traffic is None:
            shifted = ", ".join(f"{k} {v:+.0%}" for k, v in state.shift.items())
            print(f"      shift (seeded): {shifted}; labels from a changed concept", flush=True)
        else:
            print(
                "      traffic: your held-out rows as they are (no shift injected), "
                "their own labels as ground truth",
                flush=True,
            )
        with hosted_endpoint(
            loop.platform, v1_arn, loop.work_dir / "endpoint", endpoint_name=loop.endpoint_name
        ) as endpoint:
            for window in (1, 2):
                sent = loop.send_window(
                    endpoint.host,
                    endpoint.port,
                    state,
                    window=window,
                    rows=window_rows,
                    frame=None if traffic is None else traffic.part(window - 1),
                )
                run = loop.run_monitor(state)
                for restamp in loop.restamp_earlier_runs(state):
                    print(
                        f"      LOCAL time shift: {restamp['job']}'s published "
                        f"{loop.drift_alarm.metric_name}={restamp['value']:g} "
                        f"(at {restamp['published_at'][11:19]}) also put at its scheduled "
                        f"slot {restamp['slot'][11:19]}, one {loop.drift_alarm.period}s "
                        "period before this run",
                        flush=True,
                    )
                transition = loop.evaluate_alarm(state)
                drifted = run.summary["features_drifted"]
                print(
                    f"      window {window}: {sent['requests_ok']} requests captured, "
                    f"{sent['ground_truth_labels']} labels uploaded; monitor job "
                    f"{run.job_name}: {run.summary['rows_analyzed']} rows, drifted: "
                    f"{', '.join(drifted) or 'none'}",
                    flush=True,
                )
                print(f"      {transition.describe()}", flush=True)
                section["windows"].append(
                    {
                        **sent,
                        "monitor_job": run.job_name,
                        "rows_analyzed": run.summary["rows_analyzed"],
                        "features_drifted": drifted,
                        "model_quality": run.summary["model_quality"],
                        "feedback": run.summary["feedback"],
                        "report": str(run.report),
                        "report_uri": run.report_uri,
                        "alarm_state": transition.current.value,
                    }
                )

    _, seconds = step(
        7,
        f"{'Shifted' if traffic is None else 'Held-out'} traffic + ground truth to v1; "
        "the scheduled monitor job on each window",
        windows,
    )
    summary["steps"]["monitor"] = round(seconds, 2)
    last = state.runs[-1]
    section["drifted_features"] = last.summary["features_drifted"]
    section["report"] = str(last.report)
    section["report_uri"] = last.report_uri
    section["restamped"] = state.restamped
    transition = state.transitions[-1]
    section["alarm"] = {
        "name": transition.alarm.name,
        "transitions": [f"{t.previous.value} -> {t.current.value}" for t in state.transitions],
        "state": transition.current.value,
        "reason": transition.current.reason,
    }
    section["runtime"] = last.runtime
    print(f"      monitor job in the image: {describe_runtime(last.runtime)}")
    print(f"      monitor report: {last.report} ({last.report_uri})")
    if traffic is not None and (transition.current.value != ALARM or transition.event is None):
        section["retrain"] = {"decision": "not_triggered", "alarm": transition.current.value}
        print(
            f"[8-10/{STEPS}] no retrain: the drift alarm is {transition.current.value} on your "
            "held-out rows (nothing was shifted), so no alarm event reached the handler",
            flush=True,
        )
        return
    if transition.current.value != ALARM or transition.event is None:
        write_summary(out, summary)
        raise SystemExit(f"the drift alarm did not go to ALARM: {transition.describe()}")
    event = transition.event

    def deliver() -> dict[str, Any]:
        rules = loop.matching_rules(event)
        section["rule_matches"] = rules
        print(f"      {EVENT_LABEL} alarm event matches: {', '.join(rules) or 'no rule'}")
        if not rules:
            raise SystemExit("no synthesized rule matches the alarm's state-change event")
        print(
            f"      LOCAL time shift: the handler runs with COOLDOWN_MINUTES="
            f"{COOLDOWN_OVERRIDE['COOLDOWN_MINUTES']} (synthesized: "
            f"{loop.synthesized_cooldown()}); v1 was trained minutes ago, not hours",
            flush=True,
        )
        section["cooldown_minutes"] = {
            "synthesized": loop.synthesized_cooldown(),
            "local": COOLDOWN_OVERRIDE["COOLDOWN_MINUTES"],
        }
        state.handler = loop.trigger()
        return loop.invoke_trigger(event, state.handler, loop.work_dir / "retrain-trigger.log")

    decision, seconds = step(
        8, "Alarm event -> synthesized rule -> the retrain handler on moto", deliver
    )
    summary["steps"]["retrain_trigger"] = round(seconds, 2)
    section["retrain"] = decision
    print(f"      {DELIVERY_LABEL} handler decision: {decision['decision']} ({decision['reason']})")
    if decision["decision"] != "started":
        write_summary(out, summary)
        raise SystemExit(f"the retrain handler did not start the pipeline: {decision}")

    def retrain() -> Execution:
        processed, curated = loop.feedback_to_curated()
        rows = sum(c.input_rows for c in processed)
        valid = sum(c.valid_rows for c in processed)
        section["feedback"] = {
            "batches": len(processed),
            "rows": rows,
            "valid_rows": valid,
            "curated_rows": curated.curated_rows,
        }
        print(
            f"      feedback: {len(processed)} batch(es), {rows} rows ({valid} valid) -> "
            f"curated now {curated.curated_rows} rows",
            flush=True,
        )
        return loop.run_started_execution(decision["execution_arn"])

    execution, seconds = step(
        9, "Feedback through the Glue jobs; run the execution the handler started", retrain
    )
    summary["steps"]["retrain_pipeline"] = round(seconds, 2)
    retrain_run = TrainingRun(pipeline_name=loop.platform.pipeline_name, executions=[execution])
    summary["pipeline"] += retrain_run.execution_summary()
    if traffic is not None and any(r.type == "Fail" for r in execution.steps):
        # On the user's unshifted data v2 need not beat v1: the gate's verdict is the result.
        section["v2"] = {"registered": False, "reason": execution.failure_reason}
        print(f"      v2 not registered, the quality gate said: {execution.failure_reason}")
        return
    fail_on(execution, out, summary)
    packages = loop.platform.model_packages()
    summary["model_packages"] = packages
    v2 = next(p for p in packages if p["arn"] == execution.model_package_arn)
    section["v2"] = {k: v2[k] for k in ("arn", "version", "approval_status", "metrics")}
    print(f"      registered model v{v2['version']} ({v2['approval_status']})")

    def compare_and_repeat() -> dict[str, Any]:
        versions = {
            p["version"]: p["model_data"] for p in packages if p["version"] in (1, v2["version"])
        }
        scores = loop.score_on_holdout(
            versions, state, HOLDOUT_ROWS, frame=None if traffic is None else traffic.part(2)
        )
        before = loop.executions()
        again = loop.invoke_trigger(event, state.handler, loop.work_dir / "retrain-trigger.log")
        return {"scores": scores, "again": again, "new_executions": loop.executions() - before}

    result, seconds = step(
        10, "v1 vs v2 on held-out shifted rows; the same alarm event again", compare_and_repeat
    )
    summary["steps"]["compare"] = round(seconds, 2)
    scores, again = result["scores"], result["again"]
    section["holdout_metrics"] = scores
    section["duplicate"] = {
        "duplicate": bool(again.get("duplicate")),
        "decision": again.get("decision"),
        "new_executions": result["new_executions"],
    }
    names = [n for n in scores["v1"] if n in ("auc", "accuracy", "f1", "rmse", "mae", "r2")]
    print(f"      on {scores['rows']} held-out shifted rows (seed {scores['seed']}):")
    for version in ("v1", f"v{v2['version']}"):
        print(f"        {version}: " + ", ".join(f"{n} {scores[version][n]:.3f}" for n in names))
    print(
        f"      same event again: {'duplicate, ' if again.get('duplicate') else ''}"
        f"decision {again.get('decision')} (recorded), "
        f"{result['new_executions']} new execution(s)"
    )


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the local lifecycle; return (and write) the summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--dataset", default=DEFAULT_DATASET, help="a dataset name: config/datasets/<name>.json"
    )
    parser.add_argument(
        "--raw",
        type=Path,
        help="your raw files (a CSV / JSON lines file or a folder of them): the run's data, "
        "nothing generated",
    )
    parser.add_argument("--rows", type=int, default=20_000, help="clean rows in the first batch")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=Path("local-run"))
    args = parser.parse_args(argv)
    # The one place the dataset is chosen: the synth (app.py context), the lake, the
    # pipeline and the endpoint all follow it. Checked before the last run's output goes.
    schema_path = DATASETS_DIR / f"{args.dataset}.json"
    try:
        check_dataset(args.dataset)
        schema = load_schema(schema_path)
        # A generated run reads the synthetic hints; a run on the user's files does not.
        hints = synthetic_hint_problems(schema) if args.raw is None else []
        if hints:
            raise SchemaError(hints, source=schema_path)
        if args.raw is not None:
            find_raw_files(args.raw)
    except SchemaError as error:
        raise SystemExit("\n".join(error.lines())) from None
    except UserDataError as error:
        raise SystemExit(str(error)) from None
    # One moto server for the whole run: every step's metrics land in its CloudWatch.
    with local_platform() as platform:
        return lifecycle(args, platform, schema_path, schema)


def lifecycle(
    args: argparse.Namespace, platform: LocalPlatform, schema_path: Path, schema: DatasetSchema
) -> dict[str, Any]:
    """Steps 1 to 11 against ``platform``; return (and write) the summary."""
    started, started_at = time.perf_counter(), datetime.now(UTC)
    out: Path = args.out.resolve()  # job entry points run from their own folders
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    lake = LocalLake(out / "lake", aws_env=platform.env)
    summary: dict[str, Any] = {"dataset": schema.name, "steps": {}}

    report, seconds = step(
        1,
        "Synthesize the CDK app; check with cdk-nag and cfn-lint",
        lambda: synth_and_check(out / "cdk.out", {"dataset": args.dataset}),
    )
    summary["synth"] = {
        "templates": [t.name for t in report.templates],
        "nag_failures": report.nag_failures,
        "cfn_lint_findings": report.lint_findings,
    }
    summary["steps"]["synth"] = round(seconds, 2)
    if not report.clean:
        print(json.dumps(summary["synth"], indent=2), file=sys.stderr)
        raise SystemExit("synth checks failed: see the findings above")
    print(f"      {len(report.templates)} templates, 0 cdk-nag findings, 0 cfn-lint findings")
    # The Glue jobs run with the arguments the synthesized job definitions pass.
    lake = lake.with_synthesized_jobs(out / "cdk.out")

    if args.raw is not None:
        traffic = user_data(args.raw, out, lake, schema, schema_path, summary)
        train_and_serve(
            out, lake, schema, schema_path, summary, platform, window_rows=0, traffic=traffic
        )
        return finish(out, lake, summary, platform, started, started_at)

    dirty = DirtyRows(
        missing_required=40,
        wrong_type=30,
        out_of_range=25,
        unknown_category=20,
        malformed=15,
        duplicates=60,
    ).possible_for(schema)

    def generate() -> list[tuple[RawBatch, str]]:
        first = generate_clean(schema, args.rows, seed=args.seed)
        second = generate_clean(schema, max(args.rows // 4, 1), seed=args.seed + 1)
        return [
            (
                write_raw(schema, first, lake.raw / "batch-0001.csv", dirty=dirty, seed=args.seed),
                "csv",
            ),
            (
                write_raw(
                    schema,
                    second,
                    lake.raw / "batch-0002.jsonl",
                    dirty=dirty,
                    seed=args.seed + 1,
                    fmt="jsonl",
                ),
                "jsonl",
            ),
        ]

    batches, seconds = step(2, "Generate raw data with known dirty rows", generate)
    summary["steps"]["generate"] = round(seconds, 2)
    for batch, _ in batches:
        dirty_note = f"{batch.dirty.quarantined} dirty, {batch.dirty.duplicates} stale duplicates"
        print(f"      {batch.path.name}: {batch.total_rows} rows ({dirty_note})")

    def process() -> list[ProcessedCounts]:
        # No format given: the job reads each file by its extension, as deployed.
        return [run_raw_to_processed(lake, schema_path, b.path) for b, _ in batches]

    processed, seconds = step(3, "Glue job raw -> processed on local Spark", process)
    summary["steps"]["raw_to_processed"] = round(seconds, 2)
    curated, seconds = step(
        4,
        "Glue job processed -> curated on local Spark",
        lambda: run_processed_to_curated(lake, schema_path),
    )
    summary["steps"]["processed_to_curated"] = round(seconds, 2)

    expected = {kind: 2 * count for kind, count in dirty.as_dict().items()}
    curated_frame = pd.read_parquet(lake.curated)
    summary["zones"] = {
        "raw": {
            "files": [b.path.name for b, _ in batches],
            "rows": sum(b.total_rows for b, _ in batches),
            "injected_dirty_rows": expected,
        },
        "processed": {**merge_counts(processed), "batches": [c.as_dict() for c in processed]},
        "curated": {
            **curated.as_dict(),
            "columns": list(curated_frame.columns),
            "target_mean": round(float(curated_frame[schema.target.name].mean()), 4),
        },
    }
    window_rows = max(MIN_ROWS_PER_WINDOW, args.rows // WINDOW_SHARE_OF_BATCH)
    train_and_serve(out, lake, schema, schema_path, summary, platform, window_rows=window_rows)
    return finish(out, lake, summary, platform, started, started_at)


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


def user_data(
    raw: Path,
    out: Path,
    lake: LocalLake,
    schema: DatasetSchema,
    schema_path: Path,
    summary: dict[str, Any],
) -> UserTraffic:
    """Steps 2 to 4 on the user's files: hold out live traffic, then both Glue jobs."""
    holdout_lake = LocalLake(out / "holdout", aws_env={}, glue_jobs=lake.glue_jobs)

    def stage() -> StagedFiles:
        return stage_user_files(raw, lake.raw, holdout_lake.raw, share=USER_HOLDOUT_SHARE)

    staged, seconds = step(2, "Read your raw files; hold out live traffic", stage)
    summary["steps"]["stage"] = round(seconds, 2)
    print(
        f"      {raw}: {len(staged.files)} file(s), {staged.records} records; "
        f"{staged.held_out} ({staged.share:.0%}, chosen by a hash of each record) held out "
        "of training: the endpoint's traffic, the monitor's windows and ground truth"
    )

    def process() -> tuple[ProcessedCounts, ProcessedCounts]:
        trained = run_raw_to_processed(lake, schema_path, lake.raw)
        held = (
            run_raw_to_processed(holdout_lake, schema_path, holdout_lake.raw)
            if staged.held_out
            else ProcessedCounts(0, 0, 0, 0)
        )
        return trained, held

    (processed, held), seconds = step(3, "Glue job raw -> processed on local Spark", process)
    summary["steps"]["raw_to_processed"] = round(seconds, 2)
    print_file_report(processed, lake.raw)
    if processed.valid_rows == 0:
        write_summary(out, {**summary, "processed": processed.as_dict()})
        raise SystemExit(
            f"no valid rows in {raw}: {processed.quarantined_rows} quarantined "
            f"({', '.join(f'{k} {v}' for k, v in processed.quarantined_by_reason.items())}); "
            f"see {lake.quarantine} for each row's reason"
        )
    curated, seconds = step(
        4,
        "Glue job processed -> curated on local Spark",
        lambda: run_processed_to_curated(lake, schema_path),
    )
    summary["steps"]["processed_to_curated"] = round(seconds, 2)
    curated_frame = pd.read_parquet(lake.curated)
    summary["zones"] = {
        "raw": {
            "source": str(raw),
            "files": [str(f) for f in staged.files],
            "records": staged.records,
            "held_out": staged.held_out,
            "rows": processed.input_rows,
        },
        "processed": {**merge_counts([processed]), "batches": [processed.as_dict()]},
        "curated": {
            **curated.as_dict(),
            "columns": list(curated_frame.columns),
            "target_mean": round(float(curated_frame[schema.target.name].mean()), 4),
        },
        "held_out": held.as_dict(),
    }
    frame = pd.read_parquet(holdout_lake.processed) if held.valid_rows else pd.DataFrame()
    # Ground truth is joined to a captured request by its body: rows whose features repeat
    # another's would be ambiguous (and may disagree on the label), so each is sent once.
    unique = (
        frame.drop_duplicates(subset=schema.feature_names).reset_index(drop=True)
        if held.valid_rows
        else frame
    )
    if len(unique) < 3:
        raise SystemExit(
            f"only {len(unique)} distinct valid held-out row(s) from {staged.held_out} "
            "held-out records: the endpoint and the monitor need more; add data"
        )
    print(
        f"      held out: {held.input_rows} records -> {held.valid_rows} valid rows "
        f"({held.quarantined_rows} quarantined); counts balance: {held.balanced}"
    )
    if len(unique) < len(frame):
        repeats = len(frame) - len(unique)
        print(f"      {repeats} held-out row(s) repeat another's features: each is sent once")
    return UserTraffic(unique)


def finish(
    out: Path,
    lake: LocalLake,
    summary: dict[str, Any],
    platform: LocalPlatform,
    started: float,
    started_at: datetime,
) -> dict[str, Any]:
    """Step 11 and the closing summary (printed and written)."""
    page, seconds = step(
        11,
        "Draw the synthesized Operations dashboard from this run's CloudWatch metrics",
        lambda: render_dashboard(
            out / "cdk.out",
            "Dev",
            platform.client("cloudwatch"),
            out / "dashboard.html",
            start=started_at,
        ),
    )
    summary["steps"]["dashboard"] = round(seconds, 2)
    summary["dashboard"] = page.summary()
    drawn = sum(1 for graph in page.graphs if graph["lines"])
    shown = page.path.relative_to(Path.cwd()) if page.path.is_relative_to(Path.cwd()) else page.path
    print(f"      {shown}: {drawn} of {len(page.graphs)} graphs with local data")
    print(f"      {SERVICE_LABEL} SageMaker, Glue and Lambda's own metrics: measured in this run")
    summary["paths"] = {
        "raw": str(lake.raw),
        "processed": str(lake.processed),
        "quarantine": str(lake.quarantine),
        "curated": str(lake.curated),
    }
    summary["seconds"] = round(time.perf_counter() - started, 2)
    print_zones(summary["zones"])
    write_summary(out, summary)
    print(f"\nSummary written to {out / 'summary.json'} ({summary['seconds']:.0f}s in all)")
    return summary


if __name__ == "__main__":
    main()
