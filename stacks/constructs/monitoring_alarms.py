"""Alarms on what the monitor measures: feature drift, live model quality, bias drift
and feature attribution drift.

All watch the project's own metrics (namespace ``MLOps/Monitoring``, dimension
``Endpoint``), one datapoint per monitor run, so the alarm period is the monitor's
interval. The platform's analyzer publishes all four; Model Monitor (the option) only
the first two, through the same names: with it (``model_drift=False``) the other two are
not created, as their metrics would never come; nor is bias drift's (``bias=False``) for
a dataset without facets.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from constructs import Construct

from config.layout import alarm_name

NAMESPACE = "MLOps/Monitoring"
FEATURES_DRIFTED = "FeaturesDrifted"
MODEL_QUALITY_VIOLATION = "ModelQualityViolation"
BIAS_DRIFT_VIOLATIONS = "BiasDriftViolations"
ATTRIBUTION_NDCG = "FeatureAttributionNDCG"
# Model Monitor's feature attribution drift check: an nDCG below 0.9 is a violation.
NDCG_THRESHOLD = 0.9
# CloudWatch: EvaluationPeriods x Period may not exceed one day.
MAX_EVALUATION_SECONDS = 86_400


class MonitoringAlarms(Construct):
    """``drift`` (FeaturesDrifted >= 1), ``model_quality`` (ModelQualityViolation >= 1),
    ``attribution_drift`` (FeatureAttributionNDCG < 0.9) and ``bias_drift``
    (BiasDriftViolations >= 1), named ``mlops-<stage>-<dataset>-<kind>``. ``retrain_names``:
    the first three, which retrain; bias drift notifies only, since a model retrained on
    the same data keeps its bias: a person decides."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        stage: str,
        dataset: str,
        endpoint_name: str,
        period_minutes: int,
        model_drift: bool = True,
        bias: bool = True,
    ) -> None:
        super().__init__(scope, construct_id)
        self._period = Duration.minutes(period_minutes)
        # Judge the last three runs where the day allows it (daily runs: the last one).
        self._runs = int(max(1, min(3, MAX_EVALUATION_SECONDS // self._period.to_seconds())))
        self._stage, self._dataset, self._endpoint = stage, dataset, endpoint_name
        self.prefix = alarm_name(stage, dataset)
        within = f"in {min(2, self._runs)} of the last {self._runs} monitor runs"

        # Drift: features over threshold in 2 of the last 3 runs. One noisy run (a burst of
        # unusual traffic) does not retrain; drift that persists does, within 2-3 runs.
        # Missing data is notBreaching: a run that saw no new traffic (or did not run) is
        # no evidence of drift, and a broken monitor must not start retraining; its
        # failures surface through the schedule's dead-letter queue instead.
        self.drift = self._alarm(
            "Drift",
            "drift",
            f"Features of {endpoint_name} drifted from the training baseline {within}.",
            FEATURES_DRIFTED,
            missing=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        # Model quality: the live metric worse than the registered version's evaluation
        # (beyond tolerance) in 2 of the last 3 runs. The monitor publishes it only when
        # ground truth matched captured requests, and labels arrive late and in batches,
        # so hours without a datapoint are normal: "missing" judges only the runs that had
        # labels (and goes to INSUFFICIENT_DATA, not OK, when none had), while two
        # violating runs keep one small, unlucky labelled batch from retraining.
        self.model_quality = self._alarm(
            "ModelQuality",
            "model-quality",
            f"Live quality of {endpoint_name} fell below the registered version's "
            f"evaluation {within} with ground truth.",
            MODEL_QUALITY_VIOLATION,
            missing=cloudwatch.TreatMissingData.MISSING,
        )
        self.alarms: tuple[cloudwatch.Alarm, ...] = (self.drift, self.model_quality)
        kinds = ["drift", "model-quality"]
        if model_drift:
            # Attribution drift: the features the model leaned on in training no longer
            # lead its live answers; missing is notBreaching, as for feature drift (a run
            # without traffic computes no attributions).
            self.attribution_drift = self._alarm(
                "AttributionDrift",
                "attribution-drift",
                f"The feature attribution ranking of {endpoint_name} drifted from the "
                f"registered version's (nDCG below {NDCG_THRESHOLD}) {within}.",
                ATTRIBUTION_NDCG,
                missing=cloudwatch.TreatMissingData.NOT_BREACHING,
                below=NDCG_THRESHOLD,
            )
            self.alarms += (self.attribution_drift,)
            kinds.append("attribution-drift")
        # Fixed names (not tokens), so the retrain rule's pattern is literal.
        self.retrain_names = [alarm_name(stage, dataset, kind) for kind in kinds]
        self.names = [*self.retrain_names]
        if model_drift and bias:
            # Bias drift needs ground truth, like model quality: missing stays missing.
            self.bias_drift = self._alarm(
                "BiasDrift",
                "bias-drift",
                f"A bias metric of {endpoint_name} moved further from fair than the "
                f"registered version's (beyond tolerance) {within} with ground truth.",
                BIAS_DRIFT_VIOLATIONS,
                missing=cloudwatch.TreatMissingData.MISSING,
            )
            self.alarms += (self.bias_drift,)
            self.names.append(alarm_name(stage, dataset, "bias-drift"))

    def _alarm(
        self,
        construct_id: str,
        kind: str,
        description: str,
        metric_name: str,
        *,
        missing: cloudwatch.TreatMissingData,
        below: float | None = None,
    ) -> cloudwatch.Alarm:
        """An alarm on the monitor's ``metric_name``, one datapoint per run, 2 of the last
        3 runs breaching: at least 1 (its Maximum), or with ``below`` under it (its Minimum)."""
        metric = cloudwatch.Metric(
            namespace=NAMESPACE,
            metric_name=metric_name,
            dimensions_map={"Endpoint": self._endpoint},
            statistic="Maximum" if below is None else "Minimum",
            period=self._period,
        )
        return cloudwatch.Alarm(
            self,
            construct_id,
            alarm_name=alarm_name(self._stage, self._dataset, kind),
            alarm_description=description,
            metric=metric,
            threshold=1 if below is None else below,
            comparison_operator=(
                cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD
                if below is None
                else cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD
            ),
            evaluation_periods=self._runs,
            datapoints_to_alarm=min(2, self._runs),
            treat_missing_data=missing,
        )
