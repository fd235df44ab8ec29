"""Issue 14's operational hardening, read from the synthesized templates of both stages:
log groups (retention from config, stage key, key policy scoped to them), artifact
lifecycle (registered artifacts never expire), retention of stateful resources in Prod,
dead-letter queues and retries on every asynchronous target, and a stopping condition on
every SageMaker job."""

from __future__ import annotations

import fnmatch
import json
from typing import Any

import pytest

from config.layout import (
    DATA_CAPTURE_PREFIX,
    GROUND_TRUTH_PREFIX,
    MONITORING_PREFIX,
    RUN_SCRATCH_PREFIX,
    RUNS_PREFIX,
    resource_name,
)
from config.schema import load_schema
from config.settings import StageSettings, stage_settings
from stacks.constructs.log_groups import endpoint_log_group_name, retention

STAGES = ("Dev", "Prod")
SCHEMA = load_schema("churn")
# What holds data or lineage: retained with a deleted stack in Prod, removed in Dev.
STATEFUL = (
    "AWS::S3::Bucket",
    "AWS::KMS::Key",
    "AWS::Logs::LogGroup",
    "AWS::DynamoDB::Table",
    "AWS::SageMaker::ModelPackageGroup",
    "AWS::Glue::Database",
    "AWS::Glue::Table",
)
# What only a stage that trains has (Prod serves Dev's approved release by default).
TRAINING_STATEFUL = {"AWS::DynamoDB::Table", "AWS::SageMaker::ModelPackageGroup"}


def _trains(stacks: dict[str, dict[str, Any]]) -> bool:
    return "MlPipeline" in stacks


def _settings(stage: str) -> StageSettings:
    return stage_settings(stage, account="111111111111", region="us-east-1")


def _load(report: Any) -> dict[str, dict[str, dict[str, Any]]]:
    """Stage -> stack name (e.g. "DataLake") -> template."""
    stages: dict[str, dict[str, dict[str, Any]]] = {}
    for path in report.templates:
        stage = path.parent.name.removeprefix("assembly-")
        stack = path.name.split(".")[0].removeprefix(stage)[:-8]
        stages.setdefault(stage, {})[stack] = json.loads(path.read_text())
    return stages


@pytest.fixture(scope="module")
def stages(synth_report) -> dict[str, dict[str, dict[str, Any]]]:
    return _load(synth_report)


@pytest.fixture(scope="module")
def serving(synth_report_with_arn) -> dict[str, dict[str, Any]]:
    return {stage: stacks["Serving"] for stage, stacks in _load(synth_report_with_arn).items()}


@pytest.fixture(scope="module")
def vpc_stages(synth_report_vpc) -> dict[str, dict[str, dict[str, Any]]]:
    return _load(synth_report_vpc)


def _resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: r for k, r in template["Resources"].items() if r["Type"] == kind}


def _all(stacks: dict[str, dict[str, Any]], kind: str) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (stack, lid, resource)
        for stack, template in stacks.items()
        for lid, resource in _resources(template, kind).items()
    ]


# --- log groups ---------------------------------------------------------------------


@pytest.mark.parametrize("stage", STAGES)
def test_every_log_group_has_the_stage_retention_key_and_removal(stages, serving, stage) -> None:
    settings = _settings(stage)
    groups = _all(stages[stage], "AWS::Logs::LogGroup") + [
        ("Serving", lid, r) for lid, r in _resources(serving[stage], "AWS::Logs::LogGroup").items()
    ]
    # Two Lambdas (monitor launcher, retrain), model promotion, the ETL jobs, the endpoint;
    # a stage that trains nothing has no retrain or promotion function.
    assert len(groups) >= (5 if _trains(stages[stage]) else 3), groups
    for stack, lid, group in groups:
        props = group["Properties"]
        assert props["RetentionInDays"] == settings.log_retention_days, (stack, lid)
        assert "KmsKeyId" in props, (stack, lid)
        expected = "Retain" if settings.retain_data else "Delete"
        assert group["DeletionPolicy"] == expected, (stack, lid)


