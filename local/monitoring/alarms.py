"""LOCAL STAND-IN for CloudWatch alarm evaluation: moto stores alarms but never evaluates
them, nor emits an event when a state changes.

Definitions come from the synthesized templates, datapoints from GetMetricData (moto
locally); the semantics (M out of N, the evaluation range, missing data, the state change
event) are the CloudWatch user guide's, cited in docs/monitoring.md.
"""

from __future__ import annotations

import json
import math
import operator
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

from local.cdk_assembly import AssemblyError, StageAssembly
from local.monitoring.metric_math import MathError, MetricQuery, returned_series
from local.monitoring.percentiles import is_percentile, percentile_series

LABEL = "[local stand-in: CloudWatch alarm evaluation]"

OK, ALARM, INSUFFICIENT_DATA = "OK", "ALARM", "INSUFFICIENT_DATA"

COMPARISONS: dict[str, tuple[Callable[[float, float], bool], str]] = {
    "GreaterThanOrEqualToThreshold": (operator.ge, "greater than or equal to"),
    "GreaterThanThreshold": (operator.gt, "greater than"),
    "LessThanThreshold": (operator.lt, "less than"),
    "LessThanOrEqualToThreshold": (operator.le, "less than or equal to"),
}


class TreatMissingData(StrEnum):
    MISSING = "missing"
    NOT_BREACHING = "notBreaching"
    BREACHING = "breaching"
    IGNORE = "ignore"


class AlarmDefinitionError(ValueError):
    """An alarm the evaluator cannot evaluate (unknown operator, unsupported math, ...)."""


@dataclass(frozen=True, kw_only=True)
class AlarmDefinition:
    """An alarm as ``AWS::CloudWatch::Alarm`` / PutMetricAlarm define it: one metric, or
    metric math (``queries``; then the metric fields are empty and ``period`` is the
    metrics' period)."""

    name: str
    namespace: str
    metric_name: str
    dimensions: Mapping[str, str]
    statistic: str
    period: int
    evaluation_periods: int
    datapoints_to_alarm: int
    comparison: str
    threshold: float
    treat_missing_data: TreatMissingData = TreatMissingData.MISSING
    description: str = ""
    queries: tuple[MetricQuery, ...] = ()

    def __post_init__(self) -> None:
        if self.comparison not in COMPARISONS:
            raise AlarmDefinitionError(
                f"{self.name}: ComparisonOperator {self.comparison!r} is not supported "
                f"(supported: {', '.join(COMPARISONS)})"
            )
        if not 1 <= self.datapoints_to_alarm <= self.evaluation_periods:
            raise AlarmDefinitionError(
                f"{self.name}: DatapointsToAlarm must be between 1 and EvaluationPeriods"
            )
        if self.period <= 0:
            raise AlarmDefinitionError(f"{self.name}: Period must be positive")

    @classmethod
    def from_properties(cls, properties: Mapping[str, Any]) -> AlarmDefinition:
        """From ``AWS::CloudWatch::Alarm`` properties (template) or a DescribeAlarms entry."""
        if properties.get("Metrics"):
            return cls._from_math(properties)
        if "MetricName" not in properties:
            raise AlarmDefinitionError(f"{properties.get('AlarmName', '?')}: no metric")
        for key in ("AlarmName", "Namespace", "MetricName"):
            if not isinstance(properties.get(key), str):
                raise AlarmDefinitionError(
                    f"alarm property {key} is not a literal string: {properties.get(key)!r} "
                    "(the evaluator reads literal values only)"
                )
        statistic = properties.get("Statistic") or properties.get("ExtendedStatistic")
        if not statistic:
            raise AlarmDefinitionError(f"{properties['AlarmName']}: no Statistic")
        evaluation_periods = int(properties["EvaluationPeriods"])
        return cls(
            name=properties["AlarmName"],
            namespace=properties["Namespace"],
            metric_name=properties["MetricName"],
            dimensions={d["Name"]: d["Value"] for d in properties.get("Dimensions", [])},
            statistic=statistic,
            period=int(properties["Period"]),
            evaluation_periods=evaluation_periods,
            datapoints_to_alarm=int(properties.get("DatapointsToAlarm", evaluation_periods)),
            comparison=properties["ComparisonOperator"],
            threshold=float(properties["Threshold"]),
            treat_missing_data=TreatMissingData(properties.get("TreatMissingData", "missing")),
            description=properties.get("AlarmDescription", ""),
        )

    @classmethod
    def _from_math(cls, properties: Mapping[str, Any]) -> AlarmDefinition:
        queries = tuple(MetricQuery.from_property(q) for q in properties["Metrics"])
        periods = {q.period for q in queries if not q.expression}
        if len(periods) != 1 or sum(q.return_data for q in queries) != 1:
            raise AlarmDefinitionError(
                f"{properties['AlarmName']}: metric math needs one period and one returned series"
            )
        evaluation_periods = int(properties["EvaluationPeriods"])
        return cls(
            name=properties["AlarmName"],
            namespace="",
            metric_name="",
            dimensions={},
            statistic="",
            period=periods.pop(),
            evaluation_periods=evaluation_periods,
            datapoints_to_alarm=int(properties.get("DatapointsToAlarm", evaluation_periods)),
            comparison=properties["ComparisonOperator"],
            threshold=float(properties["Threshold"]),
            treat_missing_data=TreatMissingData(properties.get("TreatMissingData", "missing")),
            description=properties.get("AlarmDescription", ""),
            queries=queries,
        )

    @property
    def evaluation_range(self) -> int:
        """How many periods CloudWatch retrieves. The guide gives no general formula; its
        example retrieves 5 for N = 3, so this uses N + 2."""
        return self.evaluation_periods + 2

    def breaches(self, value: float) -> bool:
        return COMPARISONS[self.comparison][0](value, self.threshold)

    def to_put_metric_alarm(self) -> dict[str, Any]:
        """Keyword arguments of CloudWatch PutMetricAlarm for this alarm."""
        common = {
            "AlarmName": self.name,
            "AlarmDescription": self.description,
            "EvaluationPeriods": self.evaluation_periods,
            "DatapointsToAlarm": self.datapoints_to_alarm,
            "ComparisonOperator": self.comparison,
            "Threshold": self.threshold,
            "TreatMissingData": self.treat_missing_data.value,
        }
        if self.queries:
            return {**common, "Metrics": [q.to_property() for q in self.queries]}
        return {
            **common,
            "Namespace": self.namespace,
            "MetricName": self.metric_name,
            "Dimensions": [{"Name": k, "Value": v} for k, v in self.dimensions.items()],
            "Statistic": self.statistic,
            "Period": self.period,
        }


