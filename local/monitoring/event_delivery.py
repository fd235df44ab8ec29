"""LOCAL STAND-IN for EventBridge delivering an alarm event to the retrain Lambda, retries
and dead letters included: moto neither delivers rule targets nor runs Lambda's
asynchronous invocation queue.

The numbers are the Monitoring stack's (``delivery_policy``); the behaviour is what the
EventBridge and Lambda guides document (docs/monitoring.md). Time is simulated: waits
are added to the event's age, never slept. ``redrive`` replays the dead-letter queue.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from local.cdk_assembly import AssemblyError, read_template

LABEL = "[local stand-in: EventBridge target retry policy, Lambda async retries, DLQ]"
# Lambda's documented default when an EventInvokeConfig sets no maximum age.
LAMBDA_DEFAULT_MAX_EVENT_AGE = 6 * 3600
# Lambda: "1 minute between the first two attempts, and 2 minutes between the second and
# third".
FUNCTION_ERROR_WAITS = (60, 120)
THROTTLE_BACKOFF = (1, 300)  # Lambda: from 1 second, exponentially, to 5 minutes
EVENTBRIDGE_BACKOFF = (1, 300)  # this stand-in's assumption (not published)
MESSAGE_LIMIT = 1024


class InvokeRefusedError(RuntimeError):
    """The Lambda service refused EventBridge's invocation (before the function ran)."""

    def __init__(self, code: str, message: str, *, retriable: bool) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.retriable = retriable


class ThrottledError(RuntimeError):
    """No concurrency was free for the function: Lambda puts the event back in its queue."""


@dataclass(frozen=True)
class DeliveryPolicy:
    """The synthesized delivery settings of the retrain function's rule target."""

    rule_retry_attempts: int
    rule_max_event_age: int
    function_retry_attempts: int
    function_max_event_age: int = LAMBDA_DEFAULT_MAX_EVENT_AGE


def delivery_policy(template: Path, *, function_prefix: str = "Retrain") -> DeliveryPolicy:
    """Read the rule targets' RetryPolicy and the function's EventInvokeConfig from the
    Monitoring template; fails if either has no dead-letter queue (an event would be lost)."""
    resources = read_template(template)["Resources"]
    functions = {
        lid: r["Properties"]
        for lid, r in resources.items()
        if r["Type"] == "AWS::Lambda::Function" and lid.startswith(function_prefix)
    }
    # The rule target and the invoke config name the function by its logical id.
    quoted = {f'"{lid}"' for lid in functions}

    def names_function(value: Any) -> bool:
        return any(q in json.dumps(value) for q in quoted)

    targets = [
        target
        for r in resources.values()
        if r["Type"] == "AWS::Events::Rule"
        for target in r["Properties"].get("Targets", [])
        if names_function(target["Arn"])
    ]
    configs = [
        r["Properties"]
        for r in resources.values()
        if r["Type"] == "AWS::Lambda::EventInvokeConfig"
        and names_function(r["Properties"]["FunctionName"])
    ]
    if len(functions) != 1 or not targets or len(configs) != 1:
        raise AssemblyError(
            f"{template.name}: expected one {function_prefix}* function, rule targets and "
            f"one EventInvokeConfig for it; found {len(functions)}, {len(targets)}, {len(configs)}"
        )
    # Several rules may deliver to the function (the retrain trigger's alarm and curated
    # job rules): one policy describes them only if they retry and dead-letter alike.
    delivery = {
        json.dumps({k: t.get(k) for k in ("RetryPolicy", "DeadLetterConfig")}) for t in targets
    }
    if len(delivery) != 1:
        raise AssemblyError(f"{template.name}: the function's rule targets retry differently")
    [function] = functions.values()
    target, [config] = targets[0], configs
    if "DeadLetterConfig" not in target or "DeadLetterConfig" not in function:
        raise AssemblyError(f"{template.name}: the rule target or the function has no DLQ")
    retry = target.get("RetryPolicy", {})
    return DeliveryPolicy(
        # EventBridge's documented defaults when the target sets none: 185 attempts, 24 h.
        rule_retry_attempts=int(retry.get("MaximumRetryAttempts", 185)),
        rule_max_event_age=int(retry.get("MaximumEventAgeInSeconds", 86400)),
        function_retry_attempts=int(config.get("MaximumRetryAttempts", 2)),
        function_max_event_age=int(
            config.get("MaximumEventAgeInSeconds", LAMBDA_DEFAULT_MAX_EVENT_AGE)
        ),
    )


