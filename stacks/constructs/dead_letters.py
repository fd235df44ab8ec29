"""A dead-letter queue for event deliveries that failed all their retries."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from stacks.constructs.nag import acknowledge


class DeadLetterQueue(Construct):
    """SQS, encrypted with the stage key, TLS-only, kept 14 days (SQS's longest) so an
    operator can read what was not delivered and redrive it."""

    def __init__(self, scope: Construct, construct_id: str, *, key: kms.IKey) -> None:
        super().__init__(scope, construct_id)
        self.queue = sqs.Queue(
            self,
            "Queue",
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=key,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        acknowledge(
            self.queue,
            "AwsSolutions-SQS3",
            "This queue is itself a dead-letter queue (of rule and schedule targets and "
            "of the retrain and monitor launcher functions' asynchronous invocations).",
        )


def dead_letter_statements(queue: sqs.IQueue, key: kms.IKey) -> list[iam.PolicyStatement]:
    """What a role that delivers to ``queue`` needs: send, and the stage key the queue is
    encrypted with (SQS asks for a data key with the sender's credentials)."""
    return [
        iam.PolicyStatement(
            sid="DeadLetters", actions=["sqs:SendMessage"], resources=[queue.queue_arn]
        ),
        iam.PolicyStatement(
            sid="EncryptDeadLetters",
            actions=["kms:GenerateDataKey", "kms:Decrypt"],
            resources=[key.key_arn],
        ),
    ]
