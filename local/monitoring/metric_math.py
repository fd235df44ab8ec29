"""LOCAL STAND-IN for the metric math of CloudWatch alarms (an alarm's ``Metrics``): moto
stores such alarms but evaluates nothing.

The subset the project's alarms use: metric ids, numbers, ``+ - * /``, parentheses and
``FILL(series, number)``. As the CloudWatch user guide's metric math section describes,
arithmetic between two time series applies per timestamp, and ``FILL`` replaces a
missing value with the number; here a period where an operand has no datapoint has none
in the result (so ``0 * instances`` exists only where ``instances`` does), and a
division by zero gives none. Anything outside the subset is an ``AlarmDefinitionError``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

Series = list[float | None]
Value = float | Series
TOKENS = re.compile(r"\s*(?:(\d+(?:\.\d+)?)|([A-Za-z_][A-Za-z0-9_]*)|(.))")


class MathError(ValueError):
    """An expression outside the supported subset, or one naming an unknown id."""


@dataclass(frozen=True)
class MetricQuery:
    """One entry of an alarm's ``Metrics``: a metric statistic or an expression."""

    id: str
    return_data: bool
    expression: str = ""
    namespace: str = ""
    metric_name: str = ""
    dimensions: Mapping[str, str] = field(default_factory=dict)
    statistic: str = ""
    period: int = 0

    @classmethod
    def from_property(cls, query: Mapping[str, Any]) -> MetricQuery:
        """From a template's ``MetricDataQuery`` (or a DescribeAlarms entry)."""
        returned = bool(query.get("ReturnData", True))
        if "Expression" in query:
            return cls(
                id=query["Id"],
                return_data=returned,
                expression=query["Expression"],
                period=int(query.get("Period", 0)),
            )
        stat = query["MetricStat"]
        metric = stat["Metric"]
        return cls(
            id=query["Id"],
            return_data=returned,
            namespace=metric["Namespace"],
            metric_name=metric["MetricName"],
            dimensions={d["Name"]: d["Value"] for d in metric.get("Dimensions", [])},
            statistic=stat["Stat"],
            period=int(stat["Period"]),
        )

    def to_property(self) -> dict[str, Any]:
        """As PutMetricAlarm's ``Metrics`` entry."""
        if self.expression:
            return {"Id": self.id, "Expression": self.expression, "ReturnData": self.return_data}
        return {
            "Id": self.id,
            "ReturnData": self.return_data,
            "MetricStat": {
                "Metric": {
                    "Namespace": self.namespace,
                    "MetricName": self.metric_name,
                    "Dimensions": [{"Name": k, "Value": v} for k, v in self.dimensions.items()],
                },
                "Period": self.period,
                "Stat": self.statistic,
            },
        }

    def to_event(self) -> dict[str, Any]:
        """As the alarm state-change event's ``configuration.metrics`` entry."""
        if self.expression:
            return {"id": self.id, "expression": self.expression, "returnData": self.return_data}
        return {
            "id": self.id,
            "metricStat": {
                "metric": {
                    "dimensions": dict(self.dimensions),
                    "name": self.metric_name,
                    "namespace": self.namespace,
                },
                "period": self.period,
                "stat": self.statistic,
            },
            "returnData": self.return_data,
        }


def _binary(op: str, left: Value, right: Value, length: int) -> Value:
    def apply(a: float | None, b: float | None) -> float | None:
        if a is None or b is None:
            return None
        if op == "/":
            return None if b == 0 else a / b
        return {"+": a + b, "-": a - b, "*": a * b}[op]

    if isinstance(left, float) and isinstance(right, float):
        result = apply(left, right)
        if result is None:
            raise MathError("a constant divided by zero")
        return result
    lefts = left if isinstance(left, list) else [left] * length
    rights = right if isinstance(right, list) else [right] * length
    return [apply(a, b) for a, b in zip(lefts, rights, strict=True)]


class _Parser:
    """Recursive descent over the subset: expr := term (+|- term)*; term := factor
    (*|/ factor)*; factor := number | id | FILL(expr, number) | (expr) | -factor."""

    def __init__(self, text: str, series: Mapping[str, Series], length: int) -> None:
        self.tokens = [m.groups() for m in TOKENS.finditer(text) if any(m.groups())]
        self.position = 0
        self.series, self.length = series, length
        self.text = text

    def parse(self) -> Value:
        value = self._expression()
        if self.position != len(self.tokens):
            raise MathError(f"unexpected text in {self.text!r}")
        return value

    def _peek(self) -> str:
        if self.position >= len(self.tokens):
            return ""
        number, name, symbol = self.tokens[self.position]
        return number or name or symbol

    def _take(self, expected: str | None = None) -> str:
        token = self._peek()
        if not token or (expected is not None and token != expected):
            raise MathError(f"expected {expected or 'more'} in {self.text!r}")
        self.position += 1
        return token

    def _expression(self) -> Value:
        return self._chain(self._term, "+-")

    def _term(self) -> Value:
        return self._chain(self._factor, "*/")

    def _chain(self, operand: Callable[[], Value], operators: str) -> Value:
        value = operand()
        while self._peek() and self._peek() in operators:
            op = self._take()
            value = _binary(op, value, operand(), self.length)
        return value

    def _factor(self) -> Value:
        token = self._take()
        if token == "(":
            value = self._expression()
            self._take(")")
            return value
        if token == "-":
            return _binary("*", -1.0, self._factor(), self.length)
        if token[0].isdigit():
            return float(token)
        if token == "FILL":
            self._take("(")
            inner = self._expression()
            self._take(",")
            fill = float(self._take())
            self._take(")")
            values = inner if isinstance(inner, list) else [inner] * self.length
            return [fill if v is None else v for v in values]
        if token not in self.series:
            raise MathError(f"{token!r} in {self.text!r} is neither a metric id nor supported")
        return list(self.series[token])


def evaluate_expression(expression: str, series: Mapping[str, Series], length: int) -> Series:
    """``expression`` over ``series`` (by metric id, ``length`` periods each)."""
    value = _Parser(expression, series, length).parse()
    return value if isinstance(value, list) else [value] * length


def returned_series(
    queries: Sequence[MetricQuery], fetch: Callable[[MetricQuery], Series], length: int
) -> Series:
    """The alarm's one returned time series: each metric fetched, then the expressions in
    order (an expression may use an earlier one's id)."""
    series: dict[str, Series] = {}
    for query in queries:
        if not query.expression:
            series[query.id] = fetch(query)
    for query in queries:
        if query.expression:
            series[query.id] = evaluate_expression(query.expression, series, length)
    [returned] = [q for q in queries if q.return_data]
    return series[returned.id]
