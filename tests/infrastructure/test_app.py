"""The whole app, synthesized offline as `cdk synth` does: cdk-nag and cfn-lint clean, and
the data-lake properties the platform promises hold in both stages."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Match, Template
from cdk_nag import AwsSolutionsChecks

from app import validation_failures
from local.synth_check import cdk_json_context

ZONES = ("Raw", "Processed", "Curated", "Artifacts")


@pytest.fixture(scope="module")
def report(synth_report):
    return synth_report


@pytest.fixture(scope="module")
def templates(report) -> dict[str, Template]:
    return {
        p.parent.name.removeprefix("assembly-"): Template.from_json(json.loads(p.read_text()))
        for p in report.templates
        if "DataLake" in p.name
    }


def test_dev_and_prod_stages_synthesize_clean(report) -> None:
    assert sorted(f"{p.parent.name}/{p.name.split('.')[0]}" for p in report.templates) == [
        "assembly-Dev/DevDataLakeD9C17C37",
        "assembly-Dev/DevMlPipeline5DF748EE",
        "assembly-Dev/DevMonitoringBABD7F88",
        "assembly-Dev/DevOperations409E00FF",
        "assembly-Dev/DevServingE7F840B0",
        "assembly-Prod/ProdDataLake192D6A22",
        # No MlPipeline: Prod serves the release approved in Dev's registry.
        "assembly-Prod/ProdMonitoringCE03A844",
        "assembly-Prod/ProdOperationsE1C9B0C3",
        "assembly-Prod/ProdServingE95F2C1F",
    ]
    assert report.nag_failures == []
    assert report.lint_findings == []


def test_nag_really_runs_and_fails_on_a_finding(tmp_path: Path) -> None:
    """Guard against a silently disabled plugin: an unencrypted, unlogged bucket must fail."""
    from aws_cdk import Validations

    app = App(outdir=str(tmp_path), context=cdk_json_context())
    stack = Stack(app, "Insecure")
    s3.Bucket(stack, "Open")
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    with pytest.raises(RuntimeError, match="ValidationFailed") as error:
        app.synth()
    assert "AwsSolutions-S1'" in str(error.value)
    assert "AwsSolutions-S10'" in str(error.value)
    failures = validation_failures(tmp_path)
    assert any(f.startswith("AwsSolutions-S1 ") for f in failures)
    assert any(f.startswith("AwsSolutions-S10 ") for f in failures)


def _zone_buckets(template: Template) -> dict[str, dict]:
    buckets = template.find_resources("AWS::S3::Bucket")
    return {
        zone: next(props for lid, props in buckets.items() if lid.startswith(zone))
        for zone in ZONES
    }


@pytest.mark.parametrize("stage", ["Dev", "Prod"])
def test_zone_buckets_are_kms_encrypted_versioned_private_and_logged(templates, stage) -> None:
    template = templates[stage]
    for zone, bucket in _zone_buckets(template).items():
        props = bucket["Properties"]
        rule = props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
        assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms", zone
        assert "KMSMasterKeyID" in rule["ServerSideEncryptionByDefault"], zone
        assert props["VersioningConfiguration"] == {"Status": "Enabled"}, zone
        assert props["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }, zone
        assert props["LoggingConfiguration"]["LogFilePrefix"] == f"{zone.lower()}/", zone
        expiring = [
            r
            for r in props["LifecycleConfiguration"]["Rules"]
            if "NoncurrentVersionExpiration" in r
        ]
        assert expiring, zone
    template.has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True})


@pytest.mark.parametrize("stage", ["Dev", "Prod"])
def test_every_bucket_denies_plain_http(templates, stage) -> None:
    template = templates[stage]
    policies = template.find_resources("AWS::S3::BucketPolicy")
    assert len(policies) == len(template.find_resources("AWS::S3::Bucket"))
    for policy in policies.values():
        statements = policy["Properties"]["PolicyDocument"]["Statement"]
        assert any(
            s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
            for s in statements
        )


def test_raw_zone_tiers_data_and_emits_events(templates) -> None:
    raw = _zone_buckets(templates["Dev"])["Raw"]["Properties"]
    transitions = next(
        r for r in raw["LifecycleConfiguration"]["Rules"] if r["Id"] == "TierRawData"
    )["Transitions"]
    assert [t["StorageClass"] for t in transitions] == ["STANDARD_IA", "GLACIER_IR"]
    assert raw["NotificationConfiguration"] == {
        "EventBridgeConfiguration": {"EventBridgeEnabled": True}
    }


def test_access_log_bucket_uses_sse_s3(templates) -> None:
    buckets = templates["Dev"].find_resources("AWS::S3::Bucket")
    logs = next(p for lid, p in buckets.items() if lid.startswith("AccessLogs"))["Properties"]
    rule = logs["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"


def test_prod_retains_data_and_dev_does_not(templates) -> None:
    for stage, policy in (("Prod", "Retain"), ("Dev", "Delete")):
        for zone, bucket in _zone_buckets(templates[stage]).items():
            assert bucket["DeletionPolicy"] == policy, (stage, zone)
        for key in templates[stage].find_resources("AWS::KMS::Key").values():
            assert key["DeletionPolicy"] == policy


@pytest.mark.parametrize("stage", ["Dev", "Prod"])
def test_glue_jobs_are_glue_5_with_encryption_bookmarks_logs_and_autoscaling(
    templates, stage
) -> None:
    template = templates[stage]
    jobs = template.find_resources("AWS::Glue::Job")
    assert len(jobs) == 2
    for job in jobs.values():
        props = job["Properties"]
        args = props["DefaultArguments"]
        assert props["GlueVersion"] == "5.0"
        assert props["Command"]["Name"] == "glueetl"
        assert "SecurityConfiguration" in props
        assert args["--enable-metrics"] == "true"
        assert args["--enable-continuous-cloudwatch-log"] == "true"
        assert args["--enable-auto-scaling"] == "true"
        assert args["--job-bookmark-option"] in ("job-bookmark-enable", "job-bookmark-disable")
    bookmarked = [
        j
        for j in jobs.values()
        if j["Properties"]["DefaultArguments"]["--job-bookmark-option"] == "job-bookmark-enable"
    ]
    assert len(bookmarked) == 1
    template.has_resource_properties(
        "AWS::Glue::SecurityConfiguration",
        {
            "EncryptionConfiguration": {
                "S3Encryptions": [{"S3EncryptionMode": "SSE-KMS", "KmsKeyArn": Match.any_value()}],
                "CloudWatchEncryption": {
                    "CloudWatchEncryptionMode": "SSE-KMS",
                    "KmsKeyArn": Match.any_value(),
                },
                "JobBookmarksEncryption": {
                    "JobBookmarksEncryptionMode": "CSE-KMS",
                    "KmsKeyArn": Match.any_value(),
                },
            }
        },
    )


def test_raw_arrival_runs_both_jobs_in_order(templates) -> None:
    template = templates["Dev"]
    jobs = template.find_resources("AWS::Glue::Job")
    raw_job = next(lid for lid in jobs if "RawToProcessed" in lid)
    curated_job = next(lid for lid in jobs if "ProcessedToCurated" in lid)
    workflow = next(iter(template.find_resources("AWS::Glue::Workflow")))
    triggers = {
        t["Properties"]["Type"]: t["Properties"]
        for t in template.find_resources("AWS::Glue::Trigger").values()
    }
    assert triggers["EVENT"]["Actions"] == [{"JobName": {"Ref": raw_job}}]
    assert triggers["EVENT"]["WorkflowName"] == {"Ref": workflow}
    assert triggers["CONDITIONAL"]["Actions"] == [{"JobName": {"Ref": curated_job}}]
    assert triggers["CONDITIONAL"]["Predicate"]["Conditions"] == [
        {"JobName": {"Ref": raw_job}, "LogicalOperator": "EQUALS", "State": "SUCCEEDED"}
    ]
    rule = next(iter(template.find_resources("AWS::Events::Rule").values()))["Properties"]
    assert rule["EventPattern"]["detail"]["object"] == {"key": [{"prefix": "incoming/"}]}
    target_arn = json.dumps(rule["Targets"][0]["Arn"])
    assert ":workflow/" in target_arn and workflow in target_arn
    template.has_resource_properties(
        "AWS::IAM::Policy",
        {"PolicyDocument": {"Statement": [Match.object_like({"Action": "glue:notifyEvent"})]}},
    )


def test_catalog_tables_follow_the_schema(templates) -> None:
    from config.schema import load_schema

    schema = load_schema("churn")
    tables = templates["Dev"].find_resources("AWS::Glue::Table")
    by_name = {
        t["Properties"]["TableInput"]["Name"]: t["Properties"]["TableInput"]
        for t in tables.values()
    }
    curated = by_name["customer_churn_curated"]["StorageDescriptor"]["Columns"]
    assert [(c["Name"], c["Type"]) for c in curated] == schema.curated_columns()
    processed = by_name["customer_churn_processed"]
    assert processed["PartitionKeys"] == [{"Name": "event_month", "Type": "string"}]


def test_job_role_has_no_wildcard_actions(templates) -> None:
    for policy in templates["Prod"].find_resources("AWS::IAM::Policy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            actions = (
                statement["Action"]
                if isinstance(statement["Action"], list)
                else [statement["Action"]]
            )
            assert not any("*" in a for a in actions), statement
            resources = (
                statement["Resource"]
                if isinstance(statement["Resource"], list)
                else [statement["Resource"]]
            )
            if "*" in resources:
                assert statement["Action"] == "cloudwatch:PutMetricData"
                assert statement["Condition"] == {
                    "StringEquals": {"cloudwatch:namespace": ["Glue", "MLOps/DataLake"]}
                }
