"""The stage's notification topic: where operators hear about retrains (and, later, more)."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct


class NotificationTopic(Construct):
    """One SNS topic per stage, encrypted with the stage key, TLS-only, with e-mail
    subscriptions from the stage settings. Other stacks take ``topic`` as an argument."""

    def __init__(
        self, scope: Construct, construct_id: str, *, key: kms.IKey, emails: Sequence[str] = ()
    ) -> None:
        super().__init__(scope, construct_id)
        self.topic = sns.Topic(
            self,
            "Topic",
            display_name="MLOps notifications",
            master_key=key,
            enforce_ssl=True,
        )
        for email in emails:
            self.topic.add_subscription(subscriptions.EmailSubscription(email))
