"""The Serving stacks, synthesized with a model package ARN (and without one)."""

from __future__ import annotations

import json

import pytest
from aws_cdk import App
from aws_cdk.assertions import Match, Template

from app import build_app
from config.settings import INVOCATIONS_PER_INSTANCE_TARGET, stage_settings
from local.synth_check import cdk_json_context
from tests.conftest import MODEL_PACKAGE_ARN


@pytest.fixture(scope="module")
def serving(synth_report_with_arn) -> dict[str, Template]:
    out = synth_report_with_arn.assembly_dir
    return {
        stage: Template.from_json(
            json.loads(
                next((out / f"assembly-{stage}").glob("*Serving*.template.json")).read_text()
            )
        )
        for stage in ("Dev", "Prod")
    }


def test_synth_with_an_arn_is_clean(synth_report_with_arn) -> None:
    names = sorted(p.name.split(".")[0] for p in synth_report_with_arn.templates)
    assert [n for n in names if "Serving" in n] == ["DevServingE7F840B0", "ProdServingE95F2C1F"]
    assert synth_report_with_arn.nag_failures == []
    assert synth_report_with_arn.lint_findings == []


def test_model_serves_the_given_package(serving) -> None:
    serving["Dev"].has_resource_properties(
        "AWS::SageMaker::Model", {"Containers": [{"ModelPackageName": MODEL_PACKAGE_ARN}]}
    )


@pytest.mark.parametrize(("stage", "canary", "bake"), [("Dev", 50, 300), ("Prod", 10, 600)])
def test_blue_green_canary_rolls_back_on_alarms(serving, stage, canary, bake) -> None:
    template = serving[stage]
    [endpoint] = template.find_resources("AWS::SageMaker::Endpoint").values()
    deployment = endpoint["Properties"]["DeploymentConfig"]
    routing = deployment["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]
    assert routing == {
        "Type": "CANARY",
        "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": canary},
        "WaitIntervalInSeconds": bake,
    }
    alarm_refs = [a["AlarmName"]["Ref"] for a in deployment["AutoRollbackConfiguration"]["Alarms"]]
    alarms = template.find_resources("AWS::CloudWatch::Alarm")
    assert sorted(alarms[ref]["Properties"]["MetricName"] for ref in alarm_refs) == [
        "Invocation5XXErrors",
        "ModelLatency",
    ]
    for ref in alarm_refs:
        dimensions = {d["Name"]: d["Value"] for d in alarms[ref]["Properties"]["Dimensions"]}
        assert dimensions == {
            "EndpointName": f"customer-churn-endpoint-{stage.lower()}",
            "VariantName": "AllTraffic",
        }


@pytest.mark.parametrize(("stage", "sampling"), [("Dev", 100), ("Prod", 20)])
def test_data_capture_is_encrypted_with_the_stage_key(serving, stage, sampling) -> None:
    serving[stage].has_resource_properties(
        "AWS::SageMaker::EndpointConfig",
        {
            "KmsKeyId": {"Fn::ImportValue": f"{stage}-DataLake-KeyArn"},
            "DataCaptureConfig": {
                "EnableCapture": True,
                "InitialSamplingPercentage": sampling,
                "KmsKeyId": {"Fn::ImportValue": f"{stage}-DataLake-KeyArn"},
                "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
                "CaptureContentTypeHeader": {
                    "CsvContentTypes": ["text/csv"],
                    "JsonContentTypes": ["application/json", "application/jsonlines"],
                },
                "DestinationS3Uri": Match.any_value(),
            },
        },
    )


@pytest.mark.parametrize(("stage", "low", "high"), [("Dev", 2, 3), ("Prod", 2, 6)])
def test_scaling_bounds_and_policy(serving, stage, low, high) -> None:
    template = serving[stage]
    template.has_resource_properties(
        "AWS::ApplicationAutoScaling::ScalableTarget",
        {
            "MinCapacity": low,
            "MaxCapacity": high,
            "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
            "ResourceId": f"endpoint/customer-churn-endpoint-{stage.lower()}/variant/AllTraffic",
        },
    )
    [policy] = template.find_resources("AWS::ApplicationAutoScaling::ScalingPolicy").values()
    config = policy["Properties"]["TargetTrackingScalingPolicyConfiguration"]
    assert config["PredefinedMetricSpecification"] == {
        "PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"
    }
    assert config["TargetValue"] == INVOCATIONS_PER_INSTANCE_TARGET
    assert config["ScaleInCooldown"] > config["ScaleOutCooldown"]
    [config_resource] = template.find_resources("AWS::SageMaker::EndpointConfig").values()
    [variant] = config_resource["Properties"]["ProductionVariants"]
    assert variant["InitialInstanceCount"] == low
    assert (
        variant["InstanceType"]
        == stage_settings(stage, account="1", region="x").endpoint_instance_type
    )


def test_no_arn_means_no_serving_stack_and_one_plain_message(synth_report, capsys) -> None:
    assert not [p for p in synth_report.templates if "Serving" in p.name]
    build_app(App(context=cdk_json_context()))
    printed = capsys.readouterr().err
    assert printed.count("No model_package_arn given") == 1
