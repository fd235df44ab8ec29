"""The scheduled monitor: EventBridge Scheduler -> monitor launcher -> CreateProcessingJob.

The job runs ``monitoring/monitor.py`` from the training source bundle in SageMaker's
XGBoost framework image, with the same bash launcher the pipeline's processing steps use
(``PROCESSING_LAUNCHER``). The schedule invokes the monitor launcher Lambda
(``stacks/constructs/monitor_launcher.py``) with its context attributes; the launcher
starts the job this construct renders (``request``, the one definition of it) only when
capture or ground truth arrived since the monitor's checkpoint, so an idle endpoint
starts no job. Each run's job is named after its scheduled time (``RUN_TOKEN``), the
same for every retry of that run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from aws_cdk import ArnFormat, Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from config.layout import (
    DATA_CAPTURE_PREFIX,
    FEEDBACK_PREFIX,
    GROUND_TRUTH_PREFIX,
    MONITORING_PREFIX,
    RUNS_PREFIX,
)
from config.settings import RegistryLink
from stacks.constructs.dead_letters import dead_letter_statements
from stacks.constructs.monitor_launcher import RUN_TOKEN, MonitorLauncher
from stacks.constructs.nag import acknowledge, object_arn_finding
from stacks.constructs.network import JobNetwork
from stacks.constructs.pipeline_settings import CODE_DIR, PROCESSING, PROCESSING_LAUNCHER
from stacks.constructs.sagemaker_access import job_statements
from stacks.constructs.shared_registry import (
    group_reference,
    reader_findings,
    reader_statements,
)
from stacks.constructs.shared_registry import package_arns as shared_package_arns

# What the schedule sends the launcher: Scheduler fills in its context attributes.
SCHEDULED_RUN = {
    "scheduled_time": "<aws.scheduler.scheduled-time>",
    "schedule_arn": "<aws.scheduler.schedule-arn>",
    "execution_id": "<aws.scheduler.execution-id>",
    "attempt": "<aws.scheduler.attempt-number>",
}
OUTPUT_DIR = f"{PROCESSING}/output"
# Every namespace the monitor publishes to (Model Monitor's names and the project's own).
METRIC_NAMESPACES = (
    "MLOps/Monitoring",
    "aws/sagemaker/Endpoints/data-metrics",
    "aws/sagemaker/Endpoints/model-metrics",
    "aws/sagemaker/Endpoints/bias-metrics",
)


@dataclass(frozen=True, kw_only=True)
class MonitorTarget:
    """What the monitor watches and where it keeps its state."""

    endpoint_name: str
    model_package_group: str
    schema_file: str  # inside the source bundle, e.g. config/datasets/churn.json
    schedule_name: str
    # The stage whose registry the endpoint serves from, when not this one's: the group
    # (``model_package_group`` is then that stage's) and its baselines are read there.
    registry_source: RegistryLink | None = None


class _JobObjects(NamedTuple):
    """Key patterns of the objects the monitor job reads or writes."""

    capture: str
    truth: str
    state: str
    reports: str
    baselines: str
    feedback: str


class MonitorSchedule(Construct):
    """A schedule (``rate(<every> minutes)``) that invokes the monitor launcher, which
    starts one monitor processing job per run that has new data (retry policies and an
    encrypted dead-letter queue on both hops); the job's role reads capture, ground truth,
    baselines and the registry, writes state, reports and feedback, and publishes the
    monitor's metrics, nothing else."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        target: MonitorTarget,
        key: kms.IKey,
        artifacts: s3.IBucket,
        raw: s3.IBucket,
        source_bundle: s3_assets.Asset,
        image_uri: str,
        every_minutes: int,
        instance_type: str,
        dead_letters: sqs.IQueue,
        launcher_code_dir: Path,
        log_retention: logs.RetentionDays = logs.RetentionDays.ONE_MONTH,
        removal_policy: RemovalPolicy = RemovalPolicy.DESTROY,
        network: JobNetwork | None = None,
    ) -> None:
        """``network``: VPC mode's subnets and security groups for the monitor job."""
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.target = target
        endpoint = target.endpoint_name
        monitoring = f"{MONITORING_PREFIX}/{endpoint}"
        # 40 + "-" + the run id (YYYYmmddTHHMMSSZ, 16) stays within SageMaker's 63.
        self.job_prefix = f"{target.schedule_name}"[:40].rstrip("-")
        self.schedule_arn = stack.format_arn(
            service="scheduler",
            resource="schedule",
            resource_name=f"default/{target.schedule_name}",
        )
        # A run must end before the next one starts.
        self.max_runtime = Duration.minutes(every_minutes).to_seconds() - 60

        self.job_role = self._job_role()
        self._grant_job(
            key=key, artifacts=artifacts, raw=raw, source_bundle=source_bundle, region=stack.region
        )

        checkpoint_key = f"{monitoring}/state/checkpoint.json"
        self.request = self._job_request(
            key=key,
            artifacts=artifacts,
            source_bundle=source_bundle,
            image_uri=image_uri,
            instance_type=instance_type,
            network=network,
            arguments=self._monitor_arguments(artifacts, raw, checkpoint_key),
        )

        self.launcher = MonitorLauncher(
            self,
            "Launcher",
            request=stack.to_json_string(self.request),
            job_prefix=self.job_prefix,
            job_role=self.job_role,
            artifacts=artifacts,
            list_prefixes=[
                f"{DATA_CAPTURE_PREFIX}/{endpoint}/",
                f"{GROUND_TRUTH_PREFIX}/{endpoint}/",
            ],
            checkpoint_key=checkpoint_key,
            key=key,
            dead_letters=dead_letters,
            code_dir=launcher_code_dir,
            log_retention=log_retention,
            removal_policy=removal_policy,
        )

        self._schedule(every_minutes=every_minutes, key=key, dead_letters=dead_letters)

    def _job_role(self) -> iam.Role:
        """The role the monitor job runs as."""
        stack = Stack.of(self)
        endpoint = self.target.endpoint_name
        return iam.Role(
            self,
            "JobRole",
            assumed_by=iam.ServicePrincipal(
                "sagemaker.amazonaws.com",
                # SageMaker resources of this account and region only (confused deputy).
                conditions={
                    "StringEquals": {"aws:SourceAccount": stack.account},
                    "ArnLike": {
                        "aws:SourceArn": f"arn:{stack.partition}:sagemaker:{stack.region}:"
                        f"{stack.account}:*"
                    },
                },
            ),
            description=f"Runs the monitor of {endpoint}.",
        )

    def _monitor_arguments(
        self, artifacts: s3.IBucket, raw: s3.IBucket, checkpoint_key: str
    ) -> list[str]:
        """monitor.py's command line: where it reads, keeps its state and writes."""
        target = self.target
        endpoint = target.endpoint_name
        return [
            "monitoring/monitor.py",
            "--schema",
            target.schema_file,
            "--capture-uri",
            f"s3://{artifacts.bucket_name}/{DATA_CAPTURE_PREFIX}/{endpoint}/",
            "--ground-truth-uri",
            f"s3://{artifacts.bucket_name}/{GROUND_TRUTH_PREFIX}/{endpoint}/",
            "--state-uri",
            f"s3://{artifacts.bucket_name}/{checkpoint_key}",
            "--model-package-group",
            target.model_package_group
            if target.registry_source is None
            else group_reference(self, target.registry_source, target.model_package_group),
            "--endpoint-name",
            endpoint,
            "--schedule-name",
            target.schedule_name,
            "--feedback-uri",
            f"s3://{raw.bucket_name}/{FEEDBACK_PREFIX}",
            "--output",
            OUTPUT_DIR,
        ]

    def _job_request(
        self,
        *,
        key: kms.IKey,
        artifacts: s3.IBucket,
        source_bundle: s3_assets.Asset,
        image_uri: str,
        instance_type: str,
        network: JobNetwork | None,
        arguments: list[str],
    ) -> dict[str, object]:
        """The CreateProcessingJob request the launcher sends, one job name per run."""
        stack = Stack.of(self)
        monitoring = f"{MONITORING_PREFIX}/{self.target.endpoint_name}"
        job_name = f"{self.job_prefix}-{RUN_TOKEN}"
        return {
            "ProcessingJobName": job_name,
            "RoleArn": self.job_role.role_arn,
            "AppSpecification": {
                "ImageUri": image_uri,
                "ContainerEntrypoint": ["/bin/bash", "-c", PROCESSING_LAUNCHER],
                "ContainerArguments": arguments,
            },
            "Environment": {"AWS_DEFAULT_REGION": stack.region},
            "ProcessingInputs": [
                {
                    "InputName": "code",
                    "S3Input": {
                        "S3Uri": source_bundle.s3_object_url,
                        "LocalPath": CODE_DIR,
                        "S3DataType": "S3Prefix",
                        "S3InputMode": "File",
                        "S3DataDistributionType": "FullyReplicated",
                    },
                }
            ],
            "ProcessingOutputConfig": {
                "KmsKeyId": key.key_arn,
                "Outputs": [
                    {
                        "OutputName": "reports",
                        "S3Output": {
                            # One folder per run, named like the job.
                            "S3Uri": f"s3://{artifacts.bucket_name}/{monitoring}/reports/"
                            f"{job_name}/",
                            "LocalPath": OUTPUT_DIR,
                            "S3UploadMode": "EndOfJob",
                        },
                    }
                ],
            },
            "ProcessingResources": {
                "ClusterConfig": {
                    "InstanceCount": 1,
                    "InstanceType": instance_type,
                    "VolumeSizeInGB": 30,
                    "VolumeKmsKeyId": key.key_arn,
                }
            },
            "StoppingCondition": {"MaxRuntimeInSeconds": self.max_runtime},
            # Not network isolated: the monitor itself reads S3 and the registry and
            # publishes metrics with boto3 (monitoring/monitor.py), so it needs credentials
            # and a route to those APIs (in VPC mode: the stage's endpoints only).
            "NetworkConfig": {
                "EnableNetworkIsolation": False,
                **({} if network is None else {"VpcConfig": network.vpc_config()}),
            },
        }

    def _schedule(self, *, every_minutes: int, key: kms.IKey, dead_letters: sqs.IQueue) -> None:
        """The EventBridge Scheduler schedule that invokes the launcher, and its role."""
        stack = Stack.of(self)
        endpoint = self.target.endpoint_name
        target = self.target
        schedule_role = iam.Role(
            self,
            "ScheduleRole",
            # Only this schedule of this account may use the role (confused deputy).
            assumed_by=iam.ServicePrincipal(
                "scheduler.amazonaws.com",
                conditions={
                    "StringEquals": {
                        "aws:SourceAccount": stack.account,
                        "aws:SourceArn": self.schedule_arn,
                    }
                },
            ),
            description=f"Invokes the monitor launcher of {endpoint} every {every_minutes} "
            "minutes.",
        )
        schedule_policy = iam.Policy(
            self,
            "SchedulePolicy",
            statements=[
                iam.PolicyStatement(
                    sid="InvokeLauncher",
                    actions=["lambda:InvokeFunction"],
                    resources=[self.launcher.function.function_arn],
                ),
                *dead_letter_statements(dead_letters, key),
            ],
        )
        schedule_policy.attach_to_role(schedule_role)
        self.schedule = scheduler.CfnSchedule(
            self,
            "Schedule",
            name=target.schedule_name,
            description=f"Runs the drift and quality monitor of {endpoint} when there is new data.",
            schedule_expression=f"rate({every_minutes} minutes)",
            flexible_time_window=scheduler.CfnSchedule.FlexibleTimeWindowProperty(mode="OFF"),
            target=scheduler.CfnSchedule.TargetProperty(
                arn=self.launcher.function.function_arn,
                role_arn=schedule_role.role_arn,
                input=stack.to_json_string(SCHEDULED_RUN),
                retry_policy=scheduler.CfnSchedule.RetryPolicyProperty(
                    # A run retried after its window is just a late run; the next one
                    # reads the same checkpoint, so nothing is lost by giving up.
                    maximum_event_age_in_seconds=self.max_runtime,
                    maximum_retry_attempts=3,
                ),
                dead_letter_config=scheduler.CfnSchedule.DeadLetterConfigProperty(
                    arn=dead_letters.queue_arn
                ),
            ),
        )
        self.schedule.node.add_dependency(schedule_policy, self.job_policy)

    def _data_statements(
        self,
        artifacts: s3.IBucket,
        raw: s3.IBucket,
        source_bundle: s3_assets.Asset,
        objects: _JobObjects,
    ) -> list[iam.PolicyStatement]:
        """The code the job runs, the data it reads, and the objects it writes."""
        endpoint = self.target.endpoint_name
        capture, truth, state, reports, baselines, feedback = objects
        return [
            iam.PolicyStatement(
                sid="ReadCode",
                actions=["s3:GetObject"],
                resources=[source_bundle.bucket.arn_for_objects(source_bundle.s3_object_key)],
            ),
            iam.PolicyStatement(
                sid="ListCode",
                actions=["s3:ListBucket"],
                resources=[source_bundle.bucket.bucket_arn],
                conditions={"StringEquals": {"s3:prefix": source_bundle.s3_object_key}},
            ),
            iam.PolicyStatement(
                sid="ListMonitoredData",
                actions=["s3:ListBucket"],
                resources=[artifacts.bucket_arn],
                conditions={
                    "StringLike": {
                        "s3:prefix": [
                            f"{DATA_CAPTURE_PREFIX}/{endpoint}/*",
                            f"{GROUND_TRUTH_PREFIX}/{endpoint}/*",
                            f"{MONITORING_PREFIX}/{endpoint}/*",
                        ]
                    }
                },
            ),
            iam.PolicyStatement(
                sid="ReadCaptureGroundTruthAndBaselines",
                actions=["s3:GetObject"],
                resources=[
                    artifacts.arn_for_objects(p) for p in (capture, truth, state, baselines)
                ],
            ),
            iam.PolicyStatement(
                sid="WriteStateAndReports",
                actions=["s3:PutObject", "s3:AbortMultipartUpload"],
                resources=[artifacts.arn_for_objects(p) for p in (state, reports)],
            ),
            iam.PolicyStatement(
                sid="WriteFeedback",
                actions=["s3:PutObject", "s3:AbortMultipartUpload"],
                resources=[raw.arn_for_objects(feedback)],
            ),
        ]

    def _registry_and_metrics_statements(self, package_arns: str) -> list[iam.PolicyStatement]:
        """The model packages the monitor reads and the metrics it publishes."""
        return [
            iam.PolicyStatement(
                sid="ReadRegistry",
                actions=["sagemaker:DescribeModelPackage"],
                resources=[package_arns],
            ),
            iam.PolicyStatement(
                sid="ListModelPackages",
                actions=["sagemaker:ListModelPackages"],
                resources=["*"],  # ListModelPackages supports no resource ARN
            ),
            iam.PolicyStatement(
                sid="PublishMonitorMetrics",
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],  # PutMetricData supports no resource ARN
                conditions={"StringEquals": {"cloudwatch:namespace": list(METRIC_NAMESPACES)}},
            ),
        ]

    def _grant_job(
        self,
        *,
        key: kms.IKey,
        artifacts: s3.IBucket,
        raw: s3.IBucket,
        source_bundle: s3_assets.Asset,
        region: str,
    ) -> None:
        """Exactly what monitor.py touches, and what SageMaker needs to run it."""
        stack = Stack.of(self)
        endpoint = self.target.endpoint_name
        objects = _JobObjects(
            capture=f"{DATA_CAPTURE_PREFIX}/{endpoint}/*",
            truth=f"{GROUND_TRUTH_PREFIX}/{endpoint}/*",
            state=f"{MONITORING_PREFIX}/{endpoint}/state/*",
            reports=f"{MONITORING_PREFIX}/{endpoint}/reports/*",
            baselines=f"{RUNS_PREFIX}/*",
            feedback=f"{FEEDBACK_PREFIX}*",
        )
        capture, truth, state, reports, baselines, feedback = objects
        job_logs = stack.format_arn(
            service="logs",
            resource="log-group",
            resource_name="/aws/sagemaker/ProcessingJobs:*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        source = self.target.registry_source
        package_arns = (
            stack.format_arn(
                service="sagemaker",
                resource="model-package",
                resource_name=f"{self.target.model_package_group}/*",
            )
            if source is None
            else shared_package_arns(self, source, self.target.model_package_group)
        )
        statements = [
            *self._data_statements(artifacts, raw, source_bundle, objects),
            *job_statements(self, region, key, job_logs),
            *self._registry_and_metrics_statements(package_arns),
            # The source stage's baselines, in its artifacts bucket (DescribeModelPackage
            # on its versions is ReadRegistry above).
            *([] if source is None else reader_statements(source, region)),
        ]
        self.job_policy = iam.Policy(self, "JobPolicy", statements=statements)
        self.job_policy.attach_to_role(self.job_role)
        findings = {
            "Resource::*": "ecr:GetAuthorizationToken, sagemaker:ListModelPackages and "
            "cloudwatch:PutMetricData (limited to the monitor's namespaces) support no "
            "resource ARN.",
            f"Resource::{job_logs}": "SageMaker names each job's log stream after the job.",
            f"Resource::{package_arns}": "Versions of this one model package group are "
            "created at run time.",
            object_arn_finding(self, raw, feedback): "Each run writes a new feedback batch "
            "named after the run.",
        }
        for pattern, reason in (
            (capture, "Capture files are named by the endpoint, per hour."),
            (truth, "Ground-truth files are uploaded by labellers, per hour."),
            (state, "The monitor's checkpoint lives under this endpoint's state prefix."),
            (reports, "Each run's report folder is named after the run."),
            (baselines, "Baselines and evaluations sit under each training execution's id."),
        ):
            findings[object_arn_finding(self, artifacts, pattern)] = reason
        if source is not None:
            findings.update(reader_findings(source, region))
        for finding, reason in findings.items():
            acknowledge(self.job_policy, f"AwsSolutions-IAM5[{finding}]", reason)
