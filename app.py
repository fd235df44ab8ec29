#!/usr/bin/env python3
"""The CDK app: the only module that reads the outside world (environment and context).

cdk synth                                 # both stages, offline, no credentials
cdk synth -c model_package_arn=arn:...    # pin the served version (override; normally
                                          # the stage serves what promotion recorded)
cdk synth -c monitor=model-monitor        # Model Monitor schedules instead of our monitor
cdk synth -c dataset=house_prices         # the dataset (config/datasets/<name>.json) every
                                          # stage is built for; default: churn
cdk synth -c prod_training=true          # Prod trains its own models (default: Prod
                                          # serves the version approved in Dev's registry)
cdk synth -c notification_emails=a@example.com,b@example.com   # the stage's alarm topic
cdk synth -c notification_webhook=https://hooks.example.com/...   # and a chat webhook
cdk synth -c vpc=new [-c vpc_azs=2]       # VPC mode, a VPC the app creates (docs/isolation.md)
cdk synth -c vpc_id=vpc-... -c vpc_subnets=subnet-a,subnet-b -c vpc_security_groups=sg-...
                                          # VPC mode in an existing VPC
cdk synth -c delivery_connection_arn=arn:aws:codeconnections:... \
          -c delivery_repository=owner/name [-c delivery_branch=main] [-c prod_account=...]
                                          # adds the Delivery stack (CDK Pipelines)
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aws_cdk import App, Validations
from cdk_nag import AwsSolutionsChecks, NIST80053R5Checks

from config.schema import (
    DEFAULT_DATASET,
    DatasetSchema,
    Problem,
    SchemaError,
    dataset_names,
    load_schema,
)
from config.settings import VpcSettings, registry_links, stage_settings
from stacks.constructs.nag import acknowledge_app_wide
from stacks.delivery import DeliverySettings, DeliveryStack
from stacks.stage import MlopsStage

# Placeholders that let `cdk synth` run with no AWS account configured; `cdk deploy`
# with credentials fills CDK_DEFAULT_ACCOUNT/REGION from the caller's profile.
OFFLINE_ACCOUNT = "111111111111"
OFFLINE_REGION = "us-east-1"
STAGES = ("Dev", "Prod")
# The cdk-nag packs every synth runs; a finding of either fails it unless acknowledged
# with a reason (stacks/constructs/nag.py).
NAG_PACKS = (AwsSolutionsChecks, NIST80053R5Checks)


def build_app(app: App) -> App:
    """Add every stage to ``app`` and the cdk-nag checks (AwsSolutions, NIST 800-53 rev 5)
    that fail synth on findings."""
    context = app.node.try_get_context
    account = context("account") or os.environ.get("CDK_DEFAULT_ACCOUNT") or OFFLINE_ACCOUNT
    region = context("region") or os.environ.get("CDK_DEFAULT_REGION") or OFFLINE_REGION
    model_package_arn = context("model_package_arn") or None
    monitor = context("monitor") or "platform"
    emails = tuple(
        e.strip() for e in (context("notification_emails") or "").split(",") if e.strip()
    )
    webhook = str(context("notification_webhook") or "").strip()
    # Prod may live in an account of its own; the delivery pipeline runs in the Dev one.
    prod_account = context("prod_account") or account
    # `-c dev_serverless=true`: Dev serves from a serverless endpoint (see the trade-offs
    # next to `endpoint_serverless` in config/settings.py).
    dev_serverless = str(context("dev_serverless") or "false").lower() == "true"
    dataset = str(context("dataset") or DEFAULT_DATASET)
    # Loaded (and checked) once; every stack of every stage receives this object.
    schema = check_dataset(dataset)
    vpc = vpc_settings(context)
    prod_training = str(context("prod_training") or "false").lower() == "true"
    dev_registry, prod_reader = registry_links(account, prod_account, prod_training)
    stages = {
        name: MlopsStage(
            app,
            schema=schema,
            settings=stage_settings(
                name,
                account=prod_account if name == "Prod" else account,
                region=region,
                model_package_arn=model_package_arn,
                monitor=monitor,
                notification_emails=emails,
                notification_webhook=webhook,
                starts_delivery_pipeline=name == "Dev" or prod_account == account,
                serverless=name == "Dev" and dev_serverless,
                dataset=dataset,
                vpc=vpc,
                trains_models=name == "Dev" or prod_training,
                model_source=dev_registry if name == "Prod" else None,
                registry_reader=prod_reader if name == "Dev" else None,
            ),
        )
        for name in STAGES
    }
    # The Delivery stack only with a real connection: a pipeline on a placeholder
    # connection could never run, and would only be a template to deploy by mistake.
    if context("delivery_connection_arn"):
        _delivery(app, schema, stages, account=account, prod_account=prod_account, region=region)
    acknowledge_app_wide(app)
    Validations.of(app).add_plugins(*(pack(app) for pack in NAG_PACKS))
    return app


# Context the delivery pipeline's own synth repeats when it was given: without it, the
# pipeline would rebuild (self-mutate into) another app than the one deployed.
REPEATED_CONTEXT = (
    "monitor",
    "notification_emails",
    "notification_webhook",
    "dev_serverless",
    "prod_training",
)


def delivery_synth_context(
    context: Callable[[str], Any], *, account: str, prod_account: str, region: str
) -> dict[str, str]:
    """The ``-c key=value`` pairs the delivery pipeline's synth repeats."""
    repeated = {key: str(context(key)) for key in REPEATED_CONTEXT if context(key)}
    return {
        **repeated,
        "dataset": str(context("dataset") or DEFAULT_DATASET),
        "account": account,
        "region": region,
        "prod_account": prod_account,
        "delivery_connection_arn": str(context("delivery_connection_arn")),
        "delivery_repository": str(context("delivery_repository")),
        "delivery_branch": str(context("delivery_branch") or "main"),
    }


