"""The stage's operator dashboard: endpoint, training pipeline, ETL, drift and quality,
retraining and promotion, and the state of every alarm.

cdk-monitoring-constructs draws what it covers here (Lambda functions) with its tested
widgets. It has no SageMaker endpoint or pipeline monitoring, and its Glue monitoring
needs literal job names (ours are CloudFormation's), so those widgets, and the ones for
this project's own metrics, are written here. Every metric comes from
config/metrics.py's registry (a test checks the synthesized dashboard against it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import cast

import cdk_monitoring_constructs as monitoring
from aws_cdk import ArnFormat, Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from config.layout import VARIANT_NAME
from config.metrics import (
    DATA_LAKE_NAMESPACE,
    DATA_METRICS_NAMESPACE,
    DELIVERY_NAMESPACE,
    MONITORING_NAMESPACE,
    QUARANTINE_REASONS,
    RETRAINING_NAMESPACE,
)

PERIOD = Duration.minutes(5)
WIDTH = 6  # four graphs per 24-column row (a Row wraps the rest)
HEIGHT = 6
RETRAIN_DECISIONS = (
    "started",
    # An alarm's retrain waits for the curated run that carries its feedback.
    "waiting_for_curated",
    "skipped_running",
    "skipped_cooldown",
    "skipped_foreign_alarm",
    "rejected_malformed",
)
PROMOTION_DECISIONS = (
    "promoted",
    "rolled_back",
    "duplicate",
    "ignored_older",
    "ignored_not_serving",
    "no_approved_version",
    "rejected_malformed",
)


@dataclass(frozen=True)
class WatchedNames:
    """The physical names the dashboard's metrics are dimensioned by."""

    endpoint: str
    training_pipeline: str
    monitor_schedule: str
    features: Sequence[str]
    quality_metric: str  # the schema's quality-gate metric, published live by the monitor


