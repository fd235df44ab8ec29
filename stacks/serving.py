"""Serving stack: the stage's real-time endpoint for one approved model package."""

from __future__ import annotations

from aws_cdk import Stack
from constructs import Construct

from config.schema import load_schema
from config.settings import StageSettings
from stacks.constructs.endpoint import ModelEndpoint
from stacks.data_lake import SharedDataLake


class ServingStack(Stack):
    """Model, endpoint config (data capture), endpoint (canary + rollback), autoscaling."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: StageSettings,
        data_lake: SharedDataLake,
        model_package_arn: str,
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            description=f"MLOps real-time endpoint ({settings.name}).",
        )
        self.endpoint = ModelEndpoint(
            self,
            "Endpoint",
            settings=settings,
            schema=load_schema(settings.dataset),
            key=data_lake.key(self),
            artifacts=data_lake.bucket(self, "Artifacts"),
            model_package_arn=model_package_arn,
        )
