"""Steps 5 and 6: the synthesized Dev pipeline on moto trains and registers v1; the
approved v1 is served behind the local endpoint. Steps 7 to 10 follow on the same pipeline."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import Any

from config.layout import resource_name
from config.schema import DatasetSchema
from config.settings import stage_settings
from local.lake.etl import LocalLake
from local.lifecycle.monitoring import monitor_and_retrain
from local.lifecycle.steps import UserTraffic, fail_on, step
from local.monitoring.loop import MonitoringLoop
from local.moto_platform import LocalPlatform
from local.pipeline.batch_run import run_batch_scoring
from local.pipeline.training_run import approve_latest, execute, installed_pipeline
from local.report import print_batch, print_endpoint, print_promotion, print_training
from local.serving.endpoint_run import hosted_endpoint, latest_approved, probe
from local.serving.promotion import prod_serves_approved
from local.serving.serving import RunningEndpoint


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
    batch: bool = False,
) -> None:
    """Steps 5 to 10: the Dev pipeline, the approved model served, the monitoring loop that
    retrains it (``traffic``: the user's held-out rows); ``batch``: 5, then ``batch_score``."""
    with (
        installed_pipeline(out / "cdk.out", lake.curated, out / "pipeline", platform=platform) as (
            platform,
            pipeline,
        ),
        ExitStack() as stack,
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
        if batch:
            return batch_score(out, summary, platform, schema)
        dev = stage_settings("Dev", account="local", region="local")
        name = resource_name(dev.name, schema.name, "endpoint")

        def serve() -> tuple[RunningEndpoint, dict[str, Any]]:
            # v1's endpoint stays up for the monitor's windows (step 7), as Dev's does.
            arn = latest_approved(platform)
            running = stack.enter_context(
                hosted_endpoint(platform, arn, out / "endpoint", endpoint_name=name)
            )
            rows = None if traffic is None else traffic.part(2)
            return running, probe(platform, schema, running, arn=arn, endpoint_name=name, rows=rows)

        (v1, endpoint), seconds = step(
            6,
            "Approve v1; serve it with the XGBoost image's stack (data capture); send requests",
            serve,
        )
        summary["steps"]["endpoint"] = round(seconds, 2)
        summary["endpoint"] = endpoint
        print_endpoint(endpoint)
        # One artifact, Dev to Prod: what Dev approved is what Prod's model loads.
        promotion = prod_serves_approved(platform, out / "cdk.out", endpoint["model_package_arn"])
        summary["promotion"] = promotion.to_dict()
        print_promotion(promotion)
        if not promotion.same_bytes:
            raise SystemExit("Prod's model would not load the bytes Dev approved")
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
            v1,
            endpoint["model_package_arn"],
            out,
            summary,
            window_rows=window_rows,
            traffic=traffic,
        )


def batch_score(
    out: Path, summary: dict[str, Any], platform: LocalPlatform, schema: DatasetSchema
) -> None:
    """``make batch``'s step: the synthesized batch scoring pipeline on the curated zone
    with the latest approved version; it fails the run unless every row is scored once."""
    scored, seconds = step(
        "batch",
        "Batch-score the curated zone with the approved v1 (the Dev batch scoring pipeline)",
        lambda: run_batch_scoring(platform, out / "cdk.out", out / "batch", schema),
    )
    summary["steps"]["batch"] = round(seconds, 2)
    summary["batch"] = scored.summary()
    print_batch(scored)
    if scored.execution.status != "Succeeded":
        fail_on(scored.execution, out, summary, "batch scoring")
    if not scored.keyed or scored.output_rows != scored.input_rows:
        raise SystemExit(
            f"batch scoring lost, repeated or cut rows: {scored.input_rows} in, "
            f"{scored.output_rows} out, keyed with every answer column: {scored.keyed}"
        )
