"""local/service_metrics.py: the AWS services' own metrics, as the local stand-ins put
them, are the ones the services document (config/metrics.py's registry: namespace,
name, dimensions), with the values measured, and reach CloudWatch (moto)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from aws_lambda_powertools.metrics import Metrics, MetricUnit
from moto import mock_aws

from config.metrics import RETRAINING_NAMESPACE, known_metric
from config.schema import load_schema
from local.service_metrics import (
    GLUE,
    LAMBDA,
    NOT_RUN_LOCALLY,
    PIPELINES,
    SAGEMAKER,
    Invocation,
    emf_data,
    endpoint_data,
    glue_task_data,
    lambda_data,
    local_name,
    pipeline_execution_data,
    put,
    why_not_local,
)

QUALITY = load_schema("churn").quality_gate.metric
T0 = datetime(2026, 12, 1, 10, 0, 5, tzinfo=UTC)


def _registered(namespace: str, data: list[dict]) -> list:
    """Each datum's registry entry (None where the registry does not know it)."""
    return [
        known_metric(
            namespace,
            d["MetricName"],
            frozenset(x["Name"] for x in d["Dimensions"]),
            quality_metric=QUALITY,
        )
        for d in data
    ]


def _by_name(data: list[dict]) -> dict[tuple[str, datetime], dict]:
    return {(d["MetricName"], d["Timestamp"]): d for d in data}


def test_endpoint_metrics_per_minute_as_sagemaker_documents_them() -> None:
    invocations = [
        Invocation(T0, 200, 0.002),
        Invocation(T0 + timedelta(seconds=10), 400, 0.001),
        Invocation(T0 + timedelta(seconds=20), 0, 30.0),  # dropped: never reached the model
        Invocation(T0 + timedelta(seconds=70), 500, 0.004),
    ]
    data = endpoint_data("churn-endpoint-dev", invocations)

    assert None not in _registered(SAGEMAKER, data)
    assert all(
        {x["Name"]: x["Value"] for x in d["Dimensions"]}
        == {"EndpointName": "churn-endpoint-dev", "VariantName": "AllTraffic"}
        for d in data
    )
    first, second = T0.replace(second=0), T0.replace(second=0) + timedelta(minutes=1)
    by = _by_name(data)
    assert by[("Invocations", first)]["StatisticValues"]["Sum"] == 2  # the dropped one is not
    assert by[("Invocation4XXErrors", first)]["StatisticValues"] == {
        "SampleCount": 2.0,
        "Sum": 1.0,
        "Minimum": 0.0,
        "Maximum": 1.0,
    }
    assert by[("Invocation5XXErrors", first)]["StatisticValues"]["Sum"] == 0
    assert by[("Invocation5XXErrors", second)]["StatisticValues"]["Sum"] == 1
    latency = by[("ModelLatency", first)]
    assert latency["Unit"] == "Microseconds"
    assert latency["StatisticValues"]["Maximum"] == pytest.approx(2000.0)
    assert latency["StatisticValues"]["Minimum"] == pytest.approx(1000.0)
    assert by[("InvocationsPerInstance", second)]["StatisticValues"]["Sum"] == 1


def test_pipeline_execution_metrics() -> None:
    ended = T0 + timedelta(seconds=90)
    data = pipeline_execution_data("churn-training-dev", "Succeeded", T0, ended)
    assert None not in _registered(PIPELINES, data)
    by = {d["MetricName"]: d for d in data}
    assert set(by) == {"ExecutionStarted", "ExecutionSucceeded", "ExecutionDuration"}
    assert by["ExecutionStarted"]["Timestamp"] == T0
    assert by["ExecutionSucceeded"]["Timestamp"] == ended
    assert by["ExecutionDuration"]["Value"] == pytest.approx(90_000.0)
    assert by["ExecutionDuration"]["Unit"] == "Milliseconds"
    assert "ExecutionFailed" in {
        d["MetricName"] for d in pipeline_execution_data("p", "Failed", T0, ended)
    }
    with pytest.raises(ValueError, match="Executing"):
        pipeline_execution_data("p", "Executing", T0, ended)