def _delivery(
    app: App,
    schema: DatasetSchema,
    stages: dict[str, MlopsStage],
    *,
    account: str,
    prod_account: str,
    region: str,
) -> DeliveryStack:
    """The delivery pipeline: git -> checks -> Dev -> approval -> Prod."""
    context = app.node.try_get_context
    if not context("delivery_repository"):
        raise ValueError("delivery_connection_arn needs -c delivery_repository=owner/name")
    synth_context = delivery_synth_context(
        context, account=account, prod_account=prod_account, region=region
    )
    return DeliveryStack(
        app,
        "Delivery",
        schema=schema,
        settings=DeliverySettings(
            repository=synth_context["delivery_repository"],
            branch=synth_context["delivery_branch"],
            connection_arn=synth_context["delivery_connection_arn"],
            account=account,
            prod_account=prod_account,
            region=region,
            dataset=synth_context["dataset"],
            synth_context=synth_context,
        ),
        dev=stages["Dev"],
        prod=stages["Prod"],
    )


def _ids(value: object) -> tuple[str, ...]:
    return tuple(part.strip() for part in str(value or "").split(",") if part.strip())


def vpc_settings(context: Callable[[str], Any]) -> VpcSettings | None:
    """VPC mode from the context: ``-c vpc=new`` (``-c vpc_azs=<1..3>``, default 2) for a
    VPC the app creates, or ``-c vpc_id=vpc-... -c vpc_subnets=subnet-a,subnet-b
    -c vpc_security_groups=sg-...`` for an existing one; neither: no VPC."""
    vpc_id = context("vpc_id")
    if vpc_id:
        return VpcSettings(
            vpc_id=str(vpc_id),
            subnet_ids=_ids(context("vpc_subnets")),
            security_group_ids=_ids(context("vpc_security_groups")),
        )
    if str(context("vpc") or "").lower() == "new":
        return VpcSettings(availability_zones=int(context("vpc_azs") or 2))
    return None


def check_dataset(dataset: str) -> DatasetSchema:
    """The dataset's schema; fails synth on an unknown dataset or an invalid schema, before
    any stack is built.

    The schema ships inside the code bundles as ``config/datasets/<name>.json``, so the
    dataset is a name there, not a path anywhere else.
    """
    if dataset not in dataset_names():
        raise SchemaError(
            Problem(
                "-c dataset",
                f"{dataset!r} is not a dataset in config/datasets/",
                f"use one of {', '.join(dataset_names())}, or save your schema as "
                f"config/datasets/{Path(dataset).stem}.json",
            )
        )
    return load_schema(dataset)


def validation_failures(assembly_dir: str | Path) -> list[str]:
    """Findings of every validation plugin that concluded "failure" (cdk-nag included).

    Synth already raises on them; reading the report as well keeps the app failing (with
    a readable list) should a future CDK release turn failures into warnings.
    """
    report = Path(assembly_dir) / "validation-report.json"
    if not report.exists():
        return []
    failures = []
    for plugin in json.loads(report.read_text())["pluginReports"]:
        if plugin["conclusion"] != "failure":
            continue
        for violation in plugin["violations"]:
            paths = sorted(
                {c.get("constructPath", "?") for c in violation.get("violatingConstructs", [])}
            )
            failures.append(f"{violation['ruleName']} at {', '.join(paths)}")
    return failures


def main(app: App | None = None) -> None:
    """Synthesize ``app`` (by default the one `cdk synth` describes through its context)."""
    try:
        app = build_app(app or App())
    except SchemaError as error:
        # The same lines as `make validate-schema`, without a traceback.
        print("Synth stopped by the dataset check:", file=sys.stderr)
        print("\n".join(error.lines()), file=sys.stderr)
        sys.exit(1)
    assembly = app.synth()
    failures = validation_failures(assembly.directory)
    if failures:
        print("Synth failed validation (cdk-nag AwsSolutions):", file=sys.stderr)
        for failure in failures:
            print(f"  - {failure}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