@dataclass
class Attempt:
    """One try: the event's age when it was made, who made it, and how it ended."""

    age_seconds: float
    by: str  # "eventbridge" | "lambda"
    outcome: str  # "ok" | "refused" | "throttled" | "error"
    detail: str = ""


@dataclass
class Delivery:
    """How one event's delivery ended: ``delivered`` (the function returned ``result``) or
    ``dead_lettered`` (in the queue, with ``attributes``)."""

    status: str = "pending"
    result: dict[str, Any] | None = None
    attributes: dict[str, str] = field(default_factory=dict)
    attempts: list[Attempt] = field(default_factory=list)


def _backoff(retry: int, limits: tuple[int, int]) -> float:
    first, cap = limits
    return float(min(cap, first * 2**retry))


Invoke = Callable[[dict[str, Any]], dict[str, Any]]
# Called before each Invoke/run, with the attempt's number (0 first): raise
# InvokeRefusedError or ThrottledError to inject a fault, return to let it through.
Fault = Callable[[int], None]


def _no_fault(attempt: int) -> None:
    return None


@dataclass
class LocalEventDelivery:
    """The rule target's delivery of events to ``invoke`` (the function), with ``policy``;
    dead letters go to the SQS queue ``dead_letter_url`` (moto)."""

    policy: DeliveryPolicy
    invoke: Invoke
    sqs: Any
    dead_letter_url: str
    rule_arn: str
    target_arn: str

    def deliver(
        self,
        event: dict[str, Any],
        *,
        refuse_invoke: Fault = _no_fault,
        throttle_run: Fault = _no_fault,
    ) -> Delivery:
        """Deliver one event as EventBridge, then Lambda, would; faults are injected."""
        delivery = Delivery()
        age = 0.0
        for retry in range(self.policy.rule_retry_attempts + 1):
            try:
                refuse_invoke(retry)
            except InvokeRefusedError as refused:
                delivery.attempts.append(Attempt(age, "eventbridge", "refused", str(refused)))
                wait = _backoff(retry, EVENTBRIDGE_BACKOFF)
                out_of_time = age + wait > self.policy.rule_max_event_age
                last = retry == self.policy.rule_retry_attempts
                if not refused.retriable or out_of_time or last:
                    condition = (
                        "MaximumEventAgeInSeconds"
                        if out_of_time and not last
                        else "MaximumRetryAttempts"
                    )
                    self._dead_letter_from_rule(
                        delivery, event, refused, retry, condition if refused.retriable else ""
                    )
                    return delivery
                age += wait
                continue
            delivery.attempts.append(Attempt(age, "eventbridge", "ok", "queued by Lambda"))
            return self._run_async(delivery, event, age, throttle_run)
        raise AssertionError("unreachable: the last retry returns")

    def _run_async(
        self, delivery: Delivery, event: dict[str, Any], age: float, throttle_run: Fault
    ) -> Delivery:
        errors = throttles = runs = 0
        while True:
            request_id = str(uuid.uuid4())
            try:
                throttle_run(runs)
            except ThrottledError as throttled:
                delivery.attempts.append(Attempt(age, "lambda", "throttled", str(throttled)))
                wait = _backoff(throttles, THROTTLE_BACKOFF)
                throttles, runs = throttles + 1, runs + 1
                if age + wait > self.policy.function_max_event_age:
                    self._dead_letter_from_function(delivery, event, request_id, "429", throttled)
                    return delivery
                age += wait
                continue
            runs += 1
            try:
                result = self.invoke(event)
            except Exception as error:  # a function error, as the runtime reports it
                delivery.attempts.append(Attempt(age, "lambda", "error", repr(error)))
                if errors >= self.policy.function_retry_attempts:
                    # Invoke itself answered 200; the function failed (X-Amz-Function-Error).
                    self._dead_letter_from_function(delivery, event, request_id, "200", error)
                    return delivery
                age += FUNCTION_ERROR_WAITS[min(errors, len(FUNCTION_ERROR_WAITS) - 1)]
                errors += 1
                if age > self.policy.function_max_event_age:
                    self._dead_letter_from_function(delivery, event, request_id, "200", error)
                    return delivery
                continue
            delivery.attempts.append(Attempt(age, "lambda", "ok"))
            delivery.status, delivery.result = "delivered", result
            return delivery

    def _send(self, delivery: Delivery, event: dict[str, Any], attributes: dict[str, str]) -> None:
        self.sqs.send_message(
            QueueUrl=self.dead_letter_url,
            MessageBody=json.dumps(event),
            MessageAttributes={
                name: {"DataType": "String", "StringValue": value}
                for name, value in attributes.items()
            },
        )
        delivery.status, delivery.attributes = "dead_lettered", attributes

    def _dead_letter_from_rule(
        self,
        delivery: Delivery,
        event: dict[str, Any],
        refused: InvokeRefusedError,
        retries: int,
        condition: str,
    ) -> None:
        attributes = {
            "ERROR_CODE": refused.code,
            "ERROR_MESSAGE": refused.message[:MESSAGE_LIMIT],
            "RETRY_ATTEMPTS": str(retries),
            "RULE_ARN": self.rule_arn,
            "TARGET_ARN": self.target_arn,
        }
        if condition:
            attributes["EXHAUSTED_RETRY_CONDITION"] = condition
        self._send(delivery, event, attributes)

    def _dead_letter_from_function(
        self,
        delivery: Delivery,
        event: dict[str, Any],
        request_id: str,
        code: str,
        error: BaseException,
    ) -> None:
        message = f"{type(error).__name__}: {error}"[:MESSAGE_LIMIT]
        self._send(
            delivery,
            event,
            {"RequestID": request_id, "ErrorCode": code, "ErrorMessage": message},
        )

    def redrive(self) -> list[Delivery]:
        """Deliver every message in the dead-letter queue again (no faults); a message is
        deleted once its delivery succeeded, and stays in the queue otherwise."""
        deliveries: list[Delivery] = []
        while True:
            received = self.sqs.receive_message(
                QueueUrl=self.dead_letter_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
            ).get("Messages", [])
            if not received:
                return deliveries
            for message in received:
                delivery = self._run_async(Delivery(), json.loads(message["Body"]), 0.0, _no_fault)
                deliveries.append(delivery)
                # Delivered, or dead-lettered again as a new message: either way this one
                # is done with. A failed redrive stops the redrive, as an operator would.
                self.sqs.delete_message(
                    QueueUrl=self.dead_letter_url, ReceiptHandle=message["ReceiptHandle"]
                )
                if delivery.status != "delivered":
                    return deliveries


