"""DataLake stack: the stage's key, the zone buckets, the catalog and the Glue ETL."""

from __future__ import annotations

from dataclasses import dataclass, field

from aws_cdk import CfnOutput, Duration, Fn, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from config.layout import (
    CURATED_PREFIX,
    DATA_CAPTURE_PREFIX,
    GROUND_TRUTH_PREFIX,
    MONITORING_PREFIX,
    PROCESSED_PREFIX,
    RUN_SCRATCH_PREFIX,
    RUNS_PREFIX,
    resource_name,
)
from config.schema import DatasetSchema
from config.settings import StageSettings
from stacks.constructs.data_catalog import DataCatalog
from stacks.constructs.dead_letters import DeadLetterQueue
from stacks.constructs.glue_etl import GlueEtl, s3_url
from stacks.constructs.log_groups import (
    endpoint_log_group_name,
    glue_log_group_name,
    log_group_arn_pattern,
)
from stacks.constructs.network import JobNetwork, StageNetwork
from stacks.constructs.secure_bucket import AccessLogBucket, DataBucket, removal_policy
from stacks.constructs.shared_registry import share_artifacts


@dataclass(frozen=True)
class SharedDataLake:
    """Names of the exports through which other stacks of the stage use the data lake.

    Stacks import these explicitly (``Fn::ImportValue`` of a fixed name) rather than
    through CDK's implicit references, so templates and cdk-nag findings name them
    the same way on every synth.
    """

    stack_name: str
    # VPC mode: the subnets and security groups the stage's SageMaker containers use.
    network: JobNetwork | None = field(default=None, compare=False)

    def export(self, what: str) -> str:
        return f"{self.stack_name}-{what}"

    def key(self, scope: Construct) -> kms.IKey:
        return kms.Key.from_key_arn(scope, "DataKey", Fn.import_value(self.export("KeyArn")))

    def curated_job_name(self) -> str:
        """The processed-to-curated Glue job's name (CloudFormation names it)."""
        return Fn.import_value(self.export("CuratedJobName"))

    def bucket(self, scope: Construct, zone: str) -> s3.IBucket:
        return s3.Bucket.from_bucket_attributes(
            scope,
            f"{zone}Bucket",
            bucket_arn=Fn.import_value(self.export(f"{zone}BucketArn")),
            bucket_name=Fn.import_value(self.export(f"{zone}BucketName")),
        )


