"""Typed per-stage settings. Only ``app.py`` builds them; stacks receive them as arguments."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, cast

from config.schema import DEFAULT_DATASET

# ml.m5.large has 2 vCPUs, like the machine bench/serving.py measured one-row CSV
# requests on. Set from bench/results/serving.json; see docs/serving.md.
INVOCATIONS_PER_INSTANCE_TARGET = 50_000

Monitor = Literal["platform", "model-monitor"]


@dataclass(frozen=True, kw_only=True)
class VpcSettings:
    """VPC mode: where the SageMaker jobs (pipeline steps, monitor) and the endpoint's model
    attach. ``vpc_id`` None: the app creates a VPC with private subnets in
    ``availability_zones`` zones, no route to the internet, and the endpoints the jobs
    use (docs/isolation.md). Otherwise an existing VPC's ``subnet_ids`` and
    ``security_group_ids``, which must reach S3, the SageMaker API and CloudWatch
    themselves (endpoints or NAT): the app adds nothing to a VPC it does not own."""

    vpc_id: str | None = None
    subnet_ids: tuple[str, ...] = ()
    security_group_ids: tuple[str, ...] = ()
    availability_zones: int = 2

    def __post_init__(self) -> None:
        if self.vpc_id is None:
            if self.subnet_ids or self.security_group_ids:
                raise ValueError("subnet and security group ids need the vpc_id they belong to")
            if not 1 <= self.availability_zones <= 3:
                raise ValueError("a created VPC spans 1 to 3 availability zones")
        elif not self.subnet_ids or not self.security_group_ids:
            raise ValueError(f"VPC {self.vpc_id}: give its subnet ids and security group ids")


@dataclass(frozen=True, kw_only=True)
class RegistryLink:
    """The other end of a model registry shared between stages: the stage (and its account)
    whose approved models a stage serves, or that serves this stage's approved models."""

    stage: str
    account: str


@dataclass(frozen=True, kw_only=True)
class StageSettings:
    """Everything a stage decides at synth time. Frozen: stacks read, never change, it."""

    name: str
    account: str
    region: str
    is_prod: bool
    # A dataset name in config/datasets/ (app.py: `-c dataset=<name>`).
    dataset: str = DEFAULT_DATASET
    # Data-lake retention: prod keeps data when a stack is deleted; dev is disposable.
    retain_data: bool = False
    raw_infrequent_access_after_days: int = 30
    raw_glacier_after_days: int = 90
    noncurrent_versions_expire_after_days: int = 30
    access_logs_expire_after_days: int = 365
    # Artifacts bucket: current objects under these prefixes expire after so many days
    # (config/layout.py names them). Registered model artifacts (model, baselines,
    # evaluation under pipeline-runs/<execution>/) never expire: only a run's scratch
    # (data splits, checkpoints) does. Capture must outlive a monitor window by far.
    capture_expire_after_days: int = 30
    ground_truth_expire_after_days: int = 30
    monitor_reports_expire_after_days: int = 30
    pipeline_scratch_expire_after_days: int = 14
    log_retention_days: int = 30
    # Glue auto scaling grows a run up to this many G.1X workers.
    glue_max_workers: int = 4
    # Training pipeline. Dev trains on spot capacity (checkpointed, cheaper, may wait);
    # prod pays for on-demand so a retraining is never held up by capacity.
    spot_training: bool = False
    # The weekly retraining schedule. Dev retrains when its drift alarm fires or by hand
    # (docs/cost.md: a scheduled weekly run is cost with no new data there).
    scheduled_retraining: bool = True
    # The daily batch scoring of the curated zone with the approved version: off by
    # default (a transform job a day is cost only a consumer of the scores justifies);
    # the pipeline exists either way and runs on demand.
    scheduled_batch_scoring: bool = False
    processing_instance_type: str = "ml.m5.large"
    training_instance_type: str = "ml.m5.xlarge"
    # Serving. Real-time instances by default: they capture data (monitoring needs it)
    # and deploy blue/green with alarm rollback. Prod keeps two or more for availability
    # and rolls out as a canary (a share of the fleet first, then the rest); one
    # instance cannot be split, so a one-instance stage (dev) deploys all at once and
    # bakes for `canary_bake_seconds` with the same rollback alarms. Sizes and prices:
    # docs/cost.md.
    endpoint_instance_type: str = "ml.m5.large"
    endpoint_min_instances: int = 2
    endpoint_max_instances: int = 3
    capture_sampling_percentage: int = 100
    canary_percent: int = 50
    canary_bake_seconds: int = 300
    # A serverless endpoint instead (no instance while idle, so the stage idles for a few
    # dollars a month). What it gives up: no data capture (so the monitor sees no traffic:
    # no drift or live-quality metrics, no drift-triggered retraining), no blue/green
    # deployment guardrails (an update is not canaried or rolled back by alarms), cold
    # starts of seconds after idle periods, at most 6 GB memory and no GPU. For dev
    # stages whose users do not need capture; never prod (stage_settings refuses it).
    endpoint_serverless: bool = False
    serverless_memory_mb: int = 2048
    serverless_max_concurrency: int = 5
    latency_alarm_ms: int = 100
    # Target of SageMakerVariantInvocationsPerInstance (per minute), from the load
    # benchmark's per-worker throughput: see docs/serving.md for the arithmetic.
    invocations_per_instance_target: int = INVOCATIONS_PER_INSTANCE_TARGET
    # From `-c model_package_arn=...`; used by the Serving stage (later issues).
    model_package_arn: str | None = None
    # Whether this stage's model promotion can start the delivery pipeline itself (the
    # pipeline lives in the Dev account; a Prod account of its own only records).
    starts_delivery_pipeline: bool = True
    # Monitoring. "platform": the project's monitor as a scheduled processing job (works in
    # every account); "model-monitor": SageMaker Model Monitor schedules reading the same
    # baselines (only for accounts that still have Model Monitor).
    monitor: Monitor = "platform"
    # How often the monitor runs; also the alarms' period (one datapoint per run). Model
    # Monitor schedules only run hourly or daily, so it must be 60 or 1440 for that option.
    monitor_every_minutes: int = 60
    monitor_instance_type: str = "ml.m5.large"
    # A retraining is expensive and its new version needs time to be approved and served:
    # at most one automatic retraining per stage within this many minutes.
    retrain_cooldown_minutes: int = 360
    # Whether the stage trains models (training pipeline, model package group, promotion,
    # retraining). Prod by default does not: it serves the version approved in Dev's
    # registry (``model_source``), the very artifact Dev smoke-tested (docs/deploy.md).
    trains_models: bool = True
    # The stage whose registry this stage serves from (None: its own registry).
    model_source: RegistryLink | None = None
    # A stage in another account that serves this stage's approved models: the registry,
    # the registered artifacts and the key are shared with its roles, nothing else.
    registry_reader: RegistryLink | None = None
    # E-mail addresses subscribed to the stage's notification topic (retrain outcomes).
    notification_emails: tuple[str, ...] = ()
    # A chat webhook (https) the topic's messages are forwarded to, "" for none. It is a
    # credential: the stage keeps it in a Secrets Manager secret, never in an environment.
    notification_webhook: str = ""
    # None: no VPC (SageMaker's own network; the training, preprocessing and baseline
    # containers and the model are network isolated either way). See VpcSettings.
    vpc: VpcSettings | None = None


