"""The one reader of cdk.out: intrinsics resolved as CloudFormation documents them (strict
and lenient), and a stage's templates, exports, names and ARNs read from a small assembly
written here in the shape `cdk synth` gives; the pipeline definition rendered with the
local platform's names."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from local.cdk_assembly import (
    TOKEN,
    AssemblyError,
    PipelineTemplate,
    StageAssembly,
    all_templates,
    by_name,
    has_intrinsic,
    resolve,
    stage_names,
    token,
)
from local.moto_platform import ACCOUNT, ARTIFACTS_BUCKET, JOB_ROLE, REGION, pipeline_names

NAMES = {"Bucket": "local-bucket", "Role.Arn": "arn:aws:iam::1:role/r", "Export-Key": "k-1"}
LOOKUP = by_name(NAMES.get)


def test_join_select_split_and_references_resolve() -> None:
    value = {
        "Fn::Join": [
            "/",
            [
                {"Ref": "Bucket"},
                {"Fn::GetAtt": ["Role", "Arn"]},
                {"Fn::Select": [1, {"Fn::Split": [",", "a,b,c"]}]},
                {"Fn::ImportValue": "Export-Key"},
            ],
        ]
    }
    assert resolve(value, LOOKUP) == "local-bucket/arn:aws:iam::1:role/r/b/k-1"


def test_sub_takes_its_map_then_references_and_writes_out_literals() -> None:
    sub = {"Fn::Sub": ["${Name}-${Bucket}-${Role.Arn}-${!Literal}", {"Name": {"Ref": "Bucket"}}]}
    assert resolve(sub, LOOKUP) == "local-bucket-local-bucket-arn:aws:iam::1:role/r-${Literal}"
    assert resolve({"Fn::GetAtt": "Role.Arn"}, LOOKUP) == "arn:aws:iam::1:role/r"


def test_mappings_and_lists_are_recursed_and_plain_values_kept() -> None:
    document = {"Statement": [{"Resource": {"Ref": "Bucket"}, "Effect": "Allow", "N": 3}]}
    assert resolve(document, LOOKUP) == {
        "Statement": [{"Resource": "local-bucket", "Effect": "Allow", "N": 3}]
    }


def test_strict_names_what_has_no_local_value() -> None:
    with pytest.raises(AssemblyError, match="Ref Table has no local value"):
        resolve({"Ref": "Table"}, LOOKUP)
    with pytest.raises(AssemblyError, match=r"Fn::GetAtt Table\.Arn has no local value"):
        resolve({"Fn::Sub": "${Table.Arn}"}, LOOKUP)
    with pytest.raises(AssemblyError, match="cannot resolve"):
        resolve({"Fn::FindInMap": ["Map", "Key", "Value"]}, LOOKUP)


def test_lenient_keeps_the_unresolved_as_tokens_and_the_rest_as_text() -> None:
    unknown = {"Ref": "Table"}
    joined = resolve({"Fn::Join": ["", ["x-", unknown, "-", {"Ref": "Bucket"}]]}, lenient=True)
    assert joined == f"x-{token(unknown)}-{token({'Ref': 'Bucket'})}"  # no lookup given
    assert TOKEN.match(token(unknown)) and '"' not in token(unknown)
    # A selection from something unknown is unknown as a whole, not a piece of a token.
    select = {"Fn::Select": [0, {"Fn::Split": [",", {"Fn::ImportValue": "Subnets"}]}]}
    assert resolve(select, LOOKUP, lenient=True) == token(select)
    # A token sits inside JSON text: the dashboard body and the pipeline body are parsed.
    text = resolve({"Fn::Sub": ['{"a": "${Missing}"}', {}]}, lenient=True)
    assert json.loads(text) == {"a": token({"Ref": "Missing"})}


def test_has_intrinsic_finds_one_anywhere() -> None:
    assert has_intrinsic({"detail": {"x": [{"Ref": "Bucket"}]}})
    assert not has_intrinsic({"detail": {"x": ["Ref", {"prefix": "Fn::"}]}})


def _write_stage(cdk_out: Path) -> None:
    stage = cdk_out / "assembly-Dev"
    stage.mkdir(parents=True)
    lake = {
        "Resources": {
            "DataKey1": {"Type": "AWS::KMS::Key", "Properties": {}},
            "RawBucket2": {"Type": "AWS::S3::Bucket", "Properties": {}},
            "NamedBucket3": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": "named"}},
        },
        "Outputs": {
            "KeyArn": {
                "Value": {"Fn::GetAtt": ["DataKey1", "Arn"]},
                "Export": {"Name": "Dev-DataLake-KeyArn"},
            }
        },
    }
    jobs = {
        "Parameters": {"Served": {"Type": "AWS::SSM::Parameter::Value<String>", "Default": "/p"}},
        "Resources": {
            "JobRole4": {"Type": "AWS::IAM::Role", "Properties": {}},
            "Queue5": {"Type": "AWS::SQS::Queue", "Properties": {}},
        },
    }
    (stage / "DevDataLake1.template.json").write_text(json.dumps(lake))
    (stage / "DevJobs2.template.json").write_text(json.dumps(jobs))
    (stage / "DevJobs2.assets.json").write_text(
        json.dumps(
            {
                "files": {
                    "abc": {
                        "source": {"path": "asset.abc.py", "packaging": "file"},
                        "destinations": {"d": {"bucketName": "assets", "objectKey": "abc.py"}},
                    },
                    "tpl": {
                        "source": {"path": "DevJobs2.template.json", "packaging": "file"},
                        "destinations": {"d": {"bucketName": "assets", "objectKey": "t.json"}},
                    },
                }
            }
        )
    )
    (stage / "asset.abc.py").write_text("print('job')\n")
    environment = "aws://111111111111/eu-west-1"
    artifacts = {
        name: {"type": "aws:cloudformation:stack", "environment": environment}
        for name in ("DevDataLake1", "DevJobs2")
    }
    (stage / "manifest.json").write_text(json.dumps({"artifacts": artifacts}))
    (cdk_out / "Delivery.template.json").write_text(json.dumps({"Resources": {}}))


def test_a_stage_names_its_resources_as_cloudformation_would(tmp_path: Path) -> None:
    _write_stage(tmp_path)
    names = {"RawBucket2": "local-raw"}
    assembly = StageAssembly(tmp_path, "Dev", names=names.get, parameters={"/p": "v7"}.get)
    jobs, _ = assembly.template("Jobs")
    lake = assembly.stack("DataLake")
    assert (assembly.stage.account, assembly.stage.region) == ("111111111111", "eu-west-1")
    assert assembly.resolve({"Ref": "RawBucket2"}, lake) == "local-raw"  # the local name
    assert assembly.resolve({"Ref": "NamedBucket3"}, lake) == "named"  # the explicit one
    assert assembly.resolve({"Ref": "DataKey1"}, lake) == "DataKey1"  # else the logical id
    assert (
        assembly.resolve({"Fn::ImportValue": "Dev-DataLake-KeyArn"}, jobs)
        == "arn:aws:kms:eu-west-1:111111111111:key/DataKey1"
    )
    assert assembly.resolve({"Ref": "Served"}, jobs) == "v7"
    assert assembly.resolve({"Ref": "Queue5"}, jobs).startswith("https://sqs.eu-west-1.")
    assert assembly.resolve({"Fn::Sub": "${AWS::Partition}:${JobRole4.Arn}"}, jobs) == (
        "aws:arn:aws:iam::111111111111:role/JobRole4"
    )
    assert assembly.assets(jobs) == {
        ("assets", "abc.py"): (tmp_path / "assembly-Dev" / "asset.abc.py")
    }
    with pytest.raises(AssemblyError, match="no stack of the stage exports"):
        assembly.resolve({"Fn::ImportValue": "Nobody"}, jobs)
    with pytest.raises(AssemblyError, match=r"Queue5\.QueueUrl is not modelled"):
        assembly.resolve({"Fn::GetAtt": ["Queue5", "QueueUrl"]}, jobs)


def test_stages_and_templates_are_found_and_a_missing_stage_is_named(tmp_path: Path) -> None:
    _write_stage(tmp_path)
    assert stage_names(tmp_path) == ["Dev"]
    assert [p.name for p in all_templates(tmp_path)] == [
        "Delivery.template.json",
        "DevDataLake1.template.json",
        "DevJobs2.template.json",
    ]
    with pytest.raises(AssemblyError, match="expected one \\*Dev\\* stack"):
        StageAssembly(tmp_path, "Dev").stack("Dev")
    with pytest.raises(AssemblyError, match="synthesize the app first"):
        StageAssembly(tmp_path, "Prod")


def test_the_pipeline_renders_with_supplied_values_or_the_platforms_names() -> None:
    body = json.dumps(
        {
            "Bucket": "s3://${ArtifactsBucket}/x",
            "Role": "${ExecutionRoleName}",
            "At": "${AWS::Region}:${AWS::AccountId}",
            "Group": "${ModelPackageGroup}",
        }
    )
    template = PipelineTemplate(
        name="p",
        body=body,
        values={
            "ArtifactsBucket": {"Fn::ImportValue": "Dev-DataLake-ArtifactsBucketName"},
            "ExecutionRoleName": {"Ref": "TrainingJobRoleF750C0D4"},
            "ModelPackageGroup": "group-dev",
        },
        assets={},
        model_package_group="group-dev",
    )
    assert template.render(lookup=pipeline_names("arn:key")) == {
        "Bucket": f"s3://{ARTIFACTS_BUCKET}/x",
        "Role": JOB_ROLE,
        "At": f"{REGION}:{ACCOUNT}",
        "Group": "group-dev",
    }
    supplied = {
        "ArtifactsBucket": "b",
        "ExecutionRoleName": "r",
        "AWS::Region": "eu",
        "AWS::AccountId": "1",
    }
    assert template.render(supplied)["Bucket"] == "s3://b/x"
    with pytest.raises(AssemblyError, match="Fn::ImportValue Dev-DataLake-ArtifactsBucketName"):
        template.render()