class DataLakeStack(Stack):
    """raw / processed / curated / artifacts zones and the jobs that move data between them."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: StageSettings,
        schema: DatasetSchema,
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            description=f"MLOps data lake ({settings.name}): zones, catalog, Glue ETL.",
        )
        endpoint_name = resource_name(settings.name, schema.name, "endpoint")

        self.key = self._data_key(settings, endpoint_name)
        self._zone_buckets(settings, endpoint_name)

        self.catalog = DataCatalog(
            self,
            "Catalog",
            schema=schema,
            processed_location=s3_url(self.processed, PROCESSED_PREFIX),
            curated_location=s3_url(self.curated, CURATED_PREFIX),
            removal_policy=removal_policy(settings),
        )
        self.network = (
            StageNetwork(
                self,
                "Network",
                availability_zones=settings.vpc.availability_zones,
                key=self.key,
                log_retention_days=settings.log_retention_days,
                removal_policy=removal_policy(settings),
            )
            if settings.vpc is not None and settings.vpc.vpc_id is None
            else None
        )
        self.shared = self._export(settings)
        self.etl = GlueEtl(
            self,
            "Etl",
            settings=settings,
            key=self.key,
            raw=self.raw,
            processed=self.processed,
            curated=self.curated,
            artifacts=self.artifacts,
            dead_letters=DeadLetterQueue(self, "DeadLetters", key=self.key).queue,
        )
        # The retrain trigger waits for this job's success (feedback in curated).
        CfnOutput(
            self,
            "CuratedJobName",
            value=self.etl.processed_to_curated.ref,
            export_name=self.shared.export("CuratedJobName"),
        )
        self._allow_alarm_notifications()
        if settings.registry_reader is not None:
            # The stage in another account that serves this stage's approved models.
            share_artifacts(
                reader=settings.registry_reader,
                artifacts=self.artifacts,
                key=self.key,
                region=settings.region,
            )

    def _data_key(self, settings: StageSettings, endpoint_name: str) -> kms.Key:
        """The stage's data key, usable by the services that write the stage's encrypted
        logs and deliver its events."""
        key = kms.Key(
            self,
            "DataKey",
            description=f"Encrypts the {settings.name} stage's data lake, logs and bookmarks.",
            enable_key_rotation=True,
            removal_policy=removal_policy(settings),
        )
        # The stage's declared log groups are encrypted with this key (Glue's through its
        # security configuration too), so CloudWatch Logs may use it for those groups
        # only: names CloudFormation generates in this stage's stacks ("<Stage>-<Stack>-
        # ..."), the ETL jobs' groups (named after their security configuration, as Glue
        # names its own) and the endpoint's group.
        key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchLogs",
                principals=[iam.ServicePrincipal(f"logs.{self.region}.amazonaws.com")],
                actions=[
                    "kms:Encrypt",
                    "kms:Decrypt",
                    "kms:ReEncryptFrom",
                    "kms:ReEncryptTo",
                    "kms:GenerateDataKey",
                    "kms:GenerateDataKeyWithoutPlaintext",
                    "kms:DescribeKey",
                ],
                resources=["*"],  # in a key policy, "*" means this key
                conditions={
                    "ArnLike": {
                        "kms:EncryptionContext:aws:logs:arn": [
                            log_group_arn_pattern(self, f"{settings.name}-*"),
                            log_group_arn_pattern(
                                self, glue_log_group_name(f"*{GlueEtl.security_name(self)}*")
                            ),
                            log_group_arn_pattern(self, endpoint_log_group_name(endpoint_name)),
                        ]
                    }
                },
            )
        )

        # EventBridge delivers to the Monitoring stack's encrypted topic and dead-letter
        # queues; those services encrypt with the caller's (EventBridge's) key access.
        key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowEventBridgeDelivery",
                principals=[iam.ServicePrincipal("events.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey"],
                resources=["*"],  # in a key policy, "*" means this key
                conditions={"StringEquals": {"aws:SourceAccount": self.account}},
            )
        )
        return key

    def _zone_buckets(self, settings: StageSettings, endpoint_name: str) -> None:
        """The access-log bucket, then the raw, processed, curated and artifacts zones."""
        self.access_logs = AccessLogBucket(self, "AccessLogs", settings=settings)
        self.raw = DataBucket(
            self,
            "Raw",
            settings=settings,
            key=self.key,
            access_logs=self.access_logs,
            event_bridge_enabled=True,
            extra_lifecycle_rules=[
                s3.LifecycleRule(
                    id="TierRawData",
                    transitions=[
                        s3.Transition(
                            storage_class=s3.StorageClass.INFREQUENT_ACCESS,
                            transition_after=Duration.days(
                                settings.raw_infrequent_access_after_days
                            ),
                        ),
                        s3.Transition(
                            storage_class=s3.StorageClass.GLACIER_INSTANT_RETRIEVAL,
                            transition_after=Duration.days(settings.raw_glacier_after_days),
                        ),
                    ],
                )
            ],
        )
        self.processed, self.curated = (
            DataBucket(self, zone, settings=settings, key=self.key, access_logs=self.access_logs)
            for zone in ("Processed", "Curated")
        )
        self.artifacts = DataBucket(
            self,
            "Artifacts",
            settings=settings,
            key=self.key,
            access_logs=self.access_logs,
            extra_lifecycle_rules=artifact_lifecycle_rules(settings, endpoint_name),
        )
        if settings.retain_data:
            # Registered model versions point at these objects. Where the stage keeps its
            # data, nobody deletes one, administrators included, without first changing
            # this (reviewed) policy; only the training role may write them at all (its
            # policy, and explicit Denies in the other roles: docs/isolation.md).
            self.artifacts.add_to_resource_policy(
                iam.PolicyStatement(
                    sid="RegisteredModelsAreNeverDeleted",
                    effect=iam.Effect.DENY,
                    principals=[iam.AnyPrincipal()],
                    actions=["s3:DeleteObject", "s3:DeleteObjectVersion"],
                    resources=[self.artifacts.arn_for_objects(f"{RUNS_PREFIX}/*/model.tar.gz")],
                )
            )

    def _allow_alarm_notifications(self) -> None:
        # Alarm actions publish to the stage's encrypted notification topic; CloudWatch
        # needs the key for that, and only for alarms of this account.
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchAlarmNotifications",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey"],
                resources=["*"],  # in a key policy, "*" means this key
                conditions={"StringEquals": {"aws:SourceAccount": self.account}},
            )
        )

    def _export(self, settings: StageSettings) -> SharedDataLake:
        shared = SharedDataLake(self.stack_name, network=self._job_network(settings))
        CfnOutput(self, "KeyArn", value=self.key.key_arn, export_name=shared.export("KeyArn"))

        for zone, bucket in (
            ("Curated", self.curated),
            ("Artifacts", self.artifacts),
            ("Raw", self.raw),  # the monitor writes feedback batches into the raw zone
        ):
            for attribute, value in (("Arn", bucket.bucket_arn), ("Name", bucket.bucket_name)):
                CfnOutput(
                    self,
                    f"{zone}Bucket{attribute}",
                    value=value,
                    export_name=shared.export(f"{zone}Bucket{attribute}"),
                )
        return shared

    def _job_network(self, settings: StageSettings) -> JobNetwork | None:
        """VPC mode's subnets and security groups: an existing VPC's ids as configured,
        or the created VPC's, exported for the other stacks of the stage."""
        if settings.vpc is None:
            return None
        if self.network is None:
            return JobNetwork(
                subnet_ids=settings.vpc.subnet_ids,
                security_group_ids=settings.vpc.security_group_ids,
            )
        exports = SharedDataLake(self.stack_name)
        created = self.network.network
        for what, values in (
            ("SubnetIds", created.subnet_ids),
            ("SecurityGroupIds", created.security_group_ids),
        ):
            CfnOutput(
                self, what, value=Fn.join(",", list(values)), export_name=exports.export(what)
            )
        return JobNetwork(
            subnet_ids=tuple(
                Fn.split(",", Fn.import_value(exports.export("SubnetIds")), len(created.subnet_ids))
            ),
            security_group_ids=tuple(
                Fn.split(
                    ",",
                    Fn.import_value(exports.export("SecurityGroupIds")),
                    len(created.security_group_ids),
                )
            ),
        )


