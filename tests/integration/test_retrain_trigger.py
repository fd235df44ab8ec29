"""The retrain trigger Lambda against moto (DynamoDB + SageMaker Pipelines), loaded by path
as the Lambda runtime loads it: every decision, the metric it counts, and what it leaves
behind (executions, idempotency records, cooldown lock)."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from types import ModuleType, SimpleNamespace

import boto3
import pytest
from moto import mock_aws

from local.monitoring.retrain_function import LAMBDA_DIR, lambda_context, load_handler

PIPELINE = "customer-churn-training-dev"
TABLE = "retrain-idempotency"
PREFIX = "mlops-dev-churn-"
REGION = "us-east-1"
REAL_CLIENT = boto3.client  # the handler module's boto3 is this one: patched in place

# The single-metric alarm sample from the CloudWatch user guide ("Alarm events and
# EventBridge"), with our alarm's name, metric and dimensions.
SAMPLE_EVENT = {
    "version": "0",
    "id": "c4c1c1c9-6542-e61b-6ef0-8c4d36933a92",
    "detail-type": "CloudWatch Alarm State Change",
    "source": "aws.cloudwatch",
    "account": "123456789012",
    "time": "2019-10-02T17:04:40Z",
    "region": "us-east-1",
    "resources": ["arn:aws:cloudwatch:us-east-1:123456789012:alarm:mlops-dev-churn-drift"],
    "detail": {
        "alarmName": "mlops-dev-churn-drift",
        "configuration": {
            "description": "Features drifted in 2 of the last 3 monitor runs",
            "metrics": [
                {
                    "id": "30b6c6b2-a864-43a2-4877-c09a1afc3b87",
                    "metricStat": {
                        "metric": {
                            "dimensions": {"Endpoint": "customer-churn-endpoint-dev"},
                            "name": "FeaturesDrifted",
                            "namespace": "MLOps/Monitoring",
                        },
                        "period": 3600,
                        "stat": "Maximum",
                    },
                    "returnData": True,
                }
            ],
        },
        "previousState": {
            "reason": "Threshold Crossed: 1 out of the last 3 datapoints [0.0] was not "
            "greater than or equal to the threshold (1.0).",
            "timestamp": "2019-10-01T13:56:40.987+0000",
            "value": "OK",
        },
        "state": {
            "reason": "Threshold Crossed: 2 out of the last 3 datapoints [3.0, 2.0] were "
            "greater than or equal to the threshold (1.0).",
            "reasonData": '{"version":"1.0","period":3600,"recentDatapoints":[3.0,2.0]}',
            "timestamp": "2019-10-02T17:04:40.989+0000",
            "value": "ALARM",
        },
    },
}


def _event(**changes: object) -> dict:
    event = copy.deepcopy(SAMPLE_EVENT)
    for path, value in changes.items():
        *parents, leaf = path.split("__")
        node = event
        for part in parents:
            node = node[part]
        node[leaf.replace("_", "-") if leaf == "detail_type" else leaf] = value
    return event


def _load_handler() -> ModuleType:
    return load_handler(LAMBDA_DIR)


def _context() -> SimpleNamespace:
    return lambda_context(region=REGION, account="123456789012")


def set_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The handler's environment, as the synthesized function has it."""
    for name, value in {
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "PIPELINE_NAME": PIPELINE,
        "IDEMPOTENCY_TABLE": TABLE,
        "COOLDOWN_MINUTES": "360",
        "ALARM_NAME_PREFIX": PREFIX,
        "POWERTOOLS_SERVICE_NAME": "retrain-trigger",
        "POWERTOOLS_METRICS_NAMESPACE": "MLOps/Retraining",
    }.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def env(monkeypatch):
    set_environment(monkeypatch)


def create_backend() -> SimpleNamespace:
    """What the handler calls, on moto (inside ``mock_aws``): its idempotency table and
    the pipeline it starts."""
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    dynamodb.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    sagemaker = boto3.client("sagemaker", region_name=REGION)
    sagemaker.create_pipeline(
        PipelineName=PIPELINE,
        RoleArn="arn:aws:iam::123456789012:role/pipeline",
        PipelineDefinition=json.dumps({"Version": "2020-12-01", "Steps": []}),
    )
    return SimpleNamespace(dynamodb=dynamodb, sagemaker=sagemaker)


@pytest.fixture
def aws(env):
    with mock_aws():
        yield create_backend()


@pytest.fixture
def trigger(aws):
    module = _load_handler()
    module._runtime.cache_clear()
    return module


def _executions(aws) -> list[dict]:
    return aws.sagemaker.list_pipeline_executions(PipelineName=PIPELINE)[
        "PipelineExecutionSummaries"
    ]


