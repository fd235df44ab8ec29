"""Retrain outcomes to the operators: pipeline execution Failed / Succeeded -> SNS."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

DETAIL_TYPE = "SageMaker Model Building Pipeline Execution Status Change"


class PipelineStatusNotifications(Construct):
    """An EventBridge rule on ``pipeline_name``'s executions ending Failed or Succeeded,
    publishing one readable line (input transformer) to ``topic``."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        pipeline_name: str,
        topic: sns.ITopic,
        dead_letters: sqs.IQueue,
    ) -> None:
        super().__init__(scope, construct_id)
        field = events.EventField.from_path
        message = (
            f"Training pipeline {pipeline_name}: execution "
            f"{field('$.detail.pipelineExecutionDisplayName')} "
            f"{field('$.detail.currentPipelineExecutionStatus')} at {field('$.time')}. "
            f"{field('$.detail.pipelineExecutionDescription')} "
            f"({field('$.detail.pipelineExecutionArn')})"
        )
        self.rule = events.Rule(
            self,
            "Rule",
            description=f"Failed and succeeded executions of {pipeline_name} -> notifications.",
            event_pattern=events.EventPattern(
                source=["aws.sagemaker"],
                detail_type=[DETAIL_TYPE],
                detail={
                    # A suffix keeps the pattern literal (matchable from cdk.out locally);
                    # the rule only sees this account's events anyway.
                    "pipelineArn": [{"suffix": f":pipeline/{pipeline_name}"}],
                    "currentPipelineExecutionStatus": ["Failed", "Succeeded"],
                },
            ),
        )
        self.rule.add_target(
            targets.SnsTopic(
                topic,
                message=events.RuleTargetInput.from_text(message),
                dead_letter_queue=dead_letters,
                retry_attempts=8,
                max_event_age=Duration.hours(24),
            )
        )
