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
