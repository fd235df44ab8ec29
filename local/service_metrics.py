"""The AWS services' own CloudWatch metrics (SageMaker, Glue, Lambda, EMF logs), put into
moto by the local stand-ins that play those services, so the synthesized dashboard has
data. LOCAL stand-in: the values are measured in the local run, not by the service;
``NOT_EMITTED`` says which metrics only a real instance or service has, and why
(docs/operations.md). Each ``*_data`` function is pure; ``put`` sends its result.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from config.layout import VARIANT_NAME

LABEL = "[local stand-in: AWS service metrics]"
SAGEMAKER = "AWS/SageMaker"
PIPELINES = "AWS/Sagemaker/ModelBuildingPipeline"
ENDPOINT_INSTANCES = "/aws/sagemaker/Endpoints"
GLUE = "Glue"
LAMBDA = "AWS/Lambda"
DELIVERY = "MLOps/Delivery"
# The local endpoint is one container (its gunicorn workers share it): one instance.
LOCAL_INSTANCES = 1
BATCH = 20  # datapoints per PutMetricData call, well under the API's limit

# Names CloudFormation gives in the cloud (the dashboard holds tokens for them), by a
# fragment of the token's logical id, and the name the local run uses instead.
LOCAL_NAMES = {
    "EtlRawToProcessedJob": "raw_to_processed",
    "EtlProcessedToCuratedJob": "processed_to_curated",
    "RetrainFunction": "retrain-trigger",
    "PromotionFunction": "model-promotion",
    "MonitorLauncherFunction": "monitor-launcher",
}
RETRAIN_FUNCTION = LOCAL_NAMES["RetrainFunction"]
PROMOTION_FUNCTION = LOCAL_NAMES["PromotionFunction"]
NOT_RUN_LOCALLY = (
    "the model-promotion function reacts to an approval in the cloud; the local run "
    "approves in the registry and serves directly"
)
# (namespace, metric) -> why the local run has no datapoint for it.
NOT_EMITTED: dict[tuple[str, str], str] = {
    (ENDPOINT_INSTANCES, "CPUUtilization"): "CPU of a real endpoint instance",
    (ENDPOINT_INSTANCES, "MemoryUtilization"): "memory of a real endpoint instance",
    (ENDPOINT_INSTANCES, "DiskUtilization"): "disk of a real endpoint instance",
    (GLUE, "glue.driver.aggregate.numKilledTasks"): "Spark's status API counts no killed tasks",
    (LAMBDA, "Throttles"): "the local invocation is never throttled",
    (LAMBDA, "ConcurrentExecutions"): "one in-process invocation at a time",
    (LAMBDA, "ProvisionedConcurrencySpilloverInvocations"): "no provisioned concurrency",
    (LAMBDA, "IteratorAge"): "only for stream event sources",
    (DELIVERY, "PromotionDecision"): NOT_RUN_LOCALLY,
}


def local_name(token: str) -> str | None:
    """The local name for a CloudFormation token in a dashboard dimension, if known."""
    return next((name for fragment, name in LOCAL_NAMES.items() if fragment in token), None)


def why_not_local(namespace: str, name: str, dimensions: Mapping[str, str]) -> str | None:
    """Why the local run puts no datapoint for this metric, or None if it does."""
    if namespace == LAMBDA and dimensions.get("FunctionName") == PROMOTION_FUNCTION:
        return NOT_RUN_LOCALLY
    return NOT_EMITTED.get((namespace, name))


def _minute(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(second=0, microsecond=0)


def _dims(values: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"Name": k, "Value": v} for k, v in values.items()]


def _aggregate(
    name: str, dims: Mapping[str, str], at: datetime, values: Sequence[float], unit: str
) -> dict[str, Any]:
    """One minute's datapoints as CloudWatch stores them (a statistic set)."""
    return {
        "MetricName": name,
        "Dimensions": _dims(dims),
        "Timestamp": at,
        "StatisticValues": {
            "SampleCount": float(len(values)),
            "Sum": float(sum(values)),
            "Minimum": float(min(values)),
            "Maximum": float(max(values)),
        },
        "Unit": unit,
    }


@dataclass(frozen=True)
class Invocation:
    """One request the endpoint answered: when it was sent, its status, how long it took."""

    sent_at: datetime
    status: int
    seconds: float


