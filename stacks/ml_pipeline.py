"""MlPipeline stack: the model registry, the training pipeline that feeds it and the
batch scoring pipeline that reads it."""

from __future__ import annotations

from aws_cdk import Stack
from constructs import Construct

from config.layout import (
    delivery_pipeline_name,
    model_artifact_parameter,
    model_release_parameter,
    model_version_parameter,
    no_model_artifact,
    no_model_release,
    resource_name,
)
from config.schema import DatasetSchema
from config.settings import StageSettings
from stacks.constructs.batch_scoring import BatchScoring
from stacks.constructs.dead_letters import DeadLetterQueue
from stacks.constructs.endpoint import MODEL_ARTIFACTS
from stacks.constructs.model_promotion import ModelPromotion, ReleaseRecord
from stacks.constructs.nag import object_arn_finding
from stacks.constructs.secure_bucket import removal_policy
from stacks.constructs.training_pipeline import TrainingPipeline
from stacks.data_lake import SharedDataLake


class MlPipelineStack(Stack):
    """Model package group, the training and batch scoring pipelines, roles, schedules."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: StageSettings,
        schema: DatasetSchema,
        data_lake: SharedDataLake,
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            description=f"MLOps training pipeline and model registry ({settings.name}).",
        )
        key = data_lake.key(self)
        # Scheduled starts and approval events that could not be delivered land here.
        dead_letters = DeadLetterQueue(self, "DeadLetters", key=key).queue
        artifacts = data_lake.bucket(self, "Artifacts")
        curated = data_lake.bucket(self, "Curated")
        self.training = TrainingPipeline(
            self,
            "Training",
            settings=settings,
            schema=schema,
            key=key,
            curated=curated,
            artifacts=artifacts,
            dead_letters=dead_letters,
            network=data_lake.network,
        )
        self.batch = BatchScoring(
            self,
            "Batch",
            settings=settings,
            schema=schema,
            key=key,
            curated=curated,
            artifacts=artifacts,
            training=self.training,
            dead_letters=dead_letters,
            network=data_lake.network,
        )
        self.promotion = ModelPromotion(
            self,
            "Promotion",
            model_package_group=resource_name(settings.name, schema.name, "models"),
            parameter_name=model_version_parameter(settings.name, schema.name),
            pipeline_name=(
                delivery_pipeline_name(schema.name) if settings.starts_delivery_pipeline else None
            ),
            log_retention_days=settings.log_retention_days,
            key=key,
            dead_letters=dead_letters,
            removal_policy=removal_policy(settings),
            artifact_parameter_name=model_artifact_parameter(settings.name, schema.name),
            no_artifact=no_model_artifact(artifacts.bucket_name),
            release=ReleaseRecord(
                parameter_name=model_release_parameter(settings.name, schema.name),
                no_release=no_model_release(artifacts.bucket_name, key.key_arn),
                model_archives=artifacts.arn_for_objects(MODEL_ARTIFACTS),
                model_archives_finding=object_arn_finding(self, artifacts, MODEL_ARTIFACTS),
                reader_account=(
                    settings.registry_reader.account if settings.registry_reader else None
                ),
            ),
        )
