"""Whether a CloudWatch alarm should retrain the model, and starting the pipeline if so.

Plain functions over explicit inputs (settings, the parsed event, a SageMaker client, a
DynamoDB client, the time), so tests call them directly; ``handler.py`` only wires
Powertools around them.

Decisions, in the order they are checked:
- ``skipped_foreign_alarm``: the alarm's name does not start with ALARM_NAME_PREFIX;
- ``skipped_not_alarm``: the new state is OK or INSUFFICIENT_DATA (the rule only sends
  ALARM, but a replayed or hand-sent event must not retrain);
- ``skipped_running``: an execution of this stage's pipeline is Executing (or Stopping);
- ``skipped_cooldown``: an execution started less than COOLDOWN_MINUTES ago, or another
  alarm of this stage took the cooldown lock first;
- ``started``: StartPipelineExecution was called.
``rejected_malformed`` is the handler's: the event never reaches this module.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Literal

from aws_lambda_powertools.utilities.parser.models import EventBridgeModel
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

DETAIL_TYPE = "CloudWatch Alarm State Change"
SOURCE = "aws.cloudwatch"
# Executions in these states still hold the stage's training resources.
RUNNING_STATUSES = frozenset({"Executing", "Stopping"})
# SageMaker limits (StartPipelineExecution API reference).
DISPLAY_NAME_MAX = 82
DESCRIPTION_MAX = 3072
COOLDOWN_LOCK_PREFIX = "cooldown#"

Decision = Literal[
    "started",
    "skipped_running",
    "skipped_cooldown",
    "skipped_foreign_alarm",
    "skipped_not_alarm",
    "rejected_malformed",
]


class ConfigurationError(RuntimeError):
    """The function's environment is missing or invalid: nothing can be decided."""


class TriggerSettings(BaseModel):
    """The function's environment, validated once per container."""

    model_config = ConfigDict(frozen=True)

    pipeline_name: str = Field(min_length=1)
    idempotency_table: str = Field(min_length=1)
    cooldown_minutes: int = Field(ge=0)
    alarm_name_prefix: str = Field(min_length=1)

    ENV: ClassVar[dict[str, str]] = {
        "pipeline_name": "PIPELINE_NAME",
        "idempotency_table": "IDEMPOTENCY_TABLE",
        "cooldown_minutes": "COOLDOWN_MINUTES",
        "alarm_name_prefix": "ALARM_NAME_PREFIX",
    }

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> TriggerSettings:
        """Read and validate the environment; one error names every bad variable."""
        missing = [name for name in cls.ENV.values() if not env.get(name)]
        if missing:
            raise ConfigurationError(f"missing environment variables: {', '.join(missing)}")
        try:
            return cls.model_validate({field: env[name] for field, name in cls.ENV.items()})
        except ValidationError as error:
            problems = "; ".join(
                f"{cls.ENV.get(str(e['loc'][0]), e['loc'][0])}: {e['msg']}" for e in error.errors()
            )
            raise ConfigurationError(f"invalid environment: {problems}") from error


# --- The event, as EventBridge delivers it (CloudWatch user guide, "Alarm events and
# EventBridge": https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch-and-eventbridge.html)


class AlarmState(BaseModel):
    """``detail.state`` / ``detail.previousState``."""

    value: Literal["OK", "ALARM", "INSUFFICIENT_DATA"]
    reason: str = ""
    reasonData: str | None = None  # noqa: N815 (the event's own field name)
    timestamp: datetime

    @field_validator("timestamp", mode="before")
    @classmethod
    def _cloudwatch_offset(cls, value: Any) -> Any:
        # CloudWatch writes "2019-10-02T17:04:40.989+0000"; ISO 8601 wants "+00:00".
        if isinstance(value, str):
            return re.sub(r"([+-]\d{2})(\d{2})$", r"\1:\2", value)
        return value


class MetricStatMetric(BaseModel):
    name: str
    namespace: str
    dimensions: dict[str, str] = {}


class MetricStat(BaseModel):
    metric: MetricStatMetric
    period: int
    stat: str


class AlarmMetric(BaseModel):
    id: str
    metricStat: MetricStat | None = None  # noqa: N815
    expression: str | None = None
    label: str | None = None
    returnData: bool | None = None  # noqa: N815


class AlarmConfiguration(BaseModel):
    description: str | None = None
    metrics: list[AlarmMetric] = []


class AlarmDetail(BaseModel):
    alarmName: str = Field(min_length=1)  # noqa: N815
    state: AlarmState
    previousState: AlarmState  # noqa: N815
    configuration: AlarmConfiguration


class AlarmStateChangeEvent(EventBridgeModel):
    """An EventBridge "CloudWatch Alarm State Change" event (source aws.cloudwatch)."""

    id: str = Field(min_length=1)
    source: Literal["aws.cloudwatch"]
    detail_type: Literal["CloudWatch Alarm State Change"] = Field(alias="detail-type")
    detail: AlarmDetail  # narrows the base model's raw dict


# --- Deciding


@dataclass(frozen=True)
class Outcome:
    """What the function decided, and why; the handler returns it as a dict."""

    decision: Decision
    reason: str
    alarm_name: str
    event_id: str
    pipeline_name: str
    execution_arn: str | None = None
    display_name: str | None = None
    description: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


def client_request_token(event_id: str) -> str:
    """A token SageMaker dedupes on: derived from the event id (64 hex characters fit
    the API's 32..128 length and any character rule)."""
    return hashlib.sha256(f"retrain:{event_id}".encode()).hexdigest()


