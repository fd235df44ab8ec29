"""Acknowledging a cdk-nag finding: always one rule (or finding), always with its reason."""

from __future__ import annotations

import json

from aws_cdk import Acknowledgment, Stack, Validations
from aws_cdk import aws_s3 as s3
from constructs import IConstruct


def acknowledge(construct: IConstruct, rule: str, reason: str) -> None:
    """Acknowledge ``rule`` (e.g. ``AwsSolutions-IAM5[Resource::*]``) on ``construct``."""
    Validations.of(construct).acknowledge(Acknowledgment(id=rule, reason=reason))


# NIST 800-53 rev 5 rules whose finding has one reason wherever it is raised; every other
# NIST finding is fixed or acknowledged on its construct, next to the code it is about.
NIST_APP_WIDE = {
    "NIST.800.53.R5-IAMNoInlinePolicy": "Each policy is written for exactly one role (its "
    "statements name that role's resources) and lives and dies with it; a managed policy "
    "would be the same statements, attachable to other principals by mistake.",
}


def acknowledge_app_wide(scope: IConstruct) -> None:
    """Acknowledge the ``NIST_APP_WIDE`` findings on ``scope`` and everything under it."""
    for rule, reason in NIST_APP_WIDE.items():
        acknowledge(scope, rule, reason)


def object_arn_finding(scope: IConstruct, bucket: s3.IBucket, pattern: str) -> str:
    """How cdk-nag spells ``bucket``'s object ARN ``pattern`` in a finding raised in ``scope``.

    A bucket of the same stack appears as ``<LogicalId.Arn>``; an imported one by its
    export name; any other reference as JSON, as cdk-nag serializes it.
    """
    resource = bucket.node.default_child
    if resource is not None:
        logical_id = Stack.of(bucket).get_logical_id(resource)  # type: ignore[arg-type]
        return f"Resource::<{logical_id}.Arn>/{pattern}"
    reference = Stack.of(scope).resolve(bucket.bucket_arn)
    if isinstance(reference, dict) and isinstance(reference.get("Fn::ImportValue"), str):
        # cdk-nag prints an import by its export name.
        return f"Resource::{reference['Fn::ImportValue']}/{pattern}"
    return f"Resource::{json.dumps(reference, separators=(',', ':'))}/{pattern}"
