"""IAM statements every role that runs SageMaker's XGBoost framework container needs."""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from constructs import IConstruct

from stacks.constructs.pipeline_definition import xgboost_image


def framework_image_statements(scope: IConstruct, region: str) -> list[iam.PolicyStatement]:
    """Pull the XGBoost framework image (its registry's account differs by region)."""
    stack = Stack.of(scope)
    image_account = xgboost_image(region).split(".", 1)[0]
    return [
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
