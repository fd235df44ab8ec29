"""The monitor launcher Lambda against moto (S3 + SageMaker), loaded by path as the Lambda
runtime loads it: it starts the monitor job only when the monitor would read something,
exactly once per scheduled run, and a bad event touches nothing."""

from __future__ import annotations

import copy
import json
import sys
from types import ModuleType, SimpleNamespace

import boto3
import pytest
from moto import mock_aws

from features.checkpoint import Checkpoint
from features.s3_objects import list_objects
from local.monitoring.retrain_function import LAUNCHER_DIR, lambda_context, load_handler

REGION = "us-east-1"
BUCKET = "artifacts"
ENDPOINT = "customer-churn-endpoint-dev"
PREFIX = "customer-churn-monitor-dev"
CAPTURE = f"s3://{BUCKET}/data-capture/{ENDPOINT}/"
TRUTH = f"s3://{BUCKET}/ground-truth/{ENDPOINT}/"
STATE_KEY = f"monitoring/{ENDPOINT}/state/checkpoint.json"
RUN_TOKEN = "<monitor-run>"  # = launch_decision.RUN_TOKEN (asserted below)
# The shape stacks/constructs/monitor_schedule.py renders (tests/infrastructure checks the
# synthesized one); the launcher treats it as opaque apart from the name and three flags.
REQUEST = {
    "ProcessingJobName": f"{PREFIX}-{RUN_TOKEN}",
    "RoleArn": "arn:aws:iam::123456789012:role/monitor-job",
    "AppSpecification": {
        "ImageUri": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:3.2-0",
        "ContainerEntrypoint": ["/bin/bash", "-c", 'exec python3 "$0" "$@"'],
        "ContainerArguments": [
            "monitoring/monitor.py",
            "--capture-uri",
            CAPTURE,
            "--ground-truth-uri",
            TRUTH,
            "--state-uri",
            f"s3://{BUCKET}/{STATE_KEY}",
            "--output",
            "/opt/ml/processing/output",
        ],
    },
    "ProcessingOutputConfig": {
        "Outputs": [
            {
                "OutputName": "reports",
                "S3Output": {
                    "S3Uri": f"s3://{BUCKET}/monitoring/{ENDPOINT}/reports/{PREFIX}-{RUN_TOKEN}/",
                    "LocalPath": "/opt/ml/processing/output",
                    "S3UploadMode": "EndOfJob",
                },
            }
        ]
    },
    "ProcessingResources": {
        "ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.t3.medium", "VolumeSizeInGB": 30}
    },
    "StoppingCondition": {"MaxRuntimeInSeconds": 3540},
}
# What the schedule's input becomes once Scheduler fills in its context attributes.
EVENT = {
    "scheduled_time": "2026-12-01T21:00:00Z",
    "schedule_arn": f"arn:aws:scheduler:us-east-1:123456789012:schedule/default/{PREFIX}",
    "execution_id": "d32c5kddcf5bb8c3",
    "attempt": "1",
}
JOB = f"{PREFIX}-20261201T210000Z"


def _context() -> SimpleNamespace:
    return lambda_context(region=REGION, account="123456789012", function_name="monitor-launcher")


@pytest.fixture
def aws(monkeypatch):
    for name, value in {
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "JOB_REQUEST": json.dumps(REQUEST),
        "POWERTOOLS_SERVICE_NAME": "monitor-launcher",
        "POWERTOOLS_METRICS_NAMESPACE": "MLOps/Monitoring",
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET)
        yield SimpleNamespace(s3=s3, sagemaker=boto3.client("sagemaker", region_name=REGION))


@pytest.fixture
def launcher(aws) -> ModuleType:
    module = load_handler(LAUNCHER_DIR)
    module._runtime.cache_clear()
    return module


@pytest.fixture
def created(launcher) -> list[dict]:
    """Every CreateProcessingJob request the launcher sends (moto keeps only some fields)."""
    calls: list[dict] = []
    launcher._runtime().sagemaker.meta.events.register(
        "provide-client-params.sagemaker.CreateProcessingJob",
        lambda params, **_: calls.append(copy.deepcopy(params)),
    )
    return calls


