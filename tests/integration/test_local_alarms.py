"""The local alarm evaluator on moto's CloudWatch: metrics the monitor publishes ->
alarm state (kept in moto) -> the state-change event, which the retrain trigger's own
event model accepts."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from moto import mock_aws

from local.monitoring.alarms import (
    ALARM,
    INSUFFICIENT_DATA,
    OK,
    AlarmDefinition,
    evaluate_in_cloudwatch,
    fetch_datapoints,
)
from local.monitoring.retrain_function import LAMBDA_DIR

REGION, ACCOUNT = "us-east-1", "123456789012"
ENDPOINT = "customer-churn-endpoint-dev"
NOW = datetime(2026, 12, 1, 21, 30, tzinfo=UTC)
DRIFT = AlarmDefinition(
    name="mlops-dev-churn-drift",
    namespace="MLOps/Monitoring",
    metric_name="FeaturesDrifted",
    dimensions={"Endpoint": ENDPOINT},
    statistic="Maximum",
    period=3600,
    evaluation_periods=3,
    datapoints_to_alarm=2,
    comparison="GreaterThanOrEqualToThreshold",
    threshold=1.0,
    description="Drift in 2 of the last 3 monitor runs",
)


@pytest.fixture
def cloudwatch(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        yield boto3.client("cloudwatch", region_name=REGION)


def _publish(cloudwatch, hours_ago: int, *values: float) -> None:
    at = NOW - timedelta(hours=hours_ago)
    cloudwatch.put_metric_data(
        Namespace="MLOps/Monitoring",
        MetricData=[
            {
                "MetricName": "FeaturesDrifted",
                "Dimensions": [{"Name": "Endpoint", "Value": ENDPOINT}],
                "Timestamp": at + timedelta(minutes=i),
                "Value": v,
            }
            for i, v in enumerate(values)
        ],
    )


def test_statistic_is_computed_per_period(cloudwatch) -> None:
    _publish(cloudwatch, 2, 0.0, 3.0, 1.0)  # one hour, three values: Maximum 3
    _publish(cloudwatch, 0, 2.0)
    assert fetch_datapoints(cloudwatch, DRIFT, NOW) == [None, None, 3.0, None, 2.0]


def test_drift_in_two_of_three_runs_raises_the_alarm_once(cloudwatch) -> None:
    _publish(cloudwatch, 2, 3.0)
    _publish(cloudwatch, 1, 0.0)
    first = evaluate_in_cloudwatch(cloudwatch, DRIFT, now=NOW, account=ACCOUNT, region=REGION)
    assert (first.previous.value, first.current.value) == (INSUFFICIENT_DATA, OK)
    _publish(cloudwatch, 0, 2.0)
    second = evaluate_in_cloudwatch(cloudwatch, DRIFT, now=NOW, account=ACCOUNT, region=REGION)
    assert (second.previous.value, second.current.value) == (OK, ALARM)
    assert second.datapoints == (None, None, 3.0, 0.0, 2.0)
    stored = cloudwatch.describe_alarms(AlarmNames=[DRIFT.name])["MetricAlarms"][0]
    assert stored["StateValue"] == ALARM
    event = second.event
    assert event is not None
    assert event["detail"]["previousState"]["value"] == OK
    assert event["detail"]["state"]["value"] == ALARM
    assert "2 out of the last 3 datapoints [3.0, 0.0, 2.0]" in event["detail"]["state"]["reason"]
    # No change, no event: a third evaluation on the same data stays in ALARM silently.
    third = evaluate_in_cloudwatch(cloudwatch, DRIFT, now=NOW, account=ACCOUNT, region=REGION)
    assert not third.changed and third.event is None

    # The event is what the retrain trigger parses (its own Powertools model).
    sys.path.insert(0, str(LAMBDA_DIR))
    try:
        from retrain_decision import AlarmStateChangeEvent
    finally:
        sys.path.remove(str(LAMBDA_DIR))
    parsed = AlarmStateChangeEvent.model_validate(event)
    assert parsed.detail.alarmName == "mlops-dev-churn-drift"
    assert parsed.detail.state.timestamp == NOW
