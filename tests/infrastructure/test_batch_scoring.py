"""The batch scoring pipeline in the synthesized MlPipeline stack: a curated prefix turned
into keyed lines, a model from a registered version, a batch transform of the lines as
batch transform documents its data processing (docs.aws.amazon.com/sagemaker/latest/dg/
batch-transform-data-processing.html), and the roles each part runs as."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Template

from config.layout import SubVariable
from config.schema import load_schema
from stacks.constructs.batch_definition import answer_columns, output_filter

SCHEMA = load_schema("churn")


@pytest.fixture(scope="module")
def template(synth_report) -> dict[str, Any]:
    path = next((synth_report.assembly_dir / "assembly-Dev").glob("*MlPipeline*.template.json"))
    return json.loads(path.read_text())


def _pipeline(template: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    [resource] = [
        r["Properties"]
        for lid, r in template["Resources"].items()
        if r["Type"] == "AWS::SageMaker::Pipeline" and lid.startswith("BatchPipeline")
    ]
    body, values = resource["PipelineDefinition"]["PipelineDefinitionBody"]["Fn::Sub"]
    return json.loads(body), values


def _policy(template: dict[str, Any], prefix: str) -> list[dict[str, Any]]:
    [policy] = [
        r["Properties"]["PolicyDocument"]["Statement"]
        for lid, r in template["Resources"].items()
        if r["Type"] == "AWS::IAM::Policy" and lid.startswith(prefix)
    ]
    return policy


def test_the_steps_prepare_create_a_model_of_the_version_then_transform(template) -> None:
    definition, _ = _pipeline(template)
    steps = {s["Name"]: s for s in definition["Steps"]}
    assert [(s["Name"], s["Type"]) for s in definition["Steps"]] == [
        ("PrepareBatch", "Processing"),
        ("CreateModel", "Model"),
        ("Score", "Transform"),
    ]
    parameters = {p["Name"]: p.get("DefaultValue") for p in definition["Parameters"]}
    # A scheduled start scores the curated zone with the latest approved version.
    assert parameters["ModelPackageArn"] == "latest"
    assert parameters["InputDataUrl"] == f"s3://{SubVariable.CURATED_BUCKET.ref}/data/"
    model = steps["CreateModel"]["Arguments"]
    assert model["PrimaryContainer"]["ModelPackageName"]["Std:JsonGet"]["Path"] == (
        "model_package_arn"
    )
    assert model["EnableNetworkIsolation"] is True  # as the endpoint's model
    assert "ModelName" not in model  # the service names it (the SDK drops it too)
    assert model["ExecutionRoleArn"].endswith(SubVariable.BATCH_MODEL_ROLE_NAME.ref)
    transform = steps["Score"]["Arguments"]
    assert transform["ModelName"] == {"Get": "Steps.CreateModel.ModelName"}
    assert transform["TransformInput"]["SplitType"] == "Line"
    assert transform["TransformInput"]["ContentType"] == "text/csv"
    assert transform["BatchStrategy"] == "MultiRecord"
    assert transform["MaxPayloadInMB"] == 6  # what a real-time request may carry
    assert transform["TransformOutput"]["AssembleWith"] == "Line"
    assert transform["TransformOutput"]["KmsKeyId"] == SubVariable.KMS_KEY_ARN.ref
    assert transform["TransformResources"]["VolumeKmsKeyId"] == SubVariable.KMS_KEY_ARN.ref
    # The key goes around the model and comes back first on each output line.
    assert transform["DataProcessing"] == {
        "InputFilter": "$[1:]",
        "JoinSource": "Input",
        "OutputFilter": f"$[0,{len(SCHEMA.feature_names) + 1}:]",
    }
    assert "pipeline-runs/scratch" in json.dumps(transform["TransformOutput"]["S3OutputPath"])
    records = steps["PrepareBatch"]["Arguments"]["ProcessingOutputConfig"]["Outputs"][0]
    assert records["OutputName"] == "records"
    assert transform["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"] == {
        "Get": "Steps.PrepareBatch.ProcessingOutputConfig.Outputs['records'].S3Output.S3Uri"
    }


def test_the_output_filter_keeps_the_key_and_every_answer_column() -> None:
    # The joined CSV line is the input record followed by the answer (the data
    # processing page: "the joined input data is followed by the transformed data").
    for name in ("churn", "penguins", "house_prices"):
        schema = load_schema(name)
        joined = ["key", *schema.feature_names, *answer_columns(schema)]
        start = int(output_filter(schema).split(",")[1].rstrip(":]"))
        assert ["key", *joined[start:]] == ["key", *answer_columns(schema)], name


def test_the_model_role_reads_lines_and_models_and_writes_only_scores(template) -> None:
    statements = {s["Sid"]: s for s in _policy(template, "BatchModelPolicy")}
    writes = statements["WriteScores"]
    assert sorted(writes["Action"]) == ["s3:AbortMultipartUpload", "s3:PutObject"]
    assert "/score/*" in json.dumps(writes["Resource"])
    assert not any(
        "Delete" in action
        for s in statements.values()
        for action in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
    )


def test_the_pipeline_role_passes_its_two_roles_and_creates_only_its_models(template) -> None:
    statements = {s["Sid"]: s for s in _policy(template, "BatchPipelinePolicy")}
    passed = json.dumps(statements["PassJobRole"]["Resource"])
    assert "BatchModelRole" in passed and "TrainingJobRole" in passed
    models = json.dumps(statements["CreateModels"]["Resource"])
    assert "model/pipelines-*" in models  # Pipelines names the model, as its jobs


def test_the_daily_schedule_exists_and_is_off_in_dev(template) -> None:
    Template.from_json(template).has_resource_properties(
        "AWS::Scheduler::Schedule",
        {"ScheduleExpression": "cron(0 5 * * ? *)", "State": "DISABLED"},
    )
