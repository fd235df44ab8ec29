"""Model promotion: the stage's served-version parameter, and the function that keeps it
equal to the newest approved model package and starts the delivery pipeline."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aws_cdk import ArnFormat, Duration, RemovalPolicy, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_ram as ram
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from config.layout import NO_MODEL_VERSION
from stacks.constructs.dead_letters import dead_letter_statements
from stacks.constructs.nag import acknowledge
from stacks.constructs.powertools_function import LAMBDA_OUTSIDE_VPC

FUNCTION_DIR = Path(__file__).resolve().parents[2] / "lambda" / "model_promotion"
POWERTOOLS_VERSION = "3.37.0"  # as in requirements.txt and the function's requirements
PROMOTION_NAMESPACE = "MLOps/Delivery"


def powertools_layer(scope: Construct, construct_id: str) -> lambda_.ILayerVersion:
    """The public Powertools layer for Python 3.11 at the pinned version.

    Powertools publishes each layer ARN as a public SSM parameter; reading it as a
    CloudFormation parameter resolves it at deploy time, so synth needs no credentials.
    """
    arn = ssm.StringParameter.value_for_string_parameter(
        scope, f"/aws/service/powertools/python/x86_64/python3.11/{POWERTOOLS_VERSION}"
    )
    return lambda_.LayerVersion.from_layer_version_arn(scope, construct_id, arn)


class ModelPromotion(Construct):
    """Approved/rejected model package -> served version (SSM) -> delivery pipeline run.

    ``pipeline_name`` is None when the delivery pipeline is in another account: the
    function then only records the version (see lambda/model_promotion/promotion.py).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        model_package_group: str,
        parameter_name: str,
        pipeline_name: str | None,
        log_retention_days: int,
        key: kms.IKey,
        dead_letters: sqs.IQueue,
        removal_policy: RemovalPolicy,
        artifact_parameter_name: str | None = None,
        no_artifact: str = "",
        release: ReleaseRecord | None = None,
    ) -> None:
        """``key`` encrypts the function's log group; approval events the function could
        not take after all retries land in ``dead_letters``. ``artifact_parameter_name``:
        where the served version's model.tar.gz URL is recorded too (``no_artifact``
        until a version is approved). ``release``: where the approved release (with the
        archive's checksum) is recorded for the stage that serves this registry."""
        super().__init__(scope, construct_id)
        self._parameters(parameter_name, artifact_parameter_name, no_artifact)
        self.release = release
        self.release_parameter = None if release is None else self._release_parameter(release)
        log_group = logs.CfnLogGroup(
            self, "Logs", retention_in_days=log_retention_days, kms_key_id=key.key_arn
        )
        log_group.apply_removal_policy(removal_policy)
        self.role = iam.Role(
            self,
            "Role",
            # This account's functions only (confused deputy), as the stage's other roles.
            assumed_by=iam.ServicePrincipal(
                "lambda.amazonaws.com",
                conditions={"StringEquals": {"aws:SourceAccount": Stack.of(self).account}},
            ),
            description=f"Model promotion for {model_package_group}.",
        )
        self.function = self._function(
            model_package_group=model_package_group,
            parameter_name=parameter_name,
            artifact_parameter_name=artifact_parameter_name,
            pipeline_name=pipeline_name,
            log_group=log_group,
            dead_letters=dead_letters,
        )
        policy = self._grant(
            model_package_group, pipeline_name, log_group.attr_arn, dead_letters, key
        )
        # CDK makes the function depend on its role, which the Role GetAtt already
        # enforces (cfn-lint W3005); depend on the policy instead, so the permissions
        # exist before the first event arrives.
        function = self.function.node.default_child
        assert isinstance(function, lambda_.CfnFunction)
        function.add_override("DependsOn", [Stack.of(self).get_logical_id(policy_resource(policy))])
        self._approval_rule(model_package_group, dead_letters)

    def _parameters(
        self, parameter_name: str, artifact_parameter_name: str | None, no_artifact: str
    ) -> None:
        """The parameters that record the served version (and its model artifact)."""
        # CloudFormation writes the sentinel once, at creation; the function owns the value
        # afterwards. Changing this resource's properties would make CloudFormation write
        # the sentinel again (and the next Serving deploy remove the endpoint): keep them.
        self.parameter = ssm.StringParameter(
            self,
            "ServedVersion",
            parameter_name=parameter_name,
            string_value=NO_MODEL_VERSION,
            description="Model package ARN this stage serves; written by model promotion.",
        )
        # Same caution as above: CloudFormation writes the sentinel once, at creation.
        self.artifact_parameter = (
            ssm.StringParameter(
                self,
                "ServedArtifact",
                parameter_name=artifact_parameter_name,
                string_value=no_artifact,
                description="model.tar.gz URL of the version this stage serves; written by "
                "model promotion.",
            )
            if artifact_parameter_name
            else None
        )

    def _release_parameter(self, release: ReleaseRecord) -> ssm.StringListParameter:
        """The approved release, read by the serving stage's Serving stack at deploy time;
        in another account through a RAM share (which needs the advanced tier)."""
        # Same caution as the served version: CloudFormation writes the sentinel once.
        parameter = ssm.StringListParameter(
            self,
            "ApprovedRelease",
            parameter_name=release.parameter_name,
            # Tokens hold no comma: the items stay apart.
            string_list_value=release.no_release.split(","),
            tier=ssm.ParameterTier.ADVANCED if release.reader_account else None,
            description="Approved release (package ARN, model.tar.gz URL, SHA-256, key ARN) "
            "the serving stage deploys; written by model promotion.",
        )
        if release.reader_account:
            ram.CfnResourceShare(
                self,
                "ShareRelease",
                name=release.parameter_name.strip("/").replace("/", "-"),
                allow_external_principals=True,
                principals=[release.reader_account],
                resource_arns=[parameter.parameter_arn],
            )
        return parameter

    def _function(
        self,
        *,
        model_package_group: str,
        parameter_name: str,
        artifact_parameter_name: str | None,
        pipeline_name: str | None,
        log_group: logs.CfnLogGroup,
        dead_letters: sqs.IQueue,
    ) -> lambda_.Function:
        """The promotion function, with no permission of its own (``_grant`` has them)."""
        return lambda_.Function(
            self,
            "Function",
            runtime=lambda_.Runtime.PYTHON_3_11,
            handler="handler.handler",
            code=lambda_.Code.from_asset(str(FUNCTION_DIR)),
            layers=[powertools_layer(self, "Powertools")],
            timeout=Duration.seconds(30),
            memory_size=256,
            # One at a time: two copies of a duplicated event cannot both see the old
            # version and both start the pipeline. EventBridge retries throttled calls.
            reserved_concurrent_executions=1,
            tracing=lambda_.Tracing.ACTIVE,
            # Every permission is in this construct's one policy (below), none added
            # implicitly, so the role's statements are all in one reviewed place.
            role=self.role.without_policy_updates(),
            log_group=logs.LogGroup.from_log_group_arn(self, "LogGroup", log_group.attr_arn),
            # Asynchronous invocations that still fail after Lambda's retries land here.
            dead_letter_queue=dead_letters,
            retry_attempts=2,
            environment={
                "MODEL_PACKAGE_GROUP": model_package_group,
                "MODEL_VERSION_PARAMETER": parameter_name,
                "MODEL_ARTIFACT_PARAMETER": artifact_parameter_name or "",
                "MODEL_RELEASE_PARAMETER": ""
                if self.release is None
                else self.release.parameter_name,
                "DELIVERY_PIPELINE_NAME": pipeline_name or "",
                "NO_MODEL_VERSION": NO_MODEL_VERSION,
                "POWERTOOLS_SERVICE_NAME": "model-promotion",
                "POWERTOOLS_METRICS_NAMESPACE": PROMOTION_NAMESPACE,
            },
            description=f"Promotes approved versions of {model_package_group}.",
        )

    def _approval_rule(self, model_package_group: str, dead_letters: sqs.IQueue) -> None:
        """The rule that sends the group's approval changes to the function."""
        self.rule = events.Rule(
            self,
            "OnApprovalChange",
            description=f"Approval changes in {model_package_group} -> model promotion.",
            event_pattern=events.EventPattern(
                source=["aws.sagemaker"],
                detail_type=["SageMaker Model Package State Change"],
                detail={
                    "ModelPackageGroupName": [model_package_group],
                    "ModelApprovalStatus": ["Approved", "Rejected"],
                },
            ),
            targets=[
                targets.LambdaFunction(
                    self.function,
                    retry_attempts=8,
                    max_event_age=Duration.hours(6),
                    dead_letter_queue=dead_letters,
                )
            ],
        )
        acknowledge(self.function, "NIST.800.53.R5-LambdaInsideVPC", LAMBDA_OUTSIDE_VPC)
        acknowledge(
            self.function,
            "AwsSolutions-L1",
            "Python 3.11 on purpose: the whole project (and the Powertools layer pinned "
            "here) targets 3.11, the SageMaker and Glue runtimes' Python.",
        )

    def _grant(
        self,
        group: str,
        pipeline_name: str | None,
        log_group_arn: str,
        dead_letters: sqs.IQueue,
        key: kms.IKey,
    ) -> iam.Policy:
        stack = Stack.of(self)
        statements = [
            *dead_letter_statements(dead_letters, key),
            iam.PolicyStatement(
                sid="WriteLogs",
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[log_group_arn],
            ),
            iam.PolicyStatement(
                sid="Tracing",
                # X-Ray's trace APIs support no resource-level permission.
                actions=["xray:PutTraceSegments", "xray:PutTelemetryRecords"],
                resources=["*"],
            ),
            iam.PolicyStatement(
                sid="ReadRegistry",
                # ListModelPackages has no resource-level permission: "*" is required.
                actions=["sagemaker:ListModelPackages"],
                resources=["*"],
            ),
            iam.PolicyStatement(
                sid="RecordServedVersion",
                actions=["ssm:GetParameter", "ssm:PutParameter"],
                resources=[self.parameter.parameter_arn],
            ),
        ]
        findings: dict[str, str] = {}
        for extra, extra_findings in (self._artifact_grant(group), self._release_grant(key)):
            statements += extra
            findings.update(extra_findings)
        if pipeline_name:
            statements.append(
                iam.PolicyStatement(
                    sid="StartDelivery",
                    actions=["codepipeline:StartPipelineExecution"],
                    resources=[
                        stack.format_arn(
                            service="codepipeline",
                            resource=pipeline_name,
                            arn_format=ArnFormat.NO_RESOURCE_NAME,
                        )
                    ],
                )
            )
        policy = iam.Policy(self, "Policy", statements=statements)
        policy.attach_to_role(self.role)
        for finding, reason in findings.items():
            acknowledge(policy, finding, reason)
        acknowledge(
            policy,
            "AwsSolutions-IAM5[Resource::*]",
            "sagemaker:ListModelPackages and X-Ray's trace APIs support no resource-level "
            "permission.",
        )
        return policy

    def _artifact_grant(self, group: str) -> tuple[list[iam.PolicyStatement], dict[str, str]]:
        """Reading the served version's package and recording its artifact (if recorded)."""
        if self.artifact_parameter is None:
            return [], {}
        packages = Stack.of(self).format_arn(
            service="sagemaker", resource="model-package", resource_name=f"{group}/*"
        )
        statements = [
            iam.PolicyStatement(
                sid="ReadServedArtifact",
                actions=["sagemaker:DescribeModelPackage"],
                resources=[packages],
            ),
            iam.PolicyStatement(
                sid="RecordServedArtifact",
                actions=["ssm:PutParameter"],
                resources=[self.artifact_parameter.parameter_arn],
            ),
        ]
        reason = (
            "The group's versions are created at run time; the newest approved one is "
            "described for its model artifact."
        )
        return statements, {f"AwsSolutions-IAM5[Resource::{packages}]": reason}

    def _release_grant(self, key: kms.IKey) -> tuple[list[iam.PolicyStatement], dict[str, str]]:
        """Recording the approved release: its checksum read from the model archive."""
        if self.release is None or self.release_parameter is None:
            return [], {}
        statements = [
            iam.PolicyStatement(
                sid="RecordRelease",
                actions=["ssm:GetParameter", "ssm:PutParameter"],
                resources=[self.release_parameter.parameter_arn],
            ),
            iam.PolicyStatement(
                sid="ChecksumModelArchives",
                actions=["s3:GetObject"],
                resources=[self.release.model_archives],
            ),
            iam.PolicyStatement(
                sid="DecryptModelArchives",
                actions=["kms:Decrypt"],
                resources=[key.key_arn],
            ),
        ]
        reason = (
            "The approved version's model.tar.gz sits under its training execution's id, "
            "decided at run time; the function reads it once to record its checksum."
        )
        return statements, {f"AwsSolutions-IAM5[{self.release.model_archives_finding}]": reason}


@dataclass(frozen=True, kw_only=True)
class ReleaseRecord:
    """Where the approved release is recorded, and what promotion reads to record it."""

    parameter_name: str
    # Its value until a version is approved (config/layout.py no_model_release).
    no_release: str
    # s3 object ARN pattern of the runs' model archives, and how cdk-nag names it.
    model_archives: str
    model_archives_finding: str
    # The serving stage's account when it is another one (the parameter is shared).
    reader_account: str | None = None


def policy_resource(policy: iam.Policy) -> iam.CfnPolicy:
    """The CloudFormation resource behind ``policy``."""
    resource = policy.node.default_child
    assert isinstance(resource, iam.CfnPolicy)
    return resource
