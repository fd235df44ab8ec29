"""Typed per-stage settings. Only ``app.py`` builds them; stacks receive them as arguments."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class StageSettings:
    """Everything a stage decides at synth time. Frozen: stacks read, never change, it."""

    name: str
    account: str
    region: str
    is_prod: bool
    dataset: str = "churn"
    # Data-lake retention: prod keeps data when a stack is deleted; dev is disposable.
    retain_data: bool = False
    raw_infrequent_access_after_days: int = 30
    raw_glacier_after_days: int = 90
    noncurrent_versions_expire_after_days: int = 30
    access_logs_expire_after_days: int = 365
    log_retention_days: int = 30
    # Glue auto scaling grows a run up to this many G.1X workers.
    glue_max_workers: int = 4
    # Training pipeline. Dev trains on spot capacity (checkpointed, cheaper, may wait);
    # prod pays for on-demand so a retraining is never held up by capacity.
    spot_training: bool = False
    processing_instance_type: str = "ml.m5.large"
    training_instance_type: str = "ml.m5.xlarge"
    # From `-c model_package_arn=...`; used by the Serving stage (later issues).
    model_package_arn: str | None = None


def stage_settings(
    name: str, *, account: str, region: str, model_package_arn: str | None = None
) -> StageSettings:
    """Settings for the stage called ``name`` ("Dev" or "Prod")."""
    if name not in ("Dev", "Prod"):
        raise ValueError(f"unknown stage {name!r}: expected 'Dev' or 'Prod'")
    is_prod = name == "Prod"
    return StageSettings(
        name=name,
        account=account,
        region=region,
        model_package_arn=model_package_arn,
        is_prod=is_prod,
        retain_data=is_prod,
        noncurrent_versions_expire_after_days=90 if is_prod else 30,
        log_retention_days=365 if is_prod else 30,
        glue_max_workers=10 if is_prod else 4,
        spot_training=not is_prod,
    )
