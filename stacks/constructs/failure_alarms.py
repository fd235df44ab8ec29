"""Alarms on the platform's own failures, so that nothing fails silently: the monitor
stopped or failing, dead letters waiting, a Glue job or a pipeline execution failed, a
function erroring or throttled.

Each is named by ``config.layout.operations_alarm_name`` (outside the monitoring alarms'
prefix: a failure pages, it never retrains); the stage's topic becomes every alarm's
action (``stacks/constructs/alarm_actions.py``) and the dashboard shows them all by name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_events as events
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from config.layout import operations_alarm_name
from config.metrics import MONITORING_NAMESPACE
from stacks.constructs.monitoring_alarms import MAX_EVALUATION_SECONDS

FIVE_MINUTES = Duration.minutes(5)
AT_LEAST_ONE = cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD
# The monitor launcher's heartbeat (lambda/monitor_launcher/handler.py, config/metrics.py).
HEARTBEAT = "MonitorRuns"


@dataclass(frozen=True)
class Heartbeat:
    """The monitor's per-run metric: published by ``service`` every ``every_minutes``."""

    service: str
    every_minutes: int


@dataclass(frozen=True)
class FailureSources:
    """What can fail, by a short label used in the alarm's name."""

    dead_letters: Mapping[str, sqs.IQueue]
    functions: Mapping[str, lambda_.IFunction]
    # Failure kind ("glue-job-failed", "monitor-job-failed") -> the rule matching it.
    event_rules: Mapping[str, events.IRule]
    pipeline_name: str | None  # None: the stage runs no pipeline (Prod, by default)
    heartbeat: Heartbeat | None = None


class FailureAlarms(Construct):
    """One alarm per failure source; ``names`` lists them (fixed names, not tokens)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        stage: str,
        dataset: str,
        sources: FailureSources,
    ) -> None:
        super().__init__(scope, construct_id)
        self._stage, self._dataset = stage, dataset
        self.alarms: list[cloudwatch.Alarm] = []
        self.names: list[str] = []  # literal, so the dashboard shows them by name
        if sources.heartbeat is not None:
            self._monitor_stopped(sources.heartbeat)
        for kind, rule in sources.event_rules.items():
            self._add(
                f"Rule{_pascal(kind)}",
                kind,
                f"EventBridge matched a {kind.replace('-', ' ')} event; the topic has its detail.",
                cloudwatch.Metric(
                    namespace="AWS/Events",
                    metric_name="MatchedEvents",
                    dimensions_map={"RuleName": rule.rule_name},
                    statistic="Sum",
                    period=FIVE_MINUTES,
                ),
            )
        if sources.pipeline_name is not None:
            self._add(
                "PipelineFailed",
                "pipeline-failed",
                f"An execution of {sources.pipeline_name} failed.",
                cloudwatch.Metric(
                    namespace="AWS/Sagemaker/ModelBuildingPipeline",
                    metric_name="ExecutionFailed",
                    dimensions_map={"PipelineName": sources.pipeline_name},
                    statistic="Sum",
                    period=FIVE_MINUTES,
                ),
            )
        for label, queue in sources.dead_letters.items():
            self._add(
                f"DeadLetters{_pascal(label)}",
                f"dead-letters-{label}",
                f"Undelivered events or invocations wait in the {label} dead-letter queue.",
                queue.metric_approximate_number_of_messages_visible(
                    statistic="Maximum", period=FIVE_MINUTES
                ),
            )
        for label, function in sources.functions.items():
            for what, metric in (
                ("errors", function.metric_errors(statistic="Sum", period=FIVE_MINUTES)),
                ("throttles", function.metric_throttles(statistic="Sum", period=FIVE_MINUTES)),
            ):
                self._add(
                    f"{_pascal(label)}{_pascal(what)}",
                    f"{label}-{what}",
                    f"The {label} function reported {what}.",
                    metric,
                )

    def _name(self, kind: str) -> str:
        name = operations_alarm_name(self._stage, self._dataset, kind)
        self.names.append(name)
        return name

    def _monitor_stopped(self, heartbeat: Heartbeat) -> None:
        """No heartbeat in two intervals running: the schedule stopped invoking the monitor
        (disabled, deleted, or refused). Missing data is the failure, so it breaches; two
        intervals, because the current one may not have reached its run yet."""
        period = Duration.minutes(heartbeat.every_minutes)
        # EvaluationPeriods x Period may not exceed a day: a daily monitor is judged on one.
        runs = 2 if 2 * period.to_seconds() <= MAX_EVALUATION_SECONDS else 1
        alarm = cloudwatch.Alarm(
            self,
            "MonitorStopped",
            alarm_name=self._name("monitor-stopped"),
            alarm_description=(
                f"The monitor has not run for {runs} of its {heartbeat.every_minutes}-minute "
                "intervals (no MonitorRuns heartbeat)."
            ),
            metric=cloudwatch.Metric(
                namespace=MONITORING_NAMESPACE,
                metric_name=HEARTBEAT,
                dimensions_map={"service": heartbeat.service},
                statistic="Sum",
                period=period,
            ),
            threshold=1,
            comparison_operator=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
            evaluation_periods=runs,
            datapoints_to_alarm=runs,
            treat_missing_data=cloudwatch.TreatMissingData.BREACHING,
        )
        self.alarms.append(alarm)

    def _add(
        self, construct_id: str, kind: str, description: str, metric: cloudwatch.IMetric
    ) -> None:
        """At least one occurrence in five minutes; no datapoint means nothing happened."""
        self.alarms.append(
            cloudwatch.Alarm(
                self,
                construct_id,
                alarm_name=self._name(kind),
                alarm_description=description,
                metric=metric,
                threshold=1,
                comparison_operator=AT_LEAST_ONE,
                evaluation_periods=1,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            )
        )


def _pascal(label: str) -> str:
    return "".join(part.capitalize() for part in label.split("-"))
