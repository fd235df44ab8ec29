"""The training pipeline: model package group, SageMaker Pipeline, its roles and schedule."""

from __future__ import annotations

import hashlib
import json
import tempfile
from pathlib import Path
from typing import Any

from aws_cdk import ArnFormat, Fn, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import aws_sagemaker as sagemaker
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from config.layout import CURATED_PREFIX, RUNS_PREFIX, SubVariable, resource_name
from config.schema import DatasetSchema
from config.settings import StageSettings
from stacks.constructs.code_bundle import REPO_ROOT, build_bundle
from stacks.constructs.nag import acknowledge, object_arn_finding
from stacks.constructs.network import JobNetwork
from stacks.constructs.pipeline_definition import build_definition
from stacks.constructs.pipeline_schedule import pipeline_schedule
from stacks.constructs.pipeline_settings import PipelineOptions
from stacks.constructs.sagemaker_access import (
    deny_changing_models,
    job_statements,
    pass_role_to_sagemaker,
    sagemaker_principal,
)
from stacks.constructs.secure_bucket import removal_policy
from stacks.constructs.shared_registry import group_policy

# Where synth writes the bundles before CDK stages them as assets; one folder per checkout.
BUNDLE_DIR = (
    Path(tempfile.gettempdir())
    / f"mlops-bundles-{hashlib.sha256(str(REPO_ROOT).encode()).hexdigest()[:12]}"
)
WEEKLY = "cron(0 3 ? * MON *)"
# Each step writes only its own folder of an execution's run (pipeline_definition.py
# `_run_location`: pipeline-runs/<execution id>/<step>/<output>, or under the expiring
# pipeline-runs/scratch/<execution id>/ for what no model package records: splits,
# checkpoints). The execution id is not known to IAM (one role serves every execution),
# so a step's grant (pipeline-runs/*/<step>/*, either place) covers its folder in every
# run; the Train step's folder (model.tar.gz, checkpoints) is written by the Train role
# alone.
PROCESSING_OUTPUTS = ("preprocess", "baseline", "evaluate", "prepare-batch")
TRAIN_OUTPUTS = "train"


def network_placeholders(network: JobNetwork | None) -> dict[str, str]:
    """``Fn::Sub`` names for VPC mode's ids: VpcSubnet0.., VpcSecurityGroup0.. (none
    without a VPC)."""
    if network is None:
        return {}
    return {
        **{f"VpcSubnet{i}": subnet for i, subnet in enumerate(network.subnet_ids)},
        **{f"VpcSecurityGroup{i}": group for i, group in enumerate(network.security_group_ids)},
    }


