"""A real-time endpoint for one registered model package: data capture, guarded
blue/green deployment with alarm rollback, and autoscaling."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import ArnFormat, CfnCondition, CfnResource, CfnTag, Duration, Fn, Stack
from aws_cdk import aws_applicationautoscaling as autoscaling
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from config.layout import (
    DATA_CAPTURE_PREFIX,
    RUNS_PREFIX,
    VARIANT_NAME,
    endpoint_alarm_name,
    resource_name,
)
from config.schema import DatasetSchema
from config.settings import RegistryLink, StageSettings
from stacks.constructs.log_groups import StageLogGroup, endpoint_log_group_name
from stacks.constructs.nag import acknowledge, object_arn_finding
from stacks.constructs.network import JobNetwork
from stacks.constructs.sagemaker_access import container_statements, sagemaker_principal
from stacks.constructs.secure_bucket import removal_policy

CAPTURED_CSV = ["text/csv"]
# Model archives only (their serving code inside), never the runs' data splits.
MODEL_ARTIFACTS = f"{RUNS_PREFIX}/*/model.tar.gz"
CAPTURED_JSON = ["application/json", "application/jsonlines"]
# Pages (never rolls back): a share of requests the model refused as client errors that no
# healthy client produces for long (a schema change upstream, a broken caller).
CLIENT_ERROR_RATE_PERCENT = 5
# Pages when an in-service endpoint served nothing for this many five-minute periods.
IDLE_PERIODS = 3


@dataclass(frozen=True, kw_only=True)
class Lineage:
    """Where the served release comes from (another stage's registry) and what identifies
    its bytes; recorded as tags of the endpoint config (deploy-time values)."""

    source: RegistryLink
    model_data_sha256: str
    # The key that encrypts the source's artifacts: the model role may decrypt through S3.
    model_data_key_arn: str

    def tags(self, model_package_arn: str) -> list[CfnTag]:
        return [
            CfnTag(key="mlops:model-package-arn", value=model_package_arn),
            CfnTag(key="mlops:model-data-sha256", value=self.model_data_sha256),
            CfnTag(key="mlops:approved-in", value=self.source.stage),
        ]


class ModelEndpoint(Construct):
    """Serves ``model_package_arn``; a new package rolls out as a canary that rolls back
    by itself when the endpoint's 5xx or latency alarm fires during the bake."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: StageSettings,
        schema: DatasetSchema,
        key: kms.IKey,
        artifacts: s3.IBucket,
        model_package_arn: str,
        serve_when: CfnCondition | None = None,
        network: JobNetwork | None = None,
        model_data_url: str | None = None,
        lineage: Lineage | None = None,
    ) -> None:
        """``serve_when``: a deploy-time condition (the stage has an approved version);
        without it the model, endpoint and scaling exist only while it holds. The role,
        its policy and the alarms always exist. ``network``: VPC mode's subnets and
        security groups for the model's containers. ``model_data_url``: the package's
        ``s3://`` model artifact (deploy-time value), the one object the role may read;
        None: any run's model.tar.gz. ``lineage``: the release is another stage's
        (recorded on the endpoint config; its key may decrypt the model)."""
        super().__init__(scope, construct_id)
        self._lineage = lineage
        self._serve_when = serve_when
        self.endpoint_name = resource_name(settings.name, schema.name, "endpoint")
        # A serverless endpoint publishes no instance metrics, which tell the idle alarm
        # that the endpoint is in service: it gets no idle alarm.
        kinds = ("5xx", "latency-p99", "4xx-rate")
        self.alarm_names = [
            endpoint_alarm_name(settings.name, schema.name, kind)
            for kind in (*kinds, *(() if settings.endpoint_serverless else ("no-invocations",)))
        ]
        self.role = iam.Role(
            self,
            "ModelRole",
            # Inference: AWS documents this one form ("*", not a model's or endpoint's ARN).
            assumed_by=sagemaker_principal(self, "*"),
            description=f"Runs the {self.endpoint_name} model containers.",
        )
        policy = self._grant_model(
            key=key, artifacts=artifacts, region=settings.region, model_data_url=model_data_url
        )

        model = self._model(settings, model_package_arn, policy, network)
        config = self._endpoint_config(
            settings,
            key,
            artifacts,
            model,
            None if lineage is None else lineage.tags(model_package_arn),
        )
        # The rollback guards; the other alarms page only (a canary is not judged by them).
        self.alarms = self._alarms(settings)
        self.paging_alarms = self._paging_alarms(idle=not settings.endpoint_serverless)
        self.endpoint = sagemaker.CfnEndpoint(
            self,
            "Endpoint",
            endpoint_name=self.endpoint_name,
            endpoint_config_name=config.attr_endpoint_config_name,
            # A new config keeps the instance count autoscaling reached, not the initial one.
            retain_all_variant_properties=not settings.endpoint_serverless,
            deployment_config=self._deployment(settings),
        )
        self._conditional(self.endpoint)
        # The group SageMaker writes the containers' logs to, declared before the endpoint
        # exists so SageMaker finds it (encrypted, with the stage's retention) rather than
        # creating a default one.
        self.log_group = StageLogGroup(
            self,
            "Logs",
            log_group_name=endpoint_log_group_name(self.endpoint_name),
            key=key,
            retention_days=settings.log_retention_days,
            removal_policy=removal_policy(settings),
        )
        self.endpoint.node.add_dependency(self.log_group)
        if not settings.endpoint_serverless:  # serverless scales by concurrency itself
            self._autoscaling(settings)

    def _model(
        self,
        settings: StageSettings,
        model_package_arn: str,
        policy: iam.Policy,
        network: JobNetwork | None,
    ) -> sagemaker.CfnModel:
        """The model of the served package, created once its role may read it."""
        model = sagemaker.CfnModel(
            self,
            "Model",
            execution_role_arn=self.role.role_arn,
            containers=[
                sagemaker.CfnModel.ContainerDefinitionProperty(model_package_name=model_package_arn)
            ],
            # The serving code travels inside model.tar.gz (training/serving_code.py), and
            # the image's toolkit `pip install`s it offline (docs/isolation.md): the
            # container needs no network and gets none. Serverless Inference supports
            # neither network isolation nor a VPC ("Feature exclusions" in its guide).
            enable_network_isolation=not settings.endpoint_serverless,
            vpc_config=None
            if network is None or settings.endpoint_serverless
            else sagemaker.CfnModel.VpcConfigProperty(
                subnets=list(network.subnet_ids),
                security_group_ids=list(network.security_group_ids),
            ),
        )
        # CreateModel checks that the role can read the model: attach the policy first.
        model.node.add_dependency(policy)
        self._conditional(model)
        if network is None or settings.endpoint_serverless:
            acknowledge(
                model,
                "AwsSolutions-SM1",
                "Without VPC mode (config VpcSettings) the model runs network isolated in "
                "SageMaker's network: it is reached through the SageMaker runtime API only "
                "and has no VPC resources to reach.",
            )
        return model

    def _endpoint_config(
        self,
        settings: StageSettings,
        key: kms.IKey,
        artifacts: s3.IBucket,
        model: sagemaker.CfnModel,
        tags: list[CfnTag] | None = None,
    ) -> sagemaker.CfnEndpointConfig:
        """The endpoint's configuration: its variant and (instance endpoints) data capture;
        ``tags``: the served release's lineage."""
        config = sagemaker.CfnEndpointConfig(
            self,
            "Config",
            tags=tags,
            # Serverless endpoints have no instance storage to encrypt (the API refuses
            # a key for them); instance endpoints encrypt theirs with the stage key.
            kms_key_id=None if settings.endpoint_serverless else key.key_arn,
            production_variants=[self._variant(settings, model.attr_model_name)],
            # Serverless endpoints cannot capture data (see config/settings.py).
            data_capture_config=None
            if settings.endpoint_serverless
            else sagemaker.CfnEndpointConfig.DataCaptureConfigProperty(
                enable_capture=True,
                initial_sampling_percentage=settings.capture_sampling_percentage,
                destination_s3_uri=f"s3://{artifacts.bucket_name}/{DATA_CAPTURE_PREFIX}",
                kms_key_id=key.key_arn,
                capture_options=[
                    sagemaker.CfnEndpointConfig.CaptureOptionProperty(capture_mode=mode)
                    for mode in ("Input", "Output")
                ],
                capture_content_type_header=(
                    sagemaker.CfnEndpointConfig.CaptureContentTypeHeaderProperty(
                        csv_content_types=CAPTURED_CSV, json_content_types=CAPTURED_JSON
                    )
                ),
            ),
        )
        self._conditional(config)
        if settings.endpoint_serverless:
            acknowledge(
                config,
                "NIST.800.53.R5-SageMakerEndpointConfigurationKMSKeyConfigured",
                "A serverless endpoint has no instance storage to encrypt: SageMaker refuses "
                "a KMS key for it (dev only; config/settings.py).",
            )
        return config

    @staticmethod
    def _variant(
        settings: StageSettings, model_name: str
    ) -> sagemaker.CfnEndpointConfig.ProductionVariantProperty:
        if settings.endpoint_serverless:
            return sagemaker.CfnEndpointConfig.ProductionVariantProperty(
                variant_name=VARIANT_NAME,
                model_name=model_name,
                serverless_config=sagemaker.CfnEndpointConfig.ServerlessConfigProperty(
                    memory_size_in_mb=settings.serverless_memory_mb,
                    max_concurrency=settings.serverless_max_concurrency,
                ),
            )
        return sagemaker.CfnEndpointConfig.ProductionVariantProperty(
            variant_name=VARIANT_NAME,
            model_name=model_name,
            instance_type=settings.endpoint_instance_type,
            initial_instance_count=settings.endpoint_min_instances,
            initial_variant_weight=1.0,
        )

    def _deployment(
        self, settings: StageSettings
    ) -> sagemaker.CfnEndpoint.DeploymentConfigProperty | None:
        """Blue/green with alarm rollback: a canary where the fleet can be split (two or
        more instances), all at once with a bake period otherwise. None for serverless,
        which deployment guardrails do not support."""
        if settings.endpoint_serverless:
            return None
        if settings.endpoint_min_instances >= 2:
            routing = sagemaker.CfnEndpoint.TrafficRoutingConfigProperty(
                type="CANARY",
                canary_size=sagemaker.CfnEndpoint.CapacitySizeProperty(
                    type="CAPACITY_PERCENT", value=settings.canary_percent
                ),
                wait_interval_in_seconds=settings.canary_bake_seconds,
            )
        else:
            # One instance cannot be split: the new fleet takes all traffic at once and
            # bakes for the termination wait, while the rollback alarms watch it.
            routing = sagemaker.CfnEndpoint.TrafficRoutingConfigProperty(type="ALL_AT_ONCE")
        return sagemaker.CfnEndpoint.DeploymentConfigProperty(
            blue_green_update_policy=sagemaker.CfnEndpoint.BlueGreenUpdatePolicyProperty(
                traffic_routing_configuration=routing,
                # Keep the old fleet a while after the full shift: an alarm in this window
                # still rolls back at once.
                termination_wait_in_seconds=settings.canary_bake_seconds,
                maximum_execution_timeout_in_seconds=3600,
            ),
            auto_rollback_configuration=sagemaker.CfnEndpoint.AutoRollbackConfigProperty(
                alarms=[
                    sagemaker.CfnEndpoint.AlarmProperty(alarm_name=alarm.alarm_name)
                    for alarm in self.alarms
                ]
            ),
        )

    def _conditional(self, resource: CfnResource) -> None:
        if self._serve_when is not None:
            resource.cfn_options.condition = self._serve_when

    def _metric(self, name: str, statistic: str) -> cloudwatch.Metric:
        return cloudwatch.Metric(
            namespace="AWS/SageMaker",
            metric_name=name,
            dimensions_map={"EndpointName": self.endpoint_name, "VariantName": VARIANT_NAME},
            statistic=statistic,
            period=Duration.minutes(1),
        )

    def _alarms(self, settings: StageSettings) -> list[cloudwatch.Alarm]:
        errors = cloudwatch.Alarm(
            self,
            "Errors5xx",
            alarm_name=self.alarm_names[0],
            alarm_description=(
                f"{self.endpoint_name}: the model answered 5xx (rolls back a rollout)."
            ),
            metric=self._metric("Invocation5XXErrors", "Sum"),
            threshold=1,
            evaluation_periods=2,
            datapoints_to_alarm=2,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        latency = cloudwatch.Alarm(
            self,
            "ModelLatencyP99",
            alarm_name=self.alarm_names[1],
            alarm_description=(
                f"{self.endpoint_name}: p99 model latency above "
                f"{settings.latency_alarm_ms} ms (rolls back a rollout)."
            ),
            # ModelLatency is reported in microseconds.
            metric=self._metric("ModelLatency", "p99"),
            threshold=settings.latency_alarm_ms * 1000,
            evaluation_periods=3,
            datapoints_to_alarm=3,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        return [errors, latency]

    def _paging_alarms(self, *, idle: bool) -> list[cloudwatch.Alarm]:
        """The 4xx rate and (``idle``) traffic stopping while the endpoint is in service
        (metric math)."""
        period = Duration.minutes(5)
        invocations = self._metric("Invocations", "Sum").with_(period=period)
        client_errors = self._metric("Invocation4XXErrors", "Sum").with_(period=period)
        # Instance metrics exist only while the endpoint's instances run (InService), with
        # or without traffic: "0 * instances" makes the expression exist only then.
        instances = cloudwatch.Metric(
            namespace="/aws/sagemaker/Endpoints",
            metric_name="CPUUtilization",
            dimensions_map={"EndpointName": self.endpoint_name, "VariantName": VARIANT_NAME},
            statistic="SampleCount",
            period=period,
        )
        rate = cloudwatch.Alarm(
            self,
            "ClientErrorRate",
            alarm_name=self.alarm_names[2],
            alarm_description=(
                f"{self.endpoint_name}: over {CLIENT_ERROR_RATE_PERCENT}% of requests answered "
                "4xx in two five-minute periods running."
            ),
            metric=cloudwatch.MathExpression(
                expression="100 * FILL(errors, 0) / invocations",
                using_metrics={"errors": client_errors, "invocations": invocations},
                label="4xx rate (%)",
                period=period,
            ),
            threshold=CLIENT_ERROR_RATE_PERCENT,
            evaluation_periods=2,
            datapoints_to_alarm=2,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        if not idle:
            return [rate]
        no_traffic = cloudwatch.Alarm(
            self,
            "NoInvocations",
            alarm_name=self.alarm_names[3],
            alarm_description=(
                f"{self.endpoint_name} is in service but served no request for "
                f"{IDLE_PERIODS * 5} minutes."
            ),
            metric=cloudwatch.MathExpression(
                expression="FILL(invocations, 0) + 0 * instances",
                using_metrics={"invocations": invocations, "instances": instances},
                label="invocations while in service",
                period=period,
            ),
            threshold=1,
            evaluation_periods=IDLE_PERIODS,
            datapoints_to_alarm=IDLE_PERIODS,
            comparison_operator=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        return [rate, no_traffic]

    def _autoscaling(self, settings: StageSettings) -> None:
        target = autoscaling.CfnScalableTarget(
            self,
            "ScalableTarget",
            service_namespace="sagemaker",
            scalable_dimension="sagemaker:variant:DesiredInstanceCount",
            resource_id=f"endpoint/{self.endpoint_name}/variant/{VARIANT_NAME}",
            min_capacity=settings.endpoint_min_instances,
            max_capacity=settings.endpoint_max_instances,
        )
        target.node.add_dependency(self.endpoint)
        self._conditional(target)
        scaling = autoscaling.CfnScalingPolicy(
            self,
            "InvocationsPerInstance",
            policy_name=f"{self.endpoint_name}-invocations-per-instance",
            policy_type="TargetTrackingScaling",
            scaling_target_id=target.ref,
            target_tracking_scaling_policy_configuration=autoscaling.CfnScalingPolicy.TargetTrackingScalingPolicyConfigurationProperty(
                predefined_metric_specification=autoscaling.CfnScalingPolicy.PredefinedMetricSpecificationProperty(
                    predefined_metric_type="SageMakerVariantInvocationsPerInstance"
                ),
                # Invocations per instance per minute; derived in docs/serving.md.
                target_value=float(settings.invocations_per_instance_target),
                # Add capacity within a minute; give it back only after ten quiet ones.
                scale_out_cooldown=60,
                scale_in_cooldown=600,
            ),
        )
        self._conditional(scaling)

    def _model_key_statements(self, region: str) -> list[iam.PolicyStatement]:
        """Decrypting another stage's model archive with that stage's key, through S3."""
        if self._lineage is None:
            return []
        return [
            iam.PolicyStatement(
                sid="DecryptApprovedModel",
                actions=["kms:Decrypt"],
                resources=[self._lineage.model_data_key_arn],
                conditions={"StringEquals": {"kms:ViaService": f"s3.{region}.amazonaws.com"}},
            )
        ]

    def _grant_model(
        self, *, key: kms.IKey, artifacts: s3.IBucket, region: str, model_data_url: str | None
    ) -> iam.Policy:
        """Read the model (its code inside), write captures, pull the image, write logs."""
        stack = Stack.of(self)
        model = (
            artifacts.arn_for_objects(MODEL_ARTIFACTS)
            if model_data_url is None
            # s3://bucket/key -> arn:<partition>:s3:::bucket/key
            else Fn.join(
                "",
                [f"arn:{stack.partition}:s3:::", Fn.select(1, Fn.split("s3://", model_data_url))],
            )
        )
        logs = stack.format_arn(
            service="logs",
            resource="log-group",
            resource_name="/aws/sagemaker/Endpoints/*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        policy = iam.Policy(
            self,
            "ModelPolicy",
            statements=[
                iam.PolicyStatement(
                    sid="ReadModel",
                    actions=["s3:GetObject"],
                    resources=[model],
                ),
                iam.PolicyStatement(
                    sid="WriteCaptures",
                    actions=["s3:PutObject", "s3:AbortMultipartUpload"],
                    resources=[artifacts.arn_for_objects(f"{DATA_CAPTURE_PREFIX}/*")],
                ),
                iam.PolicyStatement(
                    sid="UseStageKey",
                    actions=["kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"],
                    resources=[key.key_arn],
                ),
                *self._model_key_statements(region),
                *container_statements(self, region, key),
                iam.PolicyStatement(
                    sid="EndpointLogs",
                    actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                    resources=[logs],
                ),
            ],
        )
        policy.attach_to_role(self.role)
        for finding, reason in {
            "Resource::*": "ecr:GetAuthorizationToken supports no resource ARN.",
            # Only for a pinned version (no recorded artifact): any run's model archive.
            object_arn_finding(self, artifacts, MODEL_ARTIFACTS): "A pinned version's model "
            "artifact is not recorded where CloudFormation can read it; it sits under a "
            "training execution's id, decided at run time.",
            object_arn_finding(self, artifacts, f"{DATA_CAPTURE_PREFIX}/*"): "SageMaker names "
            "capture files by endpoint, variant and hour.",
            f"Resource::{logs}": "SageMaker names the endpoint's log group and streams.",
        }.items():
            acknowledge(policy, f"AwsSolutions-IAM5[{finding}]", reason)
        return policy
