"""Acknowledging a cdk-nag finding: always one rule (or finding), always with its reason."""

from __future__ import annotations

from aws_cdk import Acknowledgment, Validations
from constructs import IConstruct


def acknowledge(construct: IConstruct, rule: str, reason: str) -> None:
    """Acknowledge ``rule`` (e.g. ``AwsSolutions-IAM5[Resource::*]``) on ``construct``."""
    Validations.of(construct).acknowledge(Acknowledgment(id=rule, reason=reason))