def vpc_options(vpc_values: dict[str, str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``PipelineOptions``' subnets and security groups as ``${...}`` placeholders of
    ``network_placeholders``' names (the ids may be tokens)."""
    subnets = tuple(f"${{{name}}}" for name in vpc_values if "Subnet" in name)
    groups = tuple(f"${{{name}}}" for name in vpc_values if "SecurityGroup" in name)
    return subnets, groups


def placeholder_pipeline(
    scope: Construct,
    *,
    name: str,
    description: str,
    role: iam.IRole,
    definition: dict[str, Any],
    values: dict[SubVariable, str],
    vpc_values: dict[str, str],
) -> sagemaker.CfnPipeline:
    """The ``Pipeline`` resource: ``definition`` in ``Fn::Sub`` with the values of the
    placeholders it holds (an unused one is a finding) and the VPC ids."""
    body = json.dumps(definition, sort_keys=True)
    used = {k.value: v for k, v in values.items() if k.ref in body}
    return sagemaker.CfnPipeline(
        scope,
        "Pipeline",
        pipeline_name=name,
        pipeline_display_name=name,
        pipeline_description=description,
        role_arn=role.role_arn,
        pipeline_definition={"PipelineDefinitionBody": Fn.sub(body, {**used, **vpc_values})},
    )


class TrainingPipeline(Construct):
    """Preprocess -> baseline -> train -> evaluate -> gate -> register, on a weekly schedule.

    Jobs run as ``job_role``; the pipeline service runs as ``pipeline_role`` and may pass
    only ``job_role``. Both are scoped to the stage's curated and artifacts buckets, the
    stage's key, this model package group and this pipeline.
    """

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
        dead_letters: sqs.IQueue,
        network: JobNetwork | None = None,
    ) -> None:
        """``dead_letters``: where a weekly start goes that the scheduler could not
        deliver after its retries. ``network``: VPC mode's subnets and security groups
        for every step's job."""
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.source_bundle = s3_assets.Asset(
            self, "SourceBundle", path=str(build_bundle(BUNDLE_DIR))
        )

        self.group = sagemaker.CfnModelPackageGroup(
            self,
            "ModelPackageGroup",
            model_package_group_name=resource_name(settings.name, schema.name, "models"),
            model_package_group_description=(
                f"{schema.name} models trained by the {settings.name} training pipeline."
            ),
            # Shared with the stage (another account) that serves the approved versions.
            model_package_group_policy=None
            if settings.registry_reader is None
            else group_policy(
                self,
                settings.registry_reader,
                resource_name(settings.name, schema.name, "models"),
            ),
        )
        # The registry is the models' lineage (metrics, baselines, approvals).
        self.group.apply_removal_policy(removal_policy(settings))
        pipeline_name = resource_name(settings.name, schema.name, "training")
        self.pipeline_arn = stack.format_arn(
            service="sagemaker", resource="pipeline", resource_name=pipeline_name
        )
        self._roles(pipeline_name)
        self._grant_jobs(key=key, curated=curated, artifacts=artifacts, region=settings.region)
        self._grant_training(key=key, artifacts=artifacts, region=settings.region)
        pipeline_policy = self._grant_pipeline(key=key, artifacts=artifacts)

        vpc_values = network_placeholders(network)
        self.pipeline = placeholder_pipeline(
            self,
            name=pipeline_name,
            description=(
                f"Trains, evaluates and registers the {schema.name} model ({settings.name})."
            ),
            role=self.pipeline_role,
            definition=self._definition(settings, schema, vpc_values),
            values=self.placeholder_values(key=key, curated=curated, artifacts=artifacts),
            vpc_values=vpc_values,
        )
        # Executions started right after deployment need the policy attached already.
        self.pipeline.node.add_dependency(
            pipeline_policy, self.job_policy, self.training_policy, self.group
        )
        self._weekly_schedule(settings, pipeline_name, key=key, dead_letters=dead_letters)

    def _weekly_schedule(
        self,
        settings: StageSettings,
        pipeline_name: str,
        *,
        key: kms.IKey,
        dead_letters: sqs.IQueue,
    ) -> None:
        self.schedule = pipeline_schedule(
            self,
            "WeeklyRetraining",
            pipeline=self.pipeline,
            pipeline_arn=self.pipeline_arn,
            expression=WEEKLY,
            # Disabled (not absent) where the stage retrains only on drift or by hand, so
            # turning it on is one console switch.
            enabled=settings.scheduled_retraining,
            description=f"Retrains the model weekly on the curated zone ({pipeline_name}).",
            key=key,
            dead_letters=dead_letters,
        )

    def _roles(self, pipeline_name: str) -> None:
        """One role per principal: processing jobs, the training job, the pipeline."""
        self.job_role = iam.Role(
            self,
            "JobRole",
            assumed_by=sagemaker_principal(self, "processing-job/*"),
            description="Runs the training pipeline's processing jobs.",
        )
        self.training_role = iam.Role(
            self,
            "TrainingRole",
            assumed_by=sagemaker_principal(self, "training-job/*"),
            description="Runs the training pipeline's training job: the one writer of models.",
        )
        self.pipeline_role = iam.Role(
            self,
            "PipelineRole",
            assumed_by=sagemaker_principal(self, f"pipeline/{pipeline_name}/*"),
            description="The SageMaker Pipelines service role: starts jobs, registers models.",
        )

    @staticmethod
    def _definition(
        settings: StageSettings, schema: DatasetSchema, vpc_values: dict[str, str]
    ) -> dict[str, Any]:
        """The pipeline definition, VPC ids as ``${...}`` placeholders."""
        subnets, groups = vpc_options(vpc_values)
        return build_definition(
            PipelineOptions(
                subnets=subnets,
                security_groups=groups,
                region=settings.region,
                dataset=settings.dataset,
                quality_gate=schema.quality_gate,
                bias_reports=bool(schema.facets),
                spot_training=settings.spot_training,
                training_instance_type=settings.training_instance_type,
                processing_instance_type=settings.processing_instance_type,
            )
        )

    def placeholder_values(
        self, *, key: kms.IKey, curated: s3.IBucket, artifacts: s3.IBucket
    ) -> dict[SubVariable, str]:
        """What CloudFormation substitutes for each of the definition's placeholders."""
        return {
            SubVariable.ARTIFACTS_BUCKET: artifacts.bucket_name,
            SubVariable.CURATED_BUCKET: curated.bucket_name,
            SubVariable.KMS_KEY_ARN: key.key_arn,
            SubVariable.EXECUTION_ROLE_NAME: self.job_role.role_name,
            SubVariable.TRAINING_ROLE_NAME: self.training_role.role_name,
            SubVariable.MODEL_PACKAGE_GROUP: str(self.group.model_package_group_name),
            SubVariable.ASSETS_BUCKET: self.source_bundle.s3_bucket_name,
            SubVariable.SOURCE_BUNDLE_KEY: self.source_bundle.s3_object_key,
            SubVariable.SOURCE_BUNDLE_FILE: self.source_bundle.s3_object_key.rsplit("/", 1)[-1],
        }

    def _code_statements(self) -> list[iam.PolicyStatement]:
        """Read the source bundle (a processing input, or the Train step's code channel)."""
        return [
            iam.PolicyStatement(
                sid="ReadCode",
                actions=["s3:GetObject"],
                resources=[
                    self.source_bundle.bucket.arn_for_objects(self.source_bundle.s3_object_key)
                ],
            ),
            iam.PolicyStatement(
                # An input is an S3 prefix (here one object's key): SageMaker lists it first.
                sid="ListCode",
                actions=["s3:ListBucket"],
                resources=[self.source_bundle.bucket.bucket_arn],
                conditions={"StringEquals": {"s3:prefix": self.source_bundle.s3_object_key}},
            ),
        ]

    def _job_logs(self, kind: str) -> str:
        return Stack.of(self).format_arn(
            service="logs",
            resource="log-group",
            resource_name=f"/aws/sagemaker/{kind}:*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )

    def _grant_jobs(
        self, *, key: kms.IKey, curated: s3.IBucket, artifacts: s3.IBucket, region: str
    ) -> None:
        """Exactly what the processing jobs do: read code, data, runs and the registry;
        write their own steps' folders; never change a model artifact."""
        runs = artifacts.arn_for_objects(f"{RUNS_PREFIX}/*")
        step_outputs = [
            artifacts.arn_for_objects(f"{RUNS_PREFIX}/*/{step}/*") for step in PROCESSING_OUTPUTS
        ]
        # The Train step's model output (pipeline_definition.py: train/model). Not
        # train/*: IAM's "*" spans "/", and Preprocess writes its own .../preprocess/train/
        # split, which that pattern would deny too.
        train_outputs = artifacts.arn_for_objects(f"{RUNS_PREFIX}/*/{TRAIN_OUTPUTS}/model/*")
        job_logs = self._job_logs("ProcessingJobs")
        statements = [
            *self._code_statements(),
            iam.PolicyStatement(
                sid="ListData",
                actions=["s3:ListBucket"],
                resources=[curated.bucket_arn, artifacts.bucket_arn],
            ),
            iam.PolicyStatement(
                sid="ReadCurated",
                actions=["s3:GetObject"],
                resources=[curated.arn_for_objects(f"{CURATED_PREFIX}*")],
            ),
            iam.PolicyStatement(
                # Baseline reads Preprocess's outputs; Evaluate the candidate's and the
                # approved version's model.tar.gz.
                sid="ReadRuns",
                actions=["s3:GetObject"],
                resources=[runs],
            ),
            iam.PolicyStatement(
                sid="WriteStepOutputs",
                actions=["s3:PutObject", "s3:AbortMultipartUpload"],
                resources=step_outputs,
            ),
            deny_changing_models([train_outputs, artifacts.arn_for_objects("*/model.tar.gz")]),
            *job_statements(self, region, key, job_logs),
            iam.PolicyStatement(
                sid="ReadApprovedModel",
                actions=["sagemaker:DescribeModelPackage"],
                resources=[self._package_arns()],
            ),
            iam.PolicyStatement(
                sid="ListModelPackages",
                actions=["sagemaker:ListModelPackages"],
                resources=["*"],  # ListModelPackages supports no resource ARN
            ),
        ]
        policy = iam.Policy(self, "JobPolicy", statements=statements)
        policy.attach_to_role(self.job_role)
        self.job_policy = policy
        for finding, reason in {
            "Resource::*": "ecr:GetAuthorizationToken and sagemaker:ListModelPackages support "
            "no resource ARN.",
            object_arn_finding(self, artifacts, f"{RUNS_PREFIX}/*"): "Evaluate reads the "
            "approved version's model, which lives under an earlier execution's id.",
            **{
                object_arn_finding(self, artifacts, f"{RUNS_PREFIX}/*/{step}/*"): "Each "
                "execution writes under its own execution id, unknown until run time; each "
                "step only into its own folder."
                for step in PROCESSING_OUTPUTS
            },
            object_arn_finding(self, curated, f"{CURATED_PREFIX}*"): "Preprocessing reads "
            "the whole curated snapshot, whose object keys the Glue job chooses.",
            f"Resource::{job_logs}": "SageMaker names each job's log stream after the job.",
            f"Resource::{self._package_arns()}": "Versions of this one model package group are "
            "created at run time.",
        }.items():
            acknowledge(policy, f"AwsSolutions-IAM5[{finding}]", reason)

    def _grant_training(self, *, key: kms.IKey, artifacts: s3.IBucket, region: str) -> None:
        """Exactly what the training job does: read code and the splits, write its model
        (and spot checkpoints) into the Train step's folder. Its container is network
        isolated: only SageMaker itself uses these permissions, never the script."""
        splits = artifacts.arn_for_objects(f"{RUNS_PREFIX}/*/preprocess/*")
        outputs = artifacts.arn_for_objects(f"{RUNS_PREFIX}/*/{TRAIN_OUTPUTS}/*")
        job_logs = self._job_logs("TrainingJobs")
        statements = [
            *self._code_statements(),
            iam.PolicyStatement(
                sid="ListRuns",
                actions=["s3:ListBucket"],
                resources=[artifacts.bucket_arn],
                conditions={"StringLike": {"s3:prefix": f"{RUNS_PREFIX}/*"}},
            ),
            iam.PolicyStatement(sid="ReadSplits", actions=["s3:GetObject"], resources=[splits]),
            iam.PolicyStatement(
                # GetObject: a spot job resumes from its checkpoints.
                sid="WriteModel",
                actions=["s3:PutObject", "s3:AbortMultipartUpload", "s3:GetObject"],
                resources=[outputs],
            ),
            *job_statements(self, region, key, job_logs),
        ]
        policy = iam.Policy(self, "TrainingPolicy", statements=statements)
        policy.attach_to_role(self.training_role)
        self.training_policy = policy
        for finding, reason in {
            "Resource::*": "ecr:GetAuthorizationToken supports no resource ARN.",
            object_arn_finding(self, artifacts, f"{RUNS_PREFIX}/*/preprocess/*"): "The "
            "splits live under the execution's own id, unknown until run time.",
            object_arn_finding(self, artifacts, f"{RUNS_PREFIX}/*/{TRAIN_OUTPUTS}/*"): "The "
            "model goes under the execution's id and the job's name, both decided at run time.",
            f"Resource::{job_logs}": "SageMaker names each job's log stream after the job.",
        }.items():
            acknowledge(policy, f"AwsSolutions-IAM5[{finding}]", reason)

    def _package_arns(self) -> str:
        return Stack.of(self).format_arn(
            service="sagemaker",
            resource="model-package",
            resource_name=f"{self.group.model_package_group_name}/*",
        )

    def _grant_pipeline(self, *, key: kms.IKey, artifacts: s3.IBucket) -> iam.Policy:
        """Start and watch this pipeline's jobs, pass the job role, register into the group."""
        stack = Stack.of(self)
        # SageMaker Pipelines names every job it starts "pipelines-<execution>-<step>-...".
        jobs = [
            stack.format_arn(service="sagemaker", resource=kind, resource_name="pipelines-*")
            for kind in ("processing-job", "training-job")
        ]
        group_arn = stack.format_arn(
            service="sagemaker",
            resource="model-package-group",
            resource_name=self.group.model_package_group_name,
        )
        statements = [
            iam.PolicyStatement(
                sid="RunJobs",
                actions=[
                    "sagemaker:CreateProcessingJob",
                    "sagemaker:DescribeProcessingJob",
                    "sagemaker:StopProcessingJob",
                    "sagemaker:CreateTrainingJob",
                    "sagemaker:DescribeTrainingJob",
                    "sagemaker:StopTrainingJob",
                    "sagemaker:AddTags",
                ],
                resources=jobs,
            ),
            iam.PolicyStatement(
                sid="Register",
                actions=["sagemaker:CreateModelPackage", "sagemaker:AddTags"],
                resources=[group_arn, self._package_arns()],
            ),
            pass_role_to_sagemaker(self.job_role, self.training_role),
            iam.PolicyStatement(
                sid="ReadPropertyFiles",
                actions=["s3:GetObject"],
                resources=[artifacts.arn_for_objects(f"{RUNS_PREFIX}/*/evaluate/*")],
            ),
            iam.PolicyStatement(
                sid="DecryptPropertyFiles", actions=["kms:Decrypt"], resources=[key.key_arn]
            ),
        ]
        policy = iam.Policy(self, "PipelinePolicy", statements=statements)
        policy.attach_to_role(self.pipeline_role)
        for finding, reason in {
            **{
                f"Resource::{arn}": "Pipelines names the jobs it starts at run time, always "
                "with the 'pipelines-' prefix."
                for arn in jobs
            },
            f"Resource::{self._package_arns()}": "Each registration creates a new version of "
            "this one group.",
            object_arn_finding(self, artifacts, f"{RUNS_PREFIX}/*/evaluate/*"): "The "
            "evaluation report (a property file) lives under the execution's own id.",
        }.items():
            acknowledge(policy, f"AwsSolutions-IAM5[{finding}]", reason)
        return policy
