"""Serving stack: the stage's real-time endpoint for the version model promotion recorded."""

from __future__ import annotations

from aws_cdk import CfnCondition, Fn, Stack
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from config.layout import NO_MODEL_VERSION, model_artifact_parameter, model_version_parameter
from config.schema import DatasetSchema
from config.settings import StageSettings
from stacks.constructs.endpoint import ModelEndpoint
from stacks.data_lake import SharedDataLake


class ServingStack(Stack):
    """Model, endpoint config (data capture), endpoint (canary + rollback), autoscaling.

    The model version is read at deploy time from the stage's SSM parameter, which model
    promotion writes (so synth needs no credentials). Until a version is approved the
    parameter holds the sentinel ``none`` and the stack deploys only the model role and
    the endpoint alarms; ``settings.model_package_arn`` (``-c model_package_arn=``) pins
    a version instead, bypassing the record (an emergency override).
    """

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
            description=f"MLOps real-time endpoint ({settings.name}).",
        )
        serve_when: CfnCondition | None = None
        # The served version's model.tar.gz, recorded with it: the model's role reads that
        # object only. A pinned version's artifact is not recorded anywhere CloudFormation
        # can read, so the override falls back to the runs' model archives.
        model_data_url: str | None = None
        if settings.model_package_arn:
            model_package_arn = settings.model_package_arn
        else:
            model_data_url = ssm.StringParameter.value_for_string_parameter(
                self, model_artifact_parameter(settings.name, schema.name)
            )
            # A deploy-time fact (what promotion recorded in the account), so a
            # CloudFormation condition is the right tool, not a synth-time branch.
            model_package_arn = ssm.StringParameter.value_for_string_parameter(
                self, model_version_parameter(settings.name, schema.name)
            )
            serve_when = CfnCondition(
                self,
                "HasApprovedModel",
                expression=Fn.condition_not(
                    Fn.condition_equals(model_package_arn, NO_MODEL_VERSION)
                ),
            )
        self.endpoint = ModelEndpoint(
            self,
            "Endpoint",
            settings=settings,
            schema=schema,
            key=data_lake.key(self),
            artifacts=data_lake.bucket(self, "Artifacts"),
            model_package_arn=model_package_arn,
            model_data_url=model_data_url,
            serve_when=serve_when,
            network=data_lake.network,
        )
