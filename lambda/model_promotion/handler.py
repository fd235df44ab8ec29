"""Model promotion Lambda: EventBridge "SageMaker Model Package State Change" -> the
stage's served version (SSM) and, when it changes, a delivery pipeline run.

Environment: MODEL_PACKAGE_GROUP, MODEL_VERSION_PARAMETER, MODEL_ARTIFACT_PARAMETER,
MODEL_RELEASE_PARAMETER, DELIVERY_PIPELINE_NAME, NO_MODEL_VERSION, POWERTOOLS_SERVICE_NAME,
POWERTOOLS_METRICS_NAMESPACE. The logic
(and why each event decides what it does) is in promotion.py.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from promotion import Decision, PromotionEventError, Target, promote

logger = Logger()
tracer = Tracer()
metrics = Metrics()

REQUIRED_ENV = ("MODEL_PACKAGE_GROUP", "MODEL_VERSION_PARAMETER")


def target_from_env(env: Mapping[str, str]) -> Target:
    """The stage's target, from the function's environment; a missing name is an error."""
    missing = [name for name in REQUIRED_ENV if not env.get(name)]
    if missing:
        raise RuntimeError(f"model promotion is missing environment {', '.join(missing)}")
    return Target(
        group=env["MODEL_PACKAGE_GROUP"],
        parameter=env["MODEL_VERSION_PARAMETER"],
        # Empty when the pipeline is in another account: record only (see promotion.py).
        pipeline=env.get("DELIVERY_PIPELINE_NAME") or None,
        no_model=env.get("NO_MODEL_VERSION", "none"),
        artifact_parameter=env.get("MODEL_ARTIFACT_PARAMETER") or None,
        release_parameter=env.get("MODEL_RELEASE_PARAMETER") or None,
    )


@metrics.log_metrics
@tracer.capture_lambda_handler
@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Promote (or roll back, or ignore, with the reason logged) after one event."""
    target = target_from_env(os.environ)
    try:
        outcome = promote(
            event,
            target=target,
            sagemaker=boto3.client("sagemaker"),
            ssm=boto3.client("ssm"),
            codepipeline=boto3.client("codepipeline"),
            s3=boto3.client("s3"),
        )
    except PromotionEventError as error:
        # Retrying a malformed event cannot help: log it whole and count it, then stop.
        logger.error("rejected malformed event", extra={"error": str(error), "event": event})
        metrics.add_dimension(name="Decision", value="rejected_malformed")
        metrics.add_metric(name="PromotionDecision", unit=MetricUnit.Count, value=1)
        return {"decision": "rejected_malformed", "reason": str(error)}
    log = logger.error if outcome.decision is Decision.NO_APPROVED_VERSION else logger.info
    log(
        outcome.reason,
        extra={
            "decision": outcome.decision.value,
            "served": outcome.served_arn,
            "pipeline_execution_id": outcome.pipeline_execution_id,
        },
    )
    metrics.add_dimension(name="Decision", value=outcome.decision.value)
    metrics.add_metric(name="PromotionDecision", unit=MetricUnit.Count, value=1)
    return {
        "decision": outcome.decision.value,
        "reason": outcome.reason,
        "served": outcome.served_arn,
        "pipeline_execution_id": outcome.pipeline_execution_id,
    }
