"""Fault: the retrain Lambda throttled or failing. The alarm event must land in the
dead-letter queue after the retries the stack configures, and a redrive of it must start
exactly one pipeline execution, however often it is redriven.

EventBridge and Lambda's asynchronous queue are the local stand-in
``local.monitoring.event_delivery`` (their documented retry and dead-letter semantics,
with the rule target's and the function's settings read from the synthesized Monitoring
template); the function is the real handler on moto (SQS, DynamoDB, SageMaker).
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import boto3
import pytest
from moto import mock_aws

from local.monitoring.assembly import monitoring_template
from local.monitoring.event_delivery import (
    DeliveryPolicy,
    InvokeRefusedError,
    LocalEventDelivery,
    ThrottledError,
    delivery_policy,
)
from local.monitoring.retrain_function import LAMBDA_DIR, lambda_context, load_handler
from tests.integration.test_retrain_trigger import (
    PIPELINE,
    REAL_CLIENT,
    REGION,
    SAMPLE_EVENT,
    TABLE,
    create_backend,
    sagemaker_failing,
    set_environment,
)

RULE_ARN = "arn:aws:events:us-east-1:123456789012:rule/mlops-dev-retrain"
FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:retrain"


@pytest.fixture(scope="module")
def policy(synth_report) -> DeliveryPolicy:
    return delivery_policy(monitoring_template(synth_report.assembly_dir, "Dev"))


@pytest.fixture
def aws(monkeypatch):
    set_environment(monkeypatch)
    with mock_aws():
        backend = create_backend()
        sqs = boto3.client("sqs", region_name=REGION)
        queue = sqs.create_queue(QueueName="dead-letters")["QueueUrl"]
        yield SimpleNamespace(**vars(backend), sqs=sqs, queue=queue)


@pytest.fixture
def trigger(aws):
    module = load_handler(LAMBDA_DIR)
    module._runtime.cache_clear()
    return module


@pytest.fixture
def delivery(policy, aws, trigger) -> LocalEventDelivery:
    context = lambda_context(region=REGION, account="123456789012")
    return LocalEventDelivery(
        policy=policy,
        invoke=lambda event: trigger.handler(event, context),
        sqs=aws.sqs,
        dead_letter_url=aws.queue,
        rule_arn=RULE_ARN,
        target_arn=FUNCTION_ARN,
    )


def _executions(aws) -> list[dict]:
    return aws.sagemaker.list_pipeline_executions(PipelineName=PIPELINE)[
        "PipelineExecutionSummaries"
    ]


def _dead_letters(aws) -> list[dict]:
    """The queue's messages (made visible again at once, so a later redrive sees them)."""
    messages = aws.sqs.receive_message(
        QueueUrl=aws.queue, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    ).get("Messages", [])
    for message in messages:
        aws.sqs.change_message_visibility(
            QueueUrl=aws.queue, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
        )
    return messages


def _attributes(message: dict) -> dict[str, str]:
    return {k: v["StringValue"] for k, v in message["MessageAttributes"].items()}


def _heal(trigger, monkeypatch) -> None:
    monkeypatch.setattr(trigger.boto3, "client", REAL_CLIENT)
    trigger._runtime.cache_clear()


def test_the_stand_in_uses_the_synthesized_retry_settings(policy) -> None:
    # The rule target: 8 retries within 24 h; the function's async config: 2 retries,
    # Lambda's default 6 h for the age; both with a dead-letter queue (else this raises).
    assert policy == DeliveryPolicy(
        rule_retry_attempts=8,
        rule_max_event_age=86400,
        function_retry_attempts=2,
        function_max_event_age=21600,
    )


def test_throttled_function_dead_letters_and_a_redrive_starts_one_execution(
    delivery, aws, trigger
) -> None:
    def always_throttled(attempt: int) -> None:
        raise ThrottledError("Rate Exceeded. (no concurrency left for the function)")

    result = delivery.deliver(SAMPLE_EVENT, throttle_run=always_throttled)

    assert result.status == "dead_lettered"
    throttles = [a for a in result.attempts if a.outcome == "throttled"]
    # Retried until the event was 6 h old, never run, never acted.
    assert len(throttles) > 10
    assert throttles[-1].age_seconds <= 21600 < throttles[-1].age_seconds + 300
    assert _executions(aws) == []
    assert aws.dynamodb.scan(TableName=TABLE)["Count"] == 0
    [message] = _dead_letters(aws)
    assert json.loads(message["Body"]) == SAMPLE_EVENT
    attributes = _attributes(message)
    assert attributes["ErrorCode"] == "429" and "Rate Exceeded" in attributes["ErrorMessage"]

    [redriven] = delivery.redrive()
    assert redriven.status == "delivered" and redriven.result["decision"] == "started"
    [execution] = _executions(aws)
    assert execution["PipelineExecutionArn"] == redriven.result["execution_arn"]
    assert _dead_letters(aws) == []


