"""The Monitoring stacks as synthesized in the whole app (both stages), and the Model
Monitor option in a stage of its own: schedule, alarms, rules, Lambda, topic."""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path

import pytest
from aws_cdk import App, Environment, Stage, Validations
from aws_cdk.assertions import Template
from cdk_nag import AwsSolutionsChecks

from app import validation_failures
from config.schema import load_schema
from config.settings import stage_settings
from local.cdk_assembly import StageAssembly
from local.monitoring.alarms import load_alarms
from local.monitoring.event_patterns import matches, stage_rule_patterns
from local.service_metrics import LOCAL_NAMES, local_name
from local.synth_check import cdk_json_context, lint_template
from stacks.constructs.pipeline_settings import CODE_DIR, PROCESSING_LAUNCHER
from stacks.data_lake import SharedDataLake
from stacks.monitoring import MonitoringStack

KEY = {"Fn::ImportValue": "Dev-DataLake-KeyArn"}
ENDPOINT = "customer-churn-endpoint-dev"
PIPELINE = "customer-churn-training-dev"

# The single-metric sample event of the CloudWatch user guide ("Alarm events and
# EventBridge"), with our alarm's name.
ALARM_EVENT = {
    "version": "0",
    "id": "c4c1c1c9-6542-e61b-6ef0-8c4d36933a92",
    "detail-type": "CloudWatch Alarm State Change",
    "source": "aws.cloudwatch",
    "account": "123456789012",
    "time": "2019-10-02T17:04:40Z",
    "region": "us-east-1",
    "resources": ["arn:aws:cloudwatch:us-east-1:123456789012:alarm:mlops-dev-churn-drift"],
    "detail": {
        "alarmName": "mlops-dev-churn-drift",
        "configuration": {"description": "Goes into alarm when features drift", "metrics": []},
        "previousState": {"reason": "", "timestamp": "2019-10-01T13:56:40.987+0000", "value": "OK"},
        "state": {"reason": "", "timestamp": "2019-10-02T17:04:40.989+0000", "value": "ALARM"},
    },
}
# Fields of "SageMaker Model Building Pipeline Execution Status Change" (EventBridge
# schema aws.sagemaker@SageMakerModelBuildingPipelineExecutionStatusChange).
PIPELINE_EVENT = {
    "version": "0",
    "id": "315c1398-40ff-a850-213b-158f73e60175",
    "detail-type": "SageMaker Model Building Pipeline Execution Status Change",
    "source": "aws.sagemaker",
    "account": "111111111111",
    "time": "2026-12-01T21:00:00Z",
    "region": "us-east-1",
    "resources": [f"arn:aws:sagemaker:us-east-1:111111111111:pipeline/{PIPELINE}"],
    "detail": {
        "pipelineExecutionDisplayName": "retrain-drift-20261201-210000",
        "currentPipelineExecutionStatus": "Succeeded",
        "previousPipelineExecutionStatus": "Executing",
        "executionStartTime": "2026-12-01T20:00:00Z",
        "executionEndTime": "2026-12-01T21:00:00Z",
        "pipelineArn": f"arn:aws:sagemaker:us-east-1:111111111111:pipeline/{PIPELINE}",
        "pipelineExecutionArn": f"arn:aws:sagemaker:us-east-1:111111111111:pipeline/{PIPELINE}"
        "/execution/abc123",
        "pipelineExecutionDescription": "Retraining started by alarm mlops-dev-churn-drift",
    },
}


def local_job_names(name: str) -> str | None:
    """The curated Glue job's local name, for the retrain trigger's curated-job rule."""
    return LOCAL_NAMES["EtlProcessedToCuratedJob"] if "CuratedJobName" in name else None


@pytest.fixture(scope="module")
def templates(synth_report) -> dict[str, Path]:
    return {
        stage: next(
            (synth_report.assembly_dir / f"assembly-{stage}").glob("*Monitoring*.template.json")
        )
        for stage in ("Dev", "Prod")
    }


@pytest.fixture(scope="module")
def dev(templates) -> Template:
    return Template.from_json(json.loads(templates["Dev"].read_text()))


def _one(template: Template, kind: str) -> dict:
    [resource] = template.find_resources(kind).values()
    return resource["Properties"]


def _reference(part: dict) -> str:
    """A CloudFormation reference as ${Import:name}, ${Logical.Attr} or ${Logical}."""
    if "Fn::ImportValue" in part:
        return "${Import:" + part["Fn::ImportValue"] + "}"
    if "Fn::GetAtt" in part:
        return "${" + ".".join(part["Fn::GetAtt"]) + "}"
    if "Ref" in part:
        return "${" + part["Ref"] + "}"
    raise AssertionError(f"unexpected reference {part}")


