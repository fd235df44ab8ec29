"""The optional Model Monitor construct for each problem type: the model-quality job
reads the label where inference.py's CSV answer puts it."""

from __future__ import annotations

import pytest
from aws_cdk import App, Environment, Stack
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Template

from config.schema import load_schema
from local.synth_check import cdk_json_context
from stacks.constructs.model_monitor import ModelMonitorSchedules
from tests.conftest import MULTICLASS_SCHEMA


@pytest.mark.parametrize(
    ("schema_name", "problem_type", "inference", "probability"),
    [
        ("churn", "BinaryClassification", "1", "0"),
        ("house_prices", "Regression", "0", None),
        # p_basic,p_standard,p_premium,class: the class is field 3.
        (str(MULTICLASS_SCHEMA), "MulticlassClassification", "3", None),
    ],
)
def test_model_quality_reads_the_answer_s_label_field(
    schema_name: str, problem_type: str, inference: str, probability: str | None
) -> None:
    app = App(context=cdk_json_context())
    stack = Stack(app, "Bare", env=Environment(account="111111111111", region="us-east-1"))
    ModelMonitorSchedules(
        stack,
        "ModelMonitor",
        schema=load_schema(schema_name),
        endpoint_name="ds-endpoint-dev",
        schedule_name="ds-monitor-dev",
        every_minutes=60,
        instance_type="ml.m5.large",
        key=kms.Key(stack, "Key"),
        artifacts=s3.Bucket(stack, "Artifacts"),
    )
    [model] = (
        Template.from_stack(stack)
        .find_resources("AWS::SageMaker::ModelQualityJobDefinition")
        .values()
    )
    properties = model["Properties"]
    assert properties["ModelQualityAppSpecification"]["ProblemType"] == problem_type
    endpoint = properties["ModelQualityJobInput"]["EndpointInput"]
    assert endpoint["InferenceAttribute"] == inference
    assert endpoint.get("ProbabilityAttribute") == probability
