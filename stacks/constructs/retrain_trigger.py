"""The retrain trigger: alarm state change -> EventBridge rule -> Lambda (the retraining
is due) -> the curated Glue job's success -> EventBridge rule -> Lambda -> pipeline.

Runtime code: ``lambda/retrain_trigger/`` (handler.py + retrain_decision.py), its
folder only, built as every Powertools function here (``powertools_function``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from aws_cdk import Duration, RemovalPolicy, Stack
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
from stacks.constructs.powertools_function import powertools_function

FUNCTION_DIR = Path(__file__).resolve().parents[2] / "lambda" / "retrain_trigger"
METRICS_NAMESPACE = "MLOps/Retraining"


class RetrainTrigger(Construct):
    """An EventBridge rule for ``alarm_names`` entering ALARM, delivering to the retrain
    Lambda (retry policy, encrypted dead-letter queue); the Lambda's idempotency table
    (stage key, point-in-time recovery, TTL) and a role that may only start and list
    executions of ``pipeline_name``. With ``curated_job_name``, a second rule delivers
    that job's successes: the retraining starts once the feedback is in curated."""

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
        curated_job_name: str | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        pipeline_arn = stack.format_arn(
            service="sagemaker", resource="pipeline", resource_name=pipeline_name
        )

        self.table = self._idempotency_table(key, removal_policy)
        self.dead_letters = dead_letters
        self.function, self.role = powertools_function(
            self,
            description="Decides whether a monitoring alarm retrains the model (Powertools).",
            role_description=(
                f"Retrain trigger: starts {pipeline_name} when a monitoring alarm fires."
            ),
            code=lambda_.Code.from_asset(
                str(FUNCTION_DIR), exclude=["__pycache__", "*.pyc", "requirements.txt"]
            ),
            statements=self._statements(key, pipeline_arn, curated_job_name),
            key=key,
            dead_letters=self.dead_letters,
            service_name="retrain-trigger",
            metrics_namespace=METRICS_NAMESPACE,
            environment={
                "PIPELINE_NAME": pipeline_name,
                "IDEMPOTENCY_TABLE": self.table.table_name,
                "COOLDOWN_MINUTES": str(cooldown_minutes),
                "ALARM_NAME_PREFIX": alarm_name_prefix,
                "CURATED_JOB_NAME": curated_job_name or "",
            },
            timeout=Duration.seconds(30),
            log_retention=log_retention,
            removal_policy=removal_policy,
        )

        self._alarm_rule(alarm_names)
        if curated_job_name is not None:
            self._curated_rule(curated_job_name)

    def _statements(
        self, key: kms.IKey, pipeline_arn: str, curated_job_name: str | None
    ) -> list[iam.PolicyStatement]:
        """What the function does: start and watch its pipeline, keep its idempotency
        records, read the curated job's runs (when it waits for them), use the stage key."""
        statements = [
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
        ]
        if curated_job_name is not None:
            job = Stack.of(self).format_arn(
                service="glue", resource="job", resource_name=curated_job_name
            )
            statements.append(
                iam.PolicyStatement(
                    sid="ReadCuratedJobRuns", actions=["glue:GetJobRun"], resources=[job]
                )
            )
        statements.append(
            iam.PolicyStatement(
                sid="UseStageKey",
                actions=["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"],
                resources=[key.key_arn],
            )
        )
        return statements

    def _idempotency_table(self, key: kms.IKey, removal_policy: RemovalPolicy) -> dynamodb.Table:
        """Powertools' idempotency records and the cooldown lock."""
        table = dynamodb.Table(
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
        acknowledge(
            table,
            "NIST.800.53.R5-DynamoDBInBackupPlan",
            "Idempotency records and the cooldown lock expire within hours by design (TTL); "
            "point-in-time recovery covers a restore, and a backup plan would only keep "
            "copies of records meant to vanish.",
        )
        return table

    def _alarm_rule(self, alarm_names: Sequence[str]) -> None:
        """The rule that invokes the function when one of ``alarm_names`` fires."""
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
        self.rule.add_target(self._target())

    def _curated_rule(self, curated_job_name: str) -> None:
        """The rule that invokes the function when the curated job run succeeds."""
        self.curated_rule = events.Rule(
            self,
            "CuratedRule",
            description="The curated job's successes start a pending retraining.",
            event_pattern=events.EventPattern(
                source=["aws.glue"],
                detail_type=["Glue Job State Change"],
                detail={"jobName": [curated_job_name], "state": ["SUCCEEDED"]},
            ),
        )
        self.curated_rule.add_target(self._target())

    def _target(self) -> targets.LambdaFunction:
        """The function as a rule target: EventBridge retries, then dead-letters."""
        return targets.LambdaFunction(
            self.function,
            dead_letter_queue=self.dead_letters,
            retry_attempts=8,
            max_event_age=Duration.hours(24),
        )