@dataclass(frozen=True)
class Evaluation:
    """The state one evaluation arrives at, and the data points that decided it."""

    state: str
    reason: str
    evaluated: tuple[float | None, ...]  # the N points judged, oldest first (None: filled)
    breaching: int


def evaluate(
    definition: AlarmDefinition, points: Sequence[float | None], current_state: str
) -> Evaluation:
    """The alarm's state after one evaluation over ``points``: the evaluation range,
    oldest first, ``None`` for a period with no data."""
    n, m = definition.evaluation_periods, definition.datapoints_to_alarm
    treatment = definition.treat_missing_data
    indexed = [(age, v) for age, v in enumerate(reversed(points), start=1) if v is not None]
    real = [v for _, v in reversed(indexed)]  # oldest first
    if len(real) >= n:
        evaluated: list[float | None] = list(real[-n:])
        breaching = sum(definition.breaches(v) for v in real[-n:])
        state = ALARM if breaching >= m else OK
        return Evaluation(
            state, _reason(definition, evaluated, breaching, state), tuple(evaluated), breaching
        )

    fill = n - len(real)
    if not real:
        state = {
            TreatMissingData.MISSING: INSUFFICIENT_DATA,
            TreatMissingData.IGNORE: current_state,
            TreatMissingData.BREACHING: ALARM,
            TreatMissingData.NOT_BREACHING: OK,
        }[treatment]
        reason = (
            f"no datapoints were received for {n} period{'s' if n > 1 else ''} and {n} "
            f"missing datapoint{'s were' if n > 1 else ' was'} treated as [{treatment.value}]."
        )
        return Evaluation(state, reason, (None,) * n, n if state == ALARM else 0)

    breaching = sum(definition.breaches(v) for v in real)
    evaluated = [*([None] * fill), *real]
    if treatment is TreatMissingData.BREACHING:
        breaching += fill
    if treatment in (TreatMissingData.BREACHING, TreatMissingData.NOT_BREACHING):
        state = ALARM if breaching >= m else OK
    elif breaching >= m:
        state = ALARM
    elif breaching < len(real):  # a real non-breaching point: the threshold is not crossed
        state = OK
    elif treatment is TreatMissingData.IGNORE:
        state = current_state
    else:
        # Every real point breaches but there are fewer than M. The guide's rule against
        # premature transitions: ALARM if the oldest of them is at least M periods old.
        oldest_age = indexed[-1][0]
        state = ALARM if oldest_age >= m else INSUFFICIENT_DATA
    return Evaluation(
        state, _reason(definition, evaluated, breaching, state), tuple(evaluated), breaching
    )


