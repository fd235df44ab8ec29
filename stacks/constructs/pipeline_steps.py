"""The parts the pipelines' steps are made of: one S3 folder per execution and step,
processing inputs and outputs, and the steps the SDK cannot build offline
(``RegisterModel``, ``Model``, ``Transform``). ``pipeline_definition.py`` and
``batch_definition.py`` assemble them."""

from __future__ import annotations

from typing import Any

from config.layout import RUN_SCRATCH_PREFIX, RUNS_PREFIX, SubVariable
from stacks.constructs.pipeline_sdk import sdk_environment

with sdk_environment():
    from sagemaker.core.helper.pipeline_variable import PipelineVariable
    from sagemaker.core.shapes import (
        ProcessingInput,
        ProcessingOutput,
        ProcessingS3Input,
        ProcessingS3Output,
    )
    from sagemaker.core.workflow.execution_variables import ExecutionVariables
    from sagemaker.core.workflow.functions import Join
    from sagemaker.core.workflow.properties import Properties
    from sagemaker.mlops.workflow.retry import StepRetryPolicy
    from sagemaker.mlops.workflow.steps import ProcessingStep, Step, StepTypeEnum


def run_location(step: str, name: str, *, scratch: bool = False) -> Join:
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


def processing_input(name: str, uri: str | PipelineVariable, local_path: str) -> ProcessingInput:
    return ProcessingInput(
        input_name=name,
        s3_input=ProcessingS3Input(
            s3_uri=uri, local_path=local_path, s3_data_type="S3Prefix", s3_input_mode="File"
        ),
    )


def processing_output(
    step: str, name: str, local_path: str, *, scratch: bool = False
) -> ProcessingOutput:
    return ProcessingOutput(
        output_name=name,
        s3_output=ProcessingS3Output(
            s3_uri=run_location(step, name, scratch=scratch),
            local_path=local_path,
            s3_upload_mode="EndOfJob",
        ),
    )


def output_uri(step: ProcessingStep, name: str) -> PipelineVariable:
    outputs: Any = step.properties.ProcessingOutputConfig.Outputs
    return outputs[name].S3Output.S3Uri


class RequestStep(Step):  # type: ignore[misc]  # the SDK is untyped
    """A step from a hand-written service request: ``RegisterModel`` (``CreateModelPackage``),
    ``Model`` (``CreateModel``) or ``Transform`` (``CreateTransformJob``), the shapes the
    SDK cannot build offline. ``shape``: the Describe response its properties follow."""

    def __init__(
        self,
        name: str,
        step_type: StepTypeEnum,
        request: dict[str, Any],
        retry: list[StepRetryPolicy],
        shape: str,
    ) -> None:
        super().__init__(name, step_type=step_type)
        self._request = request
        self._retry = retry
        self._properties = Properties(step_name=name, step=self, shape_name=shape)

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


def register_model_step(
    name: str, request: dict[str, Any], retry: list[StepRetryPolicy]
) -> RequestStep:
    """A ``RegisterModel`` step from its ``CreateModelPackage`` request."""
    return RequestStep(
        name, StepTypeEnum.REGISTER_MODEL, request, retry, "DescribeModelPackageOutput"
    )
