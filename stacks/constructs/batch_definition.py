"""The batch scoring pipeline's definition: a curated partition (or any S3 prefix of
curated Parquet) scored by a registered model version, offline at synth time.

Steps: PrepareBatch -> CreateModel -> Score.

- PrepareBatch (processing, ``training/batch_input.py``): the Parquet rows as keyed CSV
  lines, and which version scores them (``ModelPackageArn``, or the group's latest
  Approved one for ``latest``, the default a scheduled start uses).
- CreateModel (``CreateModel``): that version's package as the model's container, so the
  image, its environment and model.tar.gz (with its serving code) are the endpoint's.
  Network isolated, like the endpoint's model. One model per execution, named by
  Pipelines; a model is metadata only (no cost), and none is deleted.
- Score (``CreateTransformJob``): SageMaker's batch transform of the lines, by line,
  as many records per request as fit in 6 MB (the real-time payload limit, so the
  serving code sees the requests it already serves), the key dropped before the model
  and joined back beside the scores.

As in ``pipeline_definition.py``, deployed names reach the JSON as ``${Name}``
placeholders and the Model and Transform steps are hand-written requests.
"""

from __future__ import annotations

from typing import Any

from config.layout import SubVariable
from config.schema import DatasetSchema, ProblemType
from stacks.constructs.pipeline_definition import StepBuilder
from stacks.constructs.pipeline_sdk import (
    Built,
    offline_definition,
    sdk_environment,
)
from stacks.constructs.pipeline_settings import PROCESSING, PipelineOptions
from stacks.constructs.pipeline_steps import (
    RequestStep,
    output_uri,
    processing_input,
    processing_output,
    run_location,
)

with sdk_environment():
    from sagemaker.core.workflow.functions import JsonGet
    from sagemaker.core.workflow.parameters import ParameterString
    from sagemaker.core.workflow.pipeline_context import PipelineSession
    from sagemaker.core.workflow.properties import PropertyFile
    from sagemaker.mlops.workflow.steps import StepTypeEnum

# SageMaker's default and the real-time endpoint's request limit (CreateTransformJob's
# MaxPayloadInMB): a mini-batch is never larger than a request the endpoint serves.
MAX_PAYLOAD_MB = 6
# The key column the batch input puts first (training/batch_input.py).
KEY_FILTER = "$[1:]"
BATCH_REPORT = "batch.json"


def output_filter(schema: DatasetSchema) -> str:
    """The joined line is the input record (key, features) followed by the answer's
    columns: keep the key and the answer. JSONPath indexes as batch transform reads a
    CSV line (a JSON array)."""
    return f"$[0,{len(schema.feature_names) + 1}:]"


def answer_columns(schema: DatasetSchema) -> list[str]:
    """The columns the serving code answers a CSV record with (inference/README.md)."""
    if schema.problem_type is ProblemType.BINARY_CLASSIFICATION:
        return ["probability", "label"]
    if schema.problem_type is ProblemType.MULTICLASS_CLASSIFICATION:
        return [*(f"probability_{c}" for c in schema.target.classes), "label"]
    return ["value"]


