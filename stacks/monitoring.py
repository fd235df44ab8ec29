"""Monitoring stack: watch the endpoint, alarm on drift and quality, retrain, notify.

Runtime code: ``monitoring/monitor.py`` (the scheduled job),
``lambda/monitor_launcher/`` (starts the job only when there is new data) and
``lambda/retrain_trigger/`` (the retrain decision).

It needs the endpoint's *name* only (``config.layout.resource_name``), not the Serving
stack, so it synthesizes without a model package ARN: the schedule simply finds no
capture until an endpoint serves.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from config.layout import alarm_name, resource_name
from config.schema import DatasetSchema
from config.settings import StageSettings
from stacks.constructs.code_bundle import build_bundle
from stacks.constructs.dead_letters import DeadLetterQueue
from stacks.constructs.failure_events import FailureEvents, restrict_event_publishing
from stacks.constructs.model_monitor import ModelMonitorSchedules
from stacks.constructs.monitor_schedule import MonitorSchedule, MonitorTarget
from stacks.constructs.monitoring_alarms import MonitoringAlarms
from stacks.constructs.notification_forwarder import NotificationForwarder
from stacks.constructs.notifications import NotificationTopic
from stacks.constructs.pipeline_notifications import PipelineStatusNotifications
from stacks.constructs.pipeline_sdk import xgboost_image
from stacks.constructs.retrain_trigger import RetrainTrigger
from stacks.constructs.training_pipeline import BUNDLE_DIR
from stacks.data_lake import SharedDataLake

# The stage's log retention (days) as CloudWatch Logs' enumeration.
RETENTION = {
    30: logs.RetentionDays.ONE_MONTH,
    90: logs.RetentionDays.THREE_MONTHS,
    365: logs.RetentionDays.ONE_YEAR,
}


class MonitoringStack(Stack):
    """Scheduled monitor (ours, or Model Monitor as an option), drift and model-quality
    alarms (bias and attribution drift with ours only, and with data capture: a serverless
    endpoint captures nothing), the retrain trigger, the stage's notification topic
    (``notifications``) and the rules that page it when a job fails (``failures``;
    ``glue_jobs``: the ETL jobs' names)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: StageSettings,
        schema: DatasetSchema,
        data_lake: SharedDataLake,
        glue_jobs: Sequence[str] = (),
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            description=f"MLOps monitoring, alarms and self-retraining ({settings.name}).",
        )
        key = data_lake.key(self)
        artifacts = data_lake.bucket(self, "Artifacts")
        endpoint_name = resource_name(settings.name, schema.name, "endpoint")
        pipeline_name = resource_name(settings.name, schema.name, "training")
        removal = RemovalPolicy.RETAIN if settings.retain_data else RemovalPolicy.DESTROY
        notifications = NotificationTopic(
            self, "Notifications", key=key, emails=settings.notification_emails
        ).topic
        self.notifications = notifications
        dead_letters = DeadLetterQueue(self, "DeadLetters", key=key).queue

        self.monitor = self._monitor(
            settings,
            schema,
            data_lake=data_lake,
            key=key,
            artifacts=artifacts,
            dead_letters=dead_letters,
            removal=removal,
        )

        self.alarms = MonitoringAlarms(
            self,
            "Alarms",
            stage=settings.name,
            dataset=settings.dataset,
            endpoint_name=endpoint_name,
            period_minutes=settings.monitor_every_minutes,
            model_drift=settings.monitor == "platform" and not settings.endpoint_serverless,
            bias=bool(schema.facets),
        )
        # Failures page in every stage, whether it trains or not.
        self.failures = FailureEvents(
            self,
            "Failures",
            topic=self.notifications,
            dead_letters=dead_letters,
            glue_jobs=glue_jobs,
            monitor_job_prefix=(
                self.monitor.job_prefix if isinstance(self.monitor, MonitorSchedule) else None
            ),
        )
        # A stage that trains nothing has nothing to retrain: its drift alarm notifies the
        # topic, and the stage that trains (Dev) retrains on its own traffic.
        self.retrain: RetrainTrigger | None = None
        self.pipeline_status: PipelineStatusNotifications | None = None
        if settings.trains_models:
            self._retraining(
                settings,
                key=key,
                pipeline_name=pipeline_name,
                curated_job_name=data_lake.curated_job_name(),
                dead_letters=dead_letters,
                removal=removal,
            )
        status_rules: list[events.IRule] = []
        if self.pipeline_status is not None:
            status_rules.append(self.pipeline_status.rule)
        restrict_event_publishing(notifications, [*status_rules, *self.failures.rules.values()])
        self.dead_letters = dead_letters
        self.forwarder = (
            self._forwarder(settings, settings.notification_webhook, key, dead_letters, removal)
            if settings.notification_webhook
            else None
        )

    def _forwarder(
        self,
        settings: StageSettings,
        webhook_url: str,
        key: kms.IKey,
        dead_letters: sqs.IQueue,
        removal: RemovalPolicy,
    ) -> NotificationForwarder:
        """The stage topic's messages forwarded to a chat webhook (``-c notification_webhook``)."""
        return NotificationForwarder(
            self,
            "ChatForwarder",
            topic=self.notifications,
            webhook_url=webhook_url,
            key=key,
            dead_letters=dead_letters,
            log_retention=RETENTION[settings.log_retention_days],
            removal_policy=removal,
        )

    def _retraining(
        self,
        settings: StageSettings,
        *,
        key: kms.IKey,
        pipeline_name: str,
        curated_job_name: str,
        dead_letters: sqs.IQueue,
        removal: RemovalPolicy,
    ) -> None:
        """The retrain trigger and the pipeline's status notifications (a training stage)."""
        self.retrain = RetrainTrigger(
            self,
            "Retrain",
            key=key,
            pipeline_name=pipeline_name,
            alarm_names=self.alarms.retrain_names,
            alarm_name_prefix=alarm_name(settings.name, settings.dataset),
            cooldown_minutes=settings.retrain_cooldown_minutes,
            dead_letters=dead_letters,
            log_retention=RETENTION[settings.log_retention_days],
            removal_policy=removal,
            curated_job_name=curated_job_name,
        )
        self.pipeline_status = PipelineStatusNotifications(
            self,
            "PipelineStatus",
            pipeline_name=pipeline_name,
            topic=self.notifications,
            dead_letters=dead_letters,
        )

    def _monitor(
        self,
        settings: StageSettings,
        schema: DatasetSchema,
        *,
        data_lake: SharedDataLake,
        key: kms.IKey,
        artifacts: s3.IBucket,
        dead_letters: sqs.IQueue,
        removal: RemovalPolicy,
    ) -> MonitorSchedule | ModelMonitorSchedules:
        """The stage's monitor: the platform's own (default) or Model Monitor schedules."""
        endpoint_name = resource_name(settings.name, schema.name, "endpoint")
        schedule_name = resource_name(settings.name, schema.name, "monitor")
        if settings.monitor == "platform":
            # The same reproducible bundle the training pipeline ships (same asset hash).
            bundle = s3_assets.Asset(self, "SourceBundle", path=str(build_bundle(BUNDLE_DIR)))
            return MonitorSchedule(
                self,
                "Monitor",
                target=MonitorTarget(
                    endpoint_name=endpoint_name,
                    model_package_group=resource_name(
                        settings.model_source.stage if settings.model_source else settings.name,
                        schema.name,
                        "models",
                    ),
                    registry_source=settings.model_source,
                    schema_file=f"config/datasets/{settings.dataset}.json",
                    schedule_name=schedule_name,
                ),
                key=key,
                artifacts=artifacts,
                raw=data_lake.bucket(self, "Raw"),
                source_bundle=bundle,
                image_uri=xgboost_image(settings.region),
                every_minutes=settings.monitor_every_minutes,
                instance_type=settings.monitor_instance_type,
                dead_letters=dead_letters,
                launcher_code_dir=BUNDLE_DIR / "monitor-launcher",
                log_retention=RETENTION[settings.log_retention_days],
                removal_policy=removal,
                network=data_lake.network,
            )
        else:
            return ModelMonitorSchedules(
                self,
                "ModelMonitor",
                schema=schema,
                endpoint_name=endpoint_name,
                schedule_name=schedule_name,
                every_minutes=settings.monitor_every_minutes,
                instance_type=settings.monitor_instance_type,
                key=key,
                artifacts=artifacts,
            )