def _decisions(capsys) -> list[str]:
    """The Decision dimension of every RetrainDecision metric flushed (EMF on stdout)."""
    found = []
    for line in capsys.readouterr().out.splitlines():
        if not line.startswith("{"):
            continue
        record = json.loads(line)
        if "_aws" in record and "RetrainDecision" in record:
            assert record["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "MLOps/Retraining"
            found.append(record["Decision"])
    return found


def _set_status(status: str) -> None:
    """Put moto's executions of the pipeline in ``status`` (moto finishes them at once)."""
    from moto.sagemaker.models import sagemaker_backends

    pipeline = sagemaker_backends["123456789012"][REGION].pipelines[PIPELINE]
    for execution in pipeline.pipeline_executions.values():
        execution.pipeline_execution_status = status


def test_alarm_of_ours_starts_one_execution_and_records_why(trigger, aws, capsys) -> None:
    result = trigger.handler(_event(), _context())
    assert result["decision"] == "started"
    [execution] = _executions(aws)
    assert execution["PipelineExecutionArn"] == result["execution_arn"]
    described = aws.sagemaker.describe_pipeline_execution(
        PipelineExecutionArn=result["execution_arn"]
    )
    assert described["PipelineExecutionDisplayName"] == "retrain-drift-20191002-170440"
    description = described["PipelineExecutionDescription"]
    assert "mlops-dev-churn-drift" in description
    assert "2 out of the last 3 datapoints" in description
    assert "since the beginning" in description  # no earlier execution: whole history
    assert SAMPLE_EVENT["id"] in description
    assert _decisions(capsys) == ["started"]


def test_same_event_twice_starts_one_execution(trigger, aws, capsys) -> None:
    first = trigger.handler(_event(), _context())
    second = trigger.handler(_event(), _context())
    assert first["decision"] == second["decision"] == "started"
    assert second["execution_arn"] == first["execution_arn"]
    assert second["duplicate"] is True and "duplicate" not in first
    assert len(_executions(aws)) == 1
    # The duplicate is not counted as a second decision.
    assert _decisions(capsys) == ["started"]


def test_running_execution_skips(trigger, aws, capsys) -> None:
    running = aws.sagemaker.start_pipeline_execution(PipelineName=PIPELINE)
    _set_status("Executing")
    result = trigger.handler(_event(), _context())
    assert result["decision"] == "skipped_running"
    assert running["PipelineExecutionArn"] in result["reason"]
    assert len(_executions(aws)) == 1
    assert _decisions(capsys) == ["skipped_running"]


def test_recent_execution_is_a_cooldown(trigger, aws, capsys) -> None:
    aws.sagemaker.start_pipeline_execution(PipelineName=PIPELINE)  # Succeeded in moto
    result = trigger.handler(_event(), _context())
    assert result["decision"] == "skipped_cooldown"
    assert "less than 360 minutes ago" in result["reason"]
    assert len(_executions(aws)) == 1
    assert _decisions(capsys) == ["skipped_cooldown"]


def test_after_the_cooldown_a_new_alarm_starts_and_names_the_window(
    trigger, aws, monkeypatch, capsys
) -> None:
    monkeypatch.setenv("COOLDOWN_MINUTES", "0")
    aws.sagemaker.start_pipeline_execution(PipelineName=PIPELINE)  # Succeeded in moto
    result = trigger.handler(_event(id="second-alarm-event"), _context())
    assert result["decision"] == "started"
    assert "since the last execution started at" in result["description"]
    assert len(_executions(aws)) == 2


def test_foreign_alarm_is_skipped(trigger, aws, capsys) -> None:
    result = trigger.handler(_event(detail__alarmName="mlops-prod-churn-drift"), _context())
    assert result["decision"] == "skipped_foreign_alarm"
    assert _executions(aws) == []
    assert _decisions(capsys) == ["skipped_foreign_alarm"]


@pytest.mark.parametrize("state", ["OK", "INSUFFICIENT_DATA"])
def test_state_other_than_alarm_is_skipped(trigger, aws, capsys, state) -> None:
    result = trigger.handler(_event(detail__state__value=state), _context())
    assert result["decision"] == "skipped_not_alarm"
    assert _executions(aws) == []
    assert _decisions(capsys) == ["skipped_not_alarm"]


@pytest.mark.parametrize(
    ("event", "problem"),
    [
        (_event(source="aws.ec2"), "source"),
        (_event(detail_type="EC2 Instance State-change Notification"), "detail-type"),
        (_event(detail__state__value="BROKEN"), "detail.state.value"),
        (_event(detail__alarmName=""), "detail.alarmName"),
        ({k: v for k, v in SAMPLE_EVENT.items() if k != "detail"}, "detail"),
        ({k: v for k, v in SAMPLE_EVENT.items() if k != "id"}, "id"),
        ("not an event", "<event>"),
    ],
)
def test_malformed_event_is_rejected_with_no_side_effect(
    trigger, aws, capsys, event, problem
) -> None:
    with pytest.raises(
        trigger.MalformedEventError, match="not a CloudWatch Alarm State Change"
    ) as error:
        trigger.handler(event, _context())
    assert f"{problem}:" in str(error.value)
    assert _decisions(capsys) == ["rejected_malformed"]
    assert _executions(aws) == []
    assert aws.dynamodb.scan(TableName=TABLE)["Count"] == 0


def test_malformed_then_valid_event_with_the_same_id_still_acts(trigger, aws, capsys) -> None:
    with pytest.raises(trigger.MalformedEventError):
        trigger.handler(_event(detail__state__value="BROKEN"), _context())
    assert _decisions(capsys) == ["rejected_malformed"]
    assert trigger.handler(_event(), _context())["decision"] == "started"
    assert len(_executions(aws)) == 1


def test_missing_or_bad_environment_names_the_variables(trigger, aws, monkeypatch) -> None:
    from retrain_decision import ConfigurationError

    monkeypatch.delenv("PIPELINE_NAME")
    monkeypatch.delenv("ALARM_NAME_PREFIX")
    with pytest.raises(ConfigurationError, match="PIPELINE_NAME, ALARM_NAME_PREFIX"):
        trigger.handler(_event(), _context())
    trigger._runtime.cache_clear()
    monkeypatch.setenv("PIPELINE_NAME", PIPELINE)
    monkeypatch.setenv("ALARM_NAME_PREFIX", PREFIX)
    monkeypatch.setenv("COOLDOWN_MINUTES", "-5")
    with pytest.raises(ConfigurationError, match="COOLDOWN_MINUTES"):
        trigger.handler(_event(), _context())


def test_cooldown_lock_lets_one_of_two_simultaneous_alarms_through(trigger, aws) -> None:
    """Two alarms decided at the same instant both see no execution; the lock admits one."""
    from retrain_decision import TriggerSettings, _take_cooldown_lock

    settings = TriggerSettings(
        pipeline_name=PIPELINE,
        idempotency_table=TABLE,
        cooldown_minutes=60,
        alarm_name_prefix=PREFIX,
    )
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert _take_cooldown_lock(aws.dynamodb, settings, now, "drift-event")
    assert not _take_cooldown_lock(aws.dynamodb, settings, now, "quality-event")
    later = now + timedelta(minutes=61)
    assert _take_cooldown_lock(aws.dynamodb, settings, later, "next-week-event")


def sagemaker_failing(trigger, monkeypatch, failure) -> list[dict]:
    """The function's SageMaker client with ``failure(client, kwargs)`` as its
    StartPipelineExecution; returns the calls made (the fault tests use it too)."""
    calls: list[dict] = []

    class Failing:
        def __init__(self, client) -> None:
            self._client = client

        def __getattr__(self, name: str):
            return getattr(self._client, name)

        def start_pipeline_execution(self, **kwargs):
            calls.append(kwargs)
            return failure(self._client, kwargs)

    def client(service: str, *args, **kwargs):
        made = REAL_CLIENT(service, *args, **kwargs)
        return Failing(made) if service == "sagemaker" else made

    monkeypatch.setattr(trigger.boto3, "client", client)
    trigger._runtime.cache_clear()
    return calls


def test_failed_start_releases_the_lock_and_the_idempotency_record(
    trigger, aws, monkeypatch
) -> None:
    """SageMaker refusing the start leaves nothing behind, so EventBridge's retry can act."""
    from retrain_decision import client_request_token

    def refuse(client, kwargs):
        raise client.exceptions.ResourceLimitExceeded(
            {"Error": {"Code": "ResourceLimitExceeded", "Message": "too many"}},
            "StartPipelineExecution",
        )

    calls = sagemaker_failing(trigger, monkeypatch, refuse)
    with pytest.raises(aws.sagemaker.exceptions.ResourceLimitExceeded):
        trigger.handler(_event(), _context())
    assert calls[0]["ClientRequestToken"] == client_request_token(SAMPLE_EVENT["id"])
    assert calls[0]["PipelineName"] == PIPELINE
    assert aws.dynamodb.scan(TableName=TABLE)["Count"] == 0
    # With SageMaker back, the redelivered event acts.
    monkeypatch.setattr(trigger.boto3, "client", REAL_CLIENT)
    trigger._runtime.cache_clear()
    assert trigger.handler(_event(), _context())["decision"] == "started"
