"""``make run``: the platform's lifecycle on this machine, no AWS account needed.

1. synthesize the CDK app (both stages) and check it with cdk-nag and cfn-lint;
2. generate raw customer data with a known number of dirty rows (CSV and JSON lines);
3. run the Glue job raw -> processed on each batch (quarantine, dedup) on local Spark;
4. run the Glue job processed -> curated (latest row per id, derived features);
5. run the synthesized SageMaker Pipeline (Dev) on a moto server: preprocess, data
   quality baseline, train, evaluate, quality gate, register model version 1;
6. approve it, serve the latest approved version behind the local endpoint (gunicorn
   workers, data capture to moto S3) and send it a few hundred requests; Dev's promotion
   records the approved release with its model.tar.gz's SHA-256, and the synthesized Prod
   Serving stack, resolved against that record, is checked to serve the same package and
   bytes (one artifact, Dev to Prod);
7. send v1 traffic with a known shift in three features plus ground truth, and run the
   monitor job as the synthesized schedule runs it, once per window (two windows);
   evaluate the synthesized drift alarm on what the monitor published (LOCAL stand-in);
8. match the alarm's state-change event against the synthesized rule (LOCAL stand-in)
   and invoke the real retrain handler against moto: the retraining is due, and waits
   for the feedback to reach curated (no execution yet);
9. put the monitor's feedback batches through the same Glue jobs into curated; the
   curated job's success event starts the execution (its CuratedSnapshot parameter names
   that run), which then runs: model version 2, trained with the feedback;
10. score v1 and v2 on the same held-out shifted rows; send the same event again (the
   handler answers it as a duplicate);
11. draw the synthesized Operations dashboard from the metrics this run put in moto's
   CloudWatch (the AWS services' own put by their LOCAL stand-ins): local-run/dashboard.html;
and print what happened, also written to ``local-run/summary.json``.

``--batch`` (``make batch``, output in ``local-batch/``): steps 1 to 5, v1 approved, then
the synthesized batch scoring pipeline scores the curated zone with it (PrepareBatch in
the image, a batch transform through the image's serving stack); the run fails unless
every curated row comes out scored once, keyed by its row.

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
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from app import check_dataset
from config.schema import (
    DATASETS_DIR,
    DEFAULT_DATASET,
    DatasetSchema,
    SchemaError,
    load_schema,
)
from config.synthetic_hints import synthetic_hint_problems
from local.dashboard import render_dashboard
from local.lake.etl import LocalLake
from local.lake.user_files import UserDataError, find_raw_files
from local.lifecycle.data import generated_data, user_data
from local.lifecycle.serving import train_and_serve
from local.lifecycle.steps import UserTraffic, step, write_summary
from local.moto_platform import LocalPlatform, local_platform
from local.report import print_zones
from local.service_metrics import LABEL as SERVICE_LABEL

# Looked up here at call time, so a test can answer step 1 from an earlier synth.
from local.synth_check import synth_and_check

__all__ = ["lifecycle", "main", "print_zones", "synth_and_check", "user_data"]


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
    parser.add_argument(
        "--batch",
        action="store_true",
        help="`make batch`: steps 1 to 5, then the batch scoring pipeline on the curated "
        "zone with the approved v1; no endpoint, monitoring or dashboard",
    )
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

    traffic: UserTraffic | None = None
    window_rows = 0
    if args.raw is not None:
        traffic = user_data(args.raw, out, lake, schema, schema_path, summary)
    else:
        window_rows = generated_data(
            lake, schema, schema_path, summary, rows=args.rows, seed=args.seed
        )
    train_and_serve(
        out,
        lake,
        schema,
        schema_path,
        summary,
        platform,
        window_rows=window_rows,
        traffic=traffic,
        batch=args.batch,
    )
    # `make batch` has no endpoint or monitor whose metrics a dashboard would draw.
    dashboard = None if args.batch else platform
    return finish(out, lake, summary, dashboard, started, started_at)


def finish(
    out: Path,
    lake: LocalLake,
    summary: dict[str, Any],
    dashboard: LocalPlatform | None,
    started: float,
    started_at: datetime,
) -> dict[str, Any]:
    """Step 11 (the dashboard from ``dashboard``'s metrics, when given) and the closing
    summary (printed and written)."""
    if dashboard is not None:
        draw_dashboard(out, summary, dashboard, started_at)
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


def draw_dashboard(
    out: Path, summary: dict[str, Any], platform: LocalPlatform, started_at: datetime
) -> None:
    """Step 11: the synthesized Dev dashboard drawn from the platform's CloudWatch."""
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


if __name__ == "__main__":
    main()
