"""The SageMaker Pipeline definition, built offline at synth time with SDK v3.

Nothing here knows a deployed resource's name. Every value CDK decides reaches the
definition as a ``${Name}`` placeholder (``SubVariable``); the construct wraps the JSON
in ``Fn::Sub`` so CloudFormation fills them in, and the local runtime fills the same
names with its own values. Values a user may change per execution are pipeline
parameters instead.

The SDK is given a session whose every HTTP request raises (``_offline_session``), so a
synth that would reach AWS fails loudly instead of quietly needing credentials.

Steps: Preprocess -> DataQualityBaseline -> Train -> Evaluate -> QualityGate ->
Register | Fail. Register is the one step written by hand: the SDK's
``ModelBuilder.register()`` resolves the session's default bucket (an S3 call) while
building the request, so it cannot run offline. Its JSON is the
``CreateModelPackage`` request the service expects for a ``RegisterModel`` step.
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from typing import Any

import boto3
import jsonschema
from botocore.session import Session as BotocoreSession

from config.layout import RUN_SCRATCH_PREFIX, RUNS_PREFIX, SubVariable
from config.metrics import METRIC_DEFINITIONS
from config.schema import QualityGate
from stacks.constructs.code_bundle import TRAINING_PROGRAM
from training import serving_code

# The SDK needs a region to import (a module creates boto3 clients in a class body);
# synth passes the stage's region explicitly anyway. Importing it builds default boto3
# sessions, whose credential lookup would try the EC2 metadata endpoint: synth never
# needs credentials, so never ask it.
SDK_ENVIRONMENT = {"AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"}


@contextmanager
def _sdk_environment() -> Iterator[None]:
    """``SDK_ENVIRONMENT`` (where unset) and the root logger, put back as they were: one
    of the SDK's modules calls ``logging.basicConfig(level=INFO)`` when imported, which
    would turn on every library's INFO records in the importing process."""
    saved = {name: os.environ.get(name) for name in SDK_ENVIRONMENT}
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    for name, value in SDK_ENVIRONMENT.items():
        os.environ.setdefault(name, value)
    try:
        yield
    finally:
        for name, previous in saved.items():
            if previous is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = previous
        root.setLevel(level)
        root.handlers[:] = handlers


with _sdk_environment():
    from sagemaker.core import image_uris
    from sagemaker.core.config.config_manager import SageMakerConfig
    from sagemaker.core.config.config_schema import SAGEMAKER_PYTHON_SDK_CONFIG_SCHEMA
    from sagemaker.core.helper.pipeline_variable import PipelineVariable
    from sagemaker.core.network import NetworkConfig
    from sagemaker.core.processing import Processor
    from sagemaker.core.shapes import (
        MetricDefinition,
        ProcessingInput,
        ProcessingOutput,
        ProcessingS3Input,
        ProcessingS3Output,
    )
    from sagemaker.core.workflow.conditions import (
        ConditionGreaterThanOrEqualTo,
        ConditionLessThanOrEqualTo,
    )
    from sagemaker.core.workflow.execution_variables import ExecutionVariables
    from sagemaker.core.workflow.functions import Join, JsonGet
    from sagemaker.core.workflow.parameters import ParameterFloat, ParameterString
    from sagemaker.core.workflow.pipeline_context import PipelineSession
    from sagemaker.core.workflow.properties import Properties, PropertyFile
    from sagemaker.mlops.workflow.condition_step import ConditionStep
    from sagemaker.mlops.workflow.fail_step import FailStep
    from sagemaker.mlops.workflow.pipeline import Pipeline
    from sagemaker.mlops.workflow.retry import (
        SageMakerJobExceptionTypeEnum,
        SageMakerJobStepRetryPolicy,
        StepExceptionTypeEnum,
        StepRetryPolicy,
    )
    from sagemaker.mlops.workflow.steps import (
        CacheConfig,
        ProcessingStep,
        Step,
        StepTypeEnum,
        TrainingStep,
    )
    from sagemaker.train.configs import (
        CheckpointConfig,
        Compute,
        InputData,
        Networking,
        OutputDataConfig,
        StoppingCondition,
    )
    from sagemaker.train.model_trainer import ModelTrainer