def test_failing_function_is_retried_twice_then_dead_letters_and_redrives_once(
    delivery, aws, trigger, monkeypatch
) -> None:
    def throttled_by_sagemaker(client, kwargs):
        raise client.exceptions.ClientError(
            {"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}},
            "StartPipelineExecution",
        )

    calls = sagemaker_failing(trigger, monkeypatch, throttled_by_sagemaker)
    result = delivery.deliver(SAMPLE_EVENT)

    assert result.status == "dead_lettered"
    assert [a.outcome for a in result.attempts] == ["ok", "error", "error", "error"]
    assert [a.age_seconds for a in result.attempts[1:]] == [0, 60, 180]
    assert len(calls) == 3  # each try asked SageMaker, none started anything
    assert _executions(aws) == []
    # Nothing held: no idempotency record, no cooldown lock to block the redrive.
    assert aws.dynamodb.scan(TableName=TABLE)["Count"] == 0
    [message] = _dead_letters(aws)
    attributes = _attributes(message)
    assert attributes["ErrorCode"] == "200"
    assert "ThrottlingException" in attributes["ErrorMessage"]

    _heal(trigger, monkeypatch)
    [redriven] = delivery.redrive()
    assert redriven.result["decision"] == "started"
    assert len(_executions(aws)) == 1


def test_eventbridge_exhausts_its_retries_then_dead_letters_with_its_attributes(
    delivery, aws, policy
) -> None:
    def lambda_throttles_invoke(attempt: int) -> None:
        raise InvokeRefusedError("TooManyRequestsException", "Rate exceeded", retriable=True)

    result = delivery.deliver(SAMPLE_EVENT, refuse_invoke=lambda_throttles_invoke)

    assert result.status == "dead_lettered"
    assert len(result.attempts) == policy.rule_retry_attempts + 1
    assert _executions(aws) == []
    [message] = _dead_letters(aws)
    assert _attributes(message) == {
        "ERROR_CODE": "TooManyRequestsException",
        "ERROR_MESSAGE": "Rate exceeded",
        "EXHAUSTED_RETRY_CONDITION": "MaximumRetryAttempts",
        "RETRY_ATTEMPTS": "8",
        "RULE_ARN": RULE_ARN,
        "TARGET_ARN": FUNCTION_ARN,
    }
    [redriven] = delivery.redrive()
    assert redriven.result["decision"] == "started"
    assert len(_executions(aws)) == 1


def test_a_permission_error_is_not_retried(delivery, aws) -> None:
    def denied(attempt: int) -> None:
        raise InvokeRefusedError("AccessDeniedException", "not authorized", retriable=False)

    result = delivery.deliver(SAMPLE_EVENT, refuse_invoke=denied)
    assert len(result.attempts) == 1
    [message] = _dead_letters(aws)
    attributes = _attributes(message)
    assert attributes["RETRY_ATTEMPTS"] == "0"
    assert "EXHAUSTED_RETRY_CONDITION" not in attributes


def test_redriving_an_event_that_was_already_acted_on_starts_nothing(delivery, aws) -> None:
    """At-least-once: an event can be both delivered and in the queue (a redrive run
    twice, or a delivery that failed after Lambda had queued it)."""
    first = delivery.deliver(SAMPLE_EVENT)
    assert first.result["decision"] == "started"
    for _ in range(2):
        aws.sqs.send_message(QueueUrl=aws.queue, MessageBody=json.dumps(SAMPLE_EVENT))
    redriven = delivery.redrive()
    assert [d.result["duplicate"] for d in redriven] == [True, True]
    assert len(_executions(aws)) == 1
    assert _dead_letters(aws) == []


def test_function_failing_after_the_start_is_retried_without_a_second_start(
    delivery, aws, trigger, monkeypatch
) -> None:
    """The call started the execution, then the function failed (the client timed out on
    the answer): the retry sees the execution and starts no other."""

    def started_then_timed_out(client, kwargs):
        client.start_pipeline_execution(**kwargs)
        raise TimeoutError("read timeout on StartPipelineExecution")

    sagemaker_failing(trigger, monkeypatch, started_then_timed_out)
    result = delivery.deliver(SAMPLE_EVENT)

    assert result.status == "delivered"
    assert [a.outcome for a in result.attempts] == ["ok", "error", "ok"]
    assert result.result["decision"] == "skipped_cooldown"
    assert len(_executions(aws)) == 1
    assert _dead_letters(aws) == []