class _BatchBuilder:
    """The three steps, on the training pipeline's processing conventions."""

    def __init__(self, build: StepBuilder, schema: DatasetSchema) -> None:
        self.build = build
        self.schema = schema
        self.model_package = ParameterString(name="ModelPackageArn", default_value="latest")
        self.transform_type = ParameterString(
            name="TransformInstanceType", default_value=build.options.processing_instance_type
        )

    @property
    def parameters(self) -> list[Any]:
        return [
            self.build.input_data,
            self.model_package,
            self.build.processing_type,
            self.transform_type,
        ]

    def prepare(self, report: PropertyFile) -> Any:
        return self.build.processing(
            "PrepareBatch",
            "training/batch_input.py",
            [
                "--input",
                f"{PROCESSING}/input/curated",
                "--schema",
                self.build.schema_file,
                "--records",
                f"{PROCESSING}/output/records",
                "--report",
                f"{PROCESSING}/output/report",
                "--model-package-arn",
                self.model_package,
                "--model-package-group",
                SubVariable.MODEL_PACKAGE_GROUP.ref,
            ],
            [processing_input("curated", self.build.input_data, f"{PROCESSING}/input/curated")],
            [
                # The lines are a copy of curated data: scratch, expiring with the run.
                processing_output(
                    "prepare-batch", "records", f"{PROCESSING}/output/records", scratch=True
                ),
                processing_output("prepare-batch", "report", f"{PROCESSING}/output/report"),
            ],
            property_files=[report],
            cache=False,  # the same prefix holds new rows from one run to the next
            # ``latest`` is looked up in the registry (features/registry.py).
            isolated=False,
        )

    def model(self, report: PropertyFile) -> RequestStep:
        vpc = self.build.vpc("Subnets", "SecurityGroupIds")
        # No ModelName: Pipelines names the model it creates, as it names the jobs it
        # starts (the SDK drops a Model step's ModelName, core/workflow/utilities.py).
        request: dict[str, Any] = {
            "ExecutionRoleArn": "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/"
            + SubVariable.BATCH_MODEL_ROLE_NAME.ref,
            "PrimaryContainer": {
                "ModelPackageName": JsonGet(
                    step_name="PrepareBatch", property_file=report, json_path="model_package_arn"
                )
            },
            "EnableNetworkIsolation": True,
            **({"VpcConfig": vpc} if vpc else {}),
        }
        return RequestStep(
            "CreateModel",
            StepTypeEnum.CREATE_MODEL,
            request,
            [self.build.step_retry],
            "DescribeModelOutput",
        )

    def score(self, prepare: Any, model: RequestStep) -> RequestStep:
        key = SubVariable.KMS_KEY_ARN.ref
        request = {
            "ModelName": model.properties.ModelName,
            "BatchStrategy": "MultiRecord",
            "MaxPayloadInMB": MAX_PAYLOAD_MB,
            "MaxConcurrentTransforms": 1,
            "TransformInput": {
                "DataSource": {
                    "S3DataSource": {
                        "S3DataType": "S3Prefix",
                        "S3Uri": output_uri(prepare, "records"),
                    }
                },
                "ContentType": "text/csv",
                "CompressionType": "None",
                "SplitType": "Line",
            },
            "TransformOutput": {
                # Scores are copies of curated rows' answers: scratch, expiring with the run's
                # other scratch (pipeline_scratch_expire_after_days) unless copied on.
                "S3OutputPath": run_location("score", "predictions", scratch=True),
                "Accept": "text/csv",
                "AssembleWith": "Line",
                "KmsKeyId": key,
            },
            "TransformResources": {
                "InstanceType": self.transform_type,
                "InstanceCount": 1,
                "VolumeKmsKeyId": key,
            },
            "DataProcessing": {
                "InputFilter": KEY_FILTER,
                "JoinSource": "Input",
                "OutputFilter": output_filter(self.schema),
            },
        }
        return RequestStep(
            "Score",
            StepTypeEnum.TRANSFORM,
            request,
            [self.build.step_retry, self.build.job_retry],
            "DescribeTransformJobResponse",
        )


def build_batch_definition(options: PipelineOptions, schema: DatasetSchema) -> dict[str, Any]:
    """The batch scoring pipeline's definition (``${...}`` placeholders) as a dict."""

    def steps(session: PipelineSession) -> Built:
        build = _BatchBuilder(StepBuilder(options, session), schema)
        report = PropertyFile(name="BatchReport", output_name="report", path=BATCH_REPORT)
        prepare = build.prepare(report)
        model = build.model(report)
        return build.parameters, [prepare, model, build.score(prepare, model)]

    return offline_definition(options.region, "batch-scoring", steps)