class OperationsDashboard(Construct):
    """One CloudWatch dashboard for the stage, built from what it is given."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        dashboard_name: str,
        names: WatchedNames,
        alarm_names: Sequence[str],
        glue_jobs: Mapping[str, str] | None = None,
        functions: Mapping[str, lambda_.IFunction] | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.facade = monitoring.MonitoringFacade(
            self,
            "Facade",
            dashboard_factory=monitoring.DefaultDashboardFactory(
                self,
                "Factory",
                dashboard_name_prefix=dashboard_name,
                create_dashboard=True,
                create_summary_dashboard=False,
                create_alarm_dashboard=False,
            ),
        )
        facade = self.facade
        facade.add_large_header(f"Endpoint {names.endpoint}")
        facade.add_widget(_row(*self._endpoint(names.endpoint)))
        facade.add_large_header(f"Training pipeline {names.training_pipeline}")
        facade.add_widget(_row(*self._training(names.training_pipeline)))
        facade.add_large_header("Data lake ETL")
        jobs = [self._glue_job(label, job) for label, job in (glue_jobs or {}).items()]
        facade.add_widget(_row(*self._etl(), *jobs))
        facade.add_large_header("Drift and model quality")
        facade.add_widget(_row(*self._quality(names)))
        facade.add_large_header("Retraining and model promotion")
        facade.add_widget(_row(*self._decisions()))
        for label, function in (functions or {}).items():
            facade.monitor_lambda_function(
                lambda_function=function,
                human_readable_name=f"Lambda {label}",
                alarm_friendly_name=label,
            )
        facade.add_large_header("Alarms")
        stack = Stack.of(self)
        alarms = [
            cloudwatch.Alarm.from_alarm_arn(
                self,
                f"Alarm{i}",
                stack.format_arn(
                    service="cloudwatch",
                    resource="alarm",
                    resource_name=name,
                    arn_format=ArnFormat.COLON_RESOURCE_NAME,
                ),
            )
            for i, name in enumerate(alarm_names)
        ]
        facade.add_widget(
            cloudwatch.AlarmStatusWidget(
                title="Alarm status", alarms=alarms, width=24, height=HEIGHT
            )
        )
        dashboard = facade.created_dashboard()
        assert dashboard is not None
        self.dashboard: cloudwatch.Dashboard = dashboard

    @staticmethod
    def _endpoint(endpoint: str) -> list[cloudwatch.IWidget]:
        dims = {"EndpointName": endpoint, "VariantName": VARIANT_NAME}

        def metric(namespace: str, name: str, statistic: str, label: str) -> cloudwatch.Metric:
            return cloudwatch.Metric(
                namespace=namespace,
                metric_name=name,
                dimensions_map=dims,
                statistic=statistic,
                period=PERIOD,
                label=label,
            )

        invocations = metric("AWS/SageMaker", "Invocations", "Sum", "invocations")
        per_instance = metric(
            "AWS/SageMaker", "InvocationsPerInstance", "Sum", "invocations per instance"
        )
        return [
            cloudwatch.GraphWidget(
                title="Invocations and errors",
                left=[
                    invocations,
                    metric("AWS/SageMaker", "Invocation4XXErrors", "Sum", "4xx"),
                    metric("AWS/SageMaker", "Invocation5XXErrors", "Sum", "5xx"),
                ],
                width=WIDTH,
                height=HEIGHT,
            ),
            cloudwatch.GraphWidget(
                title="Model latency (microseconds)",
                left=[
                    metric("AWS/SageMaker", "ModelLatency", "p50", "p50"),
                    metric("AWS/SageMaker", "ModelLatency", "p99", "p99"),
                ],
                width=WIDTH,
                height=HEIGHT,
            ),
            cloudwatch.GraphWidget(
                title="Instances in service",
                # SageMaker publishes no instance count; invocations over invocations per
                # instance is the count of instances that served (empty while idle).
                left=[
                    cloudwatch.MathExpression(
                        expression="invocations / perinstance",
                        using_metrics={"invocations": invocations, "perinstance": per_instance},
                        label="instances",
                        period=PERIOD,
                    )
                ],
                width=WIDTH,
                height=HEIGHT,
            ),
            cloudwatch.GraphWidget(
                title="CPU and memory (% of one core / of memory)",
                left=[
                    metric("/aws/sagemaker/Endpoints", "CPUUtilization", "Average", "CPU"),
                    metric("/aws/sagemaker/Endpoints", "MemoryUtilization", "Average", "memory"),
                ],
                width=WIDTH,
                height=HEIGHT,
            ),
        ]

    @staticmethod
    def _training(pipeline: str) -> list[cloudwatch.IWidget]:
        def metric(name: str, statistic: str = "Sum") -> cloudwatch.Metric:
            return cloudwatch.Metric(
                namespace="AWS/Sagemaker/ModelBuildingPipeline",
                metric_name=name,
                dimensions_map={"PipelineName": pipeline},
                statistic=statistic,
                period=Duration.hours(1),
                label=name.removeprefix("Execution").lower(),
            )

        return [
            cloudwatch.GraphWidget(
                title="Executions",
                left=[metric("ExecutionStarted"), metric("ExecutionSucceeded")],
                right=[metric("ExecutionFailed"), metric("ExecutionStopped")],
                width=WIDTH,
                height=HEIGHT,
            ),
            cloudwatch.GraphWidget(
                title="Execution duration (ms)",
                left=[metric("ExecutionDuration", "Average")],
                width=WIDTH,
                height=HEIGHT,
            ),
        ]

    @staticmethod
    def _etl() -> list[cloudwatch.IWidget]:
        job = {"Job": "raw_to_processed"}

        def metric(name: str, statistic: str, label: str, **extra: str) -> cloudwatch.Metric:
            return cloudwatch.Metric(
                namespace=DATA_LAKE_NAMESPACE,
                metric_name=name,
                dimensions_map={**job, **extra},
                statistic=statistic,
                period=Duration.hours(1),
                label=label,
            )

        return [
            cloudwatch.GraphWidget(
                title="raw -> processed: runs and rows",
                left=[
                    metric("RowsRead", "Sum", "rows read"),
                    metric("RowsValid", "Sum", "rows valid"),
                    metric("DuplicatesDropped", "Sum", "duplicates dropped"),
                ],
                right=[metric("RowsRead", "SampleCount", "job runs")],
                width=WIDTH,
                height=HEIGHT,
            ),
            cloudwatch.GraphWidget(
                title="Rows quarantined, by reason",
                left=[
                    metric("RowsQuarantined", "Sum", reason, Reason=reason)
                    for reason in QUARANTINE_REASONS
                ],
                stacked=True,
                width=WIDTH,
                height=HEIGHT,
            ),
        ]

    @staticmethod
    def _glue_job(label: str, job: str) -> cloudwatch.IWidget:
        """Glue's own task metrics for one job (all runs). cdk-monitoring-constructs'
        Glue monitoring needs a literal job name, and these names are CloudFormation's."""

        def metric(name: str, short: str) -> cloudwatch.Metric:
            return cloudwatch.Metric(
                namespace="Glue",
                metric_name=f"glue.driver.aggregate.{name}",
                dimensions_map={"JobName": job, "JobRunId": "ALL", "Type": "count"},
                statistic="Sum",
                period=Duration.hours(1),
                label=short,
            )

        return cloudwatch.GraphWidget(
            title=f"Glue job {label}: tasks",
            left=[metric("numCompletedTasks", "completed")],
            right=[metric("numFailedTasks", "failed"), metric("numKilledTasks", "killed")],
            width=WIDTH,
            height=HEIGHT,
        )

    @staticmethod
    def _quality(names: WatchedNames) -> list[cloudwatch.IWidget]:
        def ours(name: str, statistic: str = "Maximum") -> cloudwatch.Metric:
            return cloudwatch.Metric(
                namespace=MONITORING_NAMESPACE,
                metric_name=name,
                dimensions_map={"Endpoint": names.endpoint},
                statistic=statistic,
                period=Duration.hours(1),
                label=name,
            )

        drift = [
            cloudwatch.Metric(
                namespace=DATA_METRICS_NAMESPACE,
                metric_name=f"feature_baseline_drift_{feature}",
                dimensions_map={
                    "Endpoint": names.endpoint,
                    "MonitoringSchedule": names.monitor_schedule,
                },
                statistic="Maximum",
                period=Duration.hours(1),
                label=feature,
            )
            for feature in names.features
        ]
        return [
            cloudwatch.GraphWidget(
                title="Drift per feature (distance from the training baseline)",
                left=drift,
                width=WIDTH,
                height=HEIGHT,
            ),
            cloudwatch.GraphWidget(
                title="Monitor findings per run",
                left=[ours("FeaturesDrifted"), ours("DataQualityViolations")],
                right=[ours("RowsAnalyzed", "Sum")],
                width=WIDTH,
                height=HEIGHT,
            ),
            cloudwatch.GraphWidget(
                title=f"Live model quality ({names.quality_metric})",
                left=[ours(names.quality_metric, "Average")],
                right=[ours("ModelQualityViolation")],
                width=WIDTH,
                height=HEIGHT,
            ),
        ]

    @staticmethod
    def _decisions() -> list[cloudwatch.IWidget]:
        def decisions(
            namespace: str, name: str, service: str, values: Sequence[str]
        ) -> list[cloudwatch.IMetric]:
            return [
                cloudwatch.Metric(
                    namespace=namespace,
                    metric_name=name,
                    dimensions_map={"service": service, "Decision": value},
                    statistic="Sum",
                    period=Duration.hours(1),
                    label=value,
                )
                for value in values
            ]

        return [
            cloudwatch.GraphWidget(
                title="Retrain decisions",
                left=decisions(
                    RETRAINING_NAMESPACE, "RetrainDecision", "retrain-trigger", RETRAIN_DECISIONS
                ),
                stacked=True,
                width=WIDTH,
                height=HEIGHT,
            ),
            cloudwatch.GraphWidget(
                title="Model promotion decisions",
                left=decisions(
                    DELIVERY_NAMESPACE, "PromotionDecision", "model-promotion", PROMOTION_DECISIONS
                ),
                stacked=True,
                width=WIDTH,
                height=HEIGHT,
            ),
        ]


def _row(*widgets: cloudwatch.IWidget) -> cloudwatch.IWidget:
    """Widgets side by side (a Row is a widget; jsii's Python typing misses that)."""
    return cast(cloudwatch.IWidget, cloudwatch.Row(*widgets))
