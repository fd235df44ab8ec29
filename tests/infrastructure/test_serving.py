"""The Serving stacks: the served version read from SSM at deploy time (default) or pinned."""

from __future__ import annotations

import json

import pytest
from aws_cdk.assertions import Match, Template

from config.layout import NO_MODEL_VERSION, model_release_parameter, model_version_parameter
from config.schema import load_schema
from config.settings import INVOCATIONS_PER_INSTANCE_TARGET, stage_settings
from tests.synth_cache import MODEL_PACKAGE_ARN

SERVING_ONLY_WITH_A_MODEL = (
    "AWS::SageMaker::Model",
    "AWS::SageMaker::EndpointConfig",
    "AWS::SageMaker::Endpoint",
    "AWS::ApplicationAutoScaling::ScalableTarget",
    "AWS::ApplicationAutoScaling::ScalingPolicy",
)


def _serving_templates(out) -> dict[str, Template]:
    return {
        stage: Template.from_json(
            json.loads(
                next((out / f"assembly-{stage}").glob("*Serving*.template.json")).read_text()
            )
        )
        for stage in ("Dev", "Prod")
    }


@pytest.fixture(scope="module")
def serving(synth_report) -> dict[str, Template]:
    return _serving_templates(synth_report.assembly_dir)


@pytest.fixture(scope="module")
def pinned(synth_report_with_arn) -> dict[str, Template]:
    return _serving_templates(synth_report_with_arn.assembly_dir)


def test_serving_is_always_synthesized_and_clean(synth_report) -> None:
    names = sorted(p.name.split(".")[0] for p in synth_report.templates)
    assert [n for n in names if "Serving" in n] == ["DevServingE7F840B0", "ProdServingE95F2C1F"]
    assert synth_report.nag_failures == []
    assert synth_report.lint_findings == []


@pytest.mark.parametrize("stage", ["Dev", "Prod"])
def test_model_version_is_read_from_ssm_at_deploy_time(serving, stage) -> None:
    template = serving[stage].to_json()
    if stage == "Dev":
        # The version, and its model artifact (the model role's one readable object).
        [name] = [
            k
            for k, p in template["Parameters"].items()
            if p["Type"] == "AWS::SSM::Parameter::Value<String>"
            and p["Default"] == model_version_parameter(stage, "customer_churn")
        ]
        package: dict = {"Ref": name}
    else:
        # Prod serves the release Dev approved (one account here: Dev's parameter by name).
        release = template["Parameters"]["ApprovedRelease"]
        assert release["Type"] == "AWS::SSM::Parameter::Value<List<String>>"
        assert release["Default"] == model_release_parameter("Dev", "customer_churn")
        package = {"Fn::Select": [0, {"Ref": "ApprovedRelease"}]}
    [model] = serving[stage].find_resources("AWS::SageMaker::Model").values()
    assert model["Properties"]["Containers"] == [{"ModelPackageName": package}]
    [(condition_name, condition)] = template["Conditions"].items()
    assert condition == {"Fn::Not": [{"Fn::Equals": [package, NO_MODEL_VERSION]}]}
    # Before any approval only the role, its policy and the alarms exist.
    for resource in template["Resources"].values():
        if resource["Type"] in SERVING_ONLY_WITH_A_MODEL:
            assert resource["Condition"] == condition_name, resource["Type"]
        else:
            assert "Condition" not in resource, resource["Type"]


def test_a_pinned_version_overrides_the_record(pinned, synth_report_with_arn) -> None:
    pinned["Dev"].has_resource_properties(
        "AWS::SageMaker::Model", {"Containers": [{"ModelPackageName": MODEL_PACKAGE_ARN}]}
    )
    assert "Conditions" not in pinned["Dev"].to_json()
    assert synth_report_with_arn.nag_failures == []
    assert synth_report_with_arn.lint_findings == []


@pytest.mark.parametrize(
    ("stage", "routing", "bake"),
    [
        # One dev instance cannot be split: all at once, then a bake with rollback alarms.
        ("Dev", {"Type": "ALL_AT_ONCE"}, 300),
        (
            "Prod",
            {
                "Type": "CANARY",
                "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 10},
                "WaitIntervalInSeconds": 600,
            },
            600,
        ),
    ],
)
def test_blue_green_rolls_back_on_alarms(serving, stage, routing, bake) -> None:
    template = serving[stage]
    [endpoint] = template.find_resources("AWS::SageMaker::Endpoint").values()
    deployment = endpoint["Properties"]["DeploymentConfig"]
    policy = deployment["BlueGreenUpdatePolicy"]
    assert policy["TrafficRoutingConfiguration"] == routing
    assert policy["TerminationWaitInSeconds"] == bake
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


@pytest.mark.parametrize(("stage", "low", "high"), [("Dev", 1, 2), ("Prod", 2, 6)])
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


def test_serverless_dev_option_gives_up_capture_rollout_and_scaling() -> None:
    from aws_cdk import App, Environment, Stage

    from local.synth_check import cdk_json_context
    from stacks.data_lake import SharedDataLake
    from stacks.serving import ServingStack

    app = App(context=cdk_json_context())
    settings = stage_settings("Dev", account="111111111111", region="us-east-1", serverless=True)
    stage = Stage(app, "Dev", env=Environment(account=settings.account, region=settings.region))
    stack = ServingStack(
        stage,
        "Serving",
        settings=settings,
        data_lake=SharedDataLake("Dev-DataLake"),
        schema=load_schema(settings.dataset),
    )
    template = Template.from_stack(stack)
    [config] = template.find_resources("AWS::SageMaker::EndpointConfig").values()
    [variant] = config["Properties"]["ProductionVariants"]
    assert variant["ServerlessConfig"] == {"MemorySizeInMB": 2048, "MaxConcurrency": 5}
    assert "InstanceType" not in variant
    assert "DataCaptureConfig" not in config["Properties"]
    [endpoint] = template.find_resources("AWS::SageMaker::Endpoint").values()
    assert "DeploymentConfig" not in endpoint["Properties"]
    assert template.find_resources("AWS::ApplicationAutoScaling::ScalableTarget") == {}
    # The alarms stay: they still page someone (5xx, latency, 4xx rate); not the idle
    # alarm, which needs the instance metrics a serverless endpoint does not publish.
    names = sorted(
        a["Properties"]["AlarmName"]
        for a in template.find_resources("AWS::CloudWatch::Alarm").values()
    )
    assert [n.rsplit("-dev-", 1)[1] for n in names] == ["4xx-rate", "5xx", "latency-p99"]


def test_prod_refuses_the_serverless_option() -> None:
    with pytest.raises(ValueError, match="dev only"):
        stage_settings("Prod", account="1", region="r", serverless=True)
