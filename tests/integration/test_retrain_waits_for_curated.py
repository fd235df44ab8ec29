"""The retrain trigger as deployed (CURATED_JOB_NAME set), against moto: an alarm only
records the retraining as pending; the curated Glue job's success starts it, and only a
run that began after the alarm (so it read the feedback); the execution records the
curated snapshot it trains on. Malformed events of either kind change nothing."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from moto import mock_aws

from local.monitoring.glue_events import start_run, state_change_event
from tests.integration.test_retrain_trigger import (
    PIPELINE,
    REGION,
    SAMPLE_EVENT,
    TABLE,
    _context,
    _load_handler,
    create_backend,
    set_environment,
)

CURATED_JOB = "processed-to-curated"


@pytest.fixture
def aws(monkeypatch):
    set_environment(monkeypatch)
    monkeypatch.setenv("CURATED_JOB_NAME", CURATED_JOB)
    with mock_aws():
        backend = create_backend()
        backend.glue = boto3.client("glue", region_name=REGION)
        yield backend


@pytest.fixture
def trigger(aws):
    module = _load_handler()
    module._runtime.cache_clear()
    return module


def _alarm(at: datetime) -> dict:
    event = copy.deepcopy(SAMPLE_EVENT)
    event["time"] = at.strftime("%Y-%m-%dT%H:%M:%SZ")
    event["detail"]["state"]["timestamp"] = at.strftime("%Y-%m-%dT%H:%M:%S.000+0000")
    return event


def _executions(aws) -> list[dict]:
    return aws.sagemaker.list_pipeline_executions(PipelineName=PIPELINE)[
        "PipelineExecutionSummaries"
    ]


def _table_ids(aws) -> set[str]:
    return {i["id"]["S"] for i in aws.dynamodb.scan(TableName=TABLE)["Items"]}


def test_alarm_waits_then_the_curated_run_after_it_starts_with_its_snapshot(trigger, aws):
    alarm = trigger.handler(_alarm(datetime.now(UTC) - timedelta(minutes=5)), _context())
    assert alarm["decision"] == "waiting_for_curated"
    assert _executions(aws) == []  # nothing trains before the feedback is in curated
    run_id = start_run(aws.glue, CURATED_JOB)  # the ETL run that carries the feedback
    started = trigger.handler(state_change_event(CURATED_JOB, run_id), _context())
    assert started["decision"] == "started"
    assert started["curated_snapshot"] == f"{CURATED_JOB}/{run_id}"
    [execution] = _executions(aws)
    parameters = aws.sagemaker.list_pipeline_parameters_for_execution(
        PipelineExecutionArn=execution["PipelineExecutionArn"]
    )["PipelineParameters"]
    assert {"Name": "CuratedSnapshot", "Value": f"{CURATED_JOB}/{run_id}"} in parameters
    assert not any(i.startswith("pending#") for i in _table_ids(aws))
    # A later curated run has nothing pending: no second execution.
    later = trigger.handler(
        state_change_event(CURATED_JOB, start_run(aws.glue, CURATED_JOB)), _context()
    )
    assert later["decision"] == "skipped_nothing_pending"
    assert len(_executions(aws)) == 1


def test_a_curated_run_that_began_before_the_alarm_does_not_start_it(trigger, aws):
    run_id = start_run(aws.glue, CURATED_JOB)  # began before the alarm: no feedback in it
    trigger.handler(_alarm(datetime.now(UTC) + timedelta(minutes=1)), _context())
    early = trigger.handler(state_change_event(CURATED_JOB, run_id), _context())
    assert early["decision"] == "skipped_curated_too_early"
    assert _executions(aws) == []
    assert f"pending#{PIPELINE}" in _table_ids(aws)  # still waiting


@pytest.mark.parametrize(
    ("job", "state", "decision"),
    [
        ("raw-to-processed", "SUCCEEDED", "skipped_other_job"),
        (CURATED_JOB, "FAILED", "skipped_not_succeeded"),
    ],
)
def test_other_jobs_and_failed_runs_start_nothing(trigger, aws, job, state, decision):
    trigger.handler(_alarm(datetime.now(UTC) - timedelta(minutes=5)), _context())
    run_id = start_run(aws.glue, job)
    assert trigger.handler(state_change_event(job, run_id, state), _context())["decision"] == (
        decision
    )
    assert _executions(aws) == []


@pytest.mark.parametrize(
    "broken",
    [
        lambda e: e["detail"].pop("jobRunId"),
        lambda e: e["detail"].update(jobName=""),
        lambda e: e.update(source="aws.s3"),
        lambda e: e.pop("detail"),
    ],
)
def test_malformed_glue_event_is_rejected_with_no_side_effect(trigger, aws, broken):
    trigger.handler(_alarm(datetime.now(UTC) - timedelta(minutes=5)), _context())
    before = _table_ids(aws)
    event = state_change_event(CURATED_JOB, start_run(aws.glue, CURATED_JOB))
    broken(event)
    with pytest.raises(trigger.MalformedEventError):
        trigger.handler(event, _context())
    assert _executions(aws) == []
    assert _table_ids(aws) == before  # no idempotency record, the retraining still pending
