"""The local alarm evaluator against the CloudWatch user guide's worked examples.

Source: "Configuring how CloudWatch alarms treat missing data", section "How alarm state
is evaluated when data is missing"
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/alarms-and-missing-data.html;
the same tables are in the guide's GitHub source, awsdocs/amazon-cloudwatch-user-guide,
doc_source/AlarmThatSendsEmail.md). Data points are oldest first: 0 is a non-breaching
point, X a breaching one, - a missing one; CloudWatch retrieves 5 points for N = 3.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from local.monitoring.alarms import (
    ALARM,
    INSUFFICIENT_DATA,
    LABEL,
    OK,
    AlarmDefinition,
    AlarmDefinitionError,
    StateRecord,
    Transition,
    TreatMissingData,
    evaluate,
    period_slots,
    state_change_event,
)

RETAIN = "retain"
TREATMENTS = ("missing", "ignore", "breaching", "notBreaching")

# (data points, MISSING, IGNORE, BREACHING, NOT BREACHING), as printed in the guide.
THREE_OUT_OF_THREE = [
    ("0 - X - X", OK, OK, OK, OK),
    ("0 - - - -", OK, OK, OK, OK),
    ("- - - - -", INSUFFICIENT_DATA, RETAIN, ALARM, OK),
    ("0 X X - X", ALARM, ALARM, ALARM, ALARM),
    ("- - - - X", INSUFFICIENT_DATA, RETAIN, ALARM, OK),
    ("X - - - -", ALARM, RETAIN, ALARM, OK),
]
TWO_OUT_OF_THREE = [
    ("0 - X - X", ALARM, ALARM, ALARM, ALARM),
    ("0 0 X 0 X", ALARM, ALARM, ALARM, ALARM),
    ("0 - X - -", OK, OK, ALARM, OK),
    ("- - - - 0", OK, OK, ALARM, OK),
    ("- - - - X", INSUFFICIENT_DATA, RETAIN, ALARM, OK),
]


def _alarm(m: int, n: int, treatment: str) -> AlarmDefinition:
    return AlarmDefinition(
        name="mlops-dev-churn-drift",
        namespace="MLOps/Monitoring",
        metric_name="FeaturesDrifted",
        dimensions={"Endpoint": "customer-churn-endpoint-dev"},
        statistic="Maximum",
        period=300,
        evaluation_periods=n,
        datapoints_to_alarm=m,
        comparison="GreaterThanOrEqualToThreshold",
        threshold=1.0,
        treat_missing_data=TreatMissingData(treatment),
    )


def _points(row: str) -> list[float | None]:
    return [{"0": 0.0, "X": 3.0, "-": None}[c] for c in row.split()]


def _cases(table, m):
    for points, *states in table:
        for treatment, expected in zip(TREATMENTS, states, strict=True):
            yield pytest.param(m, points, treatment, expected, id=f"{m}of3[{points}]-{treatment}")


@pytest.mark.parametrize(
    ("m", "points", "treatment", "expected"),
    [*_cases(THREE_OUT_OF_THREE, 3), *_cases(TWO_OUT_OF_THREE, 2)],
)
@pytest.mark.parametrize("current", [OK, ALARM, INSUFFICIENT_DATA])
def test_guide_tables(m, points, treatment, expected, current) -> None:
    alarm = _alarm(m, 3, treatment)
    assert alarm.evaluation_range == 5
    result = evaluate(alarm, _points(points), current)
    assert result.state == (current if expected == RETAIN else expected)
    assert len(result.evaluated) == 3  # always N points judged


def test_enough_real_points_ignore_the_missing_data_setting() -> None:
    # "If some data points ... are missing, but the number of existing data points ... is
    # equal to or more than Evaluation Periods, CloudWatch evaluates ... the most recent
    # existing data points".
    for treatment in TREATMENTS:
        result = evaluate(_alarm(3, 3, treatment), _points("X 0 X - X"), OK)
        assert result.evaluated == (0.0, 3.0, 3.0)
        assert result.state == OK and result.breaching == 2


@pytest.mark.parametrize(
    ("comparison", "value", "breaches"),
    [
        ("GreaterThanOrEqualToThreshold", 1.0, True),
        ("GreaterThanThreshold", 1.0, False),
        ("LessThanThreshold", 0.5, True),
        ("LessThanOrEqualToThreshold", 1.0, True),
        ("LessThanThreshold", 1.0, False),
    ],
)
def test_comparison_operators(comparison, value, breaches) -> None:
    alarm = AlarmDefinition.from_properties(
        {
            "AlarmName": "a",
            "Namespace": "n",
            "MetricName": "m",
            "Statistic": "Maximum",
            "Period": 60,
            "EvaluationPeriods": 1,
            "ComparisonOperator": comparison,
            "Threshold": 1,
        }
    )
    assert alarm.datapoints_to_alarm == 1 and alarm.treat_missing_data == "missing"
    assert evaluate(alarm, [None, None, value], OK).state == (ALARM if breaches else OK)


def test_unsupported_definitions_are_named() -> None:
    base = {
        "AlarmName": "x",
        "Namespace": "n",
        "MetricName": "m",
        "Statistic": "Sum",
        "Period": 60,
        "EvaluationPeriods": 2,
        "ComparisonOperator": "GreaterThanThreshold",
        "Threshold": 0,
    }
    with pytest.raises(AlarmDefinitionError, match="LessThanLowerOrGreaterThanUpperThreshold"):
        AlarmDefinition.from_properties(
            {**base, "ComparisonOperator": "LessThanLowerOrGreaterThanUpperThreshold"}
        )
    with pytest.raises(AlarmDefinitionError, match="DatapointsToAlarm"):
        AlarmDefinition.from_properties({**base, "DatapointsToAlarm": 3})
    with pytest.raises(AlarmDefinitionError, match="Namespace is not a literal"):
        AlarmDefinition.from_properties({**base, "Namespace": {"Ref": "X"}})
    with pytest.raises(AlarmDefinitionError, match="no metric"):
        AlarmDefinition.from_properties({"AlarmName": "y", "Metrics": []})


def test_periods_are_aligned_and_end_with_the_current_one() -> None:
    alarm = _alarm(2, 3, "missing")
    slots = period_slots(alarm, datetime(2026, 12, 1, 21, 7, 30, tzinfo=UTC))
    # Five 5-minute periods; the newest is the one that contains "now" (21:05-21:10).
    assert [s.strftime("%H:%M") for s in slots] == ["20:45", "20:50", "20:55", "21:00", "21:05"]


def test_state_change_event_has_the_guides_shape() -> None:
    """Same keys, at the same places, as the guide's single-metric sample event."""
    alarm = _alarm(2, 3, "missing")
    at = datetime(2019, 10, 2, 17, 4, 40, 989000, tzinfo=UTC)
    previous = StateRecord(OK, "Unchecked: Initial alarm creation", at)
    current = StateRecord(ALARM, "Threshold Crossed: ...", at, '{"version":"1.0"}')
    event = state_change_event(alarm, previous, current, account="123456789012", region="us-east-1")
    assert set(event) == {
        "version",
        "id",
        "detail-type",
        "source",
        "account",
        "time",
        "region",
        "resources",
        "detail",
    }
    assert event["detail-type"] == "CloudWatch Alarm State Change"
    assert event["source"] == "aws.cloudwatch"
    assert event["time"] == "2019-10-02T17:04:40Z"
    assert event["resources"] == [
        "arn:aws:cloudwatch:us-east-1:123456789012:alarm:mlops-dev-churn-drift"
    ]
    detail = event["detail"]
    assert set(detail) == {"alarmName", "configuration", "previousState", "state"}
    assert detail["state"] == {
        "reason": "Threshold Crossed: ...",
        "reasonData": '{"version":"1.0"}',
        "timestamp": "2019-10-02T17:04:40.989+0000",
        "value": "ALARM",
    }
    assert "reasonData" not in detail["previousState"]
    [metric] = detail["configuration"]["metrics"]
    assert metric["metricStat"] == {
        "metric": {
            "dimensions": {"Endpoint": "customer-churn-endpoint-dev"},
            "name": "FeaturesDrifted",
            "namespace": "MLOps/Monitoring",
        },
        "period": 300,
        "stat": "Maximum",
    }
    assert metric["returnData"] is True
    transition = Transition(alarm, previous, current, (), event)
    assert transition.describe().startswith(f"{LABEL} mlops-dev-churn-drift: OK -> ALARM")
