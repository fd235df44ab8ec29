"""The retrain trigger: alarm state change -> EventBridge rule -> Lambda -> pipeline.

Runtime code: ``lambda/retrain_trigger/`` (handler.py + retrain_decision.py).

Dependencies: the function's code asset is its folder only; Powertools (with pydantic and
the X-Ray SDK it needs for Parser and Tracer) comes from the official Powertools layer,
resolved at deploy time from its public SSM parameter for the pinned version. Bundling the
dependencies instead would need pip (network) or Docker at synth, and synth here is
offline; the layer is the same Powertools release that requirements.txt pins for tests.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from aws_cdk import CfnResource, Duration, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from stacks.constructs.nag import acknowledge

FUNCTION_DIR = Path(__file__).resolve().parents[2] / "lambda" / "retrain_trigger"
POWERTOOLS_VERSION = "3.37.0"  # = aws-lambda-powertools in requirements.txt
RUNTIME = lambda_.Runtime.PYTHON_3_12
POWERTOOLS_LAYER_PARAMETER = (
    f"/aws/service/powertools/python/x86_64/{RUNTIME.name}/{POWERTOOLS_VERSION}"
)
METRICS_NAMESPACE = "MLOps/Retraining"


class RetrainTrigger(Construct):
    """An EventBridge rule for ``alarm_names`` entering ALARM, delivering to the retrain
    Lambda (retry policy, encrypted dead-letter queue); the Lambda's idempotency table
    (stage key, point-in-time recovery, TTL) and a role that may only start and list
    executions of ``pipeline_name``."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        key: kms.IKey,
        pipeline_name: str,
        alarm_names: Sequence[str],
        alarm_name_prefix: str,
        cooldown_minutes: int,
        dead_letters: sqs.IQueue,
        log_retention: logs.RetentionDays = logs.RetentionDays.ONE_MONTH,
        removal_policy: RemovalPolicy = RemovalPolicy.DESTROY,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        pipeline_arn = stack.format_arn(
            service="sagemaker", resource="pipeline", resource_name=pipeline_name
        )

        self.table = dynamodb.Table(
            self,
            "IdempotencyTable",
            partition_key=dynamodb.Attribute(name="id", type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
            encryption_key=key,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            # Powertools writes the expiry here; the cooldown lock uses the same attribute.
            time_to_live_attribute="expiration",
            removal_policy=removal_policy,
        )
        self.dead_letters = dead_letters
        log_group = logs.LogGroup(
            self,
            "Logs",
            encryption_key=key,
            retention=log_retention,
            removal_policy=removal_policy,
        )

        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal(
                "lambda.amazonaws.com",
                conditions={"StringEquals": {"aws:SourceAccount": stack.account}},
            ),
            description=f"Retrain trigger: starts {pipeline_name} when a monitoring alarm fires.",
        )
        # Into the role's default policy, which the function already waits for; CDK adds
        # the X-Ray and dead-letter statements there as well (tracing, dead_letter_queue).
        for statement in (
            iam.PolicyStatement(
                sid="StartAndWatchThisPipeline",
                actions=["sagemaker:StartPipelineExecution", "sagemaker:ListPipelineExecutions"],
                resources=[pipeline_arn],
            ),
            iam.PolicyStatement(
                sid="Idempotency",
                actions=[
                    "dynamodb:GetItem",
                    "dynamodb:PutItem",
                    "dynamodb:UpdateItem",
                    "dynamodb:DeleteItem",
                ],
                resources=[self.table.table_arn],
            ),
            iam.PolicyStatement(
                sid="UseStageKey",
                actions=["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"],
                resources=[key.key_arn],
            ),
            iam.PolicyStatement(
                sid="Logs",
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[log_group.log_group_arn],
            ),
        ):
            self.role.add_to_policy(statement)
        acknowledge(
            self.role,
            "AwsSolutions-IAM5[Resource::*]",
            "xray:PutTraceSegments and xray:PutTelemetryRecords (active tracing) support no "
            "resource ARN.",
        )
        acknowledge(
            self.role,
            f"AwsSolutions-IAM5[Resource::<{stack.get_logical_id(log_group.node.default_child)}"  # type: ignore[arg-type]
            ".Arn>:*]",
            "The log group's ARN as CloudFormation returns it ends in ':*' (its streams).",
        )

        self.function = lambda_.Function(
            self,
            "Function",
            description="Decides whether a monitoring alarm retrains the model (Powertools).",
            runtime=RUNTIME,
            architecture=lambda_.Architecture.X86_64,
            handler="handler.handler",
            code=lambda_.Code.from_asset(
                str(FUNCTION_DIR), exclude=["__pycache__", "*.pyc", "requirements.txt"]
            ),
            layers=[
                lambda_.LayerVersion.from_layer_version_arn(
                    self,
                    "Powertools",
                    f"{{{{resolve:ssm:{POWERTOOLS_LAYER_PARAMETER}}}}}",
                )
            ],
            role=self.role,
            timeout=Duration.seconds(30),
            memory_size=256,
            tracing=lambda_.Tracing.ACTIVE,
            log_group=log_group,
            # Failed asynchronous invocations (after Lambda's own retries) land here too.
            dead_letter_queue=self.dead_letters,
            retry_attempts=2,
            environment={
                "PIPELINE_NAME": pipeline_name,
                "IDEMPOTENCY_TABLE": self.table.table_name,
                "COOLDOWN_MINUTES": str(cooldown_minutes),
                "ALARM_NAME_PREFIX": alarm_name_prefix,
                "POWERTOOLS_SERVICE_NAME": "retrain-trigger",
                "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
            },
        )
        # The function waits for its role's policy; the Role property's GetAtt already
        # orders it after the role itself (cfn-lint W3005 on CDK's extra DependsOn).
        function_resource = self.function.node.default_child
        policy_resource = self.role.node.find_child("DefaultPolicy").node.default_child
        assert isinstance(function_resource, CfnResource)
        assert isinstance(policy_resource, CfnResource)
        function_resource.add_override("DependsOn", [stack.get_logical_id(policy_resource)])
        acknowledge(
            self.function,
            "AwsSolutions-L1",
            f"Python {RUNTIME.name} is pinned with the Powertools layer built for it; the "
            "runtime moves together with the layer, not on its own.",
        )

        # "CloudWatch Alarm State Change" to ALARM, for exactly these alarms.
        self.rule = events.Rule(
            self,
            "AlarmRule",
            description="Monitoring alarms entering ALARM start the retrain decision.",
            event_pattern=events.EventPattern(
                source=["aws.cloudwatch"],
                detail_type=["CloudWatch Alarm State Change"],
                detail={"alarmName": list(alarm_names), "state": {"value": ["ALARM"]}},
            ),
        )
        self.rule.add_target(
            targets.LambdaFunction(
                self.function,
                dead_letter_queue=self.dead_letters,
                retry_attempts=8,
                max_event_age=Duration.hours(24),
            )
        )
