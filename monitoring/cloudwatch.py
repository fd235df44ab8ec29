"""CloudWatch metrics of a monitor run, under Model Monitor's names and the project's own.

- ``aws/sagemaker/Endpoints/data-metrics``: ``feature_baseline_drift_<feature>`` with
  dimensions Endpoint and MonitoringSchedule (as "CloudWatch Metrics for Deployed
  Models" documents them), so alarms written for Model Monitor work unchanged;
- ``aws/sagemaker/Endpoints/model-metrics``: the model-quality metrics by their
  Model Monitor names (auc, accuracy, ... / mse, rmse, mae, r2), same dimensions;
- ``aws/sagemaker/Endpoints/bias-metrics``: ``bias_metric_<metric>`` with Endpoint,
  MonitoringSchedule, BiasStage, Label, LabelValue, Facet and FacetValue, as "CloudWatch
  Metrics for Bias Drift Analysis" documents them (an infinite DI as its 2.348543e108,
  a metric without a value not at all, as there);
- ``MLOps/Monitoring`` (dimension Endpoint): FeaturesDrifted, DataQualityViolations,
  RowsAnalyzed, and with ground truth ModelQualityViolation and the gate metric;
  BiasDriftViolations when a bias metric could be judged, FeatureAttributionNDCG (the
  lowest label's) when the window's sample was large enough; each only when the version
  has that baseline.

CloudWatch reserves namespaces that begin with "AWS/" for AWS services (PutMetricData's
Namespace documentation); Model Monitor's lower-case "aws/sagemaker/..." namespaces
are outside that documented rule, so PutMetricData can write them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from config.metrics import (
    BIAS_METRICS_NAMESPACE,
    DATA_METRICS_NAMESPACE,
    MODEL_METRICS_NAMESPACE,
    MONITORING_NAMESPACE,
)
from monitoring.attribution_drift import AttributionDrift
from monitoring.bias_drift import BiasDrift

# One registry of the metrics the project emits (config/metrics.py): the dashboard and the
# alarms read the same names.
DATA_NAMESPACE = DATA_METRICS_NAMESPACE
MODEL_NAMESPACE = MODEL_METRICS_NAMESPACE
PROJECT_NAMESPACE = MONITORING_NAMESPACE
DRIFT_METRIC_PREFIX = "feature_baseline_drift_"
BIAS_METRIC_PREFIX = "bias_metric_"
BATCH = 20  # datums per PutMetricData call: the long-standing limit every endpoint accepts


@dataclass(frozen=True)
class Datum:
    namespace: str
    name: str
    value: float
    dimensions: tuple[tuple[str, str], ...]
    unit: str = "None"


def run_metrics(
    *,
    endpoint: str,
    schedule: str,
    rows: int,
    drift: dict[str, float],
    drifted: int,
    violations: int,
    quality: dict[str, float],
    quality_violation: bool | None,
    gate_metric: str,
) -> list[Datum]:
    """Every datum of one run. Drift is published only for a window that had rows."""
    model_monitor = (("Endpoint", endpoint), ("MonitoringSchedule", schedule))
    ours = (("Endpoint", endpoint),)
    data = [Datum(PROJECT_NAMESPACE, "RowsAnalyzed", float(rows), ours, "Count")]
    if rows:
        data += [
            Datum(DATA_NAMESPACE, f"{DRIFT_METRIC_PREFIX}{name}", value, model_monitor)
            for name, value in drift.items()
        ]
        data += [
            Datum(PROJECT_NAMESPACE, "FeaturesDrifted", float(drifted), ours, "Count"),
            Datum(PROJECT_NAMESPACE, "DataQualityViolations", float(violations), ours, "Count"),
        ]
    if quality:
        data += [Datum(MODEL_NAMESPACE, n, v, model_monitor) for n, v in quality.items()]
        if gate_metric in quality:
            data.append(Datum(PROJECT_NAMESPACE, gate_metric, quality[gate_metric], ours))
    if quality_violation is not None:
        data.append(
            Datum(PROJECT_NAMESPACE, "ModelQualityViolation", float(quality_violation), ours)
        )
    return data


def model_drift_metrics(
    *,
    endpoint: str,
    schedule: str,
    label: str,
    bias: BiasDrift | None,
    attribution: AttributionDrift | None,
) -> list[Datum]:
    """The bias and attribution drift datums of one run (none for a check not run)."""
    data: list[Datum] = []
    ours = (("Endpoint", endpoint),)
    if bias is not None:
        data += [
            Datum(
                BIAS_METRICS_NAMESPACE,
                f"{BIAS_METRIC_PREFIX}{j.metric}",
                j.live,
                (
                    ("Endpoint", endpoint),
                    ("MonitoringSchedule", schedule),
                    ("BiasStage", j.stage),
                    ("Label", label),
                    ("LabelValue", "1"),
                    ("Facet", j.facet),
                    ("FacetValue", j.facet_value),
                ),
            )
            for j in bias.judged
        ]
        if bias.judged_count:  # no verdict is no evidence: the alarm sees missing data
            count = float(bias.violation_count)
            data.append(Datum(PROJECT_NAMESPACE, "BiasDriftViolations", count, ours, "Count"))
    if attribution is not None:
        data.append(Datum(PROJECT_NAMESPACE, "FeatureAttributionNDCG", attribution.lowest, ours))
    return data


def publish(cloudwatch: Any, data: list[Datum], at: datetime) -> int:
    """PutMetricData per namespace in batches; returns the number of datums sent."""
    by_namespace: dict[str, list[Datum]] = {}
    for datum in data:
        by_namespace.setdefault(datum.namespace, []).append(datum)
    for namespace, items in by_namespace.items():
        for start in range(0, len(items), BATCH):
            cloudwatch.put_metric_data(
                Namespace=namespace,
                MetricData=[
                    {
                        "MetricName": d.name,
                        "Dimensions": [{"Name": k, "Value": v} for k, v in d.dimensions],
                        "Timestamp": at,
                        "Value": d.value,
                        "Unit": d.unit,
                    }
                    for d in items[start : start + BATCH]
                ],
            )
    return len(data)
