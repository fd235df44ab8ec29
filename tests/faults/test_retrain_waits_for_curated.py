"""Fault: the retraining is due before its data is. The monitor writes its feedback batch
into the raw zone and the drift alarm fires at once; a pipeline started then would train
on a curated zone without the batch that triggered it.

The synthesized Dev Monitoring stack routes the events (its rules' patterns, the local
stand-in for EventBridge) to the real retrain handler with its synthesized environment,
on moto; the ETL is the Glue scripts on local Spark, their runs recorded in moto's Glue
(``local.monitoring.glue_events``). The pipeline must start only after the curated job
put the feedback into curated, and the execution must record that curated snapshot.
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import boto3
import pandas as pd
import pytest
from moto import mock_aws

from config.schema import DATASETS_DIR, load_schema
from local.cdk_assembly import StageAssembly
from local.lake.etl import LocalLake, run_processed_to_curated, run_raw_to_processed
from local.lake.synthetic import generate_clean, write_raw
from local.monitoring.assembly import function_environment, monitoring_template
from local.monitoring.event_patterns import matching_rules, stage_rule_patterns
from local.monitoring.glue_events import start_run, state_change_event
from local.monitoring.retrain_function import lambda_context, load_handler
from local.service_metrics import LOCAL_NAMES, local_name
from tests.integration.test_retrain_trigger import (
    PIPELINE,
    REGION,
    SAMPLE_EVENT,
    TABLE,
    create_backend,
)

pytestmark = pytest.mark.spark

CHURN = load_schema("churn")
CHURN_PATH = DATASETS_DIR / "churn.json"
CURATED_JOB = LOCAL_NAMES["EtlProcessedToCuratedJob"]
NAMES = {"RetrainIdempotencyTable": TABLE, "CuratedJobName": CURATED_JOB}


def _names(name: str) -> str | None:
    return next((value for fragment, value in NAMES.items() if fragment in name), None)


@pytest.fixture
def stage(synth_report, monkeypatch):
    template = monitoring_template(synth_report.assembly_dir, "Dev")
    env = function_environment(template, _names)
    for name, value in {
        **env,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        backend = create_backend()  # the idempotency table and the pipeline, on moto
        assert env["PIPELINE_NAME"] == PIPELINE
        handler = load_handler()
        handler._runtime.cache_clear()
        yield {
            "handler": handler,
            "patterns": stage_rule_patterns(
                StageAssembly(synth_report.assembly_dir, "Dev", names=local_name), "Monitoring"
            ),
            "sagemaker": backend.sagemaker,
            "glue": boto3.client("glue", region_name=REGION),
            "pipeline": env["PIPELINE_NAME"],
            "alarm": env["ALARM_NAME_PREFIX"] + "drift",
        }


def _deliver(stage: dict, event: dict) -> dict:
    """The event through the synthesized rules to the handler (exactly one rule)."""
    [_rule] = matching_rules(event, stage["patterns"])
    result: dict = stage["handler"].handler(event, lambda_context(region=REGION, account="1"))
    return result


def _alarm(name: str) -> dict:
    event = json.loads(json.dumps(SAMPLE_EVENT))
    now = datetime.now(UTC)
    event["id"] = "drift-alarm-1"
    event["time"] = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    event["detail"]["alarmName"] = name
    event["detail"]["state"]["timestamp"] = now.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000"
    return event


def _executions(stage: dict) -> list[dict]:
    listing = stage["sagemaker"].list_pipeline_executions(PipelineName=stage["pipeline"])
    return list(listing["PipelineExecutionSummaries"])


def _curate(stage: dict, lake: LocalLake, snapshots: Path) -> str:
    """One curated job run, recorded in Glue; what it wrote kept as its snapshot."""
    run_id = start_run(stage["glue"], CURATED_JOB)
    run_processed_to_curated(lake, CHURN_PATH)
    shutil.copytree(lake.curated, snapshots / run_id)
    return run_id


def _ids(folder: Path) -> set[str]:
    return set(pd.read_parquet(folder)[CHURN.id_column].astype(str))


def test_the_retraining_starts_once_the_feedback_is_curated(stage, tmp_path, spark) -> None:
    lake, snapshots = LocalLake(tmp_path / "lake"), tmp_path / "snapshots"
    write_raw(CHURN, generate_clean(CHURN, 300, seed=41), lake.raw / "first.csv", seed=41)
    run_raw_to_processed(lake, CHURN_PATH, lake.raw / "first.csv")
    # A curated run already under way when the alarm fires: it read processed before the
    # feedback could be there.
    early = start_run(stage["glue"], CURATED_JOB)
    feedback = generate_clean(CHURN, 120, seed=42)
    feedback[CHURN.id_column] = [f"feedback-{i}" for i in range(len(feedback))]
    write_raw(CHURN, feedback, lake.raw / "feedback.csv", seed=42)

    waiting = _deliver(stage, _alarm(stage["alarm"]))
    assert waiting["decision"] == "waiting_for_curated"
    assert _executions(stage) == []  # nothing trains before the feedback is curated

    run_processed_to_curated(lake, CHURN_PATH)  # the early run ends, without the batch
    assert not _ids(lake.curated) & set(feedback[CHURN.id_column])
    too_early = _deliver(stage, state_change_event(CURATED_JOB, early))
    assert too_early["decision"] == "skipped_curated_too_early"
    assert _executions(stage) == []

    run_raw_to_processed(lake, CHURN_PATH, lake.raw / "feedback.csv")
    run_id = _curate(stage, lake, snapshots)
    started = _deliver(stage, state_change_event(CURATED_JOB, run_id))
    assert started["decision"] == "started"
    [execution] = _executions(stage)
    parameters = stage["sagemaker"].list_pipeline_parameters_for_execution(
        PipelineExecutionArn=execution["PipelineExecutionArn"]
    )["PipelineParameters"]
    [snapshot] = [p["Value"] for p in parameters if p["Name"] == "CuratedSnapshot"]
    job, recorded_run = snapshot.split("/")
    assert (job, recorded_run) == (CURATED_JOB, run_id)
    # The snapshot the execution records holds every valid row of the feedback batch.
    assert set(feedback[CHURN.id_column]) <= _ids(snapshots / recorded_run)