def _reason(
    definition: AlarmDefinition, evaluated: Sequence[float | None], breaching: int, state: str
) -> str:
    values = ", ".join("missing" if v is None else repr(float(v)) for v in evaluated)
    crossed = state == ALARM
    count = breaching if crossed else len(evaluated) - breaching
    verb = COMPARISONS[definition.comparison][1]
    was = "was" if count == 1 else "were"
    return (
        f"Threshold Crossed: {count} out of the last {len(evaluated)} datapoints [{values}] "
        f"{was if crossed else was + ' not'} {verb} the threshold "
        f"({float(definition.threshold)}) "
        f"(minimum {definition.datapoints_to_alarm} datapoint"
        f"{'s' if definition.datapoints_to_alarm > 1 else ''} for OK -> ALARM transition)."
    )


# --- Data points from CloudWatch (moto) -------------------------------------------


def period_slots(definition: AlarmDefinition, now: datetime) -> list[datetime]:
    """Start times of the evaluation range's periods, oldest first; the newest is the
    period that contains ``now`` (periods aligned to the epoch, as CloudWatch aligns)."""
    seconds = definition.period
    end = math.floor(now.timestamp() / seconds) * seconds + seconds
    return [
        datetime.fromtimestamp(end - k * seconds, UTC)
        for k in range(definition.evaluation_range, 0, -1)
    ]


def fetch_datapoints(
    cloudwatch: Any, definition: AlarmDefinition, now: datetime
) -> list[float | None]:
    """One value per period of the evaluation range (``None`` where there is no data),
    the alarm's statistic over each period, from GetMetricData; for metric math, the
    returned expression over its metrics' values."""
    if not definition.queries:
        return _fetch_metric(cloudwatch, definition, now)
    try:
        return returned_series(
            definition.queries,
            lambda q: _fetch_metric(
                cloudwatch,
                replace(
                    definition,
                    namespace=q.namespace,
                    metric_name=q.metric_name,
                    dimensions=q.dimensions,
                    statistic=q.statistic,
                    queries=(),
                ),
                now,
            ),
            definition.evaluation_range,
        )
    except MathError as error:
        raise AlarmDefinitionError(f"{definition.name}: {error}") from error


