"""local/dashboard.py draws the synthesized dashboard from metrics put on moto."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from moto import mock_aws

from config.layout import resource_name
from local.dashboard import render_dashboard

ENDPOINT = resource_name("Dev", "customer_churn", "endpoint")


def _put(cloudwatch, namespace: str, name: str, dims: dict[str, str], values: list[float]):
    now = datetime.now(UTC)
    cloudwatch.put_metric_data(
        Namespace=namespace,
        MetricData=[
            {
                "MetricName": name,
                "Dimensions": [{"Name": k, "Value": v} for k, v in dims.items()],
                "Timestamp": now - timedelta(minutes=len(values) - i),
                "Value": value,
            }
            for i, value in enumerate(values)
        ],
    )


@pytest.fixture
def cloudwatch(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        yield boto3.client("cloudwatch")


def test_widgets_are_drawn_from_the_local_metrics(synth_report, cloudwatch, tmp_path) -> None:
    variant = {"EndpointName": ENDPOINT, "VariantName": "AllTraffic"}
    _put(cloudwatch, "AWS/SageMaker", "Invocations", variant, [120, 80, 100])
    _put(cloudwatch, "AWS/SageMaker", "Invocation4XXErrors", variant, [3, 0, 1])
    _put(cloudwatch, "AWS/SageMaker", "InvocationsPerInstance", variant, [120, 80, 100])
    job = {"Job": "raw_to_processed"}
    _put(cloudwatch, "MLOps/DataLake", "RowsRead", job, [25380])
    _put(cloudwatch, "MLOps/DataLake", "RowsQuarantined", {**job, "Reason": "wrong_type"}, [60])
    _put(
        cloudwatch,
        "Glue",
        "glue.driver.aggregate.numCompletedTasks",
        {"JobName": "raw_to_processed", "JobRunId": "ALL", "Type": "count"},
        [12],
    )
    _put(cloudwatch, "AWS/Lambda", "Invocations", {"FunctionName": "retrain-trigger"}, [1, 2])

    page = render_dashboard(
        synth_report.assembly_dir,
        "Dev",
        cloudwatch,
        tmp_path / "d.html",
        start=datetime.now(UTC) - timedelta(minutes=10),
    )

    text = page.path.read_text()
    widgets = re.findall(r"alt='([^']*)' data-lines='(\d+)'", text)
    drawn = dict(widgets)
    assert int(drawn["Invocations and errors"]) == 2  # invocations and 4xx; no 5xx put
    assert int(drawn["Instances in service"]) == 1  # the math expression, evaluated
    assert int(drawn["Rows quarantined, by reason"]) == 1
    # The Glue job's name is CloudFormation's; locally it is the job's own name, and
    # the other job's graph does not take this one's datapoints.
    assert int(drawn["Glue job raw-to-processed: tasks"]) == 1
    assert int(drawn["Glue job processed-to-curated: tasks"]) == 0
    assert int(drawn["Retrain decisions"]) == 0  # nothing published: drawn empty, said so
    graphs = page.graphs
    cpu = next(g for g in graphs if g["title"].startswith("CPU and memory"))
    assert cpu["notes"][0] == "CPU: not emitted locally: CPU of a real endpoint instance"
    latency = next(g for g in graphs if g["title"].startswith("Model latency"))
    assert latency["notes"] == [
        "percentiles are not computed locally (moto keeps no distributions)"
    ]
    # Three functions, named by CloudFormation: each graph reads its own function.
    invocations = [g for g in graphs if g["title"] == "Invocations"]
    # model-promotion, retrain-trigger, monitor-launcher
    assert [g["lines"] for g in invocations] == [0, 1, 0]
    assert any("not emitted locally: the model-promotion" in n for n in invocations[0]["notes"])
    tps = [g for g in graphs if g["title"] == "TPS"]
    assert [g["lines"] for g in tps] == [0, 1, 0]  # the rate, evaluated for retrain-trigger
    assert page.start <= datetime.now(UTC) - timedelta(minutes=9)
    images = sorted((tmp_path / "d-widgets").glob("*.png"))
    assert len(images) == len(widgets) and all(p.stat().st_size > 1000 for p in images)
    assert "<h2>Endpoint customer-churn-endpoint-dev</h2>" in text
    assert "customer-churn-endpoint-dev-5xx" in text  # the alarm status table