def _joined(value) -> str:
    """A string, or a Fn::Join of literals and references, references as _reference."""
    if isinstance(value, str):
        return value
    if "Fn::Join" not in value:
        return _reference(value)
    return "".join(p if isinstance(p, str) else _reference(p) for p in value["Fn::Join"][1])


def test_monitoring_stacks_are_in_both_stages_and_clean(synth_report, templates) -> None:
    assert set(templates) == {"Dev", "Prod"}
    assert synth_report.nag_failures == []
    assert [f for f in synth_report.lint_findings if "Monitoring" in f] == []


def _function(template: Template, prefix: str) -> dict:
    [function] = [
        r["Properties"]
        for lid, r in template.find_resources("AWS::Lambda::Function").items()
        if lid.startswith(prefix)
    ]
    return function


def test_schedule_invokes_the_launcher_with_its_context_attributes(dev) -> None:
    schedule = _one(dev, "AWS::Scheduler::Schedule")
    assert schedule["ScheduleExpression"] == "rate(60 minutes)"
    assert schedule["Name"] == "customer-churn-monitor-dev"
    target = schedule["Target"]
    functions = dev.find_resources("AWS::Lambda::Function")
    launcher = next(lid for lid in functions if lid.startswith("MonitorLauncher"))
    assert target["Arn"] == {"Fn::GetAtt": [launcher, "Arn"]}
    assert target["RetryPolicy"] == {"MaximumEventAgeInSeconds": 3540, "MaximumRetryAttempts": 3}
    assert "DeadLetterConfig" in target
    assert json.loads(target["Input"]) == {
        "scheduled_time": "<aws.scheduler.scheduled-time>",
        "schedule_arn": "<aws.scheduler.schedule-arn>",
        "execution_id": "<aws.scheduler.execution-id>",
        "attempt": "<aws.scheduler.attempt-number>",
    }


def test_launcher_holds_the_one_job_request_named_per_scheduled_run(dev) -> None:
    function = _function(dev, "MonitorLauncher")
    assert function["Runtime"] == "python3.12"
    assert function["Handler"] == "handler.handler"
    assert function["TracingConfig"] == {"Mode": "Active"}
    assert "DeadLetterConfig" in function
    env = function["Environment"]["Variables"]
    assert env["POWERTOOLS_METRICS_NAMESPACE"] == "MLOps/Monitoring"
    assert env["POWERTOOLS_SERVICE_NAME"] == "monitor-launcher"
    request = json.loads(_joined(env["JOB_REQUEST"]))
    assert request["ProcessingJobName"] == "customer-churn-monitor-dev-<monitor-run>"
    assert request["StoppingCondition"] == {"MaxRuntimeInSeconds": 3540}
    key = "${Import:Dev-DataLake-KeyArn}"
    assert request["ProcessingOutputConfig"]["KmsKeyId"] == key
    assert request["ProcessingResources"]["ClusterConfig"]["VolumeKmsKeyId"] == key
    app = request["AppSpecification"]
    assert app["ImageUri"].endswith("/sagemaker-xgboost:3.2-0")
    assert app["ContainerEntrypoint"] == ["/bin/bash", "-c", PROCESSING_LAUNCHER]
    args = app["ContainerArguments"]
    assert args[0] == "monitoring/monitor.py"
    flags = dict(zip(args[1::2], args[2::2], strict=True))
    artifacts = "${Import:Dev-DataLake-ArtifactsBucketName}"
    raw = "${Import:Dev-DataLake-RawBucketName}"
    assert flags == {
        "--schema": "config/datasets/churn.json",
        "--capture-uri": f"s3://{artifacts}/data-capture/{ENDPOINT}/",
        "--ground-truth-uri": f"s3://{artifacts}/ground-truth/{ENDPOINT}/",
        "--state-uri": f"s3://{artifacts}/monitoring/{ENDPOINT}/state/checkpoint.json",
        "--model-package-group": "customer-churn-models-dev",
        "--endpoint-name": ENDPOINT,
        "--schedule-name": "customer-churn-monitor-dev",
        "--feedback-uri": f"s3://{raw}/incoming/feedback/",
        "--output": "/opt/ml/processing/output",
    }
    [code] = request["ProcessingInputs"]
    assert code["S3Input"]["LocalPath"] == CODE_DIR
    assert code["S3Input"]["S3Uri"].endswith(".gz")
    [output] = request["ProcessingOutputConfig"]["Outputs"]
    assert output["S3Output"]["S3Uri"] == (
        f"s3://{artifacts}/monitoring/{ENDPOINT}/reports/customer-churn-monitor-dev-<monitor-run>/"
    )
    assert request["ProcessingResources"]["ClusterConfig"]["InstanceType"] == "ml.t3.medium"