XGBOOST_VERSION = "3.2-0"
PROCESSING = "/opt/ml/processing"
CODE_DIR = f"{PROCESSING}/input/code"
# Run a processing step's script from the source bundle, as the SDK v2 FrameworkProcessor
# did: unpack the bundle, then run the script with the step's arguments ("$0" "$@").
PROCESSING_LAUNCHER = (
    'set -euo pipefail; src="$(mktemp -d)"; '
    f'tar -xzf "{CODE_DIR}"/*.gz -C "$src"; '
    'cd "$src"; exec python3 "$0" "$@"'
)
CACHE_FOR = "P30D"
# The image's toolkit `pip install`s the code folder at start (training and serving), and
# the image's pip (26.1) builds it in an isolated build environment that downloads
# setuptools: with network isolation there is no index and the job or model never starts.
# Off ("false" is pip's spelling for a --no-* switch), the build uses the image's own
# setuptools (80.10.2). tests/contract runs both without a network to prove it.
TOOLKIT_ENVIRONMENT = {"PIP_NO_BUILD_ISOLATION": "false"}
INFERENCE_CONTENT_TYPES = ["text/csv", "application/json", "application/jsonlines"]


def _asset_uri(key: SubVariable) -> str:
    return f"s3://{SubVariable.ASSETS_BUCKET.ref}/{key.ref}"


# The source bundle is a CDK file asset (see stacks/constructs/code_bundle.py).
SOURCE_BUNDLE_URI = _asset_uri(SubVariable.SOURCE_BUNDLE_KEY)


def _role_arn(name: SubVariable) -> str:
    return "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/" + name.ref


# Processing steps run as the jobs' role; the Train step as a role of its own, the only
# one that may write model artifacts (stacks/constructs/training_pipeline.py).
ROLE_ARN = _role_arn(SubVariable.EXECUTION_ROLE_NAME)
TRAINING_ROLE_ARN = _role_arn(SubVariable.TRAINING_ROLE_NAME)
# Network isolation hands the Train container no credentials, so the toolkit cannot
# download sagemaker_submit_directory from S3 itself: the bundle comes in as a channel
# (as SDK v2 did for isolated script mode) and the toolkit extracts the local file.
CODE_CHANNEL = "code"
CODE_CHANNEL_BUNDLE = f"/opt/ml/input/data/{CODE_CHANNEL}/{SubVariable.SOURCE_BUNDLE_FILE.ref}"


@dataclass(frozen=True, kw_only=True)
class PipelineOptions:
    """What a stage decides about its training pipeline."""

    region: str
    dataset: str
    quality_gate: QualityGate
    processing_instance_type: str = "ml.m5.large"
    training_instance_type: str = "ml.m5.xlarge"
    inference_instance_types: tuple[str, ...] = ("ml.m5.large", "ml.c5.large")
    spot_training: bool = False
    max_training_seconds: int = 3600
    # A processing step that hangs (a stuck download, a runaway script) is stopped and
    # the execution fails, instead of billing an instance until SageMaker's 5-day limit.
    max_processing_seconds: int = 3600
    # VPC mode: the jobs' subnets and security groups (ids, or ``${...}`` placeholders
    # the construct fills); empty: no VPC.
    subnets: tuple[str, ...] = ()
    security_groups: tuple[str, ...] = ()
    hyperparameters: tuple[tuple[str, str], ...] = (
        ("max_depth", "6"),
        ("eta", "0.1"),
        ("num_round", "300"),
        ("early_stopping_rounds", "20"),
    )


