"""Fault: every failure pages. For each alarm of issue 24, the failure is injected locally
(the metric the AWS service would publish, or the documented event delivered through the
synthesized rule), the synthesized alarm is evaluated by the local alarm evaluator
(``local.monitoring.alarms``), reaches ALARM, and the stage topic (moto SNS) records the
notification. The monitor-stopped case is no data at all.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from moto import mock_aws
from moto.sns.models import sns_backends

from local.cdk_assembly import StageAssembly
from local.monitoring.alarm_actions import alarm_actions, notify
from local.monitoring.alarms import ALARM, evaluate_in_cloudwatch, load_alarms
from local.monitoring.event_delivery import deliver_to_topics

STAGE = "Dev"
NOW = datetime(2026, 12, 1, 21, 30, tzinfo=UTC)
OPS = "customer-churn-ops-dev-"
ENDPOINT = "customer-churn-endpoint-dev"
VARIANT = {"EndpointName": ENDPOINT, "VariantName": "AllTraffic"}
# The documented event shapes: "Glue Job State Change" (AWS Glue developer guide,
# "Automating AWS Glue with EventBridge") and "SageMaker Processing Job State Change"
# (its detail is DescribeProcessingJob's response).
GLUE_EVENT = {
    "version": "0",
    "id": "abcdef01-1234-5678-9abc-def012345678",
    "detail-type": "Glue Job State Change",
    "source": "aws.glue",
    "account": "111111111111",
    "time": "2026-12-01T21:20:00Z",
    "region": "us-east-1",
    "resources": [],
    "detail": {
        "jobName": "<job>",
        "severity": "ERROR",
        "state": "FAILED",
        "jobRunId": "jr_0123456789abcdef",
        "message": "Command failed with exit code 1",
    },
}
PROCESSING_EVENT = {
    "version": "0",
    "id": "0a15f67d-aa23-0123-0123-01a23b45c6d7",
    "detail-type": "SageMaker Processing Job State Change",
    "source": "aws.sagemaker",
    "account": "111111111111",
    "time": "2026-12-01T21:20:00Z",
    "region": "us-east-1",
    "resources": [],
    "detail": {
        "ProcessingJobName": "customer-churn-monitor-dev-20261201T210000Z",
        "ProcessingJobStatus": "Failed",
        "FailureReason": "AlgorithmError: monitor.py exited 1",
        "ProcessingJobArn": "arn:aws:sagemaker:us-east-1:111111111111:processing-job/x",
    },
}


@pytest.fixture(scope="module")
def stage(synth_report):
    cdk_out = synth_report.assembly_dir
    assembly = StageAssembly(cdk_out, STAGE)
    rules = {
        lid: assembly.resolve(resource["Properties"], stack)
        for stack in assembly.stacks("Monitoring")
        for lid, resource in assembly.resources(stack, "AWS::Events::Rule").items()
    }
    return {
        "alarms": load_alarms(cdk_out, STAGE, ""),
        "actions": alarm_actions(cdk_out, STAGE),
        "rules": rules,
        "assembly": assembly,
    }


@pytest.fixture
def aws(stage, monkeypatch):
    account = stage["assembly"].stage.account
    for name, value in (
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("MOTO_ACCOUNT_ID", account),
    ):
        monkeypatch.setenv(name, value)
    region = stage["assembly"].stage.region
    with mock_aws():
        sns = boto3.client("sns", region_name=region)
        [topic] = {arn for a in stage["actions"].values() for arn in a[ALARM]}
        sns.create_topic(Name=topic.rsplit(":", 1)[1])
        yield {
            "sns": sns,
            "cloudwatch": boto3.client("cloudwatch", region_name=region),
            "topic": topic,
            "account": account,
            "region": region,
        }


def _put(aws, namespace: str, name: str, dimensions: dict, values: list[float], step=60):
    """``values`` one per ``step`` seconds, the last one a minute before NOW."""
    aws["cloudwatch"].put_metric_data(
        Namespace=namespace,
        MetricData=[
            {
                "MetricName": name,
                "Dimensions": [{"Name": k, "Value": v} for k, v in dimensions.items()],
                "Timestamp": NOW - timedelta(seconds=60 + step * (len(values) - 1 - i)),
                "Value": value,
            }
            for i, value in enumerate(values)
        ],
    )


def _function(stage, label: str) -> str:
    return stage["alarms"][f"{OPS}{label}-errors"].dimensions["FunctionName"]


def _messages(aws) -> list[str]:
    topic = sns_backends[aws["account"]][aws["region"]].topics[aws["topic"]]
    return [message for _, message, *_ in topic.sent_notifications]


def _deliver(stage, aws, event) -> list[str]:
    return deliver_to_topics(
        stage["rules"], event, sns=aws["sns"], cloudwatch=aws["cloudwatch"], at=NOW
    )


def _glue(state: str):
    def inject(stage, aws):
        event = json.loads(json.dumps(GLUE_EVENT))
        [job, _] = stage["rules"][
            next(lid for lid in stage["rules"] if lid.startswith("FailuresGlueJobFailed"))
        ]["EventPattern"]["detail"]["jobName"]
        event["detail"].update(jobName=job, state=state)
        assert _deliver(stage, aws, event), "the Glue rule did not match"
        assert any(f"ended {state}" in m for m in _messages(aws))

    return inject


def _monitor_failed(stage, aws):
    assert _deliver(stage, aws, PROCESSING_EVENT)
    assert any("AlgorithmError" in m for m in _messages(aws))


def _pipeline_failed(stage, aws):
    _put(
        aws,
        "AWS/Sagemaker/ModelBuildingPipeline",
        "ExecutionFailed",
        {"PipelineName": "customer-churn-training-dev"},
        [1.0],
    )


def _dead_letters(label: str):
    def inject(stage, aws):
        # The queue holds an undelivered message; SQS publishes its visible count.
        name = stage["alarms"][f"{OPS}dead-letters-{label}"].dimensions["QueueName"]
        sqs = boto3.client("sqs", region_name=aws["region"])
        url = sqs.create_queue(QueueName=name)["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps(GLUE_EVENT))
        visible = sqs.get_queue_attributes(
            QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]["ApproximateNumberOfMessages"]
        _put(
            aws,
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
            {"QueueName": name},
            [float(visible)],
        )

    return inject


def _function_metric(label: str, metric: str):
    def inject(stage, aws):
        _put(aws, "AWS/Lambda", metric, {"FunctionName": _function(stage, label)}, [1.0])

    return inject


def _endpoint(name: str, values: list[float], statistic_minutes: int = 1):
    def inject(stage, aws):
        _put(aws, "AWS/SageMaker", name, VARIANT, values, step=60 * statistic_minutes)

    return inject


def _client_errors(stage, aws):
    # 10 minutes at 100 requests a minute, 20 of them refused: a 20% 4xx rate.
    _put(aws, "AWS/SageMaker", "Invocations", VARIANT, [100.0] * 10)
    _put(aws, "AWS/SageMaker", "Invocation4XXErrors", VARIANT, [20.0] * 10)


def _idle_in_service(stage, aws):
    # Instances report every minute for 15 minutes; no request arrives.
    _put(aws, "/aws/sagemaker/Endpoints", "CPUUtilization", VARIANT, [3.0] * 15)


def _nothing(stage, aws):
    """The monitor stopped: no heartbeat at all."""


CASES = {
    "monitor-stopped": (f"{OPS}monitor-stopped", _nothing),
    "monitor-job-failed": (f"{OPS}monitor-job-failed", _monitor_failed),
    **{
        f"glue-{state.lower()}": (f"{OPS}glue-job-failed", _glue(state))
        for state in ("FAILED", "TIMEOUT", "STOPPED")
    },
    "pipeline-failed": (f"{OPS}pipeline-failed", _pipeline_failed),
    **{
        f"dead-letters-{label}": (f"{OPS}dead-letters-{label}", _dead_letters(label))
        for label in ("data-lake", "ml-pipeline", "monitoring")
    },
    **{
        f"{label}-{what}": (f"{OPS}{label}-{what}", _function_metric(label, metric))
        for label in ("model-promotion", "retrain-trigger", "monitor-launcher")
        for what, metric in (("errors", "Errors"), ("throttles", "Throttles"))
    },
    "endpoint-5xx": (f"{ENDPOINT}-5xx", _endpoint("Invocation5XXErrors", [2.0, 3.0])),
    "endpoint-latency": (
        f"{ENDPOINT}-latency-p99",
        _endpoint("ModelLatency", [5_000_000.0] * 3),
    ),
    "endpoint-4xx-rate": (f"{ENDPOINT}-4xx-rate", _client_errors),
    "endpoint-no-invocations": (f"{ENDPOINT}-no-invocations", _idle_in_service),
}


@pytest.mark.parametrize("case", list(CASES))
def test_failure_raises_its_alarm_and_pages_the_stage_topic(stage, aws, case) -> None:
    name, inject = CASES[case]
    alarm = stage["alarms"][name]
    inject(stage, aws)
    transition = evaluate_in_cloudwatch(
        aws["cloudwatch"], alarm, now=NOW, account=aws["account"], region=aws["region"]
    )
    assert transition.current.value == ALARM, transition.describe()
    topics = stage["actions"][name][ALARM]
    assert topics == [aws["topic"]]
    notify(aws["sns"], transition, topics)
    paged = [json.loads(m) for m in _messages(aws) if m.startswith("{")]
    assert [(m["AlarmName"], m["NewStateValue"]) for m in paged] == [(name, ALARM)]


def test_a_running_monitor_and_a_serving_endpoint_do_not_page(stage, aws) -> None:
    """The controls: the heartbeat present, traffic while in service, few client errors."""
    _put(
        aws,
        "MLOps/Monitoring",
        "MonitorRuns",
        {"service": "monitor-launcher"},
        [1.0, 1.0, 1.0],
        step=3600,
    )
    _put(aws, "/aws/sagemaker/Endpoints", "CPUUtilization", VARIANT, [3.0] * 15)
    _put(aws, "AWS/SageMaker", "Invocations", VARIANT, [100.0] * 15)
    _put(aws, "AWS/SageMaker", "Invocation4XXErrors", VARIANT, [1.0] * 15)
    for name in (f"{OPS}monitor-stopped", f"{ENDPOINT}-no-invocations", f"{ENDPOINT}-4xx-rate"):
        transition = evaluate_in_cloudwatch(
            aws["cloudwatch"],
            stage["alarms"][name],
            now=NOW,
            account=aws["account"],
            region=aws["region"],
        )
        assert transition.current.value == "OK", transition.describe()
