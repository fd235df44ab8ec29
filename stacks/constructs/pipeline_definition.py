"""The SageMaker Pipeline definition, built offline at synth time with SDK v3.

Nothing here knows a deployed resource's name. Every value CDK decides reaches the
definition as a ``${Name}`` placeholder (``SubVariable``); the construct wraps the JSON
in ``Fn::Sub`` so CloudFormation fills them in, and the local runtime fills the same
names with its own values. Values a user may change per execution are pipeline
parameters instead.

The SDK's session raises on any HTTP request (``pipeline_sdk.offline_session``): a synth
that would reach AWS fails loudly instead of quietly needing credentials.

Steps: Preprocess -> DataQualityBaseline -> Train -> Evaluate -> QualityGate -> Register
| Fail. Register is hand-written (``CreateModelPackage``): the SDK's ``register()``
resolves the session's default bucket (an S3 call), so it cannot run offline.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from config.layout import (
    BIAS_POST_TRAINING_REPORT,
    BIAS_PRE_TRAINING_REPORT,
    EXPLANATIONS_REPORT,
    SubVariable,
)
from config.metrics import METRIC_DEFINITIONS
from stacks.constructs.code_bundle import TRAINING_PROGRAM
from stacks.constructs.pipeline_sdk import (
    XGBOOST_VERSION,
    Built,
    offline_definition,
    sdk_environment,
    xgboost_image,
)
from stacks.constructs.pipeline_settings import (
    CACHE_FOR,
    CODE_CHANNEL,
    CODE_CHANNEL_BUNDLE,
    CODE_DIR,
    INFERENCE_CONTENT_TYPES,
    PROCESSING,
    PROCESSING_LAUNCHER,
    ROLE_ARN,
    SOURCE_BUNDLE_URI,
    TOOLKIT_ENVIRONMENT,
    TRAINING_ROLE_ARN,
    PipelineOptions,
)
from stacks.constructs.pipeline_steps import (
    RequestStep,
    output_uri,
    processing_input,
    processing_output,
    register_model_step,
    run_location,
)
from training import serving_code

with sdk_environment():
    from sagemaker.core.helper.pipeline_variable import PipelineVariable
    from sagemaker.core.network import NetworkConfig
    from sagemaker.core.processing import Processor
    from sagemaker.core.shapes import (
        MetricDefinition,
        ProcessingInput,
        ProcessingOutput,
    )
    from sagemaker.core.workflow.conditions import (
        ConditionGreaterThanOrEqualTo,
        ConditionLessThanOrEqualTo,
    )
    from sagemaker.core.workflow.functions import Join, JsonGet
    from sagemaker.core.workflow.parameters import ParameterFloat, ParameterString
    from sagemaker.core.workflow.pipeline_context import PipelineSession
    from sagemaker.core.workflow.properties import PropertyFile
    from sagemaker.mlops.workflow.condition_step import ConditionStep
    from sagemaker.mlops.workflow.fail_step import FailStep
    from sagemaker.mlops.workflow.retry import (
        SageMakerJobExceptionTypeEnum,
        SageMakerJobStepRetryPolicy,
        StepExceptionTypeEnum,
        StepRetryPolicy,
    )
    from sagemaker.mlops.workflow.steps import (
        CacheConfig,
        ProcessingStep,
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


class StepBuilder:
    """Builds the steps in order; each returns the step it adds (``batch_definition.py``)."""

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
        # Which curated snapshot (``<curated Glue job>/<run id>``, the run that wrote the
        # zone) the execution trains on: the retrain trigger sets it when the feedback
        # that triggered it is in curated; a scheduled or manual start trains on the
        # latest. Recorded with the execution's parameters.
        self.curated_snapshot = ParameterString(name="CuratedSnapshot", default_value="latest")
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
            self.curated_snapshot,
        ]

    def processing(
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
                enable_network_isolation=isolated, **self.vpc("subnets", "security_group_ids")
            ),
            sagemaker_session=self.session,
        )
        code = processing_input("code", SOURCE_BUNDLE_URI, CODE_DIR)
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

    def vpc(self, subnets: str, groups: str) -> dict[str, list[str]]:
        """The stage's VPC as keyword arguments named ``subnets`` and ``groups``."""
        if not self.options.subnets:
            return {}
        return {subnets: list(self.options.subnets), groups: list(self.options.security_groups)}

    def preprocess(self) -> ProcessingStep:
        out = f"{PROCESSING}/output"
        return self.processing(
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
            [processing_input("curated", self.input_data, f"{PROCESSING}/input/curated")],
            # The splits are copies of curated data the registry never records: scratch.
            [
                processing_output("preprocess", name, f"{out}/{name}", scratch=True)
                for name in ("train", "validation", "test", "baseline")
            ],
            # Not cached: its input URI stays the same while the curated data behind it
            # changes, and a cache hit would retrain on last week's split.
            cache=False,
        )

    def baseline(self, preprocess: ProcessingStep) -> ProcessingStep:
        return self.processing(
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
                processing_input(
                    "baseline", output_uri(preprocess, "baseline"), f"{PROCESSING}/input/baseline"
                )
            ],
            [processing_output("baseline", "baseline", f"{PROCESSING}/output")],
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
                enable_network_isolation=True, **self.vpc("subnets", "security_group_ids")
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
                s3_output_path=run_location("train", "model"),
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
                    s3_uri=run_location("train", "checkpoints", scratch=True),
                    local_path="/opt/ml/checkpoints",
                )
            )
        trainer = trainer.with_metric_definitions(
            [MetricDefinition(name=m["Name"], regex=m["Regex"]) for m in METRIC_DEFINITIONS]
        )
        step_args = trainer.train(
            input_data_config=[
                *(
                    InputData(channel_name=name, data_source=output_uri(preprocess, name))
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
        return self.processing(
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
                processing_input(
                    "model", train.properties.ModelArtifacts.S3ModelArtifacts, f"{PROCESSING}/model"
                ),
                processing_input("test", output_uri(preprocess, "test"), f"{PROCESSING}/test"),
            ],
            [processing_output("evaluate", "evaluation", f"{PROCESSING}/evaluation")],
            property_files=[report],
            # It reads the registry (the approved version) and that version's model.tar.gz
            # with boto3 (features/registry.py): it needs credentials and a route to the
            # SageMaker and S3 APIs (in VPC mode, the stage's endpoints only).
            isolated=False,
        )

    def register(
        self, train: TrainingStep, baseline: ProcessingStep, evaluate: ProcessingStep
    ) -> RequestStep:
        def json_document(uri: PipelineVariable, file: str) -> dict[str, Any]:
            return {"ContentType": "application/json", "S3Uri": Join(on="/", values=[uri, file])}

        evaluation = output_uri(evaluate, "evaluation")
        profile = output_uri(baseline, "baseline")
        data_quality = {
            "Statistics": json_document(profile, "statistics.json"),
            "Constraints": json_document(profile, "constraints.json"),
        }
        model_reports, drift_baselines = self._model_reports(partial(json_document, evaluation))
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
                **model_reports,
            },
            "DriftCheckBaselines": {"ModelDataQuality": data_quality, **drift_baselines},
            "CustomerMetadataProperties": {
                "dataset": self.options.dataset,
                "gate_metric": self.options.quality_gate.metric,
            },
        }
        return register_model_step("Register", request, [self.step_retry])

    def _model_reports(
        self, report: Callable[[str], dict[str, Any]]
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Evaluate's Clarify-shaped reports (training/explain.py), filed twice: as the
        version's bias and feature attributions (ModelMetrics), and as the monitor's
        bias and attribution drift baselines (DriftCheckBaselines)."""
        explanations = report(EXPLANATIONS_REPORT)
        metrics: dict[str, Any] = {"Explainability": {"Report": explanations}}
        baselines: dict[str, Any] = {"Explainability": {"Constraints": explanations}}
        if self.options.bias_reports:
            pre, post = report(BIAS_PRE_TRAINING_REPORT), report(BIAS_POST_TRAINING_REPORT)
            metrics["Bias"] = {"PreTrainingReport": pre, "PostTrainingReport": post}
            baselines["Bias"] = {"PreTrainingConstraints": pre, "PostTrainingConstraints": post}
        return metrics, baselines

    def gate(
        self, evaluate: ProcessingStep, report: PropertyFile, register: RequestStep
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

    def steps(session: PipelineSession) -> Built:
        build = StepBuilder(options, session)
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
        return build.parameters, [preprocess, baseline, train, evaluate, gate]

    return offline_definition(options.region, "training-pipeline", steps)