def test_launcher_request_fits_lambdas_environment_limit(templates) -> None:
    """Lambda allows 4 KB of environment in all; deploy-time names at their longest."""
    from local.monitoring.assembly import function_environment

    def longest(name: str) -> str:
        if "Bucket" in name:
            return "b" * 63  # S3's longest bucket name
        if "Key" in name:
            return "arn:aws:kms:us-east-1:111111111111:key/" + "k" * 36
        return "arn:aws:iam::111111111111:role/" + "r" * 64  # IAM's longest role name

    env = function_environment(templates["Prod"], longest, name_prefix="MonitorLauncher")
    assert sum(len(name) + len(value) for name, value in env.items()) < 4096


def test_schedule_and_job_roles_are_scoped(dev) -> None:
    roles = dev.find_resources("AWS::IAM::Role")
    trusts = {
        lid: r["Properties"]["AssumeRolePolicyDocument"]["Statement"][0] for lid, r in roles.items()
    }
    scheduler = next(t for lid, t in trusts.items() if lid.startswith("MonitorScheduleRole"))
    assert scheduler["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert set(scheduler["Condition"]["StringEquals"]) == {"aws:SourceAccount", "aws:SourceArn"}
    job = next(t for lid, t in trusts.items() if lid.startswith("MonitorJobRole"))
    assert "aws:SourceArn" in job["Condition"]["ArnLike"]
    policies = {
        lid: p["Properties"]["PolicyDocument"]["Statement"]
        for lid, p in dev.find_resources("AWS::IAM::Policy").items()
    }
    schedule_policy = next(
        s for lid, s in policies.items() if lid.startswith("MonitorSchedulePolicy")
    )
    actions = sorted(
        a
        for s in schedule_policy
        for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    )
    assert actions == sorted(
        ["lambda:InvokeFunction", "sqs:SendMessage", "kms:GenerateDataKey", "kms:Decrypt"]
    )
    [invoke] = [s for s in schedule_policy if s["Action"] == "lambda:InvokeFunction"]
    assert invoke["Resource"]["Fn::GetAtt"][0].startswith("MonitorLauncherFunction")
    launcher_trust = next(t for lid, t in trusts.items() if lid.startswith("MonitorLauncherRole"))
    assert launcher_trust["Principal"] == {"Service": "lambda.amazonaws.com"}
    assert "aws:SourceAccount" in launcher_trust["Condition"]["StringEquals"]
    launcher = {
        s["Sid"]: s
        for s in next(
            s for lid, s in policies.items() if lid.startswith("MonitorLauncherRoleDefaultPolicy")
        )
        if "Sid" in s
    }
    listing = launcher["ListMonitoredPrefixesAndCheckpoint"]
    assert listing["Action"] == "s3:ListBucket"
    assert listing["Condition"] == {
        "StringEquals": {
            "s3:prefix": [
                f"data-capture/{ENDPOINT}/",
                f"ground-truth/{ENDPOINT}/",
                f"monitoring/{ENDPOINT}/state/checkpoint.json",
            ]
        }
    }
    assert launcher["ReadCheckpoint"]["Action"] == "s3:GetObject"
    assert _joined(launcher["ReadCheckpoint"]["Resource"]) == (
        f"${{Import:Dev-DataLake-ArtifactsBucketArn}}/monitoring/{ENDPOINT}/state/checkpoint.json"
    )
    jobs = launcher["StartMonitorJobs"]
    assert sorted(jobs["Action"]) == [
        "sagemaker:CreateProcessingJob",
        "sagemaker:DescribeProcessingJob",
    ]
    assert _joined(jobs["Resource"]).endswith(":processing-job/customer-churn-monitor-dev-*")
    passing = launcher["PassJobRole"]
    assert passing["Resource"]["Fn::GetAtt"][0].startswith("MonitorJobRole")
    assert passing["Condition"] == {
        "StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}
    }
    job_policy = next(s for lid, s in policies.items() if lid.startswith("MonitorJobPolicy"))
    metrics = next(s for s in job_policy if s.get("Sid") == "PublishMonitorMetrics")
    assert metrics["Condition"]["StringEquals"]["cloudwatch:namespace"] == [
        "MLOps/Monitoring",
        "aws/sagemaker/Endpoints/data-metrics",
        "aws/sagemaker/Endpoints/model-metrics",
        "aws/sagemaker/Endpoints/bias-metrics",
    ]
    for policy in policies.values():
        for statement in policy:
            actions = (
                statement["Action"]
                if isinstance(statement["Action"], list)
                else [statement["Action"]]
            )
            assert not any("*" in a for a in actions), statement


@pytest.mark.parametrize(
    ("stage", "prefix"), [("Dev", "mlops-dev-churn-"), ("Prod", "mlops-prod-churn-")]
)
def test_alarms(templates, stage, prefix) -> None:
    template = Template.from_json(json.loads(templates[stage].read_text()))
    alarms = {
        a["Properties"]["AlarmName"]: a["Properties"]
        for a in template.find_resources("AWS::CloudWatch::Alarm").values()
    }
    assert sorted(alarms) == [
        f"{prefix}{kind}" for kind in ("attribution-drift", "bias-drift", "drift", "model-quality")
    ]
    endpoint = f"customer-churn-endpoint-{stage.lower()}"
    at_least_one = ("GreaterThanOrEqualToThreshold", 1)
    for name, metric, missing, statistic, comparison in (
        ("drift", "FeaturesDrifted", "notBreaching", "Maximum", at_least_one),
        ("model-quality", "ModelQualityViolation", "missing", "Maximum", at_least_one),
        ("bias-drift", "BiasDriftViolations", "missing", "Maximum", at_least_one),
        # Model Monitor's feature attribution drift check: nDCG below 0.9.
        (
            "attribution-drift",
            "FeatureAttributionNDCG",
            "notBreaching",
            "Minimum",
            ("LessThanThreshold", 0.9),
        ),
    ):
        alarm = alarms[f"{prefix}{name}"]
        assert alarm["Namespace"] == "MLOps/Monitoring"
        assert alarm["MetricName"] == metric
        assert alarm["Dimensions"] == [{"Name": "Endpoint", "Value": endpoint}]
        assert (alarm["ComparisonOperator"], alarm["Threshold"]) == comparison
        assert (alarm["DatapointsToAlarm"], alarm["EvaluationPeriods"], alarm["Period"]) == (
            2,
            3,
            3600,
        )
        assert alarm["TreatMissingData"] == missing
        assert alarm["Statistic"] == statistic


def test_bias_drift_notifies_but_does_not_retrain(templates) -> None:
    template = Template.from_json(json.loads(templates["Dev"].read_text()))
    patterns = [
        rule["Properties"]["EventPattern"]
        for rule in template.find_resources("AWS::Events::Rule").values()
        if rule["Properties"].get("EventPattern", {}).get("detail-type")
        == ["CloudWatch Alarm State Change"]
    ]
    (names,) = [p["detail"]["alarmName"] for p in patterns]
    assert sorted(names) == [
        "mlops-dev-churn-attribution-drift",
        "mlops-dev-churn-drift",
        "mlops-dev-churn-model-quality",
    ]
    bias = next(
        a["Properties"]
        for a in template.find_resources("AWS::CloudWatch::Alarm").values()
        if a["Properties"]["AlarmName"] == "mlops-dev-churn-bias-drift"
    )
    assert bias["AlarmActions"]  # the stage's notification topic, as every alarm


def test_local_alarm_evaluator_reads_the_synthesized_alarms(synth_report) -> None:
    alarms = load_alarms(synth_report.assembly_dir, "Dev")
    drift = alarms["mlops-dev-churn-drift"]
    assert (drift.datapoints_to_alarm, drift.evaluation_periods) == (2, 3)
    assert drift.dimensions == {"Endpoint": ENDPOINT}


def test_retrain_rule_matches_exactly_our_alarms_entering_alarm(synth_report) -> None:
    patterns = stage_rule_patterns(StageAssembly(synth_report.assembly_dir, "Dev"), "Monitoring")
    [retrain] = [lid for lid in patterns if lid.startswith("RetrainAlarmRule")]
    pattern = patterns[retrain]
    assert matches(pattern, ALARM_EVENT)
    quality = copy.deepcopy(ALARM_EVENT)
    quality["detail"]["alarmName"] = "mlops-dev-churn-model-quality"
    assert matches(pattern, quality)
    for path, value in (
        (("detail", "state", "value"), "OK"),
        (("detail", "alarmName"), "mlops-prod-churn-drift"),
        (("detail", "alarmName"), "ServerCpuTooHigh"),
        (("source",), "aws.ec2"),
    ):
        event = copy.deepcopy(ALARM_EVENT)
        node = event
        for part in path[:-1]:
            node = node[part]
        node[path[-1]] = value
        assert not matches(pattern, event), (path, value)


def test_retrain_lambda(dev) -> None:
    function = _function(dev, "RetrainFunction")
    assert function["Runtime"] == "python3.12"
    assert function["Handler"] == "handler.handler"
    assert function["TracingConfig"] == {"Mode": "Active"}
    assert function["Layers"] == [
        "{{resolve:ssm:/aws/service/powertools/python/x86_64/python3.12/3.37.0}}"
    ]
    env = function["Environment"]["Variables"]
    assert env["PIPELINE_NAME"] == PIPELINE
    assert env["COOLDOWN_MINUTES"] == "360"
    assert env["ALARM_NAME_PREFIX"] == "mlops-dev-churn-"
    assert env["POWERTOOLS_METRICS_NAMESPACE"] == "MLOps/Retraining"
    assert env["POWERTOOLS_SERVICE_NAME"] == "retrain-trigger"
    assert env["IDEMPOTENCY_TABLE"]["Ref"].startswith("RetrainIdempotencyTable")
    assert "DeadLetterConfig" in function
    assert all(
        c["Properties"]["MaximumRetryAttempts"] == 2
        for c in dev.find_resources("AWS::Lambda::EventInvokeConfig").values()
    )
    rules = dev.find_resources("AWS::Events::Rule")
    retrain = next(
        r["Properties"] for lid, r in rules.items() if lid.startswith("RetrainAlarmRule")
    )
    [target] = retrain["Targets"]
    assert target["RetryPolicy"] == {"MaximumEventAgeInSeconds": 86400, "MaximumRetryAttempts": 8}
    assert target["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0].startswith("DeadLetters")
    # Least privilege: the pipeline actions on this pipeline only.
    policies = dev.find_resources("AWS::IAM::Policy")
    statements = next(
        p for lid, p in policies.items() if lid.startswith("RetrainRoleDefaultPolicy")
    )["Properties"]["PolicyDocument"]["Statement"]
    pipeline = next(s for s in statements if s.get("Sid") == "StartAndWatchThisPipeline")
    assert sorted(pipeline["Action"]) == [
        "sagemaker:ListPipelineExecutions",
        "sagemaker:StartPipelineExecution",
    ]
    assert _joined(pipeline["Resource"]).endswith(f":pipeline/{PIPELINE}")
    table = _one(dev, "AWS::DynamoDB::Table")
    assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expiration", "Enabled": True}
    assert table["SSESpecification"]["SSEType"] == "KMS"
    assert table["SSESpecification"]["KMSMasterKeyId"] == KEY
    assert table["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    queue = _one(dev, "AWS::SQS::Queue")
    assert queue["KmsMasterKeyId"] == KEY


def test_pipeline_status_rule_notifies_the_topic(synth_report, dev) -> None:
    topic = _one(dev, "AWS::SNS::Topic")
    assert topic["KmsMasterKeyId"] == KEY
    patterns = stage_rule_patterns(StageAssembly(synth_report.assembly_dir, "Dev"), "Monitoring")
    [status] = [lid for lid in patterns if lid.startswith("PipelineStatusRule")]
    assert matches(patterns[status], PIPELINE_EVENT)
    for field, value in (
        ("currentPipelineExecutionStatus", "Executing"),
        ("currentPipelineExecutionStatus", "Stopped"),
        ("pipelineArn", "arn:aws:sagemaker:us-east-1:111111111111:pipeline/other-pipeline"),
    ):
        event = copy.deepcopy(PIPELINE_EVENT)
        event["detail"][field] = value
        assert not matches(patterns[status], event), field
    rule = dev.find_resources("AWS::Events::Rule")[status]["Properties"]
    [target] = rule["Targets"]
    assert target["Arn"] == {"Ref": next(iter(dev.find_resources("AWS::SNS::Topic")))}
    transformer = target["InputTransformer"]
    assert transformer["InputPathsMap"]["detail-currentPipelineExecutionStatus"] == (
        "$.detail.currentPipelineExecutionStatus"
    )
    assert "<detail-pipelineExecutionDisplayName>" in transformer["InputTemplate"]
    assert "DeadLetterConfig" in target and "RetryPolicy" in target


def test_model_monitor_option(tmp_path) -> None:
    """monitor="model-monitor": Model Monitor job definitions and schedules replace the
    Scheduler job; same baselines; cdk-nag and cfn-lint clean."""
    app = App(outdir=str(tmp_path), context=cdk_json_context())
    settings = dataclasses.replace(
        stage_settings("Dev", account="111111111111", region="us-east-1"), monitor="model-monitor"
    )
    stage = Stage(app, "Dev", env=Environment(account=settings.account, region=settings.region))
    stack = MonitoringStack(
        stage,
        "Monitoring",
        settings=settings,
        data_lake=SharedDataLake("Dev-DataLake"),
        schema=load_schema(settings.dataset),
    )
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    app.synth()
    assert validation_failures(tmp_path) == []
    [path] = (tmp_path / "assembly-Dev").glob("*Monitoring*.template.json")
    assert lint_template(path) == []
    template = Template.from_json(json.loads(path.read_text()))
    template.resource_count_is("AWS::Scheduler::Schedule", 0)
    data = _one(template, "AWS::SageMaker::DataQualityJobDefinition")
    assert data["EndpointName"] == ENDPOINT
    baseline = data["DataQualityBaselineConfig"]
    assert _joined(baseline["ConstraintsResource"]["S3Uri"]).endswith(
        f"/monitoring/{ENDPOINT}/baseline/constraints.json"
    )
    assert _joined(baseline["StatisticsResource"]["S3Uri"]).endswith(
        f"/monitoring/{ENDPOINT}/baseline/statistics.json"
    )
    assert data["DataQualityAppSpecification"]["ImageUri"].endswith(
        "/sagemaker-model-monitor-analyzer"
    )
    assert data["JobResources"]["ClusterConfig"]["VolumeKmsKeyId"] == KEY
    assert data["DataQualityJobOutputConfig"]["KmsKeyId"] == KEY
    model = _one(template, "AWS::SageMaker::ModelQualityJobDefinition")
    assert model["ModelQualityAppSpecification"]["ProblemType"] == "BinaryClassification"
    assert _joined(model["ModelQualityJobInput"]["GroundTruthS3Input"]["S3Uri"]).endswith(
        f"/ground-truth/{ENDPOINT}"
    )
    schedules = [
        s["Properties"]
        for s in template.find_resources("AWS::SageMaker::MonitoringSchedule").values()
    ]
    assert sorted(s["MonitoringScheduleConfig"]["MonitoringType"] for s in schedules) == [
        "DataQuality",
        "ModelQuality",
    ]
    for schedule in schedules:
        assert (
            schedule["MonitoringScheduleConfig"]["ScheduleConfig"]["ScheduleExpression"]
            == "cron(0 * ? * * *)"
        )
        assert schedule["EndpointName"] == ENDPOINT
    # The alarms, retrain trigger and notifications stay the same.
    template.resource_count_is("AWS::CloudWatch::Alarm", 2)
    template.resource_count_is("AWS::Lambda::Function", 1)
    assert stack.notifications is not None


def test_model_monitor_refuses_schedules_it_cannot_run(tmp_path) -> None:
    app = App(outdir=str(tmp_path), context=cdk_json_context())
    settings = dataclasses.replace(
        stage_settings("Dev", account="111111111111", region="us-east-1"),
        monitor="model-monitor",
        monitor_every_minutes=30,
    )
    stage = Stage(app, "Dev", env=Environment(account=settings.account, region=settings.region))
    with pytest.raises(ValueError, match="hourly or daily"):
        MonitoringStack(
            stage,
            "Monitoring",
            settings=settings,
            data_lake=SharedDataLake("Dev-DataLake"),
            schema=load_schema(settings.dataset),
        )


def test_synthesized_alarm_rule_and_function_env_drive_the_real_handler(
    synth_report, templates, dev, monkeypatch
) -> None:
    """The loop on moto with what cdk.out says: the drift alarm (evaluated by the local
    stand-in on published metrics) -> its state-change event -> the retrain rule's pattern
    -> the handler configured with the function's synthesized environment -> the retraining
    is due and waits for the feedback to reach curated (no execution yet); the same event
    again -> the recorded decision. (The curated job's event that starts it: the fault test
    tests/faults/test_retrain_waits_for_curated.py.)"""
    from datetime import UTC, datetime, timedelta

    import boto3
    from moto import mock_aws

    from local.monitoring.alarms import evaluate_in_cloudwatch
    from local.monitoring.retrain_function import lambda_context, load_handler

    env = _function(dev, "RetrainFunction")["Environment"]["Variables"]
    for name, value in env.items():
        if isinstance(value, str):
            monkeypatch.setenv(name, value)
    monkeypatch.setenv("IDEMPOTENCY_TABLE", "idempotency")
    assert env["CURATED_JOB_NAME"] == {"Fn::ImportValue": "Dev-DataLake-CuratedJobName"}
    monkeypatch.setenv("CURATED_JOB_NAME", local_job_names("CuratedJobName") or "")
    for name, value in (
        ("AWS_DEFAULT_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
    ):
        monkeypatch.setenv(name, value)
    drift = load_alarms(synth_report.assembly_dir, "Dev")["mlops-dev-churn-drift"]
    now = datetime(2026, 12, 1, 21, 30, tzinfo=UTC)
    with mock_aws():
        cloudwatch = boto3.client("cloudwatch")
        for hours_ago, drifted in ((2, 3.0), (1, 0.0), (0, 2.0)):
            cloudwatch.put_metric_data(
                Namespace=drift.namespace,
                MetricData=[
                    {
                        "MetricName": drift.metric_name,
                        "Dimensions": [
                            {"Name": k, "Value": v} for k, v in drift.dimensions.items()
                        ],
                        "Timestamp": now - timedelta(hours=hours_ago),
                        "Value": drifted,
                    }
                ],
            )
        transition = evaluate_in_cloudwatch(
            cloudwatch, drift, now=now, account="123456789012", region="us-east-1"
        )
        assert transition.current.value == "ALARM" and transition.event is not None
        patterns = stage_rule_patterns(
            StageAssembly(synth_report.assembly_dir, "Dev"), "Monitoring"
        )
        assert [lid for lid in patterns if matches(patterns[lid], transition.event)] == [
            next(lid for lid in patterns if lid.startswith("RetrainAlarmRule"))
        ]

        boto3.client("dynamodb").create_table(
            TableName="idempotency",
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        sagemaker = boto3.client("sagemaker")
        sagemaker.create_pipeline(
            PipelineName=env["PIPELINE_NAME"],
            RoleArn="arn:aws:iam::123456789012:role/pipeline",
            PipelineDefinition=json.dumps({"Version": "2020-12-01", "Steps": []}),
        )
        handler = load_handler()
        handler._runtime.cache_clear()
        first = handler.handler(
            transition.event, lambda_context(region="us-east-1", account="123456789012")
        )
        again = handler.handler(
            transition.event, lambda_context(region="us-east-1", account="123456789012")
        )
        assert first["decision"] == "waiting_for_curated" and again.get("duplicate") is True
        executions = sagemaker.list_pipeline_executions(PipelineName=env["PIPELINE_NAME"])
        assert executions["PipelineExecutionSummaries"] == []


def test_synthesized_launcher_starts_the_synthesized_request_once(templates, monkeypatch) -> None:
    """The launcher configured with the function's synthesized environment (deploy-time
    names given local values), on moto: no capture -> no job; capture -> the synthesized
    request, named after the scheduled time; the same run again -> still one job."""
    import boto3
    from moto import mock_aws

    from local.monitoring.assembly import function_environment
    from local.monitoring.retrain_function import LAUNCHER_DIR, lambda_context, load_handler

    local = {
        "ArtifactsBucketName": "artifacts",
        "RawBucketName": "raw",
        "KeyArn": "arn:aws:kms:us-east-1:123456789012:key/local",
        "MonitorJobRole": "arn:aws:iam::123456789012:role/monitor-job",
    }

    def lookup(name: str) -> str | None:
        return next((value for part, value in local.items() if part in name), None)

    env = function_environment(templates["Dev"], lookup, name_prefix="MonitorLauncher")
    for name, value in {
        **env,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }.items():
        monkeypatch.setenv(name, value)
    event = {
        "scheduled_time": "2026-12-01T21:00:00Z",
        "schedule_arn": "arn:aws:scheduler:us-east-1:123456789012:schedule/default/"
        "customer-churn-monitor-dev",
        "execution_id": "d32c5kddcf5bb8c3",
        "attempt": "1",
    }
    context = lambda_context(region="us-east-1", account="123456789012")
    with mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="artifacts")
        launcher = load_handler(LAUNCHER_DIR)
        launcher._runtime.cache_clear()
        assert launcher.handler(event, context)["decision"] == "skipped_no_new_data"
        s3.put_object(
            Bucket="artifacts",
            Key=f"data-capture/{ENDPOINT}/AllTraffic/2026/12/01/20/capture.jsonl",
            Body=b"{}\n",
        )
        started = launcher.handler(event, context)
        again = launcher.handler({**event, "attempt": "2"}, context)
        jobs = boto3.client("sagemaker").list_processing_jobs()["ProcessingJobSummaries"]
    assert started["decision"] == "started"
    assert started["request"] == json.loads(
        env["JOB_REQUEST"].replace("<monitor-run>", "20261201T210000Z")
    )
    assert started["job_name"] == "customer-churn-monitor-dev-20261201T210000Z"
    assert again["decision"] == "skipped_already_started"
    assert [j["ProcessingJobName"] for j in jobs] == [started["job_name"]]


def test_failure_rules_match_the_documented_events_and_only_they_publish(synth_report) -> None:
    """Glue FAILED / TIMEOUT / STOPPED of the stage's two jobs and the monitor's failed
    processing jobs match (events shaped as AWS documents them); a succeeded run, another
    job, another processing job do not. Only the stage's rules may publish to the topic."""
    assembly = StageAssembly(synth_report.assembly_dir, "Dev")
    stack = assembly.stack("Monitoring")
    rules = {
        lid: assembly.resolve(r["Properties"], stack)
        for lid, r in assembly.resources(stack, "AWS::Events::Rule").items()
    }
    [glue] = [p["EventPattern"] for lid, p in rules.items() if lid.startswith("FailuresGlue")]
    [monitor] = [p["EventPattern"] for lid, p in rules.items() if lid.startswith("FailuresMonitor")]
    jobs = glue["detail"]["jobName"]
    assert len(jobs) == 2
    event = {
        "version": "0",
        "id": "abcdef01-1234-5678-9abc-def012345678",
        "detail-type": "Glue Job State Change",
        "source": "aws.glue",
        "account": "123456789012",
        "time": "2017-09-07T06:02:03Z",
        "region": "us-east-1",
        "resources": [],
        "detail": {
            "jobName": jobs[0],
            "severity": "ERROR",
            "state": "FAILED",
            "jobRunId": "jr_0123",
            "message": "failed to execute",
        },
    }
    for job in jobs:
        for state in ("FAILED", "TIMEOUT", "STOPPED"):
            assert matches(
                glue, {**event, "detail": {**event["detail"], "jobName": job, "state": state}}
            )
    assert not matches(glue, {**event, "detail": {**event["detail"], "state": "SUCCEEDED"}})
    assert not matches(glue, {**event, "detail": {**event["detail"], "jobName": "other"}})
    processing = {
        **event,
        "source": "aws.sagemaker",
        "detail-type": "SageMaker Processing Job State Change",
        "detail": {
            "ProcessingJobName": "customer-churn-monitor-dev-20261201T210000Z",
            "ProcessingJobStatus": "Failed",
            "FailureReason": "AlgorithmError",
        },
    }
    assert matches(monitor, processing)
    for change in (
        {"ProcessingJobStatus": "Completed"},
        {"ProcessingJobName": "customer-churn-training-dev-preprocess"},
    ):
        assert not matches(monitor, {**processing, "detail": {**processing["detail"], **change}})
    [policy] = assembly.resources(stack, "AWS::SNS::TopicPolicy").values()
    [events_statement] = [
        s
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
        if s.get("Principal") == {"Service": "events.amazonaws.com"}
    ]
    sources = events_statement["Condition"]["ArnEquals"]["aws:SourceArn"]
    to_topic = {
        lid for lid, p in rules.items() if any(":sns:" in t["Arn"] for t in p.get("Targets", []))
    }
    assert {s["Fn::GetAtt"][0] for s in sources} == to_topic
    assert len(to_topic) == 3  # pipeline status, Glue failed, monitor job failed


def test_the_curated_jobs_success_reaches_the_retrain_trigger(synth_report, templates, dev) -> None:
    """The second rule: the processed-to-curated job's SUCCEEDED events (only) go to the
    retrain function, which may read that job's runs and nothing else of Glue's."""
    from local.monitoring.glue_events import state_change_event

    assembly = StageAssembly(synth_report.assembly_dir, "Dev", names=local_name)
    patterns = stage_rule_patterns(assembly, "Monitoring")
    [curated] = [lid for lid in patterns if lid.startswith("RetrainCuratedRule")]
    job = local_job_names("CuratedJobName") or ""
    assert matches(patterns[curated], state_change_event(job, "jr_1"))
    assert not matches(patterns[curated], state_change_event(job, "jr_1", "FAILED"))
    assert not matches(patterns[curated], state_change_event("raw_to_processed", "jr_1"))
    statements = [
        s
        for policy in dev.find_resources("AWS::IAM::Policy").values()
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
        if "glue:GetJobRun" in json.dumps(s["Action"])
    ]
    [read_runs] = statements
    assert "Dev-DataLake-CuratedJobName" in json.dumps(read_runs["Resource"])
    env = _function(dev, "RetrainFunction")["Environment"]["Variables"]
    assert env["CURATED_JOB_NAME"] == {"Fn::ImportValue": "Dev-DataLake-CuratedJobName"}
    # Prod trains nothing: no retrain trigger, nothing to start.
    prod = json.loads(templates["Prod"].read_text())["Resources"]
    assert not [lid for lid in prod if lid.startswith(("RetrainFunction", "RetrainAlarmRule"))]


def test_the_launchers_staged_code_is_exactly_its_members(tmp_path: Path) -> None:
    """A module that moved away from the asset's folder does not ship from an earlier
    staging (the asset, and so its hash, is the members alone)."""
    from stacks.constructs.monitor_launcher import CODE_MEMBERS, stage_code

    stale = tmp_path / "monitoring" / "checkpoint.py"
    stale.parent.mkdir()
    stale.write_text("# where the module used to be\n")
    stage_code(tmp_path)
    staged = {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()}
    assert staged == {name for _, name in CODE_MEMBERS}
