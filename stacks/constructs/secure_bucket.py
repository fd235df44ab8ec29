"""S3 buckets with the platform's defaults: encrypted, TLS-only, private, versioned, logged."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from config.settings import StageSettings
from stacks.constructs.nag import acknowledge

REPLICATION_REASON = (
    "Cross-region replication is a disaster-recovery choice the platform leaves to the "
    "account: it doubles storage and needs a second region's key and bucket. Versioning, "
    "noncurrent-version retention and (in prod) retained buckets guard against loss."
)


def removal_policy(settings: StageSettings) -> RemovalPolicy:
    """Prod keeps stateful resources when a stack is deleted; dev removes them."""
    return RemovalPolicy.RETAIN if settings.retain_data else RemovalPolicy.DESTROY


class AccessLogBucket(s3.Bucket):
    """Target of S3 server access logs. SSE-S3, because log delivery cannot use SSE-KMS."""

    def __init__(self, scope: Construct, construct_id: str, *, settings: StageSettings) -> None:
        super().__init__(
            scope,
            construct_id,
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            versioned=True,
            removal_policy=removal_policy(settings),
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="ExpireAccessLogs",
                    expiration=Duration.days(settings.access_logs_expire_after_days),
                    noncurrent_version_expiration=Duration.days(
                        settings.noncurrent_versions_expire_after_days
                    ),
                    abort_incomplete_multipart_upload_after=Duration.days(7),
                )
            ],
        )
        acknowledge(
            self,
            "AwsSolutions-S1",
            "This is the access-log bucket: logging it into itself would loop.",
        )
        acknowledge(
            self,
            "NIST.800.53.R5-S3DefaultEncryptionKMS",
            "S3 server access log delivery supports SSE-S3 destinations only, not SSE-KMS.",
        )
        acknowledge(self, "NIST.800.53.R5-S3BucketReplicationEnabled", REPLICATION_REASON)


class DataBucket(s3.Bucket):
    """A data-lake bucket encrypted with the stage's customer-managed key."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: StageSettings,
        key: kms.IKey,
        access_logs: s3.IBucket,
        extra_lifecycle_rules: Sequence[s3.LifecycleRule] = (),
        event_bridge_enabled: bool = False,
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            encryption=s3.BucketEncryption.KMS,
            encryption_key=key,
            # S3 Bucket Keys cut KMS requests (and cost) by ~99% for Spark's many small reads.
            bucket_key_enabled=True,
            enforce_ssl=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            versioned=True,
            server_access_logs_bucket=access_logs,
            server_access_logs_prefix=f"{construct_id.lower()}/",
            removal_policy=removal_policy(settings),
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="ExpireNoncurrentVersions",
                    noncurrent_version_expiration=Duration.days(
                        settings.noncurrent_versions_expire_after_days
                    ),
                    abort_incomplete_multipart_upload_after=Duration.days(7),
                ),
                *extra_lifecycle_rules,
            ],
        )
        acknowledge(self, "NIST.800.53.R5-S3BucketReplicationEnabled", REPLICATION_REASON)
        if event_bridge_enabled:
            # Set on the L1 resource: the L2 `event_bridge_enabled` prop deploys a
            # notifications custom-resource Lambda, which CloudFormation does not need.
            cfn = self.node.default_child
            assert isinstance(cfn, s3.CfnBucket)
            cfn.add_property_override(
                "NotificationConfiguration.EventBridgeConfiguration.EventBridgeEnabled", True
            )
