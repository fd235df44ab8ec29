"""The local metric-math stand-in (local/monitoring/metric_math.py) on the CloudWatch user
guide's metric math examples ("Use metric math": the Lambda error rate
``100*(errors/requests)``, ``FILL(m1, 0)``, arithmetic between two series and with a
scalar), the alarms' expressions, and a metric-math alarm read from its properties."""

from __future__ import annotations

import pytest

from local.monitoring.alarms import AlarmDefinition, AlarmDefinitionError, TreatMissingData
from local.monitoring.metric_math import MathError, MetricQuery, evaluate_expression
from local.monitoring.percentiles import is_percentile, nearest_rank

ERRORS = [1.0, None, 0.0, 4.0]
REQUESTS = [10.0, 20.0, None, 8.0]


def test_error_rate_is_per_period_and_missing_where_an_operand_is() -> None:
    rate = evaluate_expression("100*(errors/requests)", {"errors": ERRORS, "requests": REQUESTS}, 4)
    assert rate == [10.0, None, None, 50.0]


def test_fill_replaces_missing_values_with_the_number() -> None:
    assert evaluate_expression("FILL(m1, 0)", {"m1": ERRORS}, 4) == [1.0, 0.0, 0.0, 4.0]
    assert evaluate_expression("FILL(m1, 10)", {"m1": [None] * 3}, 3) == [10.0] * 3


def test_the_endpoint_alarms_expressions() -> None:
    rate = evaluate_expression(
        "100 * FILL(errors, 0) / invocations", {"errors": ERRORS, "invocations": REQUESTS}, 4
    )
    assert rate == [10.0, 0.0, None, 50.0]
    # Zero while instances report, nothing where they do not (not in service).
    idle = evaluate_expression(
        "FILL(invocations, 0) + 0 * instances",
        {"invocations": [None, 5.0, None], "instances": [5.0, 5.0, None]},
        3,
    )
    assert idle == [0.0, 5.0, None]


def test_precedence_unary_minus_and_division_by_zero() -> None:
    series = {"a": [2.0, 3.0], "b": [0.0, 1.0]}
    assert evaluate_expression("a + a * b - -1", series, 2) == [3.0, 7.0]
    assert evaluate_expression("a / b", series, 2) == [None, 3.0]
    assert evaluate_expression("2 * (1 + 1)", {}, 2) == [4.0, 4.0]


@pytest.mark.parametrize("expression", ["SUM(METRICS())", "a +", "unknown * 2", "a ^ 2"])
def test_what_the_subset_lacks_is_an_error(expression) -> None:
    with pytest.raises(MathError):
        evaluate_expression(expression, {"a": [1.0]}, 1)


def _math_alarm(**change) -> dict:
    stat = {"Metric": {"Namespace": "AWS/SageMaker", "MetricName": "Invocations"}, "Stat": "Sum"}
    return {
        "AlarmName": "customer-churn-endpoint-dev-4xx-rate",
        "ComparisonOperator": "GreaterThanThreshold",
        "EvaluationPeriods": 2,
        "DatapointsToAlarm": 2,
        "Threshold": 5,
        "TreatMissingData": "notBreaching",
        "Metrics": [
            {"Id": "expr_1", "Expression": "100 * FILL(errors, 0) / invocations"},
            {"Id": "errors", "ReturnData": False, "MetricStat": {**stat, "Period": 300}},
            {"Id": "invocations", "ReturnData": False, "MetricStat": {**stat, "Period": 300}},
        ],
        **change,
    }


def test_a_metric_math_alarm_is_read_and_round_trips() -> None:
    alarm = AlarmDefinition.from_properties(_math_alarm())
    assert (alarm.period, alarm.treat_missing_data) == (300, TreatMissingData.NOT_BREACHING)
    assert [q.id for q in alarm.queries if q.return_data] == ["expr_1"]
    put = alarm.to_put_metric_alarm()
    assert "MetricName" not in put
    assert [MetricQuery.from_property(q) for q in put["Metrics"]] == list(alarm.queries)


def test_a_metric_math_alarm_needs_one_returned_series() -> None:
    metrics = _math_alarm()["Metrics"]
    both = [{**metrics[0]}, {**metrics[1], "ReturnData": True}, metrics[2]]
    with pytest.raises(AlarmDefinitionError, match="one returned series"):
        AlarmDefinition.from_properties(_math_alarm(Metrics=both))


def test_percentiles_by_nearest_rank() -> None:
    assert is_percentile("p99") and is_percentile("p99.9") and not is_percentile("Sum")
    values = [float(v) for v in range(1, 101)]
    assert nearest_rank(values, 99) == 99.0
    assert nearest_rank(values, 50) == 50.0
    assert nearest_rank([7.0], 99) == 7.0
