"""IAM for roles that SageMaker assumes: who may assume them, and what every role that runs
SageMaker's XGBoost framework container needs."""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import IConstruct

from stacks.constructs.pipeline_sdk import xgboost_image


def container_statements(
    scope: IConstruct, region: str, volume_key: kms.IKey
) -> list[iam.PolicyStatement]:
    """Pull the XGBoost framework image (its registry's account differs by region) and
    let EBS use ``volume_key`` for the instances' encrypted volumes."""
    stack = Stack.of(scope)
    image_account = xgboost_image(region).split(".", 1)[0]
    return [
        iam.PolicyStatement(
            sid="GrantKeyToVolumes",
            actions=["kms:CreateGrant"],
            resources=[volume_key.key_arn],
            conditions={"Bool": {"kms:GrantIsForAWSResource": "true"}},
        ),
        iam.PolicyStatement(
            sid="PullFrameworkImage",
            actions=[
                "ecr:BatchGetImage",
                "ecr:GetDownloadUrlForLayer",
                "ecr:BatchCheckLayerAvailability",
            ],
            resources=[
                f"arn:{stack.partition}:ecr:{region}:{image_account}:repository/sagemaker-xgboost"
            ],
        ),
        iam.PolicyStatement(
            sid="EcrLogin",
            actions=["ecr:GetAuthorizationToken"],
            resources=["*"],  # GetAuthorizationToken supports no resource ARN
        ),
    ]


def job_statements(
    scope: IConstruct, region: str, key: kms.IKey, job_logs: str
) -> list[iam.PolicyStatement]:
    """What every role of a SageMaker job running the XGBoost image needs, whatever the
    job does: the stage key for the data it reads and writes, the image and the volumes
    (``container_statements``), and its own log streams (``job_logs``: its log group's
    ARN pattern)."""
    return [
        iam.PolicyStatement(
            sid="UseStageKey",
            actions=["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"],
            resources=[key.key_arn],
        ),
        *container_statements(scope, region, key),
        iam.PolicyStatement(
            sid="JobLogs",
            actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
            resources=[job_logs],
        ),
    ]


def pass_role_to_sagemaker(*roles: iam.IRole) -> iam.PolicyStatement:
    """Pass ``roles`` to SageMaker jobs, and to nothing else."""
    return iam.PolicyStatement(
        sid="PassJobRole",
        actions=["iam:PassRole"],
        resources=[role.role_arn for role in roles],
        conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
    )


def sagemaker_principal(scope: IConstruct, *resources: str) -> iam.ServicePrincipal:
    """``sagemaker.amazonaws.com``, only on behalf of this account's SageMaker ``resources``
    in this region (ARN resource parts such as ``"training-job/*"``): the confused-deputy
    conditions of AWS's "Cross-service confused deputy prevention" page for SageMaker AI,
    which names ``training-job/*``, ``processing-job/*``, ``pipeline/<name>/*`` and, for
    inference, ``*`` (models and endpoints: "the ARN must be in the format provided")."""
    stack = Stack.of(scope)
    return iam.ServicePrincipal(
        "sagemaker.amazonaws.com",
        conditions={
            "StringEquals": {"aws:SourceAccount": stack.account},
            "ArnLike": {
                "aws:SourceArn": [
                    f"arn:{stack.partition}:sagemaker:{stack.region}:{stack.account}:{resource}"
                    for resource in resources
                ]
            },
        },
    )


def deny_changing_models(bucket_object_arns: list[str]) -> iam.PolicyStatement:
    """An explicit Deny: no overwrite, delete or retag of ``model.tar.gz`` objects (the
    artifacts registered model versions point at), whatever else a policy allows."""
    return iam.PolicyStatement(
        sid="RegisteredModelsAreImmutable",
        effect=iam.Effect.DENY,
        actions=[
            "s3:PutObject",
            "s3:DeleteObject",
            "s3:DeleteObjectVersion",
            "s3:PutObjectTagging",
            "s3:PutObjectAcl",
        ],
        resources=bucket_object_arns,
    )
