"""Option ``monitor: "model-monitor"``: SageMaker Model Monitor schedules instead of ours.

Only for accounts that still have Model Monitor (AWS no longer admits new customers to it).
A data-quality and a model-quality job definition on the endpoint's capture, each with a
monitoring schedule, reading the same baseline files the platform's monitor uses (Model
Monitor's own statistics.json / constraints.json formats), from the endpoint's stable
baseline prefix ``s3://<artifacts>/monitoring/<endpoint>/baseline/``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from config.layout import DATA_CAPTURE_PREFIX, GROUND_TRUTH_PREFIX, MONITORING_PREFIX
from config.schema import DatasetSchema, ProblemType
from stacks.constructs.nag import acknowledge, object_arn_finding
from stacks.constructs.sagemaker_access import sagemaker_principal

# Model Monitor runs schedules hourly or daily only.
CRON_BY_MINUTES = {60: "cron(0 * ? * * *)", 1440: "cron(0 0 ? * * *)"}
PROBLEM_TYPES = {
    ProblemType.BINARY_CLASSIFICATION: "BinaryClassification",
    ProblemType.MULTICLASS_CLASSIFICATION: "MulticlassClassification",
    ProblemType.REGRESSION: "Regression",
}
LOCAL_INPUT = "/opt/ml/processing/input/endpoint"
MAX_RUNTIME_SECONDS = 3300  # Model Monitor: at most one hour for hourly schedules
NAMESPACES = ("aws/sagemaker/Endpoints/data-metrics", "aws/sagemaker/Endpoints/model-metrics")


def model_monitor_image(region: str) -> str:
    """Model Monitor's analyzer image in ``region`` (from the SageMaker SDK's tables)."""
    import os

    os.environ.setdefault("AWS_DEFAULT_REGION", region)
    from sagemaker.core import image_uris

    return str(image_uris.retrieve("model-monitor", region=region))


@dataclass(frozen=True)
class _JobParts:
    """What both job definitions share, each in the struct type of its own definition
    (CDK types each definition's properties separately)."""

    instance_type: str
    key: kms.IKey
    reports: str

    def resources(self, job: Any) -> Any:
        return job.MonitoringResourcesProperty(
            cluster_config=job.ClusterConfigProperty(
                instance_count=1,
                instance_type=self.instance_type,
                volume_size_in_gb=30,
                volume_kms_key_id=self.key.key_arn,
            )
        )

    @staticmethod
    def stopping(job: Any) -> Any:
        return job.StoppingConditionProperty(max_runtime_in_seconds=MAX_RUNTIME_SECONDS)

    def output(self, job: Any, kind: str) -> Any:
        """The job kind's own output config struct (CDK types each definition's)."""
        return job.MonitoringOutputConfigProperty(
            kms_key_id=self.key.key_arn,
            monitoring_outputs=[
                job.MonitoringOutputProperty(
                    s3_output=job.S3OutputProperty(
                        local_path="/opt/ml/processing/output",
                        s3_uri=f"{self.reports}/{kind}",
                        s3_upload_mode="EndOfJob",
                    )
                )
            ],
        )


class ModelMonitorSchedules(Construct):
    """Data-quality and model-quality job definitions plus their schedules."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        schema: DatasetSchema,
        endpoint_name: str,
        schedule_name: str,
        every_minutes: int,
        instance_type: str,
        key: kms.IKey,
        artifacts: s3.IBucket,
    ) -> None:
        super().__init__(scope, construct_id)
        if every_minutes not in CRON_BY_MINUTES:
            raise ValueError(
                f"Model Monitor schedules run hourly or daily: monitor_every_minutes must be "
                f"60 or 1440, not {every_minutes}"
            )
        stack = Stack.of(self)
        image = model_monitor_image(stack.region)
        prefix = f"{MONITORING_PREFIX}/{endpoint_name}"
        baseline = f"s3://{artifacts.bucket_name}/{prefix}/baseline"
        reports = f"s3://{artifacts.bucket_name}/{prefix}/model-monitor"
        self.role = self._role(
            image=image, key=key, artifacts=artifacts, endpoint_name=endpoint_name
        )

        parts = _JobParts(instance_type=instance_type, key=key, reports=reports)
        self.data_quality = self._data_quality(
            parts,
            schedule_name=schedule_name,
            endpoint_name=endpoint_name,
            image=image,
            baseline=baseline,
        )
        self.model_quality = self._model_quality(
            parts,
            schema=schema,
            schedule_name=schedule_name,
            endpoint_name=endpoint_name,
            image=image,
            artifacts=artifacts,
        )
        self._schedules(schedule_name, endpoint_name, every_minutes)

    def _data_quality(
        self,
        parts: _JobParts,
        *,
        schedule_name: str,
        endpoint_name: str,
        image: str,
        baseline: str,
    ) -> sagemaker.CfnDataQualityJobDefinition:
        """Data drift: the captured requests against the training data's baseline."""
        return sagemaker.CfnDataQualityJobDefinition(
            self,
            "DataQuality",
            job_definition_name=f"{schedule_name}-data",
            role_arn=self.role.role_arn,
            endpoint_name=endpoint_name,
            data_quality_app_specification=sagemaker.CfnDataQualityJobDefinition.DataQualityAppSpecificationProperty(
                image_uri=image
            ),
            data_quality_baseline_config=sagemaker.CfnDataQualityJobDefinition.DataQualityBaselineConfigProperty(
                constraints_resource=sagemaker.CfnDataQualityJobDefinition.ConstraintsResourceProperty(
                    s3_uri=f"{baseline}/constraints.json"
                ),
                statistics_resource=sagemaker.CfnDataQualityJobDefinition.StatisticsResourceProperty(
                    s3_uri=f"{baseline}/statistics.json"
                ),
            ),
            data_quality_job_input=sagemaker.CfnDataQualityJobDefinition.DataQualityJobInputProperty(
                endpoint_input=sagemaker.CfnDataQualityJobDefinition.EndpointInputProperty(
                    endpoint_name=endpoint_name, local_path=LOCAL_INPUT
                )
            ),
            data_quality_job_output_config=parts.output(
                sagemaker.CfnDataQualityJobDefinition, "data-quality"
            ),
            job_resources=parts.resources(sagemaker.CfnDataQualityJobDefinition),
            stopping_condition=parts.stopping(sagemaker.CfnDataQualityJobDefinition),
        )

    def _model_quality(
        self,
        parts: _JobParts,
        *,
        schema: DatasetSchema,
        schedule_name: str,
        endpoint_name: str,
        image: str,
        artifacts: s3.IBucket,
    ) -> sagemaker.CfnModelQualityJobDefinition:
        """Model quality: the endpoint's predictions against the late-arriving labels."""
        binary = schema.problem_type is ProblemType.BINARY_CLASSIFICATION
        return sagemaker.CfnModelQualityJobDefinition(
            self,
            "ModelQuality",
            job_definition_name=f"{schedule_name}-model",
            role_arn=self.role.role_arn,
            endpoint_name=endpoint_name,
            model_quality_app_specification=sagemaker.CfnModelQualityJobDefinition.ModelQualityAppSpecificationProperty(
                image_uri=image, problem_type=PROBLEM_TYPES[schema.problem_type]
            ),
            model_quality_job_input=sagemaker.CfnModelQualityJobDefinition.ModelQualityJobInputProperty(
                endpoint_input=sagemaker.CfnModelQualityJobDefinition.EndpointInputProperty(
                    endpoint_name=endpoint_name,
                    local_path=LOCAL_INPUT,
                    # inference.py answers CSV "probability,label" (binary), "value", or
                    # (multiclass) one probability per class then the class: its last field.
                    inference_attribute="1" if binary else str(len(schema.target.classes)),
                    probability_attribute="0" if binary else None,
                    probability_threshold_attribute=0.5 if binary else None,
                    # Labels arrive late: judge the last day's requests at least an hour old.
                    start_time_offset="-P1D",
                    end_time_offset="-PT1H",
                ),
                ground_truth_s3_input=sagemaker.CfnModelQualityJobDefinition.MonitoringGroundTruthS3InputProperty(
                    s3_uri=f"s3://{artifacts.bucket_name}/{GROUND_TRUTH_PREFIX}/{endpoint_name}"
                ),
            ),
            model_quality_job_output_config=parts.output(
                sagemaker.CfnModelQualityJobDefinition, "model-quality"
            ),
            job_resources=parts.resources(sagemaker.CfnModelQualityJobDefinition),
            stopping_condition=parts.stopping(sagemaker.CfnModelQualityJobDefinition),
        )

    def _schedules(self, schedule_name: str, endpoint_name: str, every_minutes: int) -> None:
        """One monitoring schedule per job definition, each after the role's policy."""
        self.schedules = []
        for kind, definition, monitoring_type in (
            ("data", self.data_quality, "DataQuality"),
            ("model", self.model_quality, "ModelQuality"),
        ):
            schedule = sagemaker.CfnMonitoringSchedule(
                self,
                f"{monitoring_type}Schedule",
                monitoring_schedule_name=f"{schedule_name}-{kind}",
                endpoint_name=endpoint_name,
                monitoring_schedule_config=sagemaker.CfnMonitoringSchedule.MonitoringScheduleConfigProperty(
                    monitoring_job_definition_name=f"{schedule_name}-{kind}",
                    monitoring_type=monitoring_type,
                    schedule_config=sagemaker.CfnMonitoringSchedule.ScheduleConfigProperty(
                        schedule_expression=CRON_BY_MINUTES[every_minutes]
                    ),
                ),
            )
            schedule.node.add_dependency(self.policy, definition)
            self.schedules.append(schedule)

    def _role(
        self, *, image: str, key: kms.IKey, artifacts: s3.IBucket, endpoint_name: str
    ) -> iam.Role:
        stack = Stack.of(self)
        role = iam.Role(
            self,
            "Role",
            # Monitoring schedules start their jobs themselves: SageMaker resources of this
            # account and region (confused deputy).
            assumed_by=sagemaker_principal(self, "*"),
            description=f"Runs Model Monitor jobs on {endpoint_name}.",
        )
        prefix = f"{MONITORING_PREFIX}/{endpoint_name}"
        reads = [
            f"{DATA_CAPTURE_PREFIX}/{endpoint_name}/*",
            f"{GROUND_TRUTH_PREFIX}/{endpoint_name}/*",
            f"{prefix}/baseline/*",
        ]
        writes = f"{prefix}/model-monitor/*"
        job_logs = stack.format_arn(
            service="logs",
            resource="log-group",
            resource_name="/aws/sagemaker/ProcessingJobs:*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        policy = iam.Policy(
            self,
            "Policy",
            statements=self._policy_statements(
                image=image,
                key=key,
                artifacts=artifacts,
                reads=reads,
                writes=writes,
                job_logs=job_logs,
            ),
        )
        policy.attach_to_role(role)
        findings = {
            "Resource::*": "ecr:GetAuthorizationToken and cloudwatch:PutMetricData (limited "
            "to Model Monitor's namespaces) support no resource ARN.",
            f"Resource::{job_logs}": "SageMaker names each job's log stream after the job.",
            object_arn_finding(self, artifacts, writes): "Model Monitor names each run's "
            "output folder at run time.",
        }
        for pattern in reads:
            findings[object_arn_finding(self, artifacts, pattern)] = (
                "Capture, ground truth and baselines are files under the endpoint's prefixes."
            )
        for finding, reason in findings.items():
            acknowledge(policy, f"AwsSolutions-IAM5[{finding}]", reason)
        self.policy = policy
        return role

    def _policy_statements(
        self,
        *,
        image: str,
        key: kms.IKey,
        artifacts: s3.IBucket,
        reads: list[str],
        writes: str,
        job_logs: str,
    ) -> list[iam.PolicyStatement]:
        """Exactly what the Model Monitor jobs read and write, and what running them needs."""
        stack = Stack.of(self)
        image_account, _, rest = image.partition(".")
        repository = rest.split("/", 1)[1]
        return [
            iam.PolicyStatement(
                sid="ListMonitoredData",
                actions=["s3:ListBucket"],
                resources=[artifacts.bucket_arn],
                conditions={"StringLike": {"s3:prefix": [r for r in reads]}},
            ),
            iam.PolicyStatement(
                sid="ReadMonitoredData",
                actions=["s3:GetObject"],
                resources=[artifacts.arn_for_objects(p) for p in reads],
            ),
            iam.PolicyStatement(
                sid="WriteReports",
                actions=["s3:PutObject", "s3:AbortMultipartUpload"],
                resources=[artifacts.arn_for_objects(writes)],
            ),
            iam.PolicyStatement(
                sid="UseStageKey",
                actions=[
                    "kms:Decrypt",
                    "kms:Encrypt",
                    "kms:GenerateDataKey",
                    "kms:DescribeKey",
                ],
                resources=[key.key_arn],
            ),
            iam.PolicyStatement(
                sid="GrantKeyToVolumes",
                actions=["kms:CreateGrant"],
                resources=[key.key_arn],
                conditions={"Bool": {"kms:GrantIsForAWSResource": "true"}},
            ),
            iam.PolicyStatement(
                sid="PullAnalyzerImage",
                actions=[
                    "ecr:BatchGetImage",
                    "ecr:GetDownloadUrlForLayer",
                    "ecr:BatchCheckLayerAvailability",
                ],
                resources=[
                    f"arn:{stack.partition}:ecr:{stack.region}:{image_account}:"
                    f"repository/{repository}"
                ],
            ),
            iam.PolicyStatement(
                sid="EcrLogin",
                actions=["ecr:GetAuthorizationToken"],
                resources=["*"],  # GetAuthorizationToken supports no resource ARN
            ),
            iam.PolicyStatement(
                sid="JobLogs",
                actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[job_logs],
            ),
            iam.PolicyStatement(
                sid="PublishMetrics",
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],  # PutMetricData supports no resource ARN
                conditions={"StringEquals": {"cloudwatch:namespace": list(NAMESPACES)}},
            ),
        ]
