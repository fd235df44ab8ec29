"""One model registry for two stages: what the stage that trains shares (its model
package group, the registered artifacts, its key) and what the stage that serves its
approved models may read. Both ends are built here, so the two sides cannot drift apart.

Only registered artifacts are shared: ``pipeline-runs/<execution>/...`` (model archives
and the baselines a package names), never the runs' scratch, the lake's data or capture.
Readers are the serving stage's endpoint and monitor roles, named by the stack they
belong to (CloudFormation names a role ``<stack>-<logical id>-<suffix>``), in its account.
"""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from config.layout import RUN_SCRATCH_PREFIX, RUNS_PREFIX
from config.settings import RegistryLink

# The stacks of the serving stage whose roles read the registry (endpoint, monitor).
READER_STACKS = ("Serving", "Monitoring")
# Model archives and baselines live under the execution's id; scratch is excluded below.
REGISTERED = f"{RUNS_PREFIX}/*"
# Registry reads a model deployment and the monitor make (SageMaker developer guide,
# "Cross-account model registry": describe and list, plus CreateModel's own check).
REGISTRY_READS = [
    "sagemaker:DescribeModelPackageGroup",
    "sagemaker:DescribeModelPackage",
    "sagemaker:ListModelPackages",
]


def group_reference(scope: Construct, link: RegistryLink, group: str) -> str:
    """How a reader names ``link``'s ``group``: its ARN in another account (the registry
    APIs take either), its name in its own."""
    stack = Stack.of(scope)
    if link.account == stack.account:
        return group
    return stack.format_arn(
        service="sagemaker",
        account=link.account,
        resource="model-package-group",
        resource_name=group,
    )


def package_arns(scope: Construct, link: RegistryLink, group: str) -> str:
    """Every version of ``link``'s ``group`` (its versions are created at run time)."""
    return Stack.of(scope).format_arn(
        service="sagemaker",
        account=link.account,
        resource="model-package",
        resource_name=f"{group}/*",
    )


def reader_principal_arns(reader: RegistryLink) -> list[str]:
    """Role ARN patterns of the reader stage's endpoint and monitor roles."""
    return [
        f"arn:aws:iam::{reader.account}:role/{reader.stage}-{stack}-*" for stack in READER_STACKS
    ]


def _reader_conditions(reader: RegistryLink) -> dict[str, dict[str, object]]:
    return {
        "StringEquals": {"aws:PrincipalAccount": reader.account},
        "ArnLike": {"aws:PrincipalArn": reader_principal_arns(reader)},
    }


def group_policy(scope: Construct, reader: RegistryLink, group: str) -> dict[str, object]:
    """The model package group's resource policy: ``reader``'s account may read the group
    and its versions (CreateModel from a version checks these on the caller)."""
    stack = Stack.of(scope)
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ShareApprovedModels",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{reader.account}:root"},
                "Action": REGISTRY_READS,
                "Resource": [
                    stack.format_arn(
                        service="sagemaker", resource="model-package-group", resource_name=group
                    ),
                    stack.format_arn(
                        service="sagemaker", resource="model-package", resource_name=f"{group}/*"
                    ),
                ],
            }
        ],
    }


def share_artifacts(
    *, reader: RegistryLink, artifacts: s3.IBucket, key: kms.IKey, region: str
) -> None:
    """Let ``reader``'s endpoint and monitor roles read the registered artifacts: the
    bucket policy names the prefix (scratch excluded); the key policy allows decryption
    through S3 only. S3 asks the key only for objects these roles may get, and only this
    bucket's policy admits them (naming the bucket in the key policy would make the key
    and the bucket refer to each other; with S3 Bucket Keys the key could not tell the
    prefixes apart anyway)."""
    principal = iam.AccountPrincipal(reader.account)
    conditions = _reader_conditions(reader)
    artifacts.add_to_resource_policy(
        iam.PolicyStatement(
            sid="ShareRegisteredModels",
            principals=[principal],
            actions=["s3:GetObject"],
            resources=[artifacts.arn_for_objects(REGISTERED)],
            conditions=conditions,
        )
    )
    artifacts.add_to_resource_policy(
        iam.PolicyStatement(
            sid="NeverShareRunScratch",
            effect=iam.Effect.DENY,
            principals=[principal],
            actions=["s3:GetObject"],
            resources=[artifacts.arn_for_objects(f"{RUN_SCRATCH_PREFIX}/*")],
        )
    )
    key.add_to_resource_policy(
        iam.PolicyStatement(
            sid="ShareRegisteredModelsKey",
            principals=[principal],
            actions=["kms:Decrypt"],
            resources=["*"],  # in a key policy, "*" means this key
            conditions={
                **conditions,
                "StringEquals": {
                    **conditions["StringEquals"],
                    "kms:ViaService": f"s3.{region}.amazonaws.com",
                },
            },
        )
    )


def _artifact_objects() -> str:
    return f"arn:aws:s3:::*/{REGISTERED}"


def _source_keys(source: RegistryLink, region: str) -> str:
    return f"arn:aws:kms:{region}:{source.account}:key/*"


def reader_statements(source: RegistryLink, region: str) -> list[iam.PolicyStatement]:
    """What a serving stage's role needs to read ``source``'s registered artifacts:
    the registry, objects under the registered prefix of that account's buckets (the
    bucket's name is generated there), and decryption through S3 with that account's
    keys. The source side's bucket and key policies narrow it to its artifacts bucket."""
    return [
        iam.PolicyStatement(
            sid="ReadRegisteredArtifacts",
            actions=["s3:GetObject"],
            resources=[_artifact_objects()],
            conditions={"StringEquals": {"s3:ResourceAccount": source.account}},
        ),
        iam.PolicyStatement(
            sid="DecryptRegisteredArtifacts",
            actions=["kms:Decrypt"],
            resources=[_source_keys(source, region)],
            conditions={"StringEquals": {"kms:ViaService": f"s3.{region}.amazonaws.com"}},
        ),
    ]


def reader_findings(source: RegistryLink, region: str) -> dict[str, str]:
    """cdk-nag's findings on ``reader_statements`` (as ``Resource::<arn>``), with why."""
    return {
        f"Resource::{_artifact_objects()}": "The source stage's artifacts bucket is named by "
        "CloudFormation in its account; the statement is limited to that account "
        "(s3:ResourceAccount) and the registered prefix, and that bucket's policy admits "
        "these roles only.",
        f"Resource::{_source_keys(source, region)}": "The source stage's key is created in "
        "its account; decryption only through S3 (kms:ViaService), and that key's policy "
        "admits these roles only.",
    }