def endpoint_data(endpoint_name: str, invocations: Iterable[Invocation]) -> list[dict[str, Any]]:
    """SageMaker's per-variant invocation metrics, one statistic set per minute.

    As SageMaker documents them: each invocation sends 1 to ``Invocations``, 1 or 0 to
    ``Invocation4XXErrors`` and ``Invocation5XXErrors``, 1/instances to
    ``InvocationsPerInstance``, and its latency in microseconds to ``ModelLatency``
    (LOCAL: timed at the client over loopback, so it includes the service front).
    Requests the server dropped without an answer (status 0) never reached the model.
    """
    dims = {"EndpointName": endpoint_name, "VariantName": VARIANT_NAME}
    by_minute: dict[datetime, list[Invocation]] = {}
    for invocation in invocations:
        if invocation.status:
            by_minute.setdefault(_minute(invocation.sent_at), []).append(invocation)
    data = []
    for at, calls in sorted(by_minute.items()):
        statuses = [c.status for c in calls]
        for name, values, unit in (
            ("Invocations", [1.0] * len(calls), "None"),
            ("Invocation4XXErrors", [float(400 <= s < 500) for s in statuses], "None"),
            ("Invocation5XXErrors", [float(s >= 500) for s in statuses], "None"),
            ("InvocationsPerInstance", [1.0 / LOCAL_INSTANCES] * len(calls), "None"),
            ("ModelLatency", [c.seconds * 1e6 for c in calls], "Microseconds"),
        ):
            data.append(_aggregate(name, dims, at, values, unit))
    return data


def pipeline_execution_data(
    pipeline_name: str, status: str, started_at: datetime, ended_at: datetime
) -> list[dict[str, Any]]:
    """SageMaker Pipelines' execution metrics for one execution: started when it began,
    and its outcome (Succeeded, Failed or Stopped) with its duration when it ended."""
    if status not in ("Succeeded", "Failed", "Stopped"):
        raise ValueError(f"an execution ends Succeeded, Failed or Stopped, not {status!r}")
    dims = _dims({"PipelineName": pipeline_name})
    milliseconds = (ended_at - started_at).total_seconds() * 1000.0
    return [
        {
            "MetricName": name,
            "Dimensions": dims,
            "Timestamp": at.astimezone(UTC),
            "Value": value,
            "Unit": unit,
        }
        for name, at, value, unit in (
            ("ExecutionStarted", started_at, 1.0, "Count"),
            (f"Execution{status}", ended_at, 1.0, "Count"),
            ("ExecutionDuration", ended_at, milliseconds, "Milliseconds"),
        )
    ]


def glue_task_data(
    job_name: str, *, completed: int, failed: int, at: datetime
) -> list[dict[str, Any]]:
    """Glue's driver-aggregate task counts for one job run, under ``JobRunId=ALL``."""
    dims = _dims({"JobName": job_name, "JobRunId": "ALL", "Type": "count"})
    return [
        {
            "MetricName": f"glue.driver.aggregate.{name}",
            "Dimensions": dims,
            "Timestamp": at.astimezone(UTC),
            "Value": float(value),
            "Unit": "Count",
        }
        for name, value in (("numCompletedTasks", completed), ("numFailedTasks", failed))
    ]


def lambda_data(
    function_name: str, *, milliseconds: float, error: bool, at: datetime
) -> list[dict[str, Any]]:
    """Lambda's per-function metrics for one invocation."""
    dims = _dims({"FunctionName": function_name})
    at = at.astimezone(UTC)
    return [
        {"MetricName": name, "Dimensions": dims, "Timestamp": at, "Value": value, "Unit": unit}
        for name, value, unit in (
            ("Invocations", 1.0, "Count"),
            ("Errors", float(error), "Count"),
            ("Duration", milliseconds, "Milliseconds"),
        )
    ]


def emf_data(lines: Iterable[str]) -> dict[str, list[dict[str, Any]]]:
    """Metrics from log lines in CloudWatch's embedded metric format, by namespace, as
    CloudWatch Logs extracts them from a function's log stream. Other lines are skipped."""
    found: dict[str, list[dict[str, Any]]] = {}
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        meta = record.get("_aws") if isinstance(record, dict) else None
        if not isinstance(meta, dict):
            continue
        at = datetime.fromtimestamp(meta["Timestamp"] / 1000.0, UTC)
        for directive in meta.get("CloudWatchMetrics", []):
            for dimension_set in directive.get("Dimensions", [[]]):
                dims = _dims({name: str(record[name]) for name in dimension_set})
                for metric in directive.get("Metrics", []):
                    raw = record[metric["Name"]]
                    for value in raw if isinstance(raw, list) else [raw]:
                        found.setdefault(directive["Namespace"], []).append(
                            {
                                "MetricName": metric["Name"],
                                "Dimensions": dims,
                                "Timestamp": at,
                                "Value": float(value),
                                "Unit": metric.get("Unit", "None"),
                            }
                        )
    return found


def put(cloudwatch: Any, namespace: str, data: Sequence[Mapping[str, Any]]) -> int:
    """Put ``data`` in ``namespace``; returns the number of datapoints sent."""
    for start in range(0, len(data), BATCH):
        cloudwatch.put_metric_data(
            Namespace=namespace, MetricData=list(data[start : start + BATCH])
        )
    return len(data)
