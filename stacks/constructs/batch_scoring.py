"""Batch scoring: a SageMaker pipeline that scores curated rows with a registered model
version through batch transform, on demand and on a daily schedule.

PrepareBatch runs as the training pipeline's processing role (it reads curated data and
the registry as Preprocess and Evaluate do; one role for every processing step, so each
step's folder grant, ``prepare-batch/`` included, is every processing step's). The
transform job runs as the model's role, which reads the lines and model archives and
writes only Score's folders. The pipeline role may pass those two roles and start and
create only ``pipelines-*`` jobs and models (Pipelines' names; IAM cannot tell this
pipeline's from another's by name).
"""

from __future__ import annotations

from typing import Any

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from config.layout import RUNS_PREFIX, SubVariable, resource_name
from config.schema import DatasetSchema
from config.settings import StageSettings
from stacks.constructs.batch_definition import build_batch_definition
from stacks.constructs.endpoint import MODEL_ARTIFACTS
from stacks.constructs.nag import acknowledge, object_arn_finding
from stacks.constructs.network import JobNetwork
from stacks.constructs.pipeline_schedule import pipeline_schedule
from stacks.constructs.pipeline_settings import PipelineOptions
from stacks.constructs.sagemaker_access import (
    job_statements,
    pass_role_to_sagemaker,
    sagemaker_principal,
)
from stacks.constructs.training_pipeline import (
    TrainingPipeline,
    network_placeholders,
    placeholder_pipeline,
    vpc_options,
)

DAILY = "cron(0 5 * * ? *)"
RECORDS = f"{RUNS_PREFIX}/*/prepare-batch/records/*"
SCORES = f"{RUNS_PREFIX}/*/score/*"