def test_glue_and_lambda_metrics() -> None:
    glue = glue_task_data("raw_to_processed", completed=12, failed=0, at=T0)
    assert None not in _registered(GLUE, glue)
    assert {d["MetricName"]: d["Value"] for d in glue} == {
        "glue.driver.aggregate.numCompletedTasks": 12.0,
        "glue.driver.aggregate.numFailedTasks": 0.0,
    }
    assert all(
        {x["Name"]: x["Value"] for x in d["Dimensions"]}
        == {"JobName": "raw_to_processed", "JobRunId": "ALL", "Type": "count"}
        for d in glue
    )
    failed = lambda_data("retrain-trigger", milliseconds=12.5, error=True, at=T0)
    assert None not in _registered(LAMBDA, failed)
    assert {d["MetricName"]: d["Value"] for d in failed} == {
        "Invocations": 1.0,
        "Errors": 1.0,
        "Duration": 12.5,
    }


def test_emf_lines_from_powertools_become_the_handlers_metric(monkeypatch) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", RETRAINING_NAMESPACE)
    metrics = Metrics(service="retrain-trigger")
    metrics.add_dimension(name="Decision", value="started")
    metrics.add_metric(name="RetrainDecision", unit=MetricUnit.Count, value=1)
    emf = json.dumps(metrics.serialize_metric_set())
    logged = ['{"level": "INFO", "message": "decided"}', "not json", emf]

    found = emf_data(logged)

    [data] = found.values()
    assert list(found) == [RETRAINING_NAMESPACE]
    assert None not in _registered(RETRAINING_NAMESPACE, data)
    [datum] = data
    assert datum["Value"] == 1.0 and datum["Unit"] == "Count"
    assert {x["Name"]: x["Value"] for x in datum["Dimensions"]} == {
        "service": "retrain-trigger",
        "Decision": "started",
    }


def test_put_reaches_cloudwatch(monkeypatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    now = datetime.now(UTC)
    invocations = [Invocation(now, 200 if i % 10 else 400, 0.003) for i in range(50)]
    with mock_aws():
        cloudwatch = boto3.client("cloudwatch", region_name="us-east-1")
        sent = put(cloudwatch, SAGEMAKER, endpoint_data("e", invocations))
        stats = cloudwatch.get_metric_statistics(
            Namespace=SAGEMAKER,
            MetricName="Invocation4XXErrors",
            Dimensions=[
                {"Name": "EndpointName", "Value": "e"},
                {"Name": "VariantName", "Value": "AllTraffic"},
            ],
            StartTime=now - timedelta(minutes=2),
            EndTime=now + timedelta(minutes=2),
            Period=300,
            Statistics=["Sum", "SampleCount"],
        )
    assert sent == 5  # one statistic set per metric for the one minute
    [point] = stats["Datapoints"]
    assert point["Sum"] == 5 and point["SampleCount"] == 50


def test_tokens_get_local_names_and_what_is_not_local_says_why() -> None:
    token = "<cfn:{'Fn::GetStackOutput': {'OutputName': 'PublishOutputRefRetrainFunctionEE'}}>"
    assert local_name(token) == "retrain-trigger"
    assert local_name("<cfn:{'Ref': 'SomethingElse'}>") is None
    promotion = {"FunctionName": local_name("RefPromotionFunction452C") or ""}
    assert why_not_local(LAMBDA, "Invocations", promotion) == NOT_RUN_LOCALLY
    assert why_not_local(LAMBDA, "Invocations", {"FunctionName": "retrain-trigger"}) is None
    cpu = why_not_local("/aws/sagemaker/Endpoints", "CPUUtilization", {})
    assert cpu is not None and "real endpoint instance" in cpu
