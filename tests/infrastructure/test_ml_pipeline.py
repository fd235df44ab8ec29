"""The MlPipeline stack and its SageMaker Pipeline definition, as synthesized offline.

The definition is compared with a reviewed snapshot (tests/infrastructure/snapshots/):
any change to it shows up in review. After an intended change, regenerate it with
``UPDATE_SNAPSHOTS=1 make unit`` and review the diff.
"""

from __future__ import annotations

import json
import os
import re
import socket
from pathlib import Path

import pytest
from aws_cdk.assertions import Template

from config.layout import (
    BIAS_POST_TRAINING_REPORT,
    BIAS_PRE_TRAINING_REPORT,
    EXPLANATIONS_REPORT,
    SubVariable,
)
from config.schema import load_schema
from stacks.constructs.pipeline_definition import build_definition
from stacks.constructs.pipeline_sdk import offline_session
from stacks.constructs.pipeline_settings import PipelineOptions

SNAPSHOT = Path(__file__).parent / "snapshots" / "pipeline_definition.json"


def prod_training_template() -> dict:
    """Prod's MlPipeline stack when Prod trains its own models (``-c prod_training=true``;
    by default Prod has none: it serves Dev's approved release). Built on its own: the
    whole app's synth with that context would be one more configuration to synthesize."""
    from aws_cdk import App, Environment, Stage

    from config.settings import stage_settings
    from local.synth_check import cdk_json_context
    from stacks.data_lake import SharedDataLake
    from stacks.ml_pipeline import MlPipelineStack

    app = App(context=cdk_json_context())  # the feature flags `cdk synth` runs with
    stage = Stage(app, "Prod", env=Environment(account="111111111111", region="us-east-1"))
    stack = MlPipelineStack(
        stage,
        "MlPipeline",
        settings=stage_settings("Prod", account="111111111111", region="us-east-1"),
        schema=load_schema("churn"),
        data_lake=SharedDataLake("Prod-DataLake"),
    )
    return Template.from_stack(stack).to_json()


@pytest.fixture(scope="module")
def stacks(synth_report) -> dict[str, dict]:
    out = synth_report.assembly_dir
    assert not list((out / "assembly-Prod").glob("*MlPipeline*.template.json"))
    dev = next((out / "assembly-Dev").glob("*MlPipeline*.template.json"))
    return {"Dev": json.loads(dev.read_text()), "Prod": prod_training_template()}


def _pipeline(template: dict, construct: str = "Training") -> tuple[dict, dict]:
    """A pipeline's definition and ``Fn::Sub`` values: the training one, or the batch
    scoring one (``construct="Batch"``)."""
    [resource] = [
        r
        for lid, r in template["Resources"].items()
        if r["Type"] == "AWS::SageMaker::Pipeline" and lid.startswith(f"{construct}Pipeline")
    ]
    body, values = resource["Properties"]["PipelineDefinition"]["PipelineDefinitionBody"]["Fn::Sub"]
    return json.loads(body), values


def _steps(definition: dict) -> dict[str, dict]:
    steps = {}
    for step in definition["Steps"]:
        steps[step["Name"]] = step
        if step["Type"] == "Condition":
            for nested in step["Arguments"]["IfSteps"] + step["Arguments"]["ElseSteps"]:
                steps[nested["Name"]] = nested
    return steps


def test_each_stage_has_its_pipelines_a_group_and_a_weekly_schedule(stacks) -> None:
    for stage, template in stacks.items():
        assertions = Template.from_json(template)
        assertions.resource_count_is("AWS::SageMaker::Pipeline", 2)  # training, batch scoring
        assertions.has_resource_properties(
            "AWS::SageMaker::ModelPackageGroup",
            {"ModelPackageGroupName": f"customer-churn-models-{stage.lower()}"},
        )
        assertions.has_resource_properties(
            "AWS::Scheduler::Schedule",
            {
                "ScheduleExpression": "cron(0 3 ? * MON *)",
                # Dev retrains on drift or by hand; the weekly run is a prod schedule.
                "State": "ENABLED" if stage == "Prod" else "DISABLED",
            },
        )