@pytest.mark.parametrize("stage", STAGES)
def test_vpc_mode_flow_logs_follow_the_stage_rules(vpc_stages, stage) -> None:
    """VPC mode adds a flow-log group: the same retention, key and removal
    as every other group, under a name the key policy's stage pattern covers, and every
    stateful resource still follows the stage's removal policy."""
    settings = _settings(stage)
    stacks = vpc_stages[stage]
    expected = "Retain" if settings.retain_data else "Delete"
    [(_, _, flow_log)] = _all(stacks, "AWS::EC2::FlowLog")
    target = flow_log["Properties"]["LogGroupName"]["Ref"]
    groups = _resources(stacks["DataLake"], "AWS::Logs::LogGroup")
    assert target in groups
    for stack, lid, group in _all(stacks, "AWS::Logs::LogGroup"):
        props = group["Properties"]
        assert props["RetentionInDays"] == settings.log_retention_days, (stack, lid)
        assert "KmsKeyId" in props, (stack, lid)
    for kind in STATEFUL:
        for stack, lid, resource in _all(stacks, kind):
            assert resource.get("DeletionPolicy") == expected, (stack, lid)
    # CloudFormation names an unnamed group "<stack name>-<id>-<suffix>": the stage's
    # stacks are "<Stage>-<Stack>", inside the key policy's "<Stage>-*" pattern.
    assert "LogGroupName" not in groups[target]["Properties"]
    [key] = _resources(stacks["DataLake"], "AWS::KMS::Key").values()
    [statement] = [
        s
        for s in key["Properties"]["KeyPolicy"]["Statement"]
        if s.get("Sid") == "AllowCloudWatchLogs"
    ]
    patterns = json.dumps(statement["Condition"]["ArnLike"])
    assert f":log-group:{stage}-*" in patterns


@pytest.mark.parametrize("stage", STAGES)
def test_every_lambda_logs_to_a_declared_group(stages, stage) -> None:
    functions = _all(stages[stage], "AWS::Lambda::Function")
    assert len(functions) == (3 if _trains(stages[stage]) else 1)  # the monitor launcher
    for stack, lid, function in functions:
        group = json.dumps(function["Properties"]["LoggingConfig"]["LogGroup"])
        declared = _resources(stages[stage][stack], "AWS::Logs::LogGroup")
        assert any(name in group for name in declared), (stack, lid, group)


@pytest.mark.parametrize("stage", STAGES)
def test_glue_jobs_log_continuously_to_the_declared_group(stages, stage) -> None:
    template = stages[stage]["DataLake"]
    [(group_id, group)] = _resources(template, "AWS::Logs::LogGroup").items()
    assert group["Properties"]["LogGroupName"] == f"/aws-glue/{stage}-DataLake-etl"
    for job in _resources(template, "AWS::Glue::Job").values():
        assert job["Properties"]["DefaultArguments"]["--continuous-log-logGroup"] == {
            "Ref": group_id
        }


@pytest.mark.parametrize("stage", STAGES)
def test_endpoint_log_group_exists_before_the_endpoint(serving, stage) -> None:
    template = serving[stage]
    endpoint = resource_name(stage, SCHEMA.name, "endpoint")
    [(group_id, group)] = _resources(template, "AWS::Logs::LogGroup").items()
    assert group["Properties"]["LogGroupName"] == endpoint_log_group_name(endpoint)
    [resource] = _resources(template, "AWS::SageMaker::Endpoint").values()
    assert group_id in resource["DependsOn"]


@pytest.mark.parametrize("stage", STAGES)
def test_key_lets_cloudwatch_logs_use_it_for_the_stage_groups_only(stages, stage) -> None:
    [key] = _resources(stages[stage]["DataLake"], "AWS::KMS::Key").values()
    [statement] = [
        s
        for s in key["Properties"]["KeyPolicy"]["Statement"]
        if s.get("Sid") == "AllowCloudWatchLogs"
    ]
    patterns = statement["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"]
    names = [json.dumps(p).split(":log-group:")[-1].rstrip('"]}') for p in patterns]
    endpoint = resource_name(stage, SCHEMA.name, "endpoint")
    assert names == [
        f"{stage}-*",
        f"/aws-glue/*{stage}-DataLake-etl*",
        endpoint_log_group_name(endpoint),
    ]
    # Every declared group with a fixed name falls under one of the patterns.
    groups = [
        g["Properties"]["LogGroupName"]
        for stack in stages[stage].values()
        for g in _resources(stack, "AWS::Logs::LogGroup").values()
        if isinstance(g["Properties"].get("LogGroupName"), str)
    ]
    assert groups and all(any(fnmatch.fnmatch(g, n) for n in names) for g in groups)


def test_retention_accepts_cloudwatch_values_only() -> None:
    assert retention(30) is not None
    with pytest.raises(ValueError, match="log_retention_days=31"):
        retention(31)


# --- artifact lifecycle -------------------------------------------------------------


