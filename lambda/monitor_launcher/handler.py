"""Monitor launcher: one EventBridge Scheduler invocation in, the monitor job started only
when there is something to monitor.

The schedule used to call CreateProcessingJob every hour, so an idle endpoint still paid
for an hourly processing job that read nothing. Now the schedule invokes this function
with its context attributes; ``launch_decision.decide_and_launch`` compares the capture
and ground-truth prefixes with the monitor's checkpoint and starts the job (the request
the construct rendered, ``JOB_REQUEST``) only when the monitor would read something.

Thin on purpose: Powertools parses and validates the event, logs, traces and counts the
decision (metric ``MonitorLaunch``, dimension ``Decision``) and the run itself (metric
``MonitorRuns``, dimension ``service`` only: the heartbeat the monitor-stopped alarm
watches, whatever was decided). Idempotency needs no table:
the job name is derived from the scheduled time, so a retried or duplicated invocation
finds its job and does not start a second one.

Environment: JOB_REQUEST, POWERTOOLS_SERVICE_NAME, POWERTOOLS_METRICS_NAMESPACE
(MLOps/Monitoring).

A malformed event raises ``MalformedEventError`` before any AWS call: nothing read,
nothing started.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer, single_metric
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext
from launch_decision import (
    Decision,
    LauncherSettings,
    ScheduledRun,
    decide_and_launch,
    malformed_reason,
)
from pydantic import ValidationError

METRIC = "MonitorLaunch"
HEARTBEAT = "MonitorRuns"

logger = Logger()
tracer = Tracer()
metrics = Metrics()


class MalformedEventError(ValueError):
    """The input is not the monitor schedule's payload; nothing was done."""


@dataclass(frozen=True)
class _Runtime:
    settings: LauncherSettings
    s3: Any
    sagemaker: Any


@cache
def _runtime() -> _Runtime:
    """Settings and clients, built once per container."""
    return _Runtime(
        settings=LauncherSettings.from_env(os.environ),
        s3=boto3.client("s3"),
        sagemaker=boto3.client("sagemaker"),
    )


def _count(decision: Decision) -> None:
    metrics.add_dimension(name="Decision", value=decision)
    metrics.add_metric(name=METRIC, unit=MetricUnit.Count, value=1)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    """Start this scheduled run's monitor job if capture or ground truth is new."""
    try:
        run = parse(event=event, model=ScheduledRun)
    except ValidationError as error:
        problems = malformed_reason(error)
        _count("rejected_malformed")
        logger.error("rejected a malformed event", extra={"problems": problems})
        raise MalformedEventError(f"not the monitor schedule's payload: {problems}") from error
    # Its own metric (no Decision dimension), so one alarm sees every run; a malformed
    # event is not a scheduled run and does not count.
    with single_metric(name=HEARTBEAT, unit=MetricUnit.Count, value=1):
        pass
    runtime = _runtime()
    logger.append_keys(scheduled_time=run.scheduled_time.isoformat(), attempt=run.attempt)
    outcome = decide_and_launch(
        run, settings=runtime.settings, s3=runtime.s3, sagemaker=runtime.sagemaker
    )
    _count(outcome.decision)
    logger.info(
        outcome.reason,
        extra={
            "decision": outcome.decision,
            "job_name": outcome.job_name,
            "new_capture": outcome.new_capture,
            "new_ground_truth": outcome.new_ground_truth,
        },
    )
    return outcome.to_dict()
