"""Delivery stack: CDK Pipelines from git to Dev, checks, a manual approval, then Prod."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

from aws_cdk import CfnResource, Environment, Stack, Stage, pipelines
from aws_cdk import aws_codebuild as codebuild
from aws_cdk import aws_iam as iam
from constructs import Construct

from config.layout import delivery_pipeline_name, model_version_parameter, resource_name
from config.scan_skips import lint_ignores
from config.schema import DEFAULT_DATASET, DatasetSchema
from stacks.constructs.nag import acknowledge

# CodeBuild's standard 7.0 image carries Python 3.11 and Node 20, the versions the
# project pins (pyproject.toml, package.json).
BUILD_IMAGE = codebuild.LinuxBuildImage.STANDARD_7_0
RUNTIMES = {"phases": {"install": {"runtime-versions": {"python": "3.11", "nodejs": "20"}}}}
INSTALL = [
    "pip install --disable-pip-version-check -r requirements.txt -c requirements.lock",
    "npm ci --no-audit --no-fund",
    # checkov (the infrastructure tests run it) in its own environment: see the Makefile.
    "make checkov",
]
# What `make test` checks, minus the slow local-lifecycle tests (Spark, the local
# endpoint): lint, format, types, unit and infrastructure tests; then the synth itself,
# which runs cdk-nag and fails on any unacknowledged finding; then cfn-lint.
CHECKS = [
    "python -m ruff check .",
    "python -m ruff format --check .",
    "python -m mypy",
    "python -m pytest tests/unit tests/infrastructure -q -p no:cacheprovider",
]
CFN_LINT = (
    "cfn-lint --include-checks I --non-zero-exit-code informational "
    f"--ignore-checks {' '.join(lint_ignores())} "
    "-- cdk.out/*.template.json cdk.out/assembly-*/*.template.json"
)


@dataclass(frozen=True, kw_only=True)
class DeliverySettings:
    """Where the code comes from and where the pipeline runs (from app.py's context)."""

    repository: str  # "owner/name" on the git host behind the connection
    branch: str
    connection_arn: str
    account: str  # the pipeline's account: the Dev account
    region: str
    dataset: str = DEFAULT_DATASET  # a name in config/datasets/
    prod_account: str
    # The `-c key=value` pairs the pipeline's own synth must repeat to build this app.
    synth_context: dict[str, str] = field(default_factory=dict)

    @property
    def cross_account(self) -> bool:
        return self.prod_account != self.account


def synth_commands(settings: DeliverySettings) -> list[str]:
    """The synth step's commands, checks first, with the app's context repeated."""
    context = " ".join(
        f"-c {shlex.quote(f'{k}={v}')}" for k, v in sorted(settings.synth_context.items())
    )
    return [*CHECKS, f"npx cdk synth --quiet --no-notices {context}".strip(), CFN_LINT]


class DeliveryStack(Stack):
    """The delivery pipeline: source -> synth (checks) -> Dev -> checks -> approval -> Prod."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: DeliverySettings,
        schema: DatasetSchema,
        dev: Stage,
        prod: Stage,
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            env=Environment(account=settings.account, region=settings.region),
            description="MLOps delivery pipeline: git -> Dev -> checks -> approval -> Prod.",
        )
        self.source = pipelines.CodePipelineSource.connection(
            settings.repository, settings.branch, connection_arn=settings.connection_arn
        )
        self.pipeline = pipelines.CodePipeline(
            self,
            "Pipeline",
            # Fixed: every stage's model promotion starts it by this name.
            pipeline_name=delivery_pipeline_name(schema.name),
            synth=pipelines.ShellStep(
                "Synth",
                input=self.source,
                install_commands=INSTALL,
                commands=synth_commands(settings),
                primary_output_directory="cdk.out",
            ),
            # Deploying into another account needs a KMS-encrypted artifact bucket whose
            # key that account's CDK deploy role may use; one account needs no key.
            cross_account_keys=settings.cross_account,
            enable_key_rotation=settings.cross_account,
            docker_enabled_for_synth=False,
            code_build_defaults=pipelines.CodeBuildOptions(
                build_environment=codebuild.BuildEnvironment(build_image=BUILD_IMAGE),
                partial_build_spec=codebuild.BuildSpec.from_object(RUNTIMES),
            ),
        )
        self.dev = self.pipeline.add_stage(dev, post=self._dev_checks(settings, schema.name))
        self.approval = pipelines.ManualApprovalStep(
            "PromoteToProd",
            comment="Dev serves the release approved in its registry and passed its checks. "
            "Approve to deploy the same code and the same model package to Prod.",
        )
        self.prod = self.pipeline.add_stage(prod, pre=[self.approval])
        # Build now (not at synth) so the generated resources can carry acknowledgements.
        self.pipeline.build_pipeline()
        self._acknowledge_generated_findings()
        # cfn-lint on CDK Pipelines' generated pipeline resource: its actions spell the
        # bootstrap role ARNs as Fn::Join (E3703, a style rule) and it depends on its role
        # explicitly as well as through GetAtt (W3005). Both are CDK's output, harmless,
        # and silenced on this one resource only.
        cfn_pipeline = self.pipeline.pipeline.node.default_child
        assert isinstance(cfn_pipeline, CfnResource)
        cfn_pipeline.add_metadata("cfn-lint", {"config": {"ignore_checks": ["E3703", "W3005"]}})

    def _acknowledge_generated_findings(self) -> None:
        """CDK Pipelines' own resources raise known cdk-nag findings; each is named here
        with why it is acceptable. The checks' own permissions are exact (no wildcard
        action); only the statements CDK generates for every CodeBuild project remain."""
        pipeline = self.pipeline
        acknowledge(
            pipeline,
            "AwsSolutions-S1",
            "The artifact bucket holds only source archives and cloud assemblies, for "
            "CodePipeline's own use; CloudTrail records its management events.",
        )
        acknowledge(
            pipeline,
            "NIST.800.53.R5-S3BucketLoggingEnabled",
            "The artifact bucket holds only source archives and cloud assemblies, for "
            "CodePipeline's own use; CloudTrail records its management events.",
        )
        for rule in ("S3BucketVersioningEnabled", "S3BucketReplicationEnabled"):
            acknowledge(
                pipeline,
                f"NIST.800.53.R5-{rule}",
                "CodePipeline writes each artifact once under its execution's own key and "
                "every one can be rebuilt from the repository: no version or copy to keep.",
            )
        acknowledge(
            pipeline,
            "AwsSolutions-CB4",
            "CodeBuild encrypts artifacts with the artifact bucket's encryption: a "
            "customer-managed key when Prod is another account (crossAccountKeys), "
            "S3-managed otherwise. Builds hold code and templates, never data.",
        )
        generated = {
            "Action::s3:Abort*": "CDK's read/write grant on the pipeline's own artifact bucket.",
            "Action::s3:DeleteObject*": "CDK's read/write grant on the artifact bucket.",
            "Action::s3:GetBucket*": "CDK's read grant on the pipeline's artifact bucket.",
            "Action::s3:GetObject*": "CDK's read grant on the pipeline's artifact bucket.",
            "Action::s3:List*": "CDK's read grant on the pipeline's artifact bucket.",
            "Action::kms:ReEncrypt*": "CDK's grant on the cross-account artifact key only.",
            "Action::kms:GenerateDataKey*": "CDK's grant on the cross-account artifact key.",
            "Resource::*": "CodeBuild StartBuild/BatchGetBuilds for asset publishing and "
            "cloudformation:DescribeStacks for self-mutation, as CDK Pipelines generates them.",
            f"Resource::arn:*:iam::{self.account}:role/*": "Self-mutation assumes the CDK "
            "bootstrap roles only: the statement requires the aws-cdk:bootstrap-role tag.",
            f"Resource::arn:aws:logs:{self.region}:{self.account}:log-group:/aws/codebuild/*": (
                "Asset publishing projects' log groups, named by CodeBuild."
            ),
            f"Resource::arn:aws:codebuild:{self.region}:{self.account}:report-group/*": (
                "Asset publishing projects' report groups, named by CodeBuild."
            ),
        }
        artifact_bucket = pipeline.pipeline.artifact_bucket.node.default_child
        if artifact_bucket is not None:
            bucket_id = self.get_logical_id(artifact_bucket)  # type: ignore[arg-type]
            generated[f"Resource::<{bucket_id}.Arn>/*"] = "Objects of the artifact bucket."
        for project in self.node.find_all():
            if isinstance(project, codebuild.CfnProject):
                project_id = self.get_logical_id(project)
                generated[
                    f"Resource::arn:aws:logs:{self.region}:{self.account}:log-group:"
                    f"/aws/codebuild/<{project_id}>:*"
                ] = "The project's own log streams, named by CodeBuild per build."
                generated[
                    f"Resource::arn:aws:codebuild:{self.region}:{self.account}:report-group/"
                    f"<{project_id}>-*"
                ] = "The project's own report groups, named by CodeBuild."
        for finding, reason in generated.items():
            acknowledge(pipeline, f"AwsSolutions-IAM5[{finding}]", reason)

    def _dev_checks(self, settings: DeliverySettings, dataset: str) -> list[pipelines.Step]:
        """Post-deploy checks on Dev: one inference, and the training pipeline's definition."""
        endpoint = resource_name("Dev", dataset, "endpoint")
        training = resource_name("Dev", dataset, "training")
        parameter = model_version_parameter("Dev", dataset)
        install = ["pip install --disable-pip-version-check boto3==1.44.5"]
        smoke = pipelines.CodeBuildStep(
            "SmokeTest",
            input=self.source,
            install_commands=install,
            commands=[
                f"python -m tools.delivery_checks smoke --stage Dev --dataset {settings.dataset}"
            ],
            role_policy_statements=[
                iam.PolicyStatement(
                    actions=["sagemaker:InvokeEndpoint"],
                    resources=[
                        self.format_arn(
                            service="sagemaker", resource="endpoint", resource_name=endpoint
                        )
                    ],
                ),
                iam.PolicyStatement(
                    actions=["ssm:GetParameter"],
                    resources=[
                        self.format_arn(
                            service="ssm",
                            resource="parameter",
                            resource_name=parameter.lstrip("/"),
                        )
                    ],
                ),
            ],
        )
        definition = pipelines.CodeBuildStep(
            "TrainingPipelineDefinition",
            input=self.source,
            install_commands=install,
            commands=[
                "python -m tools.delivery_checks pipeline-definition "
                f"--stage Dev --dataset {settings.dataset}"
            ],
            role_policy_statements=[
                iam.PolicyStatement(
                    actions=["sagemaker:DescribePipeline"],
                    resources=[
                        self.format_arn(
                            service="sagemaker", resource="pipeline", resource_name=training
                        )
                    ],
                )
            ],
        )
        return [smoke, definition]