def _artifact_rules(template: dict[str, Any]) -> list[dict[str, Any]]:
    buckets = _resources(template, "AWS::S3::Bucket")
    [artifacts] = [b for lid, b in buckets.items() if lid.startswith("Artifacts")]
    rules: list[dict[str, Any]] = artifacts["Properties"]["LifecycleConfiguration"]["Rules"]
    return rules


def _expires_after(rules: list[dict[str, Any]], key: str) -> int | None:
    """Days after which the current version of ``key`` expires (S3 applies the shortest)."""
    days = [
        r["ExpirationInDays"]
        for r in rules
        if "ExpirationInDays" in r and key.startswith(r.get("Prefix", ""))
    ]
    return min(days) if days else None


@pytest.mark.parametrize("stage", STAGES)
def test_artifacts_expire_per_prefix_but_registered_models_never(stages, stage) -> None:
    settings = _settings(stage)
    rules = _artifact_rules(stages[stage]["DataLake"])
    endpoint = resource_name(stage, SCHEMA.name, "endpoint")
    run = "a1b2c3d4e5f6"
    expiring = {
        f"{DATA_CAPTURE_PREFIX}/{endpoint}/AllTraffic/2026/01/01/00/x.jsonl": (
            settings.capture_expire_after_days
        ),
        f"{GROUND_TRUTH_PREFIX}/{endpoint}/2026/01/01/00/x.jsonl": (
            settings.ground_truth_expire_after_days
        ),
        f"{MONITORING_PREFIX}/{endpoint}/reports/job-1/statistics.json": (
            settings.monitor_reports_expire_after_days
        ),
        f"{RUN_SCRATCH_PREFIX}/{run}/preprocess/train/part-0.csv": (
            settings.pipeline_scratch_expire_after_days
        ),
    }
    for key, days in expiring.items():
        assert _expires_after(rules, key) == days, key
    kept = [
        f"{RUNS_PREFIX}/{run}/train/model/pipelines-x/output/model.tar.gz",
        f"{RUNS_PREFIX}/{run}/baseline/baseline/statistics.json",
        f"{RUNS_PREFIX}/{run}/evaluate/evaluation/evaluation.json",
        f"{MONITORING_PREFIX}/{endpoint}/state/checkpoint.json",
    ]
    for key in kept:
        assert _expires_after(rules, key) is None, key
    assert any(r.get("NoncurrentVersionExpiration") for r in rules)
    assert any(r.get("ExpiredObjectDeleteMarker") for r in rules)


