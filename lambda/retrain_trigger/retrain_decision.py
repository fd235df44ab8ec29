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
- ``started``: StartPipelineExecution was called (CURATED_JOB_NAME unset only);
- ``waiting_for_curated``: the retraining is due, and recorded as pending until the
  feedback the monitor wrote has passed the ETL (CURATED_JOB_NAME set, as deployed).

The monitor writes its feedback batch into the raw zone before it publishes the metrics
that set the alarm off, so a retraining started at the alarm would train on a curated
zone without that batch. Deployed, the alarm only records the retraining as pending;
the "Glue Job State Change" event of the processed-to-curated job decides the start:
- ``skipped_other_job`` / ``skipped_not_succeeded``: another job, or not SUCCEEDED;
- ``skipped_nothing_pending``: no alarm is waiting for curated data;
- ``skipped_curated_too_early``: that run started before the alarm (it read the
  processed zone before the batch could be there); the retraining stays pending;
- ``started``: StartPipelineExecution with ``CuratedSnapshot`` = ``<job>/<run id>``, the
  curated zone as that run wrote it: the execution's parameters record what it read.
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
PENDING_PREFIX = "pending#"
GLUE_DETAIL_TYPE = "Glue Job State Change"
# The pipeline parameter that records the curated snapshot an execution trained on.
SNAPSHOT_PARAMETER = "CuratedSnapshot"

