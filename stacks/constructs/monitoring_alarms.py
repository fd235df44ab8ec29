"""Alarms on what the monitor measures: feature drift and live model quality.

Both watch the project's own metrics (namespace ``MLOps/Monitoring``, dimension
``Endpoint``), which the monitor publishes whichever analyzer runs, one datapoint per run,
so the alarm period is the monitor's interval.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from constructs import Construct

from config.layout import alarm_name

NAMESPACE = "MLOps/Monitoring"
FEATURES_DRIFTED = "FeaturesDrifted"
MODEL_QUALITY_VIOLATION = "ModelQualityViolation"
# CloudWatch: EvaluationPeriods x Period may not exceed one day.
MAX_EVALUATION_SECONDS = 86_400


class MonitoringAlarms(Construct):
    """``drift`` (FeaturesDrifted >= 1) and ``model_quality`` (ModelQualityViolation >= 1),
    named ``mlops-<stage>-<dataset>-drift`` / ``-model-quality`` so the retrain trigger
    recognises them by prefix."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        stage: str,
        dataset: str,
        endpoint_name: str,
        period_minutes: int,
    ) -> None:
        super().__init__(scope, construct_id)
        period = Duration.minutes(period_minutes)
        # Judge the last three runs where the day allows it (daily runs: the last one).
        runs = max(1, min(3, MAX_EVALUATION_SECONDS // period.to_seconds()))
        self.prefix = alarm_name(stage, dataset)

        def metric(name: str) -> cloudwatch.Metric:
            return cloudwatch.Metric(
                namespace=NAMESPACE,
                metric_name=name,
                dimensions_map={"Endpoint": endpoint_name},
                statistic="Maximum",
                period=period,
            )

        # Drift: features over threshold in 2 of the last 3 runs. One noisy run (a burst of
        # unusual traffic) does not retrain; drift that persists does, within 2-3 runs.
        # Missing data is notBreaching: a run that saw no new traffic (or did not run) is
        # no evidence of drift, and a broken monitor must not start retraining; its
        # failures surface through the schedule's dead-letter queue instead.
        self.drift = cloudwatch.Alarm(
            self,
            "Drift",
            alarm_name=alarm_name(stage, dataset, "drift"),
            alarm_description=(
                f"Features of {endpoint_name} drifted from the training baseline in "
                f"{min(2, runs)} of the last {runs} monitor runs."
            ),
            metric=metric(FEATURES_DRIFTED),
            threshold=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            evaluation_periods=runs,
            datapoints_to_alarm=min(2, runs),
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        # Model quality: the live metric worse than the registered version's evaluation
        # (beyond tolerance) in 2 of the last 3 runs. The monitor publishes it only when
        # ground truth matched captured requests, and labels arrive late and in batches,
        # so hours without a datapoint are normal: "missing" judges only the runs that had
        # labels (and goes to INSUFFICIENT_DATA, not OK, when none had), while two
        # violating runs keep one small, unlucky labelled batch from retraining.
        self.model_quality = cloudwatch.Alarm(
            self,
            "ModelQuality",
            alarm_name=alarm_name(stage, dataset, "model-quality"),
            alarm_description=(
                f"Live quality of {endpoint_name} fell below the registered version's "
                f"evaluation in {min(2, runs)} of the last {runs} monitor runs with ground truth."
            ),
            metric=metric(MODEL_QUALITY_VIOLATION),
            threshold=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            evaluation_periods=runs,
            datapoints_to_alarm=min(2, runs),
            treat_missing_data=cloudwatch.TreatMissingData.MISSING,
        )
        self.alarms = (self.drift, self.model_quality)
        # Fixed names (not tokens), so the retrain rule's pattern is literal.
        self.names = [
            alarm_name(stage, dataset, "drift"),
            alarm_name(stage, dataset, "model-quality"),
        ]
