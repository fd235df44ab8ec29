"""Bias drift of the labelled window against the registered version's bias baseline, as
Model Monitor's bias drift check judges it (Clarify's monitor is closed to new customers).

The window's labelled, scored rows are measured with the same definitions the evaluation
used (``features/bias.py``), per facet group of the schema. Model Monitor's rule ("Bias
drift violations"): a metric violates when its live value is worse than the baseline
constraint, worse meaning further from the fair value (0 for the differences; 1 for
disparate impact, whose parity is a ratio of 1). Its constraints are the baselining
job's values, which users widen by editing the file; ours are the registered values
widened by ``tolerance``.

A window is a sample, and a ratio such as disparate impact over a group of a hundred
rows with few positive predictions moves a lot by chance alone (measured on fair churn
traffic of 1,500 rows: DI 0.53 to 1.98 against a registered 1.03 to 1.24). So a metric
violates only when it is worse in ``CONFIDENCE`` of the window's bootstrap resamples,
and a group with fewer than ``min_rows`` labelled rows on either side is not judged.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from config.schema import DatasetSchema, ProblemType
from features.bias import (
    POST_TRAINING,
    Group,
    all_groups,
    group_metrics,
    reports_of,
)
from features.quality import POSITIVE_AT
from monitoring.model_quality import numeric_labels
from monitoring.report import baseline_and_window_plot

DEFAULT_TOLERANCE = 0.05
DEFAULT_MIN_ROWS = 30
# Recall difference compares two recalls: each side needs this many positive labels.
MIN_POSITIVES = 10
# How Clarify's monitor publishes an infinite metric ("CloudWatch Metrics for Bias Drift
# Analysis"): an infinite DI (positive predictions in d only) is as unfair as DI gets.
INFINITY = 2.348543e108
# A metric violates when it is worse than the constraint in 99% of the window's bootstrap
# resamples (200 of them), i.e. worse with 99% confidence.
CONFIDENCE = 0.99
DRAWS = 200
CHECK = "bias_drift_check"
# Report keys of Clarify's analysis.json -> the CloudWatch dimension BiasStage's values.
PRE_KEY, POST_KEY = "pre_training_bias_metrics", "post_training_bias_metrics"
STAGES = {PRE_KEY: "Pre-training", POST_KEY: "Post-Training"}
PLOT = "bias_drift.png"


@dataclass(frozen=True)
class Judged:
    """One metric of one facet group: live and baseline value, and the verdict (None:
    not judged, the group had too few rows or the baseline has no value)."""

    stage: str  # as the CloudWatch dimension BiasStage names it
    facet: str
    facet_value: str
    metric: str
    live: float
    baseline: float | None
    violation: bool | None


@dataclass(frozen=True)
class BiasDrift:
    """The window's bias reports (Clarify shape) and each measured metric."""

    reports: dict[str, Any]
    judged: list[Judged]

    @property
    def violation_count(self) -> int:
        return sum(1 for j in self.judged if j.violation)

    @property
    def judged_count(self) -> int:
        """Metrics with a verdict (the others were measured only)."""
        return sum(1 for j in self.judged if j.violation is not None)

    @property
    def violations(self) -> list[dict[str, str]]:
        """Violating metrics in Model Monitor's ``constraint_violations.json`` form."""
        return [
            {
                "facet": j.facet,
                "facet_value": j.facet_value,
                "metric_name": j.metric,
                "constraint_check_type": CHECK,
                "description": (
                    f"Value {j.live:.6g} does not meet the constraint requirement "
                    f"(baseline {j.baseline:.6g})"
                ),
            }
            for j in self.judged
            if j.violation
        ]


def worse(metric: str, live: float, baseline: float, tolerance: float) -> bool:
    """Whether ``live`` is further from fair than ``baseline`` by more than ``tolerance``."""
    fair = 1.0 if metric == "DI" else 0.0
    return abs(live - fair) > abs(baseline - fair) + tolerance


def _values(report: Mapping[str, Any]) -> dict[tuple[str, str, str], float]:
    """(facet, group, metric) -> value, for the metrics that have one."""
    found = {}
    for facet, groups in report.get("facets", {}).items():
        for group in groups:
            for metric in group["metrics"]:
                if isinstance(metric.get("value"), int | float):
                    found[(facet, group["value_or_threshold"], metric["name"])] = float(
                        metric["value"]
                    )
    return found


def _resampled(
    groups: list[Group], positive: np.ndarray, predicted: np.ndarray, draws: int
) -> list[list[dict[str, float | str]]]:
    """Each group's metrics on ``draws`` bootstrap resamples of the rows (seeded: the
    same window gives the same verdict)."""
    rng = np.random.default_rng(0)
    rows = positive.size
    found: list[list[dict[str, float | str]]] = [[] for _ in groups]
    for _ in range(draws):
        pick = rng.integers(0, rows, rows)
        for index, g in enumerate(groups):
            group = replace(g, sensitive=g.sensitive[pick], known=g.known[pick])
            found[index].append(group_metrics(group, positive[pick], predicted[pick]))
    return found


def _value(value: float | str) -> float | None:
    """A metric's number: an infinite DI is infinite, another reason (an empty side) none."""
    if isinstance(value, str):
        return math.inf if value.startswith("infinite") else None
    return float(value)