def display_name(alarm_name: str, prefix: str, at: datetime) -> str:
    """``retrain-<alarm kind>-<UTC time>``, within the API's pattern and 82 characters."""
    kind = alarm_name.removeprefix(prefix) or "alarm"
    stamp = at.astimezone(UTC).strftime("%Y%m%d-%H%M%S")
    slug = re.sub(r"[^a-zA-Z0-9]+", "-", kind).strip("-") or "alarm"
    name = f"retrain-{slug}"[: DISPLAY_NAME_MAX - len(stamp) - 1].rstrip("-")
    return f"{name}-{stamp}"


def describe(event: AlarmStateChangeEvent, window_start: datetime | None) -> str:
    """Why this execution exists: the alarm, its reason, and the data it should learn."""
    detail = event.detail
    since = (
        f"since the last execution started at {window_start.isoformat()}"
        if window_start
        else "since the beginning (no earlier execution)"
    )
    text = (
        f"Retraining started by alarm {detail.alarmName} ({detail.previousState.value} -> "
        f"{detail.state.value} at {detail.state.timestamp.isoformat()}). "
        f"Reason: {detail.state.reason} "
        f"Data window: feedback captured {since} until {event.time.isoformat()}. "
        f"EventBridge event {event.id}."
    )
    return text[:DESCRIPTION_MAX]


def _executions(sagemaker: Any, pipeline_name: str) -> list[dict[str, Any]]:
    """Every execution summary of the pipeline, newest first."""
    paginator = sagemaker.get_paginator("list_pipeline_executions")
    summaries: list[dict[str, Any]] = []
    for page in paginator.paginate(
        PipelineName=pipeline_name, SortBy="CreationTime", SortOrder="Descending"
    ):
        summaries.extend(page.get("PipelineExecutionSummaries", []))
    return sorted(summaries, key=lambda s: s["StartTime"], reverse=True)


def _take_cooldown_lock(
    dynamodb: Any, settings: TriggerSettings, now: datetime, event_id: str
) -> bool:
    """Claim the stage's cooldown atomically, so two alarms at once start one execution.

    One item per pipeline in the idempotency table; it expires (TTL attribute
    ``expiration``, the same one Powertools uses) when the cooldown ends.
    """
    until = now + timedelta(minutes=settings.cooldown_minutes)
    try:
        dynamodb.put_item(
            TableName=settings.idempotency_table,
            Item={
                "id": {"S": f"{COOLDOWN_LOCK_PREFIX}{settings.pipeline_name}"},
                "expiration": {"N": str(int(until.timestamp()))},
                "event_id": {"S": event_id},
            },
            ConditionExpression="attribute_not_exists(id) OR expiration <= :now",
            ExpressionAttributeValues={":now": {"N": str(int(now.timestamp()))}},
        )
    except dynamodb.exceptions.ConditionalCheckFailedException:
        return False
    return True


def _release_cooldown_lock(dynamodb: Any, settings: TriggerSettings, event_id: str) -> None:
    dynamodb.delete_item(
        TableName=settings.idempotency_table,
        Key={"id": {"S": f"{COOLDOWN_LOCK_PREFIX}{settings.pipeline_name}"}},
        ConditionExpression="event_id = :event",
        ExpressionAttributeValues={":event": {"S": event_id}},
    )


def decide_and_act(
    event: AlarmStateChangeEvent,
    *,
    settings: TriggerSettings,
    sagemaker: Any,
    dynamodb: Any,
    now: datetime,
) -> Outcome:
    """Decide for one parsed event; start the pipeline when the decision is ``started``."""
    alarm = event.detail.alarmName

    def outcome(decision: Decision, reason: str, **extra: Any) -> Outcome:
        return Outcome(
            decision=decision,
            reason=reason,
            alarm_name=alarm,
            event_id=event.id,
            pipeline_name=settings.pipeline_name,
            **extra,
        )

    if not alarm.startswith(settings.alarm_name_prefix):
        return outcome(
            "skipped_foreign_alarm",
            f"alarm {alarm!r} does not start with {settings.alarm_name_prefix!r}",
        )
    if event.detail.state.value != "ALARM":
        return outcome("skipped_not_alarm", f"alarm state is {event.detail.state.value}")

    executions = _executions(sagemaker, settings.pipeline_name)
    running = [e for e in executions if e.get("PipelineExecutionStatus") in RUNNING_STATUSES]
    if running:
        return outcome(
            "skipped_running",
            f"execution {running[0]['PipelineExecutionArn']} is "
            f"{running[0]['PipelineExecutionStatus']}",
        )
    last_start: datetime | None = executions[0]["StartTime"] if executions else None
    cooldown = timedelta(minutes=settings.cooldown_minutes)
    if last_start is not None and now - last_start < cooldown:
        return outcome(
            "skipped_cooldown",
            f"last execution started at {last_start.isoformat()}, less than "
            f"{settings.cooldown_minutes} minutes ago",
        )
    if not _take_cooldown_lock(dynamodb, settings, now, event.id):
        return outcome(
            "skipped_cooldown", "another alarm of this stage started a retraining moments ago"
        )

    name = display_name(alarm, settings.alarm_name_prefix, event.time)
    description = describe(event, last_start)
    try:
        started = sagemaker.start_pipeline_execution(
            PipelineName=settings.pipeline_name,
            PipelineExecutionDisplayName=name,
            PipelineExecutionDescription=description,
            ClientRequestToken=client_request_token(event.id),
        )
    except Exception:
        # Not started: free the cooldown so the retried event can act.
        _release_cooldown_lock(dynamodb, settings, event.id)
        raise
    return outcome(
        "started",
        "alarm is ours, in ALARM, nothing running, cooldown over",
        execution_arn=started["PipelineExecutionArn"],
        display_name=name,
        description=description,
    )
