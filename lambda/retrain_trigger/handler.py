"""Retrain trigger: EventBridge "CloudWatch Alarm State Change" (the retraining is due)
and "Glue Job State Change" (the feedback reached curated: start it) events in, decision
out.

Thin on purpose: Powertools parses and validates the event, keeps one decision per event
id (idempotency on DynamoDB: EventBridge delivers at least once, and SageMaker's own
ClientRequestToken de-duplication is not something to lean on alone), logs, traces and
counts the decision (metric ``RetrainDecision``, dimension ``Decision``).
``retrain_decision.decide_and_act`` decides.

Environment: PIPELINE_NAME, IDEMPOTENCY_TABLE, COOLDOWN_MINUTES, ALARM_NAME_PREFIX,
CURATED_JOB_NAME, POWERTOOLS_SERVICE_NAME, POWERTOOLS_METRICS_NAMESPACE (MLOps/Retraining).

A malformed event (of either kind, or neither) raises ``MalformedEventError`` before
anything is written: no execution, no idempotency record, no pending retraining.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any, cast

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError
from retrain_decision import (
    GLUE_DETAIL_TYPE,
    AlarmStateChangeEvent,
    Decision,
    GlueJobStateChangeEvent,
    TriggerSettings,
    decide_and_act,
    decide_on_curated,
)

# EventBridge retries delivery for up to 24 hours; remember each event for twice that.
IDEMPOTENCY_SECONDS = 48 * 3600
METRIC = "RetrainDecision"

logger = Logger()
tracer = Tracer()
metrics = Metrics()


class MalformedEventError(ValueError):
    """The input is neither a CloudWatch Alarm nor a Glue Job State Change event; nothing
    was done."""


@dataclass(frozen=True)
class _Runtime:
    settings: TriggerSettings
    config: IdempotencyConfig
    decide: Callable[..., dict[str, Any]]


def _mark_duplicate(response: Any, idempotent_data: DataRecord) -> Any:
    """Powertools calls this when it answers from the table instead of running again."""
    return {**response, "duplicate": True}


@cache
def _runtime() -> _Runtime:
    """Settings, clients and the idempotent decision, built once per container."""
    settings = TriggerSettings.from_env(os.environ)
    sagemaker = boto3.client("sagemaker")
    dynamodb = boto3.client("dynamodb")
    glue = boto3.client("glue")
    config = IdempotencyConfig(
        event_key_jmespath="id",
        raise_on_no_idempotency_key=True,
        expires_after_seconds=IDEMPOTENCY_SECONDS,
        response_hook=_mark_duplicate,
    )
    persistence = DynamoDBPersistenceLayer(
        table_name=settings.idempotency_table, boto3_client=dynamodb
    )

    def decide(*, event: AlarmStateChangeEvent | GlueJobStateChangeEvent) -> dict[str, Any]:
        if isinstance(event, GlueJobStateChangeEvent):
            return decide_on_curated(
                event, settings=settings, sagemaker=sagemaker, glue=glue, dynamodb=dynamodb
            ).to_dict()
        outcome = decide_and_act(
            event,
            settings=settings,
            sagemaker=sagemaker,
            dynamodb=dynamodb,
            now=datetime.now(UTC),
        )
        return outcome.to_dict()

    once = idempotent_function(
        decide, data_keyword_argument="event", persistence_store=persistence, config=config
    )
    return _Runtime(settings=settings, config=config, decide=cast(Callable[..., Any], once))


def _count(decision: Decision) -> None:
    metrics.add_dimension(name="Decision", value=decision)
    metrics.add_metric(name=METRIC, unit=MetricUnit.Count, value=1)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    """Decide whether the alarm in ``event`` retrains this stage's model."""
    runtime = _runtime()
    glue_event = isinstance(event, dict) and event.get("detail-type") == GLUE_DETAIL_TYPE
    model: type[AlarmStateChangeEvent | GlueJobStateChangeEvent] = (
        GlueJobStateChangeEvent if glue_event else AlarmStateChangeEvent
    )
    try:
        parsed: AlarmStateChangeEvent | GlueJobStateChangeEvent = parse(event=event, model=model)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '<event>'}: {e['msg']}" for e in error.errors()
        )
        _count("rejected_malformed")
        logger.error("rejected a malformed event", extra={"problems": problems})
        kind = GLUE_DETAIL_TYPE if glue_event else "CloudWatch Alarm State Change"
        raise MalformedEventError(f"not a {kind} event: {problems}") from error
    runtime.config.register_lambda_context(context)
    if isinstance(parsed, GlueJobStateChangeEvent):
        logger.append_keys(event_id=parsed.id, job_run_id=parsed.detail.jobRunId)
    else:
        logger.append_keys(event_id=parsed.id, alarm_name=parsed.detail.alarmName)
    result = runtime.decide(event=parsed)
    if result.get("duplicate"):
        logger.info("duplicate event: returning the decision already taken", extra=result)
    else:
        _count(result["decision"])
        logger.info(result["reason"], extra={"decision": result["decision"]})
    return result