def _surely_worse(
    metric: str, resampled: list[dict[str, float | str]], baseline: float, tolerance: float
) -> bool:
    """Worse than the baseline (beyond tolerance) in at least ``CONFIDENCE`` of the
    resamples (one where the metric is undefined is not worse): sampling noise in a
    small window is not a violation."""
    values = [_value(draw[metric]) for draw in resampled]
    worse_draws = sum(1 for v in values if v is not None and worse(metric, v, baseline, tolerance))
    return worse_draws >= CONFIDENCE * len(resampled)


def _judgeable(
    metric: str, group: Group, positive: np.ndarray, predicted: np.ndarray, min_rows: int
) -> bool:
    """Whether the window can judge ``metric`` of ``group``: enough rows on each side;
    for DI a positive prediction on some side (0/0 is Clarify's 0, not a measurement);
    for RD enough positive labels on each side (a recall of no positives is 0/0 too)."""
    d, a = group.sensitive & group.known, ~group.sensitive & group.known
    if min(d.sum(), a.sum()) < min_rows:
        return False
    if metric == "DI":
        return bool((predicted & d).any() or (predicted & a).any())
    if metric == "RD":
        return int(min((positive & d).sum(), (positive & a).sum())) >= MIN_POSITIVES
    return True


def bias_drift(
    schema: DatasetSchema,
    facets: Mapping[str, Sequence[str]],
    labels: Sequence[str],
    scores: Sequence[float],
    baseline: Mapping[str, Mapping[str, Any]],
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    min_rows: int = DEFAULT_MIN_ROWS,
    draws: int = DRAWS,
) -> BiasDrift | None:
    """The window's bias against ``baseline`` (the registered pre- and post-training
    reports, keyed as in Clarify's ``analysis.json``). ``facets``: each facet column's
    raw text per labelled row; ``labels``/``scores``: those rows' label and score. None
    when the schema has no facets (bias is defined for a binary target only) or no label
    is usable."""
    if not schema.facets or schema.problem_type is not ProblemType.BINARY_CLASSIFICATION:
        return None
    truth, usable = numeric_labels(schema, labels)
    rows = {
        name: [v for v, ok in zip(values, usable, strict=True) if ok]
        for name, values in facets.items()
    }
    positive = truth[usable] == 1
    if not positive.size:
        return None  # no usable label (every one outside 0/1): nothing to measure
    predicted = np.asarray(scores, dtype=np.float64)[usable] >= POSITIVE_AT
    groups = all_groups(schema, rows)
    measured = [(g, group_metrics(g, positive, predicted)) for g in groups]
    pre, post = reports_of(schema, measured)
    resampled = _resampled(groups, positive, predicted, draws)
    registered = {stage: _values(baseline.get(key, {})) for key, stage in STAGES.items()}
    judged = []
    for (group, values), draws_of_group in zip(measured, resampled, strict=True):
        for metric, measured_value in values.items():
            live = _value(measured_value)
            if live is None:
                continue  # undefined here (an empty side): nothing to publish or judge
            stage = STAGES[POST_KEY if metric in POST_TRAINING else PRE_KEY]
            base = registered[stage].get((group.facet, group.value_or_threshold, metric))
            verdict = None
            if base is not None and _judgeable(metric, group, positive, predicted, min_rows):
                verdict = _surely_worse(metric, draws_of_group, base, tolerance)
            shown = min(live, INFINITY)  # published as Clarify's monitor publishes infinity
            judged.append(
                Judged(stage, group.facet, group.value_or_threshold, metric, shown, base, verdict)
            )
    return BiasDrift({**pre, **post}, judged)


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"


def html_section(drift: BiasDrift | None, out: Path) -> str:
    """The report page's bias drift table and plot (live against baseline per metric)."""
    if drift is None:
        return ""
    if not drift.judged:
        return "<h2>Bias drift</h2><p>no facet group measurable in this window</p>"
    verdicts = {True: "VIOLATION", False: "", None: "not judged (too few rows or positives)"}
    rows = "".join(
        f"<tr class='{'drift' if j.violation else ''}'><td>{html.escape(j.stage)}</td>"
        f"<td>{html.escape(j.facet)}</td><td>{html.escape(j.facet_value)}</td>"
        f"<td>{j.metric}</td><td>{_number(j.baseline)}</td><td>{j.live:.4f}</td>"
        f"<td>{verdicts[j.violation]}</td></tr>"
        for j in drift.judged
    )
    baseline_and_window_plot(
        [f"{j.facet}={j.facet_value} {j.metric}" for j in drift.judged],
        [np.nan if j.baseline is None else j.baseline for j in drift.judged],
        [j.live for j in drift.judged],
        title="Bias metrics: registered baseline and this window",
        xlabel="metric value (fair: 0; DI fair at 1)",
        path=out / PLOT,
    )
    return (
        "<h2>Bias drift</h2><table><tr><th>stage</th><th>facet</th><th>group</th>"
        "<th>metric</th><th>baseline</th><th>window</th><th></th></tr>"
        f"{rows}</table><img src='{PLOT}' alt='bias drift'>"
    )