def _put(aws, uri: str, name: str) -> None:
    key = uri.removeprefix(f"s3://{BUCKET}/") + f"2026/12/01/20/{name}"
    aws.s3.put_object(Bucket=BUCKET, Key=key, Body=b'{"line": 1}\n')


def _consume_everything(aws) -> None:
    """The checkpoint the monitor writes after reading every object there is now."""
    state = Checkpoint()
    state.capture = state.capture.advanced(list_objects(aws.s3, CAPTURE))
    state.ground_truth = state.ground_truth.advanced(list_objects(aws.s3, TRUTH))
    aws.s3.put_object(Bucket=BUCKET, Key=STATE_KEY, Body=json.dumps(state.to_json()).encode())


def _snapshot(aws) -> dict[str, str]:
    listed = aws.s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])
    return {item["Key"]: item["ETag"] for item in listed}


def _jobs(aws) -> list[str]:
    return [
        j["ProcessingJobName"]
        for j in aws.sagemaker.list_processing_jobs()["ProcessingJobSummaries"]
    ]


def _decisions(capsys) -> list[str]:
    """The Decision dimension of every MonitorLaunch metric flushed (EMF on stdout)."""
    found = []
    for line in capsys.readouterr().out.splitlines():
        if line.startswith("{") and "MonitorLaunch" in (record := json.loads(line)):
            assert record["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "MLOps/Monitoring"
            found.append(record["Decision"])
    return found


@pytest.fixture
def decision(launcher) -> ModuleType:
    """launch_decision as the handler imported it (its folder on sys.path)."""
    return sys.modules["launch_decision"]


def test_the_request_token_is_the_constructs(decision) -> None:
    from stacks.constructs.monitor_launcher import RUN_TOKEN as CONSTRUCT_TOKEN

    assert decision.RUN_TOKEN == CONSTRUCT_TOKEN == RUN_TOKEN


def test_no_new_data_starts_no_job_and_changes_nothing(launcher, aws, created, capsys) -> None:
    _put(aws, CAPTURE, "a.jsonl")
    _put(aws, TRUTH, "labels.jsonl")
    _consume_everything(aws)
    before = _snapshot(aws)
    result = launcher.handler(EVENT, _context())
    assert result["decision"] == "skipped_no_new_data"
    assert "capture watermark" in result["reason"]
    assert (result["new_capture"], result["new_ground_truth"]) == (0, 0)
    assert created == [] and _jobs(aws) == []
    assert _snapshot(aws) == before
    assert _decisions(capsys) == ["skipped_no_new_data"]


def test_an_endpoint_that_never_served_starts_no_job(launcher, aws, created) -> None:
    result = launcher.handler(EVENT, _context())
    assert result["decision"] == "skipped_no_new_data"
    assert "no run yet" in result["reason"]
    assert created == [] and _jobs(aws) == [] and _snapshot(aws) == {}


def test_new_capture_starts_exactly_one_job_with_the_rendered_request(
    launcher, aws, created, capsys
) -> None:
    _put(aws, CAPTURE, "a.jsonl")
    _consume_everything(aws)
    _put(aws, CAPTURE, "b.jsonl")
    _put(aws, CAPTURE, "not-capture.json")  # the monitor reads .jsonl only
    result = launcher.handler(EVENT, _context())
    assert result["decision"] == "started"
    assert (result["job_name"], result["new_capture"], result["new_ground_truth"]) == (JOB, 1, 0)
    expected = json.loads(json.dumps(REQUEST).replace(RUN_TOKEN, "20261201T210000Z"))
    assert created == [expected]
    assert result["request"] == expected
    assert expected["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"].endswith(
        f"/reports/{JOB}/"
    )
    assert _jobs(aws) == [JOB]
    assert _decisions(capsys) == ["started"]


def test_first_run_without_a_checkpoint_starts_the_job(launcher, aws, created) -> None:
    _put(aws, CAPTURE, "a.jsonl")
    result = launcher.handler(EVENT, _context())
    assert result["decision"] == "started" and result["new_capture"] == 1
    assert len(created) == 1 and _jobs(aws) == [JOB]


def test_ground_truth_alone_starts_the_job(launcher, aws, created) -> None:
    """Labels usually arrive after their requests were monitored: the monitor joins them
    with earlier capture, so they alone are worth a run."""
    _put(aws, CAPTURE, "a.jsonl")
    _consume_everything(aws)
    _put(aws, TRUTH, "labels.jsonl")
    result = launcher.handler(EVENT, _context())
    assert (result["decision"], result["new_capture"], result["new_ground_truth"]) == (
        "started",
        0,
        1,
    )
    assert len(created) == 1


def test_a_duplicated_or_retried_invocation_starts_one_job(launcher, aws, created, capsys) -> None:
    _put(aws, CAPTURE, "a.jsonl")
    first = launcher.handler(EVENT, _context())
    again = launcher.handler(EVENT, _context())
    # A retry is a new attempt with a new execution id, for the same scheduled time.
    retry = launcher.handler(
        {**EVENT, "execution_id": "e41d6lfedf6cc9d4", "attempt": "2"}, _context()
    )
    assert first["decision"] == "started"
    assert again["decision"] == retry["decision"] == "skipped_already_started"
    assert len(created) == 1 and _jobs(aws) == [JOB]
    assert _decisions(capsys) == ["started", "skipped_already_started", "skipped_already_started"]
    # The next scheduled run is a run of its own.
    later = launcher.handler({**EVENT, "scheduled_time": "2026-12-01T22:00:00Z"}, _context())
    assert later["decision"] == "started" and len(created) == 2


@pytest.mark.parametrize(
    "event",
    [
        {},
        {k: v for k, v in EVENT.items() if k != "scheduled_time"},
        {**EVENT, "scheduled_time": "<aws.scheduler.scheduled-time>"},  # not filled in
        {**EVENT, "scheduled_time": "2026-12-01T21:00:00"},  # no time zone
        {**EVENT, "schedule_arn": "arn:aws:events:us-east-1:123456789012:rule/x"},
        {**EVENT, "attempt": "0"},
        {**EVENT, "request": REQUEST},  # the job is the function's, never the caller's
        "not an object",
    ],
    ids=[
        "empty",
        "no-time",
        "unfilled",
        "naive-time",
        "not-scheduler",
        "attempt-0",
        "extra-field",
        "string",
    ],
)
def test_a_malformed_event_is_rejected_before_any_call(
    launcher, aws, created, capsys, event
) -> None:
    _put(aws, CAPTURE, "a.jsonl")  # there is data: only the event stops the job
    launcher._runtime.cache_clear()
    with pytest.raises(launcher.MalformedEventError, match="not the monitor schedule's payload"):
        launcher.handler(event, _context())
    assert launcher._runtime.cache_info().currsize == 0  # no client was even built
    assert created == [] and _jobs(aws) == []
    assert _decisions(capsys) == ["rejected_malformed"]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "missing environment variables: JOB_REQUEST"),
        ({"JOB_REQUEST": "{not json"}, "not JSON"),
        ({"JOB_REQUEST": json.dumps({**REQUEST, "ProcessingJobName": PREFIX})}, RUN_TOKEN),
        (
            {
                "JOB_REQUEST": json.dumps(
                    {**REQUEST, "AppSpecification": {"ContainerArguments": ["monitor.py"]}}
                )
            },
            "--capture-uri, --ground-truth-uri, --state-uri",
        ),
    ],
)
def test_a_bad_environment_is_an_error_naming_it(decision, env, message) -> None:
    with pytest.raises(decision.ConfigurationError, match=message):
        decision.LauncherSettings.from_env(env)