def registry_links(
    account: str, prod_account: str, prod_training: bool
) -> tuple[RegistryLink | None, RegistryLink | None]:
    """(Prod's model source, Dev's registry reader). Prod serves what Dev approved (one
    artifact, Dev to Prod) unless it trains its own; in another account, Dev shares its
    registry with Prod's roles."""
    if prod_training:
        return None, None
    reader = RegistryLink(stage="Prod", account=prod_account) if prod_account != account else None
    return RegistryLink(stage="Dev", account=account), reader


MONITORS = ("platform", "model-monitor")


def stage_settings(
    name: str,
    *,
    account: str,
    region: str,
    model_package_arn: str | None = None,
    monitor: str = "platform",
    notification_emails: tuple[str, ...] = (),
    notification_webhook: str = "",
    starts_delivery_pipeline: bool = True,
    serverless: bool = False,
    dataset: str = DEFAULT_DATASET,
    vpc: VpcSettings | None = None,
    trains_models: bool = True,
    model_source: RegistryLink | None = None,
    registry_reader: RegistryLink | None = None,
) -> StageSettings:
    """Settings for the stage called ``name`` ("Dev" or "Prod")."""
    if name not in ("Dev", "Prod"):
        raise ValueError(f"unknown stage {name!r}: expected 'Dev' or 'Prod'")
    if monitor not in MONITORS:
        raise ValueError(f"unknown monitor {monitor!r}: expected one of {', '.join(MONITORS)}")
    is_prod = name == "Prod"
    if notification_webhook and not notification_webhook.startswith("https://"):
        raise ValueError("notification_webhook must be an https:// URL")
    if serverless and is_prod:
        raise ValueError("a serverless endpoint gives up data capture and safe rollout: dev only")
    if trains_models == (model_source is not None):
        raise ValueError(f"{name}: a stage either trains its models or serves another's")
    return StageSettings(
        name=name,
        account=account,
        region=region,
        model_package_arn=model_package_arn,
        starts_delivery_pipeline=starts_delivery_pipeline,
        is_prod=is_prod,
        retain_data=is_prod,
        noncurrent_versions_expire_after_days=90 if is_prod else 30,
        log_retention_days=365 if is_prod else 30,
        # Prod keeps half a year of traffic for investigations and retraining windows.
        capture_expire_after_days=180 if is_prod else 30,
        ground_truth_expire_after_days=180 if is_prod else 30,
        monitor_reports_expire_after_days=365 if is_prod else 30,
        pipeline_scratch_expire_after_days=90 if is_prod else 14,
        glue_max_workers=10 if is_prod else 4,
        spot_training=not is_prod,
        scheduled_retraining=is_prod,
        # Dev: one burstable ml.t2.medium (about $41/month, docs/cost.md) with capture
        # kept; prod: two ml.m5.large or more, so a canary can take a share of the fleet.
        endpoint_instance_type="ml.m5.large" if is_prod else "ml.t2.medium",
        endpoint_min_instances=2 if is_prod else 1,
        endpoint_max_instances=6 if is_prod else 2,
        endpoint_serverless=serverless,
        # Dev sees little traffic and keeps all of it; prod samples to bound cost.
        capture_sampling_percentage=20 if is_prod else 100,
        canary_percent=10 if is_prod else 50,
        canary_bake_seconds=600 if is_prod else 300,
        # The monitor streams in flat memory: a burstable instance does for dev's traffic.
        monitor_instance_type="ml.m5.large" if is_prod else "ml.t3.medium",
        monitor=cast(Monitor, monitor),  # checked against MONITORS above
        notification_emails=notification_emails,
        notification_webhook=notification_webhook,
        dataset=dataset,
        vpc=vpc,
        trains_models=trains_models,
        model_source=model_source,
        registry_reader=registry_reader,
    )
