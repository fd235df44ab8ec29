"""One deployable stage (Dev or Prod) of the platform: a CDK Stage composing the stacks."""

from __future__ import annotations

from aws_cdk import Environment, Stage
from constructs import Construct

from config.settings import StageSettings
from stacks.data_lake import DataLakeStack
from stacks.ml_pipeline import MlPipelineStack
from stacks.monitoring import MonitoringStack
from stacks.serving import ServingStack


class MlopsStage(Stage):
    """All stacks of one stage, built from that stage's settings only."""

    def __init__(self, scope: Construct, *, settings: StageSettings) -> None:
        super().__init__(
            scope,
            settings.name,
            env=Environment(account=settings.account, region=settings.region),
        )
        self.data_lake = DataLakeStack(self, "DataLake", settings=settings)
        self.ml_pipeline = MlPipelineStack(
            self,
            "MlPipeline",
            settings=settings,
            data_lake=self.data_lake.shared,
        )
        self.ml_pipeline.add_stack_dependency(self.data_lake)
        # Needs the endpoint's name only, so it synthesizes with or without Serving.
        self.monitoring = MonitoringStack(
            self, "Monitoring", settings=settings, data_lake=self.data_lake.shared
        )
        self.monitoring.add_stack_dependency(self.data_lake)
        # Serving needs a model version; app.py says so when none is given.
        self.serving: ServingStack | None = None
        if settings.model_package_arn:
            self.serving = ServingStack(
                self,
                "Serving",
                settings=settings,
                data_lake=self.data_lake.shared,
                model_package_arn=settings.model_package_arn,
            )
            self.serving.add_stack_dependency(self.data_lake)
