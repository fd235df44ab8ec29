"""The chat forwarder (lambda/notification_forwarder): SNS records in, one JSON POST each
to the webhook read from Secrets Manager (moto), a refusing webhook fails the invocation
(so Lambda retries, then dead-letters it), and nothing but https is ever called."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from local.monitoring.retrain_function import lambda_context, load_handler

FUNCTION_DIR = Path(__file__).resolve().parents[2] / "lambda" / "notification_forwarder"
URL = "https://hooks.example.com/services/T0/B0/secret"
REGION = "us-east-1"


def _sns_event(*messages: tuple[str, str]) -> dict:
    """The SNS -> Lambda event (Lambda developer guide's sample shape)."""
    topic = "arn:aws:sns:us-east-1:123456789012:NotificationsTopic"
    return {
        "Records": [
            {
                "EventVersion": "1.0",
                "EventSubscriptionArn": f"{topic}:2bcfbf39-05c3-41de-beaa-fcfcc21c8f55",
                "EventSource": "aws:sns",
                "Sns": {
                    "SignatureVersion": "1",
                    "Timestamp": "2026-12-01T21:30:00.000Z",
                    "Signature": "EXAMPLE",
                    "SigningCertUrl": "https://sns.us-east-1.amazonaws.com/cert.pem",
                    "MessageId": f"95df01b4-ee98-5cb9-9903-4c221d41eb5{i}",
                    "Message": message,
                    "MessageAttributes": {},
                    "Type": "Notification",
                    "UnsubscribeUrl": "https://sns.us-east-1.amazonaws.com/unsubscribe",
                    "TopicArn": topic,
                    "Subject": subject or None,
                },
            }
            for i, (subject, message) in enumerate(messages)
        ]
    }


@pytest.fixture
def forwarder(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "notification-forwarder")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "MLOps/Notifications")
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    with mock_aws():
        arn = boto3.client("secretsmanager", region_name=REGION).create_secret(
            Name="webhook", SecretString=URL
        )["ARN"]
        monkeypatch.setenv("WEBHOOK_SECRET", arn)
        module = load_handler(FUNCTION_DIR)
        posted: list[tuple[str, dict]] = []
        forwarding = sys.modules["forwarding"]

        def post(url: str, body: bytes) -> int:
            posted.append((url, json.loads(body)))
            return forwarding_status.pop(0) if forwarding_status else 200

        forwarding_status: list[int] = []
        monkeypatch.setattr(forwarding, "post_json", post)
        yield module, posted, forwarding_status, forwarding


def test_each_message_is_posted_to_the_secret_webhook(forwarder) -> None:
    module, posted, _, _ = forwarder
    event = _sns_event(
        ('ALARM: "customer-churn-ops-dev-glue-job-failed"', '{"NewStateValue": "ALARM"}'),
        ("", "Glue job raw run jr_1 ended FAILED at 2026-12-01T21:20:00Z: exit 1"),
    )
    result = module.handler(event, lambda_context(region=REGION, account="123456789012"))
    assert result == {"forwarded": 2}
    assert [url for url, _ in posted] == [URL, URL]
    assert posted[0][1]["text"].startswith('*ALARM: "customer-churn-ops-dev-glue-job-failed"*\n')
    assert posted[1][1] == {
        "text": "Glue job raw run jr_1 ended FAILED at 2026-12-01T21:20:00Z: exit 1"
    }


def test_a_refusing_webhook_fails_the_invocation(forwarder) -> None:
    module, _, status, forwarding = forwarder
    status.append(500)
    with pytest.raises(forwarding.WebhookError, match="HTTP 500"):
        module.handler(_sns_event(("", "x")), lambda_context(region=REGION, account="1"))


def test_only_https_is_called_and_an_unreachable_webhook_is_an_error() -> None:
    sys.path.insert(0, str(FUNCTION_DIR))
    try:
        import forwarding
    finally:
        sys.path.remove(str(FUNCTION_DIR))
    with pytest.raises(forwarding.WebhookError, match="not https"):
        forwarding.post_json("http://127.0.0.1:1/hook", b"{}")
    # A closed loopback port: no answer is a failure, never a silent drop.
    with pytest.raises(forwarding.WebhookError, match="did not answer"):
        forwarding.forward([forwarding.Notification("", "x")], "https://127.0.0.1:1/hook")
