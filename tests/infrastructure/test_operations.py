"""The operator dashboard is real: every metric on it is one the project emits (same
namespace, name and dimensions, and the named code really publishes it) or one AWS
documents for the service; and every alarm in the app notifies the stage's topic."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from config.layout import endpoint_alarm_name
from config.metrics import AWS_DOCUMENTED, EMITTED, emitted, known_metric
from config.schema import load_schema
from local.dashboard import dashboard_body, widgets
from monitoring.cloudwatch import run_metrics

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = load_schema("churn")
QUALITY = SCHEMA.quality_gate.metric
# Emitted by code of the monitoring issue (12), which this branch does not contain yet.


@pytest.fixture(scope="module")
def dashboards(synth_report) -> dict[str, list]:
    return {
        stage: widgets(dashboard_body(synth_report.assembly_dir, stage))
        for stage in ("Dev", "Prod")
    }


def _metrics(widget_list: list) -> list:
    return [m for w in widget_list for m in w.metrics]


@pytest.mark.parametrize("stage", ["Dev", "Prod"])
def test_every_dashboard_metric_is_emitted_or_aws_documented(dashboards, stage) -> None:
    unknown = [
        (m.namespace, m.name, sorted(m.dimensions))
        for m in _metrics(dashboards[stage])
        if known_metric(m.namespace, m.name, m.dimension_names, quality_metric=QUALITY) is None
    ]
    assert unknown == []


def test_emitted_metrics_are_published_by_the_code_named() -> None:
    for spec in EMITTED:
        # The name as a string literal of the named code: a namespace alone, or the name
        # in a comment or another word, proves nothing about what is published.
        text = (ROOT / spec.source).read_text()
        literal = spec.name.rstrip("*")
        assert f'"{literal}"' in text, f"{spec.source} never writes {literal!r}: {spec}"
    # The live quality metric is named by the schema, not written in the code: the
    # monitor's metrics for a window with that metric publish it under its namespace.
    [live] = set(emitted(QUALITY)) - set(EMITTED)
    data = run_metrics(
        endpoint="e",
        schedule="s",
        rows=10,
        drift={},
        drifted=0,
        violations=0,
        quality={QUALITY: 0.8},
        quality_violation=False,
        gate_metric=QUALITY,
    )
    assert (live.namespace, live.name) in {(d.namespace, d.name) for d in data}
    assert live.source == "monitoring/cloudwatch.py"
    # The ETL job names its metrics from the registry's namespace.
    assert "DATA_LAKE_NAMESPACE" in (ROOT / "glue/job_runtime.py").read_text()
    assert all(spec.source for spec in AWS_DOCUMENTED)


def test_dashboard_covers_what_operators_need(dashboards) -> None:
    metrics = _metrics(dashboards["Dev"])
    endpoint = {(m.name, m.stat) for m in metrics if m.namespace == "AWS/SageMaker"}
    assert {
        ("Invocations", "Sum"),
        ("Invocation4XXErrors", "Sum"),
        ("Invocation5XXErrors", "Sum"),
        ("ModelLatency", "p50"),
        ("ModelLatency", "p99"),
        ("InvocationsPerInstance", "Sum"),
    } <= endpoint
    names = {(m.namespace, m.name) for m in metrics}
    assert {
        ("/aws/sagemaker/Endpoints", "CPUUtilization"),
        ("/aws/sagemaker/Endpoints", "MemoryUtilization"),
        ("AWS/Sagemaker/ModelBuildingPipeline", "ExecutionFailed"),
        ("AWS/Sagemaker/ModelBuildingPipeline", "ExecutionStarted"),
        ("MLOps/DataLake", "RowsQuarantined"),
        ("Glue", "glue.driver.aggregate.numFailedTasks"),
        ("MLOps/Monitoring", "FeaturesDrifted"),
        ("MLOps/Monitoring", "ModelQualityViolation"),
        ("MLOps/Monitoring", QUALITY),
        ("MLOps/Retraining", "RetrainDecision"),
        ("MLOps/Delivery", "PromotionDecision"),
        ("AWS/Lambda", "Errors"),
    } <= names
    drifted = {m.name for m in metrics if m.namespace == "aws/sagemaker/Endpoints/data-metrics"}
    assert drifted == {f"feature_baseline_drift_{f}" for f in SCHEMA.feature_names}
    [alarm_widget] = [w for w in dashboards["Dev"] if w.type == "alarm"]
    assert {endpoint_alarm_name("Dev", SCHEMA.name, k) for k in ("5xx", "latency-p99")} <= set(
        alarm_widget.alarms
    )


def test_every_alarm_in_the_app_notifies_the_stage_topic(synth_report) -> None:
    alarms = 0
    for path in synth_report.templates:
        template = json.loads(path.read_text())
        for logical_id, resource in template["Resources"].items():
            if resource["Type"] != "AWS::CloudWatch::Alarm":
                continue
            alarms += 1
            properties = resource["Properties"]
            assert properties.get("AlarmActions"), (path.name, logical_id)
            assert properties.get("OKActions"), (path.name, logical_id)
            assert "Notifications" in json.dumps(properties["AlarmActions"]), logical_id
    assert alarms >= 4  # at least the two endpoint alarms per stage


# Issue 24: every failure pages. The alarm names as synthesized in each stage.
FAILURE_KINDS = (
    "monitor-stopped",
    "monitor-job-failed",
    "glue-job-failed",
    "pipeline-failed",
    "dead-letters-data-lake",
    "dead-letters-ml-pipeline",
    "dead-letters-monitoring",
    *(
        f"{label}-{what}"
        for label in ("model-promotion", "retrain-trigger", "monitor-launcher")
        for what in ("errors", "throttles")
    ),
)
ENDPOINT_KINDS = ("5xx", "latency-p99", "4xx-rate", "no-invocations")
# What only a stage that trains has (Prod serves Dev's approved models by default).
TRAINING_KINDS = frozenset(
    {
        "pipeline-failed",
        "dead-letters-ml-pipeline",
        *(
            f"{label}-{what}"
            for label in ("model-promotion", "retrain-trigger")
            for what in ("errors", "throttles")
        ),
    }
)


@pytest.mark.parametrize("stage", ["Dev", "Prod"])
def test_every_alarm_is_on_the_dashboard_and_pages_the_stage_topic(
    synth_report, dashboards, stage
) -> None:
    from config.layout import operations_alarm_name
    from local.monitoring.alarm_actions import alarm_actions

    actions = alarm_actions(synth_report.assembly_dir, stage)
    kinds = [k for k in FAILURE_KINDS if stage == "Dev" or k not in TRAINING_KINDS]
    expected = {operations_alarm_name(stage, SCHEMA.name, k) for k in kinds} | {
        endpoint_alarm_name(stage, SCHEMA.name, k) for k in ENDPOINT_KINDS
    }
    assert expected <= set(actions)
    if stage == "Prod":
        absent = {operations_alarm_name(stage, SCHEMA.name, k) for k in TRAINING_KINDS}
        assert not absent & set(actions)  # nothing to page about: Prod trains nothing
    [alarm_widget] = [w for w in dashboards[stage] if w.type == "alarm"]
    assert set(actions) <= set(alarm_widget.alarms), set(actions) - set(alarm_widget.alarms)
    topics = {topic for a in actions.values() for topic in (*a["ALARM"], *a["OK"])}
    [topic] = topics
    assert ":sns:" in topic and "NotificationsTopic" in topic
    assert all(a["ALARM"] == [topic] and a["OK"] == [topic] for a in actions.values())


def test_the_chat_forwarder_keeps_the_webhook_in_a_secret() -> None:
    """The construct in a bare stack: the URL is in the secret only, the function reads
    that secret only, and the topic invokes it."""
    from aws_cdk import App, RemovalPolicy, Stack
    from aws_cdk import aws_kms as kms
    from aws_cdk import aws_logs as logs
    from aws_cdk import aws_sns as sns
    from aws_cdk import aws_sqs as sqs
    from aws_cdk.assertions import Template

    from stacks.constructs.notification_forwarder import NotificationForwarder

    url = "https://hooks.example.com/services/T0/B0/secret"
    stack = Stack(App(), "Bare")
    key = kms.Key(stack, "Key")
    NotificationForwarder(
        stack,
        "Chat",
        topic=sns.Topic(stack, "Topic", master_key=key),
        webhook_url=url,
        key=key,
        dead_letters=sqs.Queue(stack, "Dlq"),
        log_retention=logs.RetentionDays.ONE_MONTH,
        removal_policy=RemovalPolicy.DESTROY,
    )
    template = Template.from_stack(stack).to_json()
    resources = template["Resources"]
    holding = [lid for lid, r in resources.items() if url in json.dumps(r)]
    [secret] = [lid for lid, r in resources.items() if r["Type"] == "AWS::SecretsManager::Secret"]
    assert holding == [secret]
    assert "KmsKeyId" in resources[secret]["Properties"]
    [function] = [r for r in resources.values() if r["Type"] == "AWS::Lambda::Function"]
    assert function["Properties"]["Environment"]["Variables"]["WEBHOOK_SECRET"] == {"Ref": secret}
    assert "DeadLetterConfig" in function["Properties"]
    statements = [
        s
        for r in resources.values()
        if r["Type"] == "AWS::IAM::Policy"
        for s in r["Properties"]["PolicyDocument"]["Statement"]
    ]
    [read] = [s for s in statements if s.get("Sid") == "ReadWebhookSecret"]
    assert (read["Action"], read["Resource"]) == ("secretsmanager:GetSecretValue", {"Ref": secret})
    [subscription] = [r for r in resources.values() if r["Type"] == "AWS::SNS::Subscription"]
    assert subscription["Properties"]["Protocol"] == "lambda"
    [permission] = [r for r in resources.values() if r["Type"] == "AWS::Lambda::Permission"]
    assert permission["Properties"]["Principal"] == "sns.amazonaws.com"
    assert "SourceArn" in permission["Properties"]


def test_the_dashboard_graphs_only_decisions_the_functions_make() -> None:
    """Each decision the dashboard graphs is a value its function's code writes."""
    from stacks.constructs.operations_dashboard import PROMOTION_DECISIONS, RETRAIN_DECISIONS

    def written(folder: str) -> str:
        return "".join(p.read_text() for p in sorted((ROOT / "lambda" / folder).glob("*.py")))

    for folder, graphed in (
        ("retrain_trigger", RETRAIN_DECISIONS),
        ("model_promotion", PROMOTION_DECISIONS),
    ):
        code = written(folder)
        assert [d for d in graphed if f'"{d}"' not in code] == [], folder
    assert "waiting_for_curated" in RETRAIN_DECISIONS  # a pending retrain is visible
