"""An optional chat subscription of the stage topic: SNS -> a Powertools Lambda that posts
each message to a chat webhook (Slack, Microsoft Teams, ...). Runtime code:
``lambda/notification_forwarder/``.

The webhook URL is a credential (whoever holds it can post to the channel): it sits in a
Secrets Manager secret encrypted with the stage key, which the function reads at run time;
the function's environment holds the secret's ARN only.
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Duration, RemovalPolicy, SecretValue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from stacks.constructs.nag import acknowledge
from stacks.constructs.powertools_function import powertools_function

FUNCTION_DIR = Path(__file__).resolve().parents[2] / "lambda" / "notification_forwarder"
METRICS_NAMESPACE = "MLOps/Notifications"


class NotificationForwarder(Construct):
    """``topic``'s messages forwarded to ``webhook_url`` (kept in ``secret``); failed
    invocations, after Lambda's retries, land in ``dead_letters``."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        topic: sns.ITopic,
        webhook_url: str,
        key: kms.IKey,
        dead_letters: sqs.IQueue,
        log_retention: logs.RetentionDays,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        self.secret = secretsmanager.Secret(
            self,
            "WebhookUrl",
            description="The chat webhook the stage's notifications are forwarded to.",
            secret_string_value=SecretValue.unsafe_plain_text(webhook_url),
            encryption_key=key,
            removal_policy=removal_policy,
        )
        for rule in ("AwsSolutions-SMG4", "NIST.800.53.R5-SecretsManagerRotationEnabled"):
            acknowledge(
                self.secret,
                rule,
                "A webhook URL is issued by the chat service; rotating it means issuing a new "
                "one there and redeploying with it (docs/operations.md), not a Lambda rotation.",
            )
        self.function, self.role = powertools_function(
            self,
            description="Forwards the stage's notifications to the chat webhook (Powertools).",
            role_description="Notification forwarder: reads the webhook secret, posts to it.",
            code=lambda_.Code.from_asset(
                str(FUNCTION_DIR), exclude=["__pycache__", "*.pyc", "requirements.txt"]
            ),
            statements=[
                iam.PolicyStatement(
                    sid="ReadWebhookSecret",
                    actions=["secretsmanager:GetSecretValue"],
                    resources=[self.secret.secret_arn],
                ),
                iam.PolicyStatement(
                    # The secret and the dead-letter queue are encrypted with the stage key.
                    sid="UseStageKey",
                    actions=["kms:Decrypt", "kms:GenerateDataKey"],
                    resources=[key.key_arn],
                ),
            ],
            key=key,
            dead_letters=dead_letters,
            service_name="notification-forwarder",
            metrics_namespace=METRICS_NAMESPACE,
            environment={"WEBHOOK_SECRET": self.secret.secret_arn},
            timeout=Duration.seconds(30),
            log_retention=log_retention,
            removal_policy=removal_policy,
        )
        # SNS invokes asynchronously; the permission is for this topic only (SourceArn).
        topic.add_subscription(subscriptions.LambdaSubscription(self.function))