@contextmanager
def _quiet_sdk() -> Iterator[None]:
    """Hold the SDK's INFO chatter ("Ignoring unnecessary instance type", ...) back."""
    loggers = [logging.getLogger(name) for name in ("sagemaker", "sagemaker.config")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def xgboost_image(region: str) -> str:
    """The XGBoost framework container's image URI in ``region`` (from the SDK's tables)."""
    with _quiet_sdk():
        return str(image_uris.retrieve("xgboost", region=region, version=XGBOOST_VERSION))


def _deny_network(request: Any, **_: Any) -> None:
    raise RuntimeError(
        f"the pipeline definition must build offline, but the SDK called {request.url}"
    )


@cache
def _sdk_config_validator() -> Any:
    """A validator for the SDK's config schema, the schema itself checked once."""
    schema = SAGEMAKER_PYTHON_SDK_CONFIG_SCHEMA
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    return validator_class(schema)


def _validate_sdk_config(sagemaker_config: dict[str, Any] | None = None) -> None:
    """What ``jsonschema.validate(config, schema)`` does, minus re-checking the schema."""
    error = jsonschema.exceptions.best_match(_sdk_config_validator().iter_errors(sagemaker_config))
    if error is not None:
        raise error


@contextmanager
def _config_schema_checked_once() -> Iterator[None]:
    """The SDK validates the session's config on every config lookup (about 60 per stage's
    definition), and each ``jsonschema.validate`` first checks the SDK's large schema
    against the JSON Schema metaschema: that repeated check was most of a whole-app
    synth. The config is still validated on every lookup; the constant schema once."""
    original = SageMakerConfig.__dict__["validate_sagemaker_config"]
    SageMakerConfig.validate_sagemaker_config = staticmethod(_validate_sdk_config)
    try:
        yield
    finally:
        SageMakerConfig.validate_sagemaker_config = original


@contextmanager
def _offline_session(region: str) -> Iterator[PipelineSession]:
    """A PipelineSession that cannot reach AWS, with SDK telemetry off."""
    botocore_session = BotocoreSession()
    botocore_session.set_credentials("offline", "offline")
    botocore_session.register("before-send", _deny_network)
    # The SDK's only switch for its IAM role check (an iam:SimulatePrincipalPolicy call) is
    # this variable; the role is a placeholder here anyway.
    previous = os.environ.get("SAGEMAKER_VALIDATE_ROLE")
    os.environ["SAGEMAKER_VALIDATE_ROLE"] = "false"
    try:
        yield PipelineSession(
            boto_session=boto3.Session(botocore_session=botocore_session, region_name=region),
            default_bucket=SubVariable.ARTIFACTS_BUCKET.ref,
            sagemaker_config={
                "SchemaVersion": "1.0",
                "SageMaker": {"PythonSDK": {"Modules": {"TelemetryOptOut": True}}},
            },
        )
    finally:
        if previous is None:
            os.environ.pop("SAGEMAKER_VALIDATE_ROLE", None)
        else:
            os.environ["SAGEMAKER_VALIDATE_ROLE"] = previous


def _run_location(step: str, name: str, *, scratch: bool = False) -> Join:
    """s3://<artifacts>/pipeline-runs/<execution id>/<step>/<name>: one folder per execution;
    ``scratch`` outputs (nothing a model package records) go under the expiring
    pipeline-runs/scratch/<execution id>/ instead."""
    return Join(
        on="/",
        values=[
            "s3:/",
            SubVariable.ARTIFACTS_BUCKET.ref,
            RUN_SCRATCH_PREFIX if scratch else RUNS_PREFIX,
            ExecutionVariables.PIPELINE_EXECUTION_ID,
            step,
            name,
        ],
    )


def _input(name: str, uri: str | PipelineVariable, local_path: str) -> ProcessingInput:
    return ProcessingInput(
        input_name=name,
        s3_input=ProcessingS3Input(
            s3_uri=uri, local_path=local_path, s3_data_type="S3Prefix", s3_input_mode="File"
        ),
    )


def _output(step: str, name: str, local_path: str, *, scratch: bool = False) -> ProcessingOutput:
    return ProcessingOutput(
        output_name=name,
        s3_output=ProcessingS3Output(
            s3_uri=_run_location(step, name, scratch=scratch),
            local_path=local_path,
            s3_upload_mode="EndOfJob",
        ),
    )


def _output_uri(step: ProcessingStep, name: str) -> PipelineVariable:
    outputs: Any = step.properties.ProcessingOutputConfig.Outputs
    return outputs[name].S3Output.S3Uri


class RegisterModelStep(Step):  # type: ignore[misc]  # the SDK is untyped
    """A ``RegisterModel`` step from a hand-written ``CreateModelPackage`` request."""

    def __init__(self, name: str, request: dict[str, Any], retry: list[StepRetryPolicy]) -> None:
        super().__init__(name, step_type=StepTypeEnum.REGISTER_MODEL)
        self._request = request
        self._retry = retry
        self._properties = Properties(
            step_name=name, step=self, shape_name="DescribeModelPackageOutput"
        )

    @property
    def arguments(self) -> dict[str, Any]:
        return self._request

    @property
    def properties(self) -> Properties:
        return self._properties

    def to_request(self) -> dict[str, Any]:
        request: dict[str, Any] = super().to_request()
        request["RetryPolicies"] = [policy.to_request() for policy in self._retry]
        return request


class _Builder:
    """Builds the steps in order; each method returns the step it adds."""

    def __init__(self, options: PipelineOptions, session: PipelineSession) -> None:
        self.options = options
        self.session = session
        self.image = xgboost_image(options.region)
        self.schema_file = f"config/datasets/{options.dataset}.json"
        self.input_data = ParameterString(
            name="InputDataUrl",
            default_value=f"s3://{SubVariable.CURATED_BUCKET.ref}/data/",
        )
        self.processing_type = ParameterString(
            name="ProcessingInstanceType", default_value=options.processing_instance_type
        )
        self.training_type = ParameterString(
            name="TrainingInstanceType", default_value=options.training_instance_type
        )
        self.threshold = ParameterFloat(
            name="MetricThreshold", default_value=options.quality_gate.threshold
        )
        self.approval = ParameterString(
            name="ModelApprovalStatus", default_value="PendingManualApproval"
        )
        # Train and Evaluate read per-execution URIs, so a cache hit can only be the same
        # execution's own earlier attempt (a retried or re-run execution).
        self.cache = CacheConfig(enable_caching=True, expire_after=CACHE_FOR)
        # Throttling and service faults are worth retrying for every step; capacity and
        # account limits only for the steps that start jobs.
        self.step_retry = StepRetryPolicy(
            exception_types=[StepExceptionTypeEnum.THROTTLING, StepExceptionTypeEnum.SERVICE_FAULT],
            interval_seconds=10,
            backoff_rate=2.0,
            max_attempts=5,
        )
        self.job_retry = SageMakerJobStepRetryPolicy(
            exception_types=[
                SageMakerJobExceptionTypeEnum.CAPACITY_ERROR,
                SageMakerJobExceptionTypeEnum.RESOURCE_LIMIT,
                SageMakerJobExceptionTypeEnum.INTERNAL_ERROR,
            ],
            interval_seconds=60,
            backoff_rate=2.0,
            max_attempts=4,
        )

    @property
    def parameters(self) -> list[Any]:
        return [
            self.input_data,
            self.processing_type,
            self.training_type,
            self.threshold,
            self.approval,
        ]

    def _processing(
        self,
        name: str,
        script: str,
        arguments: list[str | PipelineVariable],
        inputs: list[ProcessingInput],
        outputs: list[ProcessingOutput],
        property_files: list[PropertyFile] | None = None,
        cache: bool = True,
        isolated: bool = True,
    ) -> ProcessingStep:
        """``isolated``: the container gets no network and no AWS credentials (SageMaker
        stages the inputs and outputs); only a step whose script calls AWS itself runs
        without."""
        processor = Processor(
            role=ROLE_ARN,
            image_uri=self.image,
            instance_count=1,
            instance_type=self.processing_type,
            entrypoint=["/bin/bash", "-c", PROCESSING_LAUNCHER],
            volume_kms_key=SubVariable.KMS_KEY_ARN.ref,
            output_kms_key=SubVariable.KMS_KEY_ARN.ref,
            base_job_name=name.lower(),
            max_runtime_in_seconds=self.options.max_processing_seconds,
            # boto3 in the job (Evaluate reads the registry) needs the stage's region.
            env={"AWS_DEFAULT_REGION": "${AWS::Region}"},
            network_config=NetworkConfig(
                enable_network_isolation=isolated, **self._vpc("subnets", "security_group_ids")
            ),
            sagemaker_session=self.session,
        )
        code = _input("code", SOURCE_BUNDLE_URI, CODE_DIR)
        step_args = processor.run(
            inputs=[code, *inputs], outputs=outputs, arguments=[script, *arguments]
        )
        return ProcessingStep(
            name=name,
            step_args=step_args,
            property_files=property_files,
            cache_config=self.cache if cache else None,
            retry_policies=[self.step_retry, self.job_retry],
        )

    def _vpc(self, subnets: str, groups: str) -> dict[str, list[str]]:
        """The stage's VPC as keyword arguments named ``subnets`` and ``groups``."""
        if not self.options.subnets:
            return {}
        return {subnets: list(self.options.subnets), groups: list(self.options.security_groups)}

    def preprocess(self) -> ProcessingStep:
        out = f"{PROCESSING}/output"
        return self._processing(
            "Preprocess",
            "training/preprocess.py",
            [
                "--input",
                f"{PROCESSING}/input/curated",
                "--schema",
                self.schema_file,
                "--output",
                out,
            ],
            [_input("curated", self.input_data, f"{PROCESSING}/input/curated")],
            # The splits are copies of curated data the registry never records: scratch.
            [
                _output("preprocess", name, f"{out}/{name}", scratch=True)
                for name in ("train", "validation", "test", "baseline")
            ],
            # Not cached: its input URI stays the same while the curated data behind it
            # changes, and a cache hit would retrain on last week's split.
            cache=False,
        )

    def baseline(self, preprocess: ProcessingStep) -> ProcessingStep:
        return self._processing(
            "DataQualityBaseline",
            "training/baseline.py",
            [
                "--input",
                f"{PROCESSING}/input/baseline",
                "--schema",
                self.schema_file,
                "--output",
                f"{PROCESSING}/output",
            ],
            [
                _input(
                    "baseline", _output_uri(preprocess, "baseline"), f"{PROCESSING}/input/baseline"
                )
            ],
            [_output("baseline", "baseline", f"{PROCESSING}/output")],
            cache=False,  # its input is Preprocess's fresh, per-execution output anyway
        )

    def train(self, preprocess: ProcessingStep) -> TrainingStep:
        options = self.options
        spot = options.spot_training
        trainer = ModelTrainer(
            sagemaker_session=self.session,
            role=TRAINING_ROLE_ARN,
            training_image=self.image,
            base_job_name="train",
            networking=Networking(
                enable_network_isolation=True, **self._vpc("subnets", "security_group_ids")
            ),
            compute=Compute(
                instance_type=self.training_type,
                instance_count=1,
                volume_size_in_gb=30,
                volume_kms_key_id=SubVariable.KMS_KEY_ARN.ref,
                enable_managed_spot_training=spot,
            ),
            stopping_condition=StoppingCondition(
                max_runtime_in_seconds=options.max_training_seconds,
                # Spot capacity may take a while: wait up to twice the run time for it.
                **({"max_wait_time_in_seconds": 2 * options.max_training_seconds} if spot else {}),
            ),
            output_data_config=OutputDataConfig(
                s3_output_path=_run_location("train", "model"),
                kms_key_id=SubVariable.KMS_KEY_ARN.ref,
            ),
            environment=dict(TOOLKIT_ENVIRONMENT),
            # Script mode in the framework container: the toolkit extracts the submit
            # directory (the code channel's bundle), `pip install`s it offline
            # (TOOLKIT_ENVIRONMENT) and runs the program with the other hyperparameters as
            # arguments.
            hyperparameters={
                "sagemaker_program": TRAINING_PROGRAM,
                "sagemaker_submit_directory": CODE_CHANNEL_BUNDLE,
                "sagemaker_region": "${AWS::Region}",
                **dict(options.hyperparameters),
            },
        )
        if spot:
            # An interrupted spot job resumes from its last checkpoint (train.py).
            trainer = trainer.with_checkpoint_config(
                CheckpointConfig(
                    s3_uri=_run_location("train", "checkpoints", scratch=True),
                    local_path="/opt/ml/checkpoints",
                )
            )
        trainer = trainer.with_metric_definitions(
            [MetricDefinition(name=m["Name"], regex=m["Regex"]) for m in METRIC_DEFINITIONS]
        )
        step_args = trainer.train(
            input_data_config=[
                *(
                    InputData(channel_name=name, data_source=_output_uri(preprocess, name))
                    for name in ("train", "validation")
                ),
                InputData(channel_name=CODE_CHANNEL, data_source=SOURCE_BUNDLE_URI),
            ]
        )
        return TrainingStep(
            name="Train",
            step_args=step_args,
            cache_config=self.cache,
            retry_policies=[self.step_retry, self.job_retry],
        )

    def evaluate(
        self, preprocess: ProcessingStep, train: TrainingStep, report: PropertyFile
    ) -> ProcessingStep:
        return self._processing(
            "Evaluate",
            "training/evaluate.py",
            [
                "--model",
                f"{PROCESSING}/model",
                "--test",
                f"{PROCESSING}/test",
                "--output",
                f"{PROCESSING}/evaluation",
                "--model-package-group",
                SubVariable.MODEL_PACKAGE_GROUP.ref,
            ],
            [
                _input(
                    "model", train.properties.ModelArtifacts.S3ModelArtifacts, f"{PROCESSING}/model"
                ),
                _input("test", _output_uri(preprocess, "test"), f"{PROCESSING}/test"),
            ],
            [_output("evaluate", "evaluation", f"{PROCESSING}/evaluation")],
            property_files=[report],
            # It reads the registry (the approved version) and that version's model.tar.gz
            # with boto3 (training/registry.py): it needs credentials and a route to the
            # SageMaker and S3 APIs (in VPC mode, the stage's endpoints only).
            isolated=False,
        )

    def register(
        self, train: TrainingStep, baseline: ProcessingStep, evaluate: ProcessingStep
    ) -> RegisterModelStep:
        def json_document(uri: PipelineVariable, file: str) -> dict[str, Any]:
            return {"ContentType": "application/json", "S3Uri": Join(on="/", values=[uri, file])}

        evaluation = _output_uri(evaluate, "evaluation")
        profile = _output_uri(baseline, "baseline")
        data_quality = {
            "Statistics": json_document(profile, "statistics.json"),
            "Constraints": json_document(profile, "constraints.json"),
        }
        instance_types = list(self.options.inference_instance_types)
        request = {
            "ModelPackageGroupName": SubVariable.MODEL_PACKAGE_GROUP.ref,
            "ModelPackageDescription": f"XGBoost {XGBOOST_VERSION} model of {self.options.dataset}",
            "ModelApprovalStatus": self.approval,
            "InferenceSpecification": {
                "Containers": [
                    {
                        "Image": self.image,
                        "ModelDataUrl": train.properties.ModelArtifacts.S3ModelArtifacts,
                        # model.tar.gz carries its serving code in code/ (train.py puts
                        # it there), as SageMaker's repack lays it out: no other object.
                        "Environment": {
                            "SAGEMAKER_PROGRAM": serving_code.PROGRAM,
                            "SAGEMAKER_SUBMIT_DIRECTORY": serving_code.SUBMIT_DIRECTORY,
                            # Without an Accept header the worker answers in this type.
                            "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": "text/csv",
                            "SAGEMAKER_CONTAINER_LOG_LEVEL": "20",
                            "SAGEMAKER_REGION": "${AWS::Region}",
                            **TOOLKIT_ENVIRONMENT,
                        },
                    }
                ],
                "SupportedContentTypes": INFERENCE_CONTENT_TYPES,
                "SupportedResponseMIMETypes": INFERENCE_CONTENT_TYPES,
                "SupportedRealtimeInferenceInstanceTypes": instance_types,
                "SupportedTransformInstanceTypes": instance_types,
            },
            "ModelMetrics": {
                "ModelQuality": {"Statistics": json_document(evaluation, "evaluation.json")},
                "ModelDataQuality": data_quality,
            },
            "DriftCheckBaselines": {"ModelDataQuality": data_quality},
            "CustomerMetadataProperties": {
                "dataset": self.options.dataset,
                "gate_metric": self.options.quality_gate.metric,
            },
        }
        return RegisterModelStep("Register", request, [self.step_retry])

    def gate(
        self, evaluate: ProcessingStep, report: PropertyFile, register: RegisterModelStep
    ) -> ConditionStep:
        gate = self.options.quality_gate

        def value(path: str) -> JsonGet:
            return JsonGet(step_name=evaluate.name, property_file=report, json_path=path)

        candidate, approved = value(gate.json_path), value("approved_model.value")
        compare = (
            ConditionGreaterThanOrEqualTo if gate.higher_is_better else ConditionLessThanOrEqualTo
        )
        relation = ">=" if gate.higher_is_better else "<="
        fail = FailStep(
            name="QualityGateFailed",
            error_message=Join(
                on=" ",
                values=[
                    f"Model not registered: {gate.metric} =",
                    candidate,
                    f"must be {relation} the threshold",
                    self.threshold,
                    f"and {relation} the approved model's",
                    approved,
                ],
            ),
        )
        return ConditionStep(
            name="QualityGate",
            conditions=[
                compare(left=candidate, right=self.threshold),
                compare(left=candidate, right=approved),
            ],
            if_steps=[register],
            else_steps=[fail],
        )


def build_definition(options: PipelineOptions) -> dict[str, Any]:
    """The pipeline definition (with ``${...}`` placeholders) as a JSON-ready dict."""
    with (
        _sdk_environment(),
        _offline_session(options.region) as session,
        _quiet_sdk(),
        _config_schema_checked_once(),
        warnings.catch_warnings(),
    ):
        # "Running within a PipelineSession, there will be No Wait...": that is the point.
        warnings.simplefilter("ignore", UserWarning)
        build = _Builder(options, session)
        report = PropertyFile(
            name="EvaluationReport", output_name="evaluation", path="evaluation.json"
        )
        preprocess = build.preprocess()
        baseline = build.baseline(preprocess)
        train = build.train(preprocess)
        evaluate = build.evaluate(preprocess, train, report)
        register = build.register(train, baseline, evaluate)
        gate = build.gate(evaluate, report, register)
        # Register must not start before the baseline it records exists.
        register.add_depends_on([baseline])
        pipeline = Pipeline(
            name="training-pipeline",
            parameters=build.parameters,
            steps=[preprocess, baseline, train, evaluate, gate],
            sagemaker_session=session,
            # Experiment tracking per execution is optional and needs more IAM: off.
            pipeline_experiment_config=None,
        )
        definition: dict[str, Any] = json.loads(pipeline.definition())
    if definition.get("MlflowConfig") is None:
        definition.pop("MlflowConfig", None)
    return definition