def _fetch_metric(cloudwatch: Any, d: AlarmDefinition, now: datetime) -> list[float | None]:
    slots = period_slots(d, now)
    keys = ("namespace", "metric_name", "dimensions", "statistic", "period")
    if is_percentile(d.statistic):  # moto computes none (local/monitoring/percentiles.py)
        return percentile_series(cloudwatch, slots=slots, **{k: getattr(d, k) for k in keys})
    start, end = slots[0], slots[-1] + timedelta(seconds=d.period)
    query = MetricQuery(id="m1", return_data=True, **{k: getattr(d, k) for k in keys})
    response = cloudwatch.get_metric_data(
        MetricDataQueries=[query.to_property()],
        StartTime=start,
        EndTime=end,
        ScanBy="TimestampAscending",
    )
    [result] = response["MetricDataResults"]
    by_slot: dict[int, float] = {}
    for timestamp, value in zip(result["Timestamps"], result["Values"], strict=True):
        index = int((timestamp.timestamp() - start.timestamp()) // d.period)
        if 0 <= index < len(slots):
            by_slot[index] = float(value)
    return [by_slot.get(i) for i in range(len(slots))]


# --- State changes and the event EventBridge would deliver ------------------------


def _cloudwatch_time(at: datetime) -> str:
    """CloudWatch's state timestamp format: 2019-10-02T17:04:40.989+0000."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}+0000"


@dataclass(frozen=True)
class StateRecord:
    value: str
    reason: str
    timestamp: datetime
    reason_data: str | None = None

    def to_event(self) -> dict[str, Any]:
        record = {
            "reason": self.reason,
            "timestamp": _cloudwatch_time(self.timestamp),
            "value": self.value,
        }
        if self.reason_data is not None:
            record["reasonData"] = self.reason_data
        return record


@dataclass(frozen=True)
class Transition:
    """One evaluation's result; ``event`` is set when the state changed (CloudWatch sends
    state-change events only on a change)."""

    alarm: AlarmDefinition
    previous: StateRecord
    current: StateRecord
    datapoints: tuple[float | None, ...]
    event: dict[str, Any] | None = field(default=None)

    @property
    def changed(self) -> bool:
        return self.previous.value != self.current.value

    def describe(self) -> str:
        arrow = f"{self.previous.value} -> {self.current.value}"
        change = arrow if self.changed else f"stays {self.current.value}"
        return f"{LABEL} {self.alarm.name}: {change}; {self.current.reason}"


def state_change_event(
    alarm: AlarmDefinition,
    previous: StateRecord,
    current: StateRecord,
    *,
    account: str,
    region: str,
    partition: str = "aws",
) -> dict[str, Any]:
    """The "CloudWatch Alarm State Change" event, shaped as the CloudWatch user guide's
    single-metric sample (source aws.cloudwatch, detail alarmName / configuration /
    previousState / state)."""
    metric = {
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{alarm.name}/{alarm.metric_name}")),
        "metricStat": {
            "metric": {
                "dimensions": dict(alarm.dimensions),
                "name": alarm.metric_name,
                "namespace": alarm.namespace,
            },
            "period": alarm.period,
            "stat": alarm.statistic,
        },
        "returnData": True,
    }
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "CloudWatch Alarm State Change",
        "source": "aws.cloudwatch",
        "account": account,
        "time": current.timestamp.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [f"arn:{partition}:cloudwatch:{region}:{account}:alarm:{alarm.name}"],
        "detail": {
            "alarmName": alarm.name,
            "configuration": {
                "description": alarm.description,
                "metrics": [q.to_event() for q in alarm.queries] if alarm.queries else [metric],
            },
            "previousState": previous.to_event(),
            "state": current.to_event(),
        },
    }


def evaluate_in_cloudwatch(
    cloudwatch: Any,
    alarm: AlarmDefinition,
    *,
    now: datetime,
    account: str,
    region: str,
) -> Transition:
    """Evaluate ``alarm`` on the metrics in ``cloudwatch`` (moto) as CloudWatch would.

    The alarm is created there on first use (PutMetricAlarm); its state is read from
    and written back to it (SetAlarmState), so repeated evaluations see the last state.
    """
    found = cloudwatch.describe_alarms(AlarmNames=[alarm.name])["MetricAlarms"]
    if not found:
        cloudwatch.put_metric_alarm(**alarm.to_put_metric_alarm())
        # A new CloudWatch alarm starts in INSUFFICIENT_DATA; moto starts it in OK.
        cloudwatch.set_alarm_state(
            AlarmName=alarm.name,
            StateValue=INSUFFICIENT_DATA,
            StateReason="Unchecked: Initial alarm creation",
        )
        found = cloudwatch.describe_alarms(AlarmNames=[alarm.name])["MetricAlarms"]
    stored = found[0]
    previous = StateRecord(
        value=stored["StateValue"],
        reason=stored.get("StateReason", "Unchecked: Initial alarm creation"),
        timestamp=stored.get("StateUpdatedTimestamp", now),
        reason_data=stored.get("StateReasonData"),
    )
    points = fetch_datapoints(cloudwatch, alarm, now)
    result = evaluate(alarm, points, previous.value)
    reason_data = json.dumps(
        {
            "version": "1.0",
            "queryDate": _cloudwatch_time(now),
            "statistic": alarm.statistic,
            "period": alarm.period,
            "recentDatapoints": [v for v in result.evaluated if v is not None],
            "threshold": alarm.threshold,
        },
        separators=(",", ":"),
    )
    current = StateRecord(result.state, result.reason, now, reason_data)
    if current.value == previous.value:
        return Transition(alarm, previous, previous, tuple(points))
    cloudwatch.set_alarm_state(
        AlarmName=alarm.name,
        StateValue=current.value,
        StateReason=current.reason,
        StateReasonData=reason_data,
    )
    event = state_change_event(alarm, previous, current, account=account, region=region)
    return Transition(alarm, previous, current, tuple(points), event)


# --- Definitions from the cloud assembly ------------------------------------------


def load_alarms(cdk_out: Path, stage: str, stack: str = "Monitoring") -> dict[str, AlarmDefinition]:
    """The alarms of ``stage``'s ``stack`` (every stack: "") in the cloud assembly at
    ``cdk_out``, by name. References (a function's or a queue's name from another stack)
    are resolved with the assembly's local names: a resource's logical id where
    CloudFormation would generate its name."""
    assembly = StageAssembly(cdk_out, stage)
    stacks = assembly.stacks(stack)
    if not stacks:
        raise AssemblyError(f"no {stack} template under {assembly.directory}: synthesize first")
    return {
        alarm.name: alarm
        for name in stacks
        for alarm in (
            AlarmDefinition.from_properties(assembly.resolve(resource["Properties"], name))
            for resource in assembly.resources(name, "AWS::CloudWatch::Alarm").values()
        )
    }
