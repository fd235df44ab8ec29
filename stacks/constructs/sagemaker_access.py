"""IAM statements every role that runs SageMaker's XGBoost framework container needs."""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import IConstruct

from stacks.constructs.pipeline_definition import xgboost_image


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


def pass_role_to_sagemaker(role: iam.IRole) -> iam.PolicyStatement:
    """Pass ``role`` to SageMaker jobs, and to nothing else."""
    return iam.PolicyStatement(
        sid="PassJobRole",
        actions=["iam:PassRole"],
        resources=[role.role_arn],
        conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
    )