def test_definition_has_the_steps_in_order_with_a_gate(stacks) -> None:
    definition, values = _pipeline(stacks["Dev"])
    steps = _steps(definition)
    assert {name: step["Type"] for name, step in steps.items()} == {
        "Preprocess": "Processing",
        "DataQualityBaseline": "Processing",
        "Train": "Training",
        "Evaluate": "Processing",
        "QualityGate": "Condition",
        "Register": "RegisterModel",
        "QualityGateFailed": "Fail",
    }
    gate = steps["QualityGate"]["Arguments"]
    assert [s["Name"] for s in gate["IfSteps"]] == ["Register"]
    assert [s["Name"] for s in gate["ElseSteps"]] == ["QualityGateFailed"]
    paths = [c["LeftValue"]["Std:JsonGet"]["Path"] for c in gate["Conditions"]]
    assert paths == ["binary_classification_metrics.auc.value"] * 2
    rights = [c["RightValue"] for c in gate["Conditions"]]
    assert rights[0] == {"Get": "Parameters.MetricThreshold"}
    assert rights[1]["Std:JsonGet"]["Path"] == "approved_model.value"
    assert steps["Evaluate"]["PropertyFiles"] == [
        {
            "PropertyFileName": "EvaluationReport",
            "OutputName": "evaluation",
            "FilePath": "evaluation.json",
        }
    ]
    register = steps["Register"]["Arguments"]
    assert register["ModelApprovalStatus"] == {"Get": "Parameters.ModelApprovalStatus"}
    metrics = register["ModelMetrics"]
    # churn names facets: Evaluate's bias reports and its attributions are filed with it.
    assert set(metrics) == {"ModelQuality", "ModelDataQuality", "Bias", "Explainability"}
    files = {
        key: source["S3Uri"]["Std:Join"]["Values"][-1]
        for group in ("Bias", "Explainability")
        for key, source in metrics[group].items()
    }
    assert files == {
        "PreTrainingReport": BIAS_PRE_TRAINING_REPORT,
        "PostTrainingReport": BIAS_POST_TRAINING_REPORT,
        "Report": EXPLANATIONS_REPORT,
    }
    assert set(register["DriftCheckBaselines"]["ModelDataQuality"]) == {"Statistics", "Constraints"}
    assert {p["Name"]: p["Type"] for p in definition["Parameters"]} == {
        "InputDataUrl": "String",
        "ProcessingInstanceType": "String",
        "TrainingInstanceType": "String",
        "MetricThreshold": "Float",
        "ModelApprovalStatus": "String",
        # The curated snapshot the execution trains on (set by the retrain trigger).
        "CuratedSnapshot": "String",
    }
    # Every placeholder is one the construct fills in (or a CloudFormation pseudo parameter).
    placeholders = set(re.findall(r"\$\{([^}]+)\}", json.dumps(definition)))
    assert placeholders - set(values) <= {"AWS::Region", "AWS::AccountId", "AWS::Partition"}
    # Every placeholder but the batch scoring pipeline's own model role.
    assert set(values) == {v.value for v in SubVariable} - {SubVariable.BATCH_MODEL_ROLE_NAME}


def test_jobs_are_encrypted_cached_and_retried(stacks) -> None:
    steps = _steps(_pipeline(stacks["Dev"])[0])
    key = SubVariable.KMS_KEY_ARN.ref
    for name in ("Preprocess", "DataQualityBaseline", "Evaluate"):
        arguments = steps[name]["Arguments"]
        assert arguments["ProcessingResources"]["ClusterConfig"]["VolumeKmsKeyId"] == key
        assert arguments["ProcessingOutputConfig"]["KmsKeyId"] == key
    train = steps["Train"]["Arguments"]
    assert train["ResourceConfig"]["VolumeKmsKeyId"] == key
    assert train["OutputDataConfig"]["KmsKeyId"] == key
    # Only steps whose inputs are per-execution URIs may be served from the cache: the
    # curated data changes behind Preprocess's unchanging input URI.
    assert "CacheConfig" not in steps["Preprocess"]
    assert "CacheConfig" not in steps["DataQualityBaseline"]
    for name in ("Train", "Evaluate"):
        assert steps[name]["CacheConfig"] == {"Enabled": True, "ExpireAfter": "P30D"}
    for name in ("Preprocess", "DataQualityBaseline", "Train", "Evaluate"):
        retried = {t for p in steps[name]["RetryPolicies"] for t in p["ExceptionType"]}
        assert {"Step.THROTTLING", "SageMaker.CAPACITY_ERROR"} <= retried


