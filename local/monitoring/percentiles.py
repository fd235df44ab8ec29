"""A gap of moto filled locally: its GetMetricData computes Sum, Average, Minimum, Maximum
and SampleCount, and returns no value for a percentile statistic (``p99``). This reads
the raw values moto holds (in this process: ``mock_aws`` or the local runtime's
in-process server) and computes the percentile by the nearest-rank method: exact when a
period's samples agree, an approximation of CloudWatch's own estimate otherwise.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

PERCENTILE = re.compile(r"^p(\d{1,2}(?:\.\d+)?)$")


def is_percentile(statistic: str) -> bool:
    return PERCENTILE.match(statistic) is not None


def nearest_rank(values: list[float], percent: float) -> float:
    """The smallest value with at least ``percent`` % of the values at or below it."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(percent / 100 * len(ordered)) - 1)]


def percentile_series(
    cloudwatch: Any,
    *,
    namespace: str,
    metric_name: str,
    dimensions: Mapping[str, str],
    statistic: str,
    slots: list[datetime],
    period: int,
) -> list[float | None]:
    """``statistic`` (pNN) of the metric's raw values in each period starting at ``slots``."""
    from moto.cloudwatch.models import cloudwatch_backends

    match = PERCENTILE.match(statistic)
    assert match is not None, statistic
    region = cloudwatch.meta.region_name
    # The accounts moto has served (one here: the stage's).
    data = [
        d
        for account in list(cloudwatch_backends)
        for d in cloudwatch_backends[account][region].metric_data
    ]
    values = [
        # moto keeps naive UTC timestamps.
        (datum.timestamp.replace(tzinfo=datum.timestamp.tzinfo or UTC), float(datum.value))
        for datum in data
        if datum.namespace == namespace
        and datum.name == metric_name
        and {d.name: d.value for d in datum.dimensions} == dict(dimensions)
        and hasattr(datum, "value")
    ]
    series: list[float | None] = []
    for start in slots:
        end = start + timedelta(seconds=period)
        found = [v for at, v in values if start <= at < end]
        series.append(nearest_rank(found, float(match.group(1))) if found else None)
    return series
