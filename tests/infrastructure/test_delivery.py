"""The Delivery stack (CDK Pipelines), synthesized with one account and with two."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk import App

from app import build_app
from config.layout import delivery_pipeline_name
from local.synth_check import SynthReport, cdk_json_context
from tests.synth_cache import CONNECTION, PROD_ACCOUNT


@pytest.fixture(scope="module")
def one_account(delivery_one_account) -> SynthReport:
    return delivery_one_account


@pytest.fixture(scope="module")
def two_accounts(delivery_two_accounts) -> SynthReport:
    return delivery_two_accounts


def _template(report: SynthReport, pattern: str) -> dict[str, Any]:
    [path] = [p for p in report.assembly_dir.glob(pattern)]
    template: dict[str, Any] = json.loads(path.read_text())
    return template


def _resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: r for k, r in template["Resources"].items() if r["Type"] == kind}


def _pipeline(report: SynthReport) -> dict[str, Any]:
    template = _template(report, "Delivery.template.json")
    [pipeline] = _resources(template, "AWS::CodePipeline::Pipeline").values()
    properties: dict[str, Any] = pipeline["Properties"]
    return properties


def _stage(pipeline: dict[str, Any], name: str) -> list[dict[str, Any]]:
    actions: list[dict[str, Any]] = next(
        s["Actions"] for s in pipeline["Stages"] if s["Name"] == name
    )
    return actions


def test_both_variants_are_nag_and_lint_clean(one_account, two_accounts) -> None:
    for report in (one_account, two_accounts):
        assert any(p.name == "Delivery.template.json" for p in report.assembly_dir.iterdir())
        assert report.nag_failures == []
        assert report.lint_findings == []


def test_no_connection_means_no_delivery_stack(synth_report) -> None:
    assert not (synth_report.assembly_dir / "Delivery.template.json").exists()


def test_a_connection_without_a_repository_is_a_clear_error() -> None:
    app = App(context={**cdk_json_context(), "delivery_connection_arn": CONNECTION})
    with pytest.raises(ValueError, match="delivery_repository"):
        build_app(app)


def test_source_is_the_codeconnections_connection(one_account) -> None:
    pipeline = _pipeline(one_account)
    assert pipeline["Name"] == delivery_pipeline_name("customer_churn")
    [source] = _stage(pipeline, "Source")
    assert source["ActionTypeId"]["Provider"] == "CodeStarSourceConnection"
    assert source["Configuration"]["ConnectionArn"] == CONNECTION
    assert source["Configuration"]["FullRepositoryId"] == "acme/mlops-platform"
    assert source["Configuration"]["BranchName"] == "main"


def test_synth_runs_lint_types_tests_synth_with_nag_and_cfn_lint_in_order(one_account) -> None:
    template = _template(one_account, "Delivery.template.json")
    projects = _resources(template, "AWS::CodeBuild::Project")
    specs = [json.loads(p["Properties"]["Source"]["BuildSpec"]) for p in projects.values()]
    [synth] = [s for s in specs if s.get("artifacts", {}).get("base-directory") == "cdk.out"]
    commands = synth["phases"]["build"]["commands"]
    order = ["ruff check", "ruff format --check", "mypy", "pytest", "cdk synth", "cfn-lint"]
    positions = [next(i for i, c in enumerate(commands) if word in c) for word in order]
    assert positions == sorted(positions)
    assert "-c delivery_connection_arn=" in commands[positions[4]]
    assert synth["phases"]["install"]["runtime-versions"] == {"python": "3.11", "nodejs": "20"}
    assert any("requirements.lock" in c for c in synth["phases"]["install"]["commands"])


def test_dev_is_checked_then_approved_before_prod(one_account) -> None:
    pipeline = _pipeline(one_account)
    names = [s["Name"] for s in pipeline["Stages"]]
    assert names.index("Build") < names.index("Dev") < names.index("Prod")
    dev = _stage(pipeline, "Dev")
    deploys = [a for a in dev if a["ActionTypeId"]["Provider"] == "CloudFormation"]
    checks = {a["Name"]: a for a in dev if a["ActionTypeId"]["Provider"] == "CodeBuild"}
    assert set(checks) == {"SmokeTest", "TrainingPipelineDefinition"}
    last_deploy = max(a["RunOrder"] for a in deploys)
    assert all(a["RunOrder"] > last_deploy for a in checks.values())
    prod = _stage(pipeline, "Prod")
    [approval] = [a for a in prod if a["ActionTypeId"]["Category"] == "Approval"]
    prod_deploys = [a for a in prod if a["ActionTypeId"]["Provider"] == "CloudFormation"]
    assert prod_deploys and all(a["RunOrder"] > approval["RunOrder"] for a in prod_deploys)
    assert {a["Name"].split(".")[0] for a in prod_deploys} >= {"DataLake", "MlPipeline", "Serving"}


def test_dev_checks_may_only_do_what_they_check(one_account) -> None:
    template = _template(one_account, "Delivery.template.json")
    actions = set()
    for policy in _resources(template, "AWS::IAM::Policy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            action = statement["Action"]
            actions.update(action if isinstance(action, list) else [action])
    assert {"sagemaker:InvokeEndpoint", "sagemaker:DescribePipeline"} <= actions
    assert not any(a.endswith(":*") or a == "*" for a in actions)


def test_one_account_needs_no_cross_account_key(one_account) -> None:
    template = _template(one_account, "Delivery.template.json")
    assert _resources(template, "AWS::KMS::Key") == {}


def test_two_accounts_deploy_prod_through_the_prod_accounts_trusted_roles(two_accounts) -> None:
    template = _template(two_accounts, "Delivery.template.json")
    [key] = _resources(template, "AWS::KMS::Key").values()
    assert key["Properties"]["EnableKeyRotation"] is True
    pipeline = _pipeline(two_accounts)
    for action in _stage(pipeline, "Prod"):
        if action["ActionTypeId"]["Provider"] != "CloudFormation":
            continue
        # The bootstrap roles `cdk bootstrap --trust <dev account>` sets up in Prod.
        assert f":{PROD_ACCOUNT}:role/cdk-hnb659fds-deploy-role-" in json.dumps(action["RoleArn"])
    policy = json.dumps(key["Properties"]["KeyPolicy"])
    assert PROD_ACCOUNT in policy  # the Prod account may decrypt the artifacts


def test_prod_promotion_records_only_when_prod_is_another_account(two_accounts) -> None:
    def promotion_env(stage: str) -> dict[str, str]:
        template = _template(two_accounts, f"assembly-{stage}/*MlPipeline*.template.json")
        functions = _resources(template, "AWS::Lambda::Function").values()
        [env] = [
            f["Properties"]["Environment"]["Variables"]
            for f in functions
            if "MODEL_VERSION_PARAMETER" in f["Properties"]["Environment"]["Variables"]
        ]
        return dict(env)

    assert promotion_env("Dev")["DELIVERY_PIPELINE_NAME"] == delivery_pipeline_name(
        "customer_churn"
    )
    assert promotion_env("Prod")["DELIVERY_PIPELINE_NAME"] == ""