def _pipeline_steps(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    [pipeline] = [
        r
        for lid, r in _resources(template, "AWS::SageMaker::Pipeline").items()
        if lid.startswith("TrainingPipeline")
    ]
    body = pipeline["Properties"]["PipelineDefinition"]["PipelineDefinitionBody"]["Fn::Sub"][0]
    steps: dict[str, dict[str, Any]] = {}
    for step in json.loads(body)["Steps"]:
        steps[step["Name"]] = step
        if step["Type"] == "Condition":
            for nested in step["Arguments"]["IfSteps"] + step["Arguments"]["ElseSteps"]:
                steps[nested["Name"]] = nested
    return steps


def test_only_what_no_model_package_records_is_written_to_scratch(stages) -> None:
    steps = _pipeline_steps(stages["Dev"]["MlPipeline"])

    def outputs(name: str) -> list[str]:
        config = steps[name]["Arguments"]["ProcessingOutputConfig"]["Outputs"]
        return [json.dumps(o["S3Output"]["S3Uri"]) for o in config]

    assert all(RUN_SCRATCH_PREFIX in uri for uri in outputs("Preprocess"))
    for registered in ("DataQualityBaseline", "Evaluate"):
        assert not any("scratch" in uri for uri in outputs(registered)), registered
    train = steps["Train"]["Arguments"]
    assert "scratch" not in json.dumps(train["OutputDataConfig"])


# --- retention in Prod --------------------------------------------------------------


@pytest.mark.parametrize("stage", STAGES)
def test_stateful_resources_are_retained_in_prod_only(stages, stage) -> None:
    expected = "Retain" if _settings(stage).retain_data else "Delete"
    found = set()
    for kind in STATEFUL:
        for stack, lid, resource in _all(stages[stage], kind):
            found.add(kind)
            assert resource.get("DeletionPolicy") == expected, (stack, lid)
            assert resource.get("UpdateReplacePolicy") == expected, (stack, lid)
    assert found == set(STATEFUL) - (set() if _trains(stages[stage]) else TRAINING_STATEFUL)


# --- asynchronous targets -----------------------------------------------------------


def _queue_ids(stacks: dict[str, dict[str, Any]]) -> set[str]:
    return {lid for _, lid, _ in _all(stacks, "AWS::SQS::Queue")}


@pytest.mark.parametrize("stage", STAGES)
def test_every_rule_and_schedule_target_retries_then_dead_letters(stages, stage) -> None:
    stacks = stages[stage]
    queues = _queue_ids(stacks)
    targets = [
        (stack, lid, target)
        for stack, lid, rule in _all(stacks, "AWS::Events::Rule")
        for target in rule["Properties"]["Targets"]
    ] + [
        (stack, lid, schedule["Properties"]["Target"])
        for stack, lid, schedule in _all(stacks, "AWS::Scheduler::Schedule")
    ]
    # Raw arrival, model promotion, retrain alarm and curated job, pipeline status; weekly
    # and monitor. A stage that trains nothing: raw arrival and the monitor.
    assert len(targets) >= (7 if _trains(stacks) else 2)
    for stack, lid, target in targets:
        assert target["RetryPolicy"]["MaximumRetryAttempts"] > 0, (stack, lid)
        assert target["RetryPolicy"]["MaximumEventAgeInSeconds"] > 0, (stack, lid)
        arn = json.dumps(target["DeadLetterConfig"]["Arn"])
        assert any(q in arn for q in queues), (stack, lid, arn)


@pytest.mark.parametrize("stage", STAGES)
def test_every_lambda_dead_letters_its_asynchronous_invocations(stages, stage) -> None:
    stacks = stages[stage]
    queues = _queue_ids(stacks)
    for stack, lid, function in _all(stacks, "AWS::Lambda::Function"):
        arn = json.dumps(function["Properties"]["DeadLetterConfig"]["TargetArn"])
        assert any(q in arn for q in queues), (stack, lid)
        configs = [
            c["Properties"]
            for c in _resources(stacks[stack], "AWS::Lambda::EventInvokeConfig").values()
            if lid in json.dumps(c["Properties"]["FunctionName"])
        ]
        assert configs and configs[0]["MaximumRetryAttempts"] >= 1, (stack, lid)


def test_raw_arrival_dead_letters_only_from_its_rule(stages) -> None:
    template = stages["Dev"]["DataLake"]
    [rule_id] = _resources(template, "AWS::Events::Rule")
    statements = [
        s
        for policy in _resources(template, "AWS::SQS::QueuePolicy").values()
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
        if s.get("Principal") == {"Service": "events.amazonaws.com"}
    ]
    assert [s["Action"] for s in statements] == ["sqs:SendMessage"]
    assert statements[0]["Condition"] == {
        "ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": [rule_id, "Arn"]}}
    }


# --- stopping conditions ------------------------------------------------------------


@pytest.mark.parametrize("stage", ["Dev"])  # the stage that trains
def test_every_pipeline_job_has_a_stopping_condition(stages, stage) -> None:
    steps = _pipeline_steps(stages[stage]["MlPipeline"])
    jobs = {n: s for n, s in steps.items() if s["Type"] in ("Processing", "Training")}
    assert set(jobs) == {"Preprocess", "DataQualityBaseline", "Train", "Evaluate"}
    for name, step in jobs.items():
        assert step["Arguments"]["StoppingCondition"]["MaxRuntimeInSeconds"] > 0, name


def test_scheduled_monitor_job_has_a_stopping_condition(stages) -> None:
    [launcher] = [
        f
        for _, lid, f in _all(stages["Dev"], "AWS::Lambda::Function")
        if lid.startswith("MonitorLauncher")
    ]
    request = launcher["Properties"]["Environment"]["Variables"]["JOB_REQUEST"]
    assert '"StoppingCondition":{"MaxRuntimeInSeconds":' in json.dumps(request).replace(
        "\\", ""
    ).replace(" ", "")


def test_settings_are_consistent() -> None:
    for stage in STAGES:
        settings = _settings(stage)
        # Capture must outlive the monitor's window many times over.
        assert settings.capture_expire_after_days * 1440 > 10 * settings.monitor_every_minutes
        retention(settings.log_retention_days)


def test_lifecycle_settings_drive_the_rules() -> None:
    """The days come from config: a changed setting changes the rule (no hard-coding)."""
    from dataclasses import replace

    from stacks.data_lake import artifact_lifecycle_rules

    settings = replace(_settings("Dev"), capture_expire_after_days=7)
    rules = artifact_lifecycle_rules(settings, "e")
    capture = next(r for r in rules if r.id == "ExpireDataCapture")
    assert capture.expiration is not None and capture.expiration.to_days() == 7
    assert capture.prefix == f"{DATA_CAPTURE_PREFIX}/"