def artifact_lifecycle_rules(settings: StageSettings, endpoint_name: str) -> list[s3.LifecycleRule]:
    """Expire what grows with traffic and runs, per prefix, after the stage's days.

    Registered artifacts (model.tar.gz, baselines, evaluation under
    pipeline-runs/<execution>/) match no rule: a model package must stay deployable and
    auditable for as long as it exists. The monitor's checkpoint (monitoring/<endpoint>/
    state/) matches none either: losing it would re-read all capture.
    """
    monitoring = f"{MONITORING_PREFIX}/{endpoint_name}"
    expiring = [
        ("ExpireDataCapture", f"{DATA_CAPTURE_PREFIX}/", settings.capture_expire_after_days),
        ("ExpireGroundTruth", f"{GROUND_TRUTH_PREFIX}/", settings.ground_truth_expire_after_days),
        # Our monitor's reports, and Model Monitor's where that option is on.
        (
            "ExpireMonitorReports",
            f"{monitoring}/reports/",
            settings.monitor_reports_expire_after_days,
        ),
        (
            "ExpireModelMonitorReports",
            f"{monitoring}/model-monitor/",
            settings.monitor_reports_expire_after_days,
        ),
        (
            "ExpirePipelineScratch",
            f"{RUN_SCRATCH_PREFIX}/",
            settings.pipeline_scratch_expire_after_days,
        ),
    ]
    return [
        *(
            s3.LifecycleRule(id=rule_id, prefix=prefix, expiration=Duration.days(days))
            for rule_id, prefix, days in expiring
        ),
        # An expired object leaves a delete marker over its (expiring) noncurrent version;
        # once that version is gone the marker is clutter that slows listings.
        s3.LifecycleRule(id="RemoveExpiredDeleteMarkers", expired_object_delete_marker=True),
    ]
