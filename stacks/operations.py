"""Operations stack: the stage's operator dashboard, the alarms on the platform's own
failures (and, until the Monitoring stack provides one, the stage's notification topic)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aws_cdk import Stack
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from constructs import Construct

from config.layout import resource_name
from config.schema import DatasetSchema
from config.settings import StageSettings
from stacks.constructs.failure_alarms import FailureAlarms, FailureSources
from stacks.constructs.operations_dashboard import OperationsDashboard, WatchedNames
from stacks.data_lake import SharedDataLake


class OperationsStack(Stack):
    """One CloudWatch dashboard per stage; ``notifications`` is the stage's topic;
    ``failures``: what can fail, each watched by an alarm the dashboard shows."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: StageSettings,
        schema: DatasetSchema,
        data_lake: SharedDataLake,
        topic: sns.ITopic | None = None,
        alarm_names: Sequence[str] = (),
        glue_jobs: Mapping[str, str] | None = None,
        functions: Mapping[str, lambda_.IFunction] | None = None,
        failures: FailureSources | None = None,
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            description=f"MLOps operator dashboard ({settings.name}).",
        )
        if topic is None:
            # Stand-in until the Monitoring stack's topic is passed in (see the report).
            topic = sns.Topic(
                self,
                "Notifications",
                display_name=f"MLOps {settings.name} notifications",
                master_key=data_lake.key(self),
                enforce_ssl=True,
            )
        self.notifications = topic
        self.failure_alarms = (
            None
            if failures is None
            else FailureAlarms(
                self, "Failures", stage=settings.name, dataset=schema.name, sources=failures
            )
        )
        failure_names = [] if self.failure_alarms is None else self.failure_alarms.names
        self.dashboard = OperationsDashboard(
            self,
            "Dashboard",
            dashboard_name=resource_name(settings.name, schema.name, "operations"),
            names=WatchedNames(
                endpoint=resource_name(settings.name, schema.name, "endpoint"),
                training_pipeline=resource_name(settings.name, schema.name, "training"),
                monitor_schedule=resource_name(settings.name, schema.name, "monitor"),
                features=schema.feature_names,
                quality_metric=schema.quality_gate.metric,
            ),
            alarm_names=[*alarm_names, *failure_names],
            glue_jobs=glue_jobs,
            functions=functions,
        )
