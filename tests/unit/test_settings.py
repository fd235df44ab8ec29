"""Per-stage settings: prod keeps its data, dev is disposable; unknown stages are refused."""

from __future__ import annotations

import pytest

from config.settings import RegistryLink, registry_links, stage_settings


def test_prod_retains_data_and_keeps_logs_longer() -> None:
    dev = stage_settings("Dev", account="111111111111", region="eu-west-1")
    prod = stage_settings("Prod", account="111111111111", region="eu-west-1")
    assert (dev.is_prod, dev.retain_data) == (False, False)
    assert (prod.is_prod, prod.retain_data) == (True, True)
    assert prod.log_retention_days > dev.log_retention_days
    assert prod.glue_max_workers > dev.glue_max_workers


def test_model_package_arn_is_carried() -> None:
    arn = "arn:aws:sagemaker:us-east-1:111111111111:model-package/churn/1"
    assert (
        stage_settings("Dev", account="1", region="r", model_package_arn=arn).model_package_arn
        == arn
    )


def test_unknown_stage_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown stage 'Staging'"):
        stage_settings("Staging", account="1", region="r")


def test_monitor_option_and_notification_emails() -> None:
    dev = stage_settings("Dev", account="1", region="r")
    assert (dev.monitor, dev.notification_emails, dev.monitor_every_minutes) == ("platform", (), 60)
    chosen = stage_settings(
        "Dev", account="1", region="r", monitor="model-monitor", notification_emails=("a@b.c",)
    )
    assert (chosen.monitor, chosen.notification_emails) == ("model-monitor", ("a@b.c",))
    with pytest.raises(ValueError, match="unknown monitor 'clarify'"):
        stage_settings("Dev", account="1", region="r", monitor="clarify")


def test_prod_serves_devs_registry_unless_asked_to_train() -> None:
    """app.py's default: Prod trains nothing and serves Dev's approved release; in another
    account Dev shares its registry with Prod; `-c prod_training=true` restores Prod's own."""
    dev = RegistryLink(stage="Dev", account="111111111111")
    prod = RegistryLink(stage="Prod", account="222222222222")
    assert registry_links("111111111111", "222222222222", False) == (dev, prod)
    assert registry_links("111111111111", "111111111111", False) == (dev, None)
    assert registry_links("111111111111", "222222222222", True) == (None, None)


def test_a_stage_either_trains_or_serves_anothers_registry() -> None:
    source = RegistryLink(stage="Dev", account="1")
    with pytest.raises(ValueError, match="either trains its models or serves another's"):
        stage_settings("Prod", account="1", region="r", model_source=source)
    with pytest.raises(ValueError, match="either trains its models or serves another's"):
        stage_settings("Prod", account="1", region="r", trains_models=False)
