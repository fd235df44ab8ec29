"""Job failures that AWS reports only as events: EventBridge rules that page the stage topic.

A Glue job run that ends FAILED, TIMEOUT or STOPPED ("Glue Job State Change") and a
monitor processing job that ends Failed ("SageMaker Processing Job State Change") publish
no CloudWatch metric of their own. Each rule here sends one readable line to the topic,
and EventBridge counts its matches (``AWS/Events`` ``MatchedEvents``, dimension
``RuleName``): the alarms of stacks/constructs/failure_alarms.py watch that count, so the
failure is on the dashboard too.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from aws_cdk import Duration, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

GLUE_JOB_STATE_CHANGE = "Glue Job State Change"
GLUE_FAILED_STATES = ("FAILED", "TIMEOUT", "STOPPED")
PROCESSING_JOB_STATE_CHANGE = "SageMaker Processing Job State Change"


class FailureEvents(Construct):
    """Rules for the Glue ETL jobs' failed runs and (with ``monitor_job_prefix``) the
    monitor's failed processing jobs, each to ``topic`` with a retry policy and
    ``dead_letters``. ``rules`` maps the failure's kind to its rule."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        topic: sns.ITopic,
        dead_letters: sqs.IQueue,
        glue_jobs: Sequence[str],
        monitor_job_prefix: str | None,
    ) -> None:
        super().__init__(scope, construct_id)
        field = events.EventField.from_path
        self.rules: dict[str, events.Rule] = {}
        if glue_jobs:
            self.rules["glue-job-failed"] = self._rule(
                "GlueJobFailed",
                description="ETL job runs that ended FAILED, TIMEOUT or STOPPED -> notifications.",
                pattern=events.EventPattern(
                    source=["aws.glue"],
                    detail_type=[GLUE_JOB_STATE_CHANGE],
                    detail={"jobName": list(glue_jobs), "state": list(GLUE_FAILED_STATES)},
                ),
                message=(
                    f"Glue job {field('$.detail.jobName')} run {field('$.detail.jobRunId')} "
                    f"ended {field('$.detail.state')} at {field('$.time')}: "
                    f"{field('$.detail.message')}"
                ),
                topic=topic,
                dead_letters=dead_letters,
            )
        if monitor_job_prefix is not None:
            self.rules["monitor-job-failed"] = self._rule(
                "MonitorJobFailed",
                description="Monitor processing jobs that failed -> notifications.",
                pattern=events.EventPattern(
                    source=["aws.sagemaker"],
                    detail_type=[PROCESSING_JOB_STATE_CHANGE],
                    detail={
                        # Each run's job is "<prefix>-<scheduled time>" (monitor_schedule.py).
                        "ProcessingJobName": [{"prefix": f"{monitor_job_prefix}-"}],
                        "ProcessingJobStatus": ["Failed"],
                    },
                ),
                message=(
                    f"Monitor job {field('$.detail.ProcessingJobName')} failed at "
                    f"{field('$.time')}: {field('$.detail.FailureReason')}"
                ),
                topic=topic,
                dead_letters=dead_letters,
            )

    def _rule(
        self,
        construct_id: str,
        *,
        description: str,
        pattern: events.EventPattern,
        message: str,
        topic: sns.ITopic,
        dead_letters: sqs.IQueue,
    ) -> events.Rule:
        rule = events.Rule(self, construct_id, description=description, event_pattern=pattern)
        rule.add_target(
            targets.SnsTopic(
                topic,
                message=events.RuleTargetInput.from_text(message),
                dead_letter_queue=dead_letters,
                retry_attempts=8,
                max_event_age=Duration.hours(24),
            )
        )
        return rule


def restrict_event_publishing(topic: sns.Topic, rules: Iterable[events.IRule]) -> None:
    """Only ``rules`` may publish to ``topic`` as EventBridge (confused deputy): the
    topic policy's statement for ``events.amazonaws.com``, which the rule targets add
    without a condition, gets ``aws:SourceArn`` equal to one of the rules' ARNs."""
    policy = topic.node.try_find_child("Policy")
    assert policy is not None, "the topic has no policy: no rule targets it"
    resource = policy.node.default_child
    assert isinstance(resource, sns.CfnTopicPolicy)
    document: Mapping[str, list[dict[str, object]]] = Stack.of(topic).resolve(
        resource.policy_document
    )
    [index] = [
        i
        for i, statement in enumerate(document["Statement"])
        if statement.get("Principal") == {"Service": "events.amazonaws.com"}
    ]
    resource.add_property_override(
        f"PolicyDocument.Statement.{index}.Condition",
        {"ArnEquals": {"aws:SourceArn": [rule.rule_arn for rule in rules]}},
    )