# --- Rules whose target is an SNS topic (the failure rules) ------------------------

TOPIC_LABEL = "[local stand-in: EventBridge rule -> SNS topic, with its MatchedEvents metric]"


def render_input(transformer: dict[str, Any], event: dict[str, Any]) -> str:
    """An InputTransformer's output for ``event``: each ``<name>`` of the template replaced
    by the value at its ``$.a.b`` path (a text template arrives as its text)."""
    text = transformer["InputTemplate"]
    for name, path in transformer.get("InputPathsMap", {}).items():
        value: Any = event
        for part in path.removeprefix("$.").split("."):
            value = value.get(part, "") if isinstance(value, dict) else ""
        text = text.replace(f"<{name}>", value if isinstance(value, str) else json.dumps(value))
    return str(json.loads(text)) if text.startswith('"') else text


def deliver_to_topics(
    rules: dict[str, dict[str, Any]],
    event: dict[str, Any],
    *,
    sns: Any,
    cloudwatch: Any,
    at: datetime,
) -> list[str]:
    """Deliver ``event`` to every rule (logical id -> resolved properties) it matches whose
    targets are SNS topics, as EventBridge would: publish the target's input, and count
    the match in ``AWS/Events`` ``MatchedEvents`` (dimension ``RuleName``, the rule's local
    name). Returns the matched rules' logical ids."""
    from local.monitoring.event_patterns import matches

    matched = []
    for logical_id, rule in rules.items():
        pattern = rule.get("EventPattern")
        if pattern is None or not matches(pattern, event):
            continue
        matched.append(logical_id)
        for target in rule.get("Targets", []):
            if ":sns:" not in target["Arn"]:
                continue
            message = (
                render_input(target["InputTransformer"], event)
                if "InputTransformer" in target
                else json.dumps(event)
            )
            sns.publish(TopicArn=target["Arn"], Message=message)
        cloudwatch.put_metric_data(
            Namespace="AWS/Events",
            MetricData=[
                {
                    "MetricName": "MatchedEvents",
                    "Dimensions": [{"Name": "RuleName", "Value": rule.get("Name", logical_id)}],
                    "Value": 1.0,
                    "Timestamp": at,
                }
            ],
        )
    return matched