class BatchScoring(Construct):
    """The batch scoring pipeline (``batch_definition.py``), its roles and schedule."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: StageSettings,
        schema: DatasetSchema,
        key: kms.IKey,
        curated: s3.IBucket,
        artifacts: s3.IBucket,
        training: TrainingPipeline,
        dead_letters: sqs.IQueue,
        network: JobNetwork | None = None,
    ) -> None:
        """``training``: the stage's training pipeline, whose processing role, source
        bundle and model package group the batch pipeline uses."""
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        name = resource_name(settings.name, schema.name, "batch")
        self.pipeline_arn = stack.format_arn(
            service="sagemaker", resource="pipeline", resource_name=name
        )
        self.model_role = iam.Role(
            self,
            "ModelRole",
            # Inference: AWS documents this one form ("*"), as for the endpoint's model.
            assumed_by=sagemaker_principal(self, "*"),
            description=f"Runs the {name} transform jobs' model containers.",
        )
        model_policy = self._grant_model(key=key, artifacts=artifacts, region=settings.region)
        self.pipeline_role = iam.Role(
            self,
            "PipelineRole",
            assumed_by=sagemaker_principal(self, f"pipeline/{name}/*"),
            description="The batch scoring pipeline's service role: starts its jobs.",
        )
        pipeline_policy = self._grant_pipeline(
            name, training=training, key=key, artifacts=artifacts
        )
        vpc_values = network_placeholders(network)
        self.pipeline = placeholder_pipeline(
            self,
            name=name,
            description=(
                f"Scores curated {schema.name} rows with a registered version ({settings.name})."
            ),
            role=self.pipeline_role,
            definition=_definition(settings, schema, vpc_values),
            values={
                **training.placeholder_values(key=key, curated=curated, artifacts=artifacts),
                SubVariable.BATCH_MODEL_ROLE_NAME: self.model_role.role_name,
            },
            vpc_values=vpc_values,
        )
        self.pipeline.node.add_dependency(pipeline_policy, model_policy, training.job_policy)
        self.schedule = pipeline_schedule(
            self,
            "DailyScoring",
            pipeline=self.pipeline,
            pipeline_arn=self.pipeline_arn,
            expression=DAILY,
            # Disabled (not absent) where nobody reads daily scores: one switch to turn on.
            enabled=settings.scheduled_batch_scoring,
            description=f"Scores the curated zone daily with the approved version ({name}).",
            key=key,
            dead_letters=dead_letters,
        )

    def _grant_model(self, *, key: kms.IKey, artifacts: s3.IBucket, region: str) -> iam.Policy:
        """What SageMaker does as the model's role in a transform job: read the model
        archive and the lines, write the scores, pull the image, write the job's logs."""
        logs = Stack.of(self).format_arn(
            service="logs",
            resource="log-group",
            resource_name="/aws/sagemaker/TransformJobs:*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        policy = iam.Policy(
            self,
            "ModelPolicy",
            statements=[
                iam.PolicyStatement(
                    sid="ReadModelAndLines",
                    actions=["s3:GetObject"],
                    resources=[
                        artifacts.arn_for_objects(MODEL_ARTIFACTS),
                        artifacts.arn_for_objects(RECORDS),
                    ],
                ),
                iam.PolicyStatement(
                    # The input is an S3 prefix: SageMaker lists it first.
                    sid="ListLines",
                    actions=["s3:ListBucket"],
                    resources=[artifacts.bucket_arn],
                    conditions={"StringLike": {"s3:prefix": f"{RUNS_PREFIX}/*"}},
                ),
                iam.PolicyStatement(
                    sid="WriteScores",
                    actions=["s3:PutObject", "s3:AbortMultipartUpload"],
                    resources=[artifacts.arn_for_objects(SCORES)],
                ),
                *job_statements(self, region, key, logs),
            ],
        )
        policy.attach_to_role(self.model_role)
        for finding, reason in {
            "Resource::*": "ecr:GetAuthorizationToken supports no resource ARN.",
            object_arn_finding(self, artifacts, MODEL_ARTIFACTS): "The version to score "
            "with is chosen per execution; its model.tar.gz lives under the training "
            "execution that made it.",
            object_arn_finding(self, artifacts, RECORDS): "Each execution's lines go under "
            "its own execution id, decided at run time.",
            object_arn_finding(self, artifacts, SCORES): "Each execution's scores go under "
            "its own execution id, decided at run time.",
            f"Resource::{logs}": "SageMaker names each transform job's log stream.",
        }.items():
            acknowledge(policy, f"AwsSolutions-IAM5[{finding}]", reason)
        return policy

    def _grant_pipeline(
        self, name: str, *, training: TrainingPipeline, key: kms.IKey, artifacts: s3.IBucket
    ) -> iam.Policy:
        """Start and watch this pipeline's jobs, create its models, pass its two roles."""
        stack = Stack.of(self)
        # SageMaker Pipelines names every job it starts "pipelines-<execution>-<step>-...".
        jobs = [
            stack.format_arn(service="sagemaker", resource=kind, resource_name="pipelines-*")
            for kind in ("processing-job", "transform-job")
        ]
        models = stack.format_arn(
            service="sagemaker", resource="model", resource_name="pipelines-*"
        )
        packages = stack.format_arn(
            service="sagemaker",
            resource="model-package",
            resource_name=f"{training.group.model_package_group_name}/*",
        )
        policy = iam.Policy(
            self,
            "PipelinePolicy",
            statements=[
                iam.PolicyStatement(
                    sid="RunJobs",
                    actions=[
                        "sagemaker:CreateProcessingJob",
                        "sagemaker:DescribeProcessingJob",
                        "sagemaker:StopProcessingJob",
                        "sagemaker:CreateTransformJob",
                        "sagemaker:DescribeTransformJob",
                        "sagemaker:StopTransformJob",
                        "sagemaker:AddTags",
                    ],
                    resources=jobs,
                ),
                iam.PolicyStatement(
                    sid="CreateModels",
                    actions=[
                        "sagemaker:CreateModel",
                        "sagemaker:DescribeModel",
                        "sagemaker:AddTags",
                    ],
                    resources=[models],
                ),
                iam.PolicyStatement(
                    # CreateModel from a package reads the package's container.
                    sid="ReadVersions",
                    actions=["sagemaker:DescribeModelPackage"],
                    resources=[packages],
                ),
                pass_role_to_sagemaker(training.job_role, self.model_role),
                iam.PolicyStatement(
                    sid="ReadPropertyFiles",
                    actions=["s3:GetObject"],
                    resources=[
                        artifacts.arn_for_objects(f"{RUNS_PREFIX}/*/prepare-batch/report/*")
                    ],
                ),
                iam.PolicyStatement(
                    sid="DecryptPropertyFiles", actions=["kms:Decrypt"], resources=[key.key_arn]
                ),
            ],
        )
        policy.attach_to_role(self.pipeline_role)
        for finding, reason in {
            **{
                f"Resource::{arn}": "Pipelines names the jobs it starts at run time, always "
                "with the 'pipelines-' prefix."
                for arn in jobs
            },
            f"Resource::{models}": "Pipelines names the model a Model step creates at run "
            "time, with the 'pipelines-' prefix of its jobs.",
            f"Resource::{packages}": "The version to score with is chosen per execution.",
            object_arn_finding(self, artifacts, f"{RUNS_PREFIX}/*/prepare-batch/report/*"): "The "
            "batch report (a property file) lives under the execution's own id.",
        }.items():
            acknowledge(policy, f"AwsSolutions-IAM5[{finding}]", reason)
        return policy


def _definition(
    settings: StageSettings, schema: DatasetSchema, vpc_values: dict[str, str]
) -> dict[str, Any]:
    """The batch pipeline's definition, VPC ids as ``${...}`` placeholders."""
    subnets, groups = vpc_options(vpc_values)
    return build_batch_definition(
        PipelineOptions(
            subnets=subnets,
            security_groups=groups,
            region=settings.region,
            dataset=settings.dataset,
            quality_gate=schema.quality_gate,
            processing_instance_type=settings.processing_instance_type,
        ),
        schema,
    )
