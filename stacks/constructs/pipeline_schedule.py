"""An EventBridge Scheduler schedule that starts a SageMaker pipeline, with its own role."""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sagemaker as sagemaker
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_sqs as sqs
from constructs import Construct


def pipeline_schedule(
    scope: Construct,
    construct_id: str,
    *,
    pipeline: sagemaker.CfnPipeline,
    pipeline_arn: str,
    expression: str,
    enabled: bool,
    description: str,
    key: kms.IKey,
    dead_letters: sqs.IQueue,
) -> scheduler.CfnSchedule:
    """Start ``pipeline`` (its parameters' defaults) at ``expression`` (UTC); a start the
    scheduler cannot deliver after its retries goes to ``dead_letters``. The role is
    ``ScheduleRole`` in ``scope``: one schedule per scope."""
    stack = Stack.of(scope)
    role = iam.Role(
        scope,
        "ScheduleRole",
        # Only schedules of this account may use the role (confused deputy).
        assumed_by=iam.ServicePrincipal(
            "scheduler.amazonaws.com",
            conditions={
                "StringEquals": {"aws:SourceAccount": stack.account},
                # The schedule's own ARN would be a circular reference (CloudFormation
                # names it, and it names this role): this account's default group.
                "ArnLike": {
                    "aws:SourceArn": stack.format_arn(
                        service="scheduler", resource="schedule", resource_name="default/*"
                    )
                },
            },
        ),
        description=f"Starts {pipeline.pipeline_name} on its schedule.",
    )
    role.add_to_policy(
        iam.PolicyStatement(actions=["sagemaker:StartPipelineExecution"], resources=[pipeline_arn])
    )
    # The scheduler sends undeliverable starts to the dead-letter queue as this role.
    role.add_to_policy(
        iam.PolicyStatement(actions=["sqs:SendMessage"], resources=[dead_letters.queue_arn])
    )
    role.add_to_policy(
        iam.PolicyStatement(actions=["kms:GenerateDataKey", "kms:Decrypt"], resources=[key.key_arn])
    )
    schedule = scheduler.CfnSchedule(
        scope,
        construct_id,
        description=description,
        schedule_expression=expression,
        schedule_expression_timezone="UTC",
        state="ENABLED" if enabled else "DISABLED",
        flexible_time_window=scheduler.CfnSchedule.FlexibleTimeWindowProperty(
            mode="FLEXIBLE", maximum_window_in_minutes=60
        ),
        target=scheduler.CfnSchedule.TargetProperty(
            arn=pipeline_arn,
            role_arn=role.role_arn,
            retry_policy=scheduler.CfnSchedule.RetryPolicyProperty(
                maximum_retry_attempts=3, maximum_event_age_in_seconds=3600
            ),
            dead_letter_config=scheduler.CfnSchedule.DeadLetterConfigProperty(
                arn=dead_letters.queue_arn
            ),
        ),
    )
    schedule.node.add_dependency(pipeline)
    return schedule
