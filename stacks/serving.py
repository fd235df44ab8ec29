"""Serving stack: the stage's real-time endpoint for the version model promotion recorded."""

from __future__ import annotations

from aws_cdk import CfnCondition, CfnParameter, Fn, Stack
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from config.layout import (
    NO_MODEL_VERSION,
    RELEASE_FIELDS,
    model_artifact_parameter,
    model_release_parameter,
    model_version_parameter,
)
from config.schema import DatasetSchema
from config.settings import StageSettings
from stacks.constructs.endpoint import Lineage, ModelEndpoint
from stacks.data_lake import SharedDataLake


class ServingStack(Stack):
    """Model, endpoint config (data capture), endpoint (canary + rollback), autoscaling.

    The model version is read at deploy time from the stage's SSM parameter, which model
    promotion writes (so synth needs no credentials). Until a version is approved the
    parameter holds the sentinel ``none`` and the stack deploys only the model role and
    the endpoint alarms; ``settings.model_package_arn`` (``-c model_package_arn=``) pins
    a version instead, bypassing the record (an emergency override).

    A stage with a ``model_source`` (Prod, by default) serves the release that stage
    approved: its package (so the image, environment and model.tar.gz are the package's),
    read at deploy time from the source's release parameter (shared through RAM when the
    source is another account), and records the package ARN and the archive's SHA-256 on
    the endpoint config.
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
        if settings.model_source is not None and not settings.model_package_arn:
            self._serve_source_release(settings, schema, data_lake)
            return
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

    def _serve_source_release(
        self, settings: StageSettings, schema: DatasetSchema, data_lake: SharedDataLake
    ) -> None:
        """The endpoint for the release the source stage approved (its registry, its
        artifact: nothing copied)."""
        source = settings.model_source
        assert source is not None
        name = model_release_parameter(source.stage, schema.name)
        # Same account: the parameter's name; another account: its ARN (a RAM share).
        reference = (
            name
            if source.account == self.account
            else self.format_arn(
                service="ssm",
                account=source.account,
                resource="parameter",
                resource_name=name.lstrip("/"),
            )
        )
        # CloudFormation reads a shared parameter only as a template parameter (dynamic
        # references do not take another account's ARN).
        release = CfnParameter(
            self,
            "ApprovedRelease",
            type="AWS::SSM::Parameter::Value<List<String>>",
            default=reference,
            description=f"{source.stage}'s approved release: {', '.join(RELEASE_FIELDS)}.",
        ).value_as_list
        field = {name: Fn.select(i, release) for i, name in enumerate(RELEASE_FIELDS)}
        serve_when = CfnCondition(
            self,
            "HasApprovedModel",
            expression=Fn.condition_not(
                Fn.condition_equals(field["model_package_arn"], NO_MODEL_VERSION)
            ),
        )
        self.endpoint = ModelEndpoint(
            self,
            "Endpoint",
            settings=settings,
            schema=schema,
            key=data_lake.key(self),
            artifacts=data_lake.bucket(self, "Artifacts"),
            model_package_arn=field["model_package_arn"],
            model_data_url=field["model_data_url"],
            serve_when=serve_when,
            network=data_lake.network,
            lineage=Lineage(
                source=source,
                model_data_sha256=field["model_data_sha256"],
                model_data_key_arn=field["kms_key_arn"],
            ),
        )