Decision = Literal[
    "started",
    "waiting_for_curated",
    "skipped_other_job",
    "skipped_not_succeeded",
    "skipped_nothing_pending",
    "skipped_curated_too_early",
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
    # The processed-to-curated Glue job whose success starts a pending retraining; empty:
    # the alarm starts the pipeline at once (a stage whose feedback needs no ETL).
    curated_job_name: str = ""

    ENV: ClassVar[dict[str, str]] = {
        "pipeline_name": "PIPELINE_NAME",
        "idempotency_table": "IDEMPOTENCY_TABLE",
        "cooldown_minutes": "COOLDOWN_MINUTES",
        "alarm_name_prefix": "ALARM_NAME_PREFIX",
    }
    OPTIONAL_ENV: ClassVar[dict[str, str]] = {"curated_job_name": "CURATED_JOB_NAME"}

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> TriggerSettings:
        """Read and validate the environment; one error names every bad variable."""
        missing = [name for name in cls.ENV.values() if not env.get(name)]
        if missing:
            raise ConfigurationError(f"missing environment variables: {', '.join(missing)}")
        try:
            return cls.model_validate(
                {
                    **{field: env[name] for field, name in cls.ENV.items()},
                    **{f: env[n] for f, n in cls.OPTIONAL_ENV.items() if env.get(n)},
                }
            )
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


class GlueJobDetail(BaseModel):
    """``detail`` of a "Glue Job State Change" event (Glue developer guide, "Automating
    Glue with EventBridge")."""

    jobName: str = Field(min_length=1)  # noqa: N815
    jobRunId: str = Field(min_length=1)  # noqa: N815
    state: str = Field(min_length=1)


class GlueJobStateChangeEvent(EventBridgeModel):
    """An EventBridge "Glue Job State Change" event (source aws.glue)."""

    id: str = Field(min_length=1)
    source: Literal["aws.glue"]
    detail_type: Literal["Glue Job State Change"] = Field(alias="detail-type")
    detail: GlueJobDetail


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
    curated_snapshot: str | None = None

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
    if settings.curated_job_name:
        try:
            _record_pending(dynamodb, settings, event, name, description)
        except Exception:
            _release_cooldown_lock(dynamodb, settings, event.id)
            raise
        return outcome(
            "waiting_for_curated",
            f"alarm is ours, in ALARM, nothing running, cooldown over; the retraining "
            f"starts when {settings.curated_job_name} has put the monitor's feedback "
            "into curated",
            display_name=name,
            description=description,
        )
    try:
        started = _start(sagemaker, settings, name, description, event.id, None)
    except Exception:
        # Not started: free the cooldown so the retried event can act.
        _release_cooldown_lock(dynamodb, settings, event.id)
        raise
    return outcome(
        "started",
        "alarm is ours, in ALARM, nothing running, cooldown over",
        execution_arn=started,
        display_name=name,
        description=description,
    )


def _start(
    sagemaker: Any,
    settings: TriggerSettings,
    name: str,
    description: str,
    token_source: str,
    snapshot: str | None,
) -> str:
    """StartPipelineExecution; ``snapshot`` recorded as the CuratedSnapshot parameter."""
    request: dict[str, Any] = {
        "PipelineName": settings.pipeline_name,
        "PipelineExecutionDisplayName": name,
        "PipelineExecutionDescription": description,
        "ClientRequestToken": client_request_token(token_source),
    }
    if snapshot is not None:
        request["PipelineParameters"] = [{"Name": SNAPSHOT_PARAMETER, "Value": snapshot}]
    arn: str = sagemaker.start_pipeline_execution(**request)["PipelineExecutionArn"]
    return arn


def _pending_key(settings: TriggerSettings) -> dict[str, Any]:
    return {"id": {"S": f"{PENDING_PREFIX}{settings.pipeline_name}"}}


def _record_pending(
    dynamodb: Any,
    settings: TriggerSettings,
    event: AlarmStateChangeEvent,
    name: str,
    description: str,
) -> None:
    """The due retraining, until the curated job's success starts it (one per pipeline:
    the cooldown lock admits one alarm at a time)."""
    dynamodb.put_item(
        TableName=settings.idempotency_table,
        Item={
            **_pending_key(settings),
            "event_id": {"S": event.id},
            "since": {"S": event.detail.state.timestamp.astimezone(UTC).isoformat()},
            "display_name": {"S": name},
            "description": {"S": description},
        },
    )


def decide_on_curated(
    event: GlueJobStateChangeEvent,
    *,
    settings: TriggerSettings,
    sagemaker: Any,
    glue: Any,
    dynamodb: Any,
) -> Outcome:
    """A Glue job finished: start the pending retraining if this run of the curated job
    began after the alarm (so it read the processed zone with the feedback in it)."""
    detail = event.detail

    def outcome(decision: Decision, reason: str, **extra: Any) -> Outcome:
        return Outcome(
            decision=decision,
            reason=reason,
            alarm_name=str(extra.pop("alarm_name", "")),
            event_id=event.id,
            pipeline_name=settings.pipeline_name,
            **extra,
        )

    if not settings.curated_job_name or detail.jobName != settings.curated_job_name:
        return outcome("skipped_other_job", f"job {detail.jobName} is not the curated job")
    if detail.state != "SUCCEEDED":
        return outcome("skipped_not_succeeded", f"{detail.jobName} run is {detail.state}")
    item = dynamodb.get_item(
        TableName=settings.idempotency_table, Key=_pending_key(settings), ConsistentRead=True
    ).get("Item")
    if item is None:
        return outcome("skipped_nothing_pending", "no retraining is waiting for curated data")
    since = datetime.fromisoformat(item["since"]["S"])
    run = glue.get_job_run(JobName=detail.jobName, RunId=detail.jobRunId)["JobRun"]
    started_on: datetime = run["StartedOn"]
    if started_on.tzinfo is None:
        started_on = started_on.replace(tzinfo=UTC)
    if started_on <= since:
        return outcome(
            "skipped_curated_too_early",
            f"run {detail.jobRunId} started at {started_on.isoformat()}, before the alarm at "
            f"{since.isoformat()}: the retraining waits for a run that read the feedback",
        )
    snapshot = f"{detail.jobName}/{detail.jobRunId}"
    name, description = item["display_name"]["S"], item["description"]["S"]
    description = f"{description} Curated snapshot: {snapshot}."[:DESCRIPTION_MAX]
    arn = _start(sagemaker, settings, name, description, item["event_id"]["S"], snapshot)
    dynamodb.delete_item(
        TableName=settings.idempotency_table,
        Key=_pending_key(settings),
        ConditionExpression="event_id = :event",
        ExpressionAttributeValues={":event": item["event_id"]},
    )
    return outcome(
        "started",
        f"the curated job put the feedback into curated (run {detail.jobRunId})",
        execution_arn=arn,
        display_name=name,
        description=description,
        curated_snapshot=snapshot,
    )
