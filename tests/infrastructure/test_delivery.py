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
    prod_stacks = {a["Name"].split(".")[0] for a in prod_deploys}
    assert prod_stacks >= {"DataLake", "Serving"}
    assert "MlPipeline" not in prod_stacks  # Prod deploys Dev's approved release


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


def _statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    statements: list[dict[str, Any]] = document["Statement"]
    return statements


def test_dev_promotion_starts_delivery_and_prod_trains_nothing(two_accounts) -> None:
    """Prod has no training resources: no pipeline, registry, promotion or retraining."""
    dev = _template(two_accounts, "assembly-Dev/*MlPipeline*.template.json")
    [env] = [
        f["Properties"]["Environment"]["Variables"]
        for f in _resources(dev, "AWS::Lambda::Function").values()
        if "MODEL_VERSION_PARAMETER" in f["Properties"]["Environment"]["Variables"]
    ]
    assert env["DELIVERY_PIPELINE_NAME"] == delivery_pipeline_name("customer_churn")
    assert not list(two_accounts.assembly_dir.glob("assembly-Prod/*MlPipeline*"))
    training_kinds = {
        "AWS::SageMaker::Pipeline",
        "AWS::SageMaker::ModelPackageGroup",
        "AWS::DynamoDB::Table",  # the retrain trigger's
    }
    for path in two_accounts.assembly_dir.glob("assembly-Prod/*.template.json"):
        template = json.loads(path.read_text())
        kinds = {r["Type"] for r in template["Resources"].values()}
        assert not kinds & training_kinds, path.name
        for function in _resources(template, "AWS::Lambda::Function").values():
            variables = function["Properties"].get("Environment", {}).get("Variables", {})
            assert "PIPELINE_NAME" not in variables, path.name  # no retrain trigger


def test_prod_serves_devs_registered_package_with_its_lineage(two_accounts) -> None:
    serving = _template(two_accounts, "assembly-Prod/*Serving*.template.json")
    release = serving["Parameters"]["ApprovedRelease"]
    assert release["Type"] == "AWS::SSM::Parameter::Value<List<String>>"
    # Dev's parameter, by ARN: Dev's account shares it through RAM.
    assert release["Default"] == (
        "arn:aws:ssm:us-east-1:111111111111:parameter/mlops/customer-churn/dev/"
        "approved-model-release"
    )
    [model] = _resources(serving, "AWS::SageMaker::Model").values()
    [container] = model["Properties"]["Containers"]
    # The package itself: its image, environment and model.tar.gz, nothing copied.
    assert container == {"ModelPackageName": {"Fn::Select": [0, {"Ref": "ApprovedRelease"}]}}
    [config] = _resources(serving, "AWS::SageMaker::EndpointConfig").values()
    tags = {t["Key"]: t["Value"] for t in config["Properties"]["Tags"]}
    assert tags["mlops:model-package-arn"] == {"Fn::Select": [0, {"Ref": "ApprovedRelease"}]}
    assert tags["mlops:model-data-sha256"] == {"Fn::Select": [2, {"Ref": "ApprovedRelease"}]}
    [policy] = [
        p
        for p in _resources(serving, "AWS::IAM::Policy").values()
        if any(s.get("Sid") == "ReadModel" for s in _statements(p["Properties"]["PolicyDocument"]))
    ]
    statements = {s["Sid"]: s for s in _statements(policy["Properties"]["PolicyDocument"])}
    assert "ApprovedRelease" in json.dumps(statements["ReadModel"]["Resource"])  # one object
    assert statements["DecryptApprovedModel"]["Condition"] == {
        "StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}
    }


def test_dev_shares_only_the_registered_models_with_prods_roles(two_accounts) -> None:
    roles = [
        f"arn:aws:iam::{PROD_ACCOUNT}:role/Prod-Serving-*",
        f"arn:aws:iam::{PROD_ACCOUNT}:role/Prod-Monitoring-*",
    ]
    pipeline = _template(two_accounts, "assembly-Dev/*MlPipeline*.template.json")
    [group] = _resources(pipeline, "AWS::SageMaker::ModelPackageGroup").values()
    [shared] = _statements(group["Properties"]["ModelPackageGroupPolicy"])
    assert shared["Principal"] == {"AWS": f"arn:aws:iam::{PROD_ACCOUNT}:root"}
    assert all(a.split(":")[1].startswith(("Describe", "List")) for a in shared["Action"])
    [share] = _resources(pipeline, "AWS::RAM::ResourceShare").values()
    assert share["Properties"]["Principals"] == [PROD_ACCOUNT]
    lake = _template(two_accounts, "assembly-Dev/*DataLake*.template.json")
    bucket_statements = [
        s
        for p in _resources(lake, "AWS::S3::BucketPolicy").values()
        for s in _statements(p["Properties"]["PolicyDocument"])
        if PROD_ACCOUNT in json.dumps(s.get("Principal"))
    ]
    by_sid = {s["Sid"]: s for s in bucket_statements}
    assert set(by_sid) == {"ShareRegisteredModels", "NeverShareRunScratch"}
    allow = by_sid["ShareRegisteredModels"]
    assert allow["Action"] == "s3:GetObject"
    assert json.dumps(allow["Resource"]).endswith('"/pipeline-runs/*"]]}')
    assert allow["Condition"] == {
        "StringEquals": {"aws:PrincipalAccount": PROD_ACCOUNT},
        "ArnLike": {"aws:PrincipalArn": roles},
    }
    assert json.dumps(by_sid["NeverShareRunScratch"]["Resource"]).endswith('scratch/*"]]}')
    [key] = _resources(lake, "AWS::KMS::Key").values()
    [grant] = [
        s
        for s in _statements(key["Properties"]["KeyPolicy"])
        if s.get("Sid") == "ShareRegisteredModelsKey"
    ]
    assert grant["Action"] == "kms:Decrypt"
    assert grant["Condition"]["StringEquals"]["kms:ViaService"] == "s3.us-east-1.amazonaws.com"
    assert grant["Condition"]["ArnLike"] == {"aws:PrincipalArn": roles}


def test_the_pipelines_synth_repeats_every_flag_the_app_was_given() -> None:
    """Self-mutation rebuilds the app deployed: given flags are repeated, absent ones not."""
    from app import delivery_synth_context

    given = {
        "dataset": "penguins",
        "prod_training": "true",
        "notification_emails": "a@example.com",
        "delivery_connection_arn": "arn:aws:codeconnections:us-east-1:1:connection/x",
        "delivery_repository": "acme/mlops",
    }
    repeated = delivery_synth_context(
        given.get, account="111111111111", prod_account="222222222222", region="us-east-1"
    )
    assert repeated == {
        **given,
        "account": "111111111111",
        "prod_account": "222222222222",
        "region": "us-east-1",
        "delivery_branch": "main",
    }