def test_spot_training_with_checkpoints_in_dev_only(stacks) -> None:
    dev = _steps(_pipeline(stacks["Dev"])[0])["Train"]["Arguments"]
    prod = _steps(_pipeline(stacks["Prod"])[0])["Train"]["Arguments"]
    assert dev["EnableManagedSpotTraining"] is True and "CheckpointConfig" in dev
    assert "MaxWaitTimeInSeconds" in dev["StoppingCondition"]
    assert prod.get("EnableManagedSpotTraining", False) is False and "CheckpointConfig" not in prod


def test_roles_are_scoped_to_the_stage(stacks) -> None:
    template = stacks["Dev"]
    for resource in template["Resources"].values():
        if resource["Type"] != "AWS::IAM::Policy":
            continue
        for statement in resource["Properties"]["PolicyDocument"]["Statement"]:
            actions = (
                statement["Action"]
                if isinstance(statement["Action"], list)
                else [statement["Action"]]
            )
            assert all("*" not in action for action in actions), statement
            if statement["Resource"] == "*":
                # Actions AWS offers no resource-level permission for (X-Ray: the model
                # promotion function's tracing).
                assert set(actions) <= {
                    "ecr:GetAuthorizationToken",
                    "sagemaker:ListModelPackages",
                    "xray:PutTraceSegments",
                    "xray:PutTelemetryRecords",
                }
    pass_roles = [
        s
        for r in template["Resources"].values()
        if r["Type"] == "AWS::IAM::Policy"
        for s in r["Properties"]["PolicyDocument"]["Statement"]
        if s["Action"] == "iam:PassRole"
    ]
    assert len(pass_roles) == 2  # the training and the batch scoring pipeline's roles
    for pass_role in pass_roles:
        assert pass_role["Condition"] == {
            "StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}
        }


def test_definition_builds_without_any_aws_call(monkeypatch) -> None:
    # The session the builder uses refuses every request...
    with offline_session("us-east-1") as session, pytest.raises(RuntimeError, match="offline"):
        session.boto_session.client("s3").list_buckets()
    # ...and no socket may even connect anywhere but this machine while it builds.
    attempts: list[object] = []
    real_connect = socket.socket.connect

    def guarded_connect(self: socket.socket, address: object) -> None:
        host = address[0] if isinstance(address, tuple) else address
        if not str(host).startswith(("127.", "::1", "localhost", "/")):
            attempts.append(address)
            raise OSError(f"network access during synth: {address}")
        real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    definition = build_definition(
        PipelineOptions(
            region="eu-west-1", dataset="churn", quality_gate=load_schema("churn").quality_gate
        )
    )
    # The region's own image registry, from the SDK's offline tables.
    assert "dkr.ecr.eu-west-1.amazonaws.com/sagemaker-xgboost:3.2-0" in json.dumps(definition)
    assert attempts == []


def test_definition_matches_the_reviewed_snapshot() -> None:
    definition = build_definition(
        PipelineOptions(
            region="us-east-1",
            dataset="churn",
            quality_gate=load_schema("churn").quality_gate,
            bias_reports=True,
            spot_training=True,
        )
    )
    rendered = json.dumps(definition, indent=2, sort_keys=True) + "\n"
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        SNAPSHOT.write_text(rendered)
    assert rendered == SNAPSHOT.read_text(), "definition changed: review, then UPDATE_SNAPSHOTS=1"


def test_the_sdk_config_is_still_validated_while_the_definition_builds() -> None:
    """The schema is checked once per process, but every config the SDK looks a value up in
    is still validated against it; outside the build the SDK's own check is back."""
    from jsonschema.exceptions import ValidationError
    from sagemaker.core.config.config_manager import SageMakerConfig

    from stacks.constructs.pipeline_sdk import config_schema_checked_once

    original = SageMakerConfig.__dict__["validate_sagemaker_config"]
    with config_schema_checked_once():
        assert SageMakerConfig.__dict__["validate_sagemaker_config"] is not original
        SageMakerConfig.validate_sagemaker_config({"SchemaVersion": "1.0"})
        with pytest.raises(ValidationError, match="SchemaVersion"):
            SageMakerConfig.validate_sagemaker_config({"SchemaVersion": "9"})
    assert SageMakerConfig.__dict__["validate_sagemaker_config"] is original
