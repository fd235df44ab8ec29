"""One deployable stage (Dev or Prod) of the platform: a CDK Stage composing the stacks."""

from __future__ import annotations

from collections.abc import Iterable

from aws_cdk import Environment, Stack, Stage
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from config.layout import resource_name
from config.schema import DatasetSchema
from config.settings import StageSettings
from stacks.constructs.alarm_actions import notify_on_every_alarm
from stacks.constructs.dead_letters import DeadLetterQueue
from stacks.constructs.failure_alarms import FailureSources, Heartbeat
from stacks.constructs.monitor_schedule import MonitorSchedule
from stacks.data_lake import DataLakeStack
from stacks.ml_pipeline import MlPipelineStack
from stacks.monitoring import MonitoringStack
from stacks.operations import OperationsStack
from stacks.serving import ServingStack


class MlopsStage(Stage):
    """All stacks of one stage, built from that stage's settings and its dataset's schema
    (loaded once by the app)."""

    def __init__(self, scope: Construct, *, settings: StageSettings, schema: DatasetSchema) -> None:
        super().__init__(
            scope,
            settings.name,
            env=Environment(account=settings.account, region=settings.region),
        )
        self.data_lake = DataLakeStack(self, "DataLake", settings=settings, schema=schema)
        # A stage that serves another stage's approved models (Prod, by default) has no
        # training resources at all: no pipeline, registry, promotion or retraining.
        self.ml_pipeline = (
            MlPipelineStack(
                self,
                "MlPipeline",
                settings=settings,
                schema=schema,
                data_lake=self.data_lake.shared,
            )
            if settings.trains_models
            else None
        )
        if self.ml_pipeline is not None:
            self.ml_pipeline.add_stack_dependency(self.data_lake)
        # Needs the endpoint's name only, not the Serving stack.
        glue_jobs = {
            "raw-to-processed": self.data_lake.etl.raw_to_processed.ref,
            "processed-to-curated": self.data_lake.etl.processed_to_curated.ref,
        }
        self.monitoring = MonitoringStack(
            self,
            "Monitoring",
            settings=settings,
            schema=schema,
            data_lake=self.data_lake.shared,
            glue_jobs=list(glue_jobs.values()),
        )
        self.monitoring.add_stack_dependency(self.data_lake)
        # Serving reads the recorded version at deploy time: always synthesized.
        self.serving = ServingStack(
            self, "Serving", settings=settings, schema=schema, data_lake=self.data_lake.shared
        )
        self.serving.add_stack_dependency(self.data_lake)
        if self.ml_pipeline is not None:
            # The served-version parameter is created by the MlPipeline stack.
            self.serving.add_stack_dependency(self.ml_pipeline)
        # The operator dashboard; every alarm of the stage notifies the stage's topic.
        topic = self.monitoring.notifications
        self.operations = self._operations(settings, schema, glue_jobs)
        self.operations.add_stack_dependency(self.data_lake)
        stacks = [self.data_lake, self.ml_pipeline, self.monitoring, self.serving, self.operations]
        notify_on_every_alarm([stack for stack in stacks if stack is not None], topic)

    def _functions(self) -> dict[str, lambda_.IFunction]:
        """The stage's functions by a short label (what their alarms and graphs name)."""
        functions: dict[str, lambda_.IFunction] = {}
        if self.ml_pipeline is not None:
            functions["model-promotion"] = self.ml_pipeline.promotion.function
        if self.monitoring.retrain is not None:
            functions["retrain-trigger"] = self.monitoring.retrain.function
        if isinstance(self.monitoring.monitor, MonitorSchedule):
            functions["monitor-launcher"] = self.monitoring.monitor.launcher.function
        return functions

    def _operations(
        self, settings: StageSettings, schema: DatasetSchema, glue_jobs: dict[str, str]
    ) -> OperationsStack:
        """The Operations stack: the dashboard, and an alarm for every failure source."""
        functions = self._functions()
        monitor = self.monitoring.monitor
        return OperationsStack(
            self,
            "Operations",
            settings=settings,
            schema=schema,
            data_lake=self.data_lake.shared,
            topic=self.monitoring.notifications,
            alarm_names=[*self.serving.endpoint.alarm_names, *self.monitoring.alarms.names],
            glue_jobs=glue_jobs,
            functions=functions,
            failures=FailureSources(
                dead_letters=_dead_letter_queues(
                    [s for s in (self.data_lake, self.ml_pipeline, self.monitoring) if s]
                ),
                functions=functions,
                event_rules=self.monitoring.failures.rules,
                pipeline_name=resource_name(settings.name, schema.name, "training")
                if self.ml_pipeline is not None
                else None,
                heartbeat=Heartbeat("monitor-launcher", settings.monitor_every_minutes)
                if isinstance(monitor, MonitorSchedule)
                else None,
            ),
        )


def _dead_letter_queues(stacks: Iterable[Stack]) -> dict[str, sqs.IQueue]:
    """Every dead-letter queue in ``stacks``, by its stack's name in kebab case (one per
    stack), so a queue added later is watched without anyone remembering to."""
    queues: dict[str, sqs.IQueue] = {}
    for stack in stacks:
        found = [n for n in stack.node.find_all() if isinstance(n, DeadLetterQueue)]
        for i, dead_letters in enumerate(found):
            label = "".join(f"-{c.lower()}" if c.isupper() else c for c in stack.node.id)
            queues[label.strip("-") + (f"-{i + 1}" if i else "")] = dead_letters.queue
    return queues
