#!/usr/bin/env python3
"""The CDK app: the only module that reads the outside world (environment and context).

cdk synth                                 # both stages, offline, no credentials
cdk synth -c model_package_arn=arn:...    # the model version to serve (later stages)
cdk synth -c monitor=model-monitor        # Model Monitor schedules instead of our monitor
cdk synth -c notification_emails=a@example.com,b@example.com   # retrain notifications
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from aws_cdk import App, Validations
from cdk_nag import AwsSolutionsChecks

from config.settings import stage_settings
from stacks.stage import MlopsStage

# Placeholders that let `cdk synth` run with no AWS account configured; `cdk deploy`
# with credentials fills CDK_DEFAULT_ACCOUNT/REGION from the caller's profile.
OFFLINE_ACCOUNT = "111111111111"
OFFLINE_REGION = "us-east-1"
STAGES = ("Dev", "Prod")


def build_app(app: App) -> App:
    """Add every stage to ``app`` and the cdk-nag checks that fail synth on findings."""
    context = app.node.try_get_context
    account = context("account") or os.environ.get("CDK_DEFAULT_ACCOUNT") or OFFLINE_ACCOUNT
    region = context("region") or os.environ.get("CDK_DEFAULT_REGION") or OFFLINE_REGION
    model_package_arn = context("model_package_arn") or None
    monitor = context("monitor") or "platform"
    emails = tuple(
        e.strip() for e in (context("notification_emails") or "").split(",") if e.strip()
    )
    if model_package_arn is None:
        print(
            "No model_package_arn given: synthesizing without the Serving stacks "
            "(make synth MODEL_PACKAGE_ARN=arn:aws:sagemaker:...:model-package/<group>/<n>).",
            file=sys.stderr,
        )
    for name in STAGES:
        MlopsStage(
            app,
            settings=stage_settings(
                name,
                account=account,
                region=region,
                model_package_arn=model_package_arn,
                monitor=monitor,
                notification_emails=emails,
            ),
        )
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return app


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


def main() -> None:
    assembly = build_app(App()).synth()
    failures = validation_failures(assembly.directory)
    if failures:
        print("Synth failed validation (cdk-nag AwsSolutions):", file=sys.stderr)
        for failure in failures:
            print(f"  - {failure}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
