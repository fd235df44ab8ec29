"""Isolation and least privilege, read off the synthesized templates (issue 14):

- network isolation on the steps and the model that need no network, and why the others
  (Evaluate, the monitor) run without it;
- VPC mode (`-c vpc=new`): private subnets, the endpoints the containers call and nothing
  else, every job and the model attached, priced by `make cost`;
- who may write model artifacts (the training role alone; everyone else is denied), what
  the endpoint's role may read (the served artifact only), and the confused-deputy
  conditions on every service role's trust policy.
"""

from __future__ import annotations

import fnmatch
import json
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3

from app import vpc_settings
from config.layout import (
    model_artifact_parameter,
    model_release_parameter,
    model_version_parameter,
    resource_name,
)
from config.schema import load_schema
from config.settings import VpcSettings, stage_settings
from local.synth_check import cdk_json_context
from stacks.constructs.endpoint import ModelEndpoint
from stacks.constructs.network import INTERFACE_ENDPOINTS, JobNetwork
from stacks.constructs.pipeline_settings import CODE_CHANNEL
from tools.cost import price_assembly

ACCOUNT, REGION = "111111111111", "us-east-1"
SAGEMAKER = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:"
STAGES = ("Dev", "Prod")
# Prod trains nothing by default: it serves the release approved in Dev's registry.
TRAINING_STAGES = ("Dev",)


def _templates(report: Any, stage: str) -> dict[str, dict[str, Any]]:
    """Stack kind ("MlPipeline", ...) -> template of ``stage``."""
    return {
        next(
            kind
            for kind in ("DataLake", "MlPipeline", "Monitoring", "Serving", "Operations")
            if kind in path.name
        ): json.loads(path.read_text())
        for path in (report.assembly_dir / f"assembly-{stage}").glob("*.template.json")
    }


def _of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {lid: r for lid, r in template["Resources"].items() if r["Type"] == kind}


def _one(template: dict[str, Any], kind: str) -> dict[str, Any]:
    [resource] = _of_type(template, kind).values()
    return resource["Properties"]


def _steps(template: dict[str, Any]) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    [pipeline] = [
        r["Properties"]
        for lid, r in _of_type(template, "AWS::SageMaker::Pipeline").items()
        if lid.startswith("TrainingPipeline")
    ]
    body, values = pipeline["PipelineDefinition"]["PipelineDefinitionBody"]["Fn::Sub"]
    steps: dict[str, dict[str, Any]] = {}
    pending = list(json.loads(body)["Steps"])
    while pending:
        step = pending.pop()
        steps[step["Name"]] = step["Arguments"]
        pending += step["Arguments"].get("IfSteps", []) + step["Arguments"].get("ElseSteps", [])
    return steps, values


def _monitor_request(template: dict[str, Any]) -> dict[str, Any]:
    [function] = [
        r["Properties"]
        for r in _of_type(template, "AWS::Lambda::Function").values()
        if "JOB_REQUEST" in r["Properties"].get("Environment", {}).get("Variables", {})
    ]
    request = function["Environment"]["Variables"]["JOB_REQUEST"]
    # A token-bearing request is an Fn::Join of literal parts and references: rebuild it
    # with a stand-in for each reference.
    parts = request["Fn::Join"][1]
    return json.loads("".join(p if isinstance(p, str) else "REF" for p in parts))


def _statements(template: dict[str, Any], policy_prefix: str) -> list[dict[str, Any]]:
    return [
        statement
        for lid, policy in _of_type(template, "AWS::IAM::Policy").items()
        if lid.startswith(policy_prefix)
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _text(value: Any) -> str:
    return json.dumps(value)


@pytest.fixture(scope="module")
def default(synth_report) -> dict[str, dict[str, dict[str, Any]]]:
    return {stage: _templates(synth_report, stage) for stage in STAGES}


@pytest.fixture(scope="module")
def vpc(synth_report_vpc) -> dict[str, dict[str, dict[str, Any]]]:
    return {stage: _templates(synth_report_vpc, stage) for stage in STAGES}


# --- network isolation ----------------------------------------------------------------


@pytest.mark.parametrize("stage", TRAINING_STAGES)
def test_steps_that_need_no_network_are_isolated(default, stage) -> None:
    steps, _ = _steps(default[stage]["MlPipeline"])
    for name in ("Preprocess", "DataQualityBaseline"):
        assert steps[name]["NetworkConfig"]["EnableNetworkIsolation"] is True, name
    train = steps["Train"]
    assert train["EnableNetworkIsolation"] is True
    # Isolated, the toolkit cannot download the submit directory: it arrives as a channel.
    [code] = [c for c in train["InputDataConfig"] if c["ChannelName"] == CODE_CHANNEL]
    assert code["DataSource"]["S3DataSource"]["S3Uri"] == "s3://${AssetsBucket}/${SourceBundleKey}"
    assert train["HyperParameters"]["sagemaker_submit_directory"] == (
        f"/opt/ml/input/data/{CODE_CHANNEL}/${{SourceBundleFile}}"
    )
    # Evaluate calls the registry and S3 itself (features/registry.py): not isolated.
    assert steps["Evaluate"]["NetworkConfig"]["EnableNetworkIsolation"] is False


@pytest.mark.parametrize("stage", STAGES)
def test_the_served_model_is_isolated_and_the_monitor_is_not(default, stage) -> None:
    model = _one(default[stage]["Serving"], "AWS::SageMaker::Model")
    assert model["EnableNetworkIsolation"] is True
    assert "VpcConfig" not in model
    # The monitor reads S3 and the registry and publishes metrics itself.
    request = _monitor_request(default[stage]["Monitoring"])
    assert request["NetworkConfig"] == {"EnableNetworkIsolation": False}


def test_a_serverless_model_cannot_be_isolated(synth_report_dev_serverless) -> None:
    """Serverless Inference supports neither network isolation nor a VPC."""
    model = _one(_templates(synth_report_dev_serverless, "Dev")["Serving"], "AWS::SageMaker::Model")
    assert model["EnableNetworkIsolation"] is False


# --- who writes and reads models -------------------------------------------------------


@pytest.mark.parametrize("stage", TRAINING_STAGES)
def test_only_the_training_role_writes_model_artifacts(default, stage) -> None:
    template = default[stage]["MlPipeline"]
    steps, values = _steps(template)
    assert steps["Train"]["RoleArn"].endswith("${TrainingRoleName}")
    for name in ("Preprocess", "DataQualityBaseline", "Evaluate"):
        assert steps[name]["RoleArn"].endswith("${ExecutionRoleName}")
    assert values["TrainingRoleName"]["Ref"].startswith("TrainingTrainingRole")
    assert values["ExecutionRoleName"]["Ref"].startswith("TrainingJobRole")

    def writes(prefix: str) -> list[str]:
        return [
            _text(resource)
            for s in _statements(template, prefix)
            if s["Effect"] == "Allow" and "s3:PutObject" in _as_list(s["Action"])
            for resource in _as_list(s["Resource"])
        ]

    training = writes("TrainingTrainingPolicy")
    assert training and all("/pipeline-runs/*/train/*" in r for r in training)
    processing = writes("TrainingJobPolicy")
    assert sorted(r.rsplit("/pipeline-runs/", 1)[1] for r in processing) == [
        '*/baseline/*"]]}',
        '*/evaluate/*"]]}',
        '*/prepare-batch/*"]]}',  # the batch scoring pipeline's PrepareBatch
        '*/preprocess/*"]]}',
    ]
    [deny] = [s for s in _statements(template, "TrainingJobPolicy") if s["Effect"] == "Deny"]
    assert {"s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion"} <= set(deny["Action"])
    denied = [_text(r) for r in deny["Resource"]]
    assert any("/pipeline-runs/*/train/model/*" in r for r in denied)
    # IAM's "*" spans "/": no Deny may cover Preprocess's own "train" split.
    patterns = [
        r.rsplit("/pipeline-runs/", 1)[1].split('"')[0] for r in denied if "/pipeline-runs/" in r
    ]
    for split in (
        "a1b2c3d4e5f6/preprocess/train/train.npz",
        "scratch/a1b2c3d4e5f6/preprocess/train/train.npz",
    ):
        assert not any(fnmatch.fnmatch(split, p) for p in patterns), (split, patterns)
    assert any('/*/model.tar.gz"' in r for r in denied)
    # The pipeline service reads the evaluation report only, and passes the two job roles.
    [reads] = [
        s
        for s in _statements(template, "TrainingPipelinePolicy")
        if s.get("Sid") == ("ReadPropertyFiles")
    ]
    assert "/pipeline-runs/*/evaluate/*" in _text(reads["Resource"])
    [passing] = [
        s
        for s in _statements(template, "TrainingPipelinePolicy")
        if s.get("Sid") == ("PassJobRole")
    ]
    job, training = sorted(r["Fn::GetAtt"][0] for r in passing["Resource"])
    assert job.startswith("TrainingJobRole") and training.startswith("TrainingTrainingRole")


@pytest.mark.parametrize("stage", STAGES)
def test_where_data_is_kept_nobody_deletes_a_registered_model(default, stage) -> None:
    policies = _of_type(default[stage]["DataLake"], "AWS::S3::BucketPolicy")
    denies = [
        statement
        for policy in policies.values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if statement.get("Sid") == "RegisteredModelsAreNeverDeleted"
    ]
    if stage == "Dev":  # a disposable stage: emptied and deleted at will
        assert denies == []
        return
    [deny] = denies
    assert deny["Effect"] == "Deny" and deny["Principal"] == {"AWS": "*"}
    assert deny["Action"] == ["s3:DeleteObject", "s3:DeleteObjectVersion"]
    assert _text(deny["Resource"]).endswith('/pipeline-runs/*/model.tar.gz"]]}')
    assert "Artifacts" in _text(deny["Resource"])


@pytest.mark.parametrize("stage", STAGES)
def test_the_endpoint_role_reads_the_served_artifact_only(default, stage) -> None:
    template = default[stage]["Serving"]
    if "MlPipeline" in default[stage]:
        [artifact] = [
            name
            for name, p in template["Parameters"].items()
            if p.get("Default") == model_artifact_parameter(stage, "customer_churn")
        ]
        url: Any = {"Ref": artifact}
    else:  # the release Dev approved: its model.tar.gz URL is the release's second item
        assert template["Parameters"]["ApprovedRelease"]["Default"] == (
            model_release_parameter("Dev", "customer_churn")
        )
        url = {"Fn::Select": [1, {"Ref": "ApprovedRelease"}]}
    [read] = [s for s in _statements(template, "EndpointModelPolicy") if s["Sid"] == "ReadModel"]
    assert read["Action"] == "s3:GetObject"
    assert read["Resource"] == {
        "Fn::Join": [
            "",
            ["arn:aws:s3:::", {"Fn::Select": [1, {"Fn::Split": ["s3://", url]}]}],
        ]
    }
    # No other statement grants a read of the artifacts bucket.
    reads = [
        s
        for s in _statements(template, "EndpointModelPolicy")
        if "s3:GetObject" in _as_list(s["Action"])
    ]
    assert reads == [read]


@pytest.mark.parametrize("stage", TRAINING_STAGES)
def test_promotion_records_the_artifact_with_the_version(default, stage) -> None:
    template = default[stage]["MlPipeline"]
    parameters = {
        p["Properties"]["Name"]: p["Properties"]
        for p in _of_type(template, "AWS::SSM::Parameter").values()
    }
    schema = load_schema("churn")
    artifact = parameters[model_artifact_parameter(stage, schema.name)]
    assert model_version_parameter(stage, schema.name) in parameters
    # Until a version is approved: an object under the runs prefix no run writes.
    assert _text(artifact["Value"]).endswith('/pipeline-runs/none"]]}')
    [function] = [
        f["Properties"]
        for f in _of_type(template, "AWS::Lambda::Function").values()
        if "MODEL_ARTIFACT_PARAMETER" in f["Properties"]["Environment"]["Variables"]
    ]
    assert function["Environment"]["Variables"]["MODEL_ARTIFACT_PARAMETER"] == (
        model_artifact_parameter(stage, schema.name)
    )
    sids = {s["Sid"]: s for s in _statements(template, "PromotionPolicy")}
    assert sids["ReadServedArtifact"]["Action"] == "sagemaker:DescribeModelPackage"
    group = resource_name(stage, schema.name, "models")
    assert f"model-package/{group}/*" in _text(sids["ReadServedArtifact"]["Resource"])
    assert sids["RecordServedArtifact"]["Action"] == "ssm:PutParameter"
    # The release the serving stage deploys, with the archive's checksum (read once).
    release = parameters[model_release_parameter(stage, schema.name)]
    assert release["Type"] == "StringList"
    assert sids["RecordRelease"]["Action"] == ["ssm:GetParameter", "ssm:PutParameter"]
    assert sids["ChecksumModelArchives"]["Action"] == "s3:GetObject"
    assert _text(sids["ChecksumModelArchives"]["Resource"]).endswith('/*/model.tar.gz"]]}')


# --- confused deputy -------------------------------------------------------------------

# Service -> the aws:SourceArn pattern its roles' trust must carry (None: SourceAccount only;
# AWS documents no SourceArn these services set on AssumeRole for these roles).
SOURCE_ARNS: dict[str, str | None] = {
    "sagemaker.amazonaws.com": SAGEMAKER,
    "events.amazonaws.com": f"arn:aws:events:{REGION}:{ACCOUNT}:rule/",
    "scheduler.amazonaws.com": f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule/default/",
    "vpc-flow-logs.amazonaws.com": f"arn:aws:ec2:{REGION}:{ACCOUNT}:vpc-flow-log/",
    "lambda.amazonaws.com": None,
    "glue.amazonaws.com": None,
}


def _trusts(templates: dict[str, dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (lid, statement)
        for template in templates.values()
        for lid, role in _of_type(template, "AWS::IAM::Role").items()
        for statement in role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    ]


def _resolved(value: Any) -> str:
    """An account reference (Ref AWS::AccountId) as the offline account, else as is."""
    if value == {"Ref": "AWS::AccountId"}:
        return ACCOUNT
    return value if isinstance(value, str) else _text(value)


@pytest.mark.parametrize("configuration", ["default", "vpc"])
@pytest.mark.parametrize("stage", STAGES)
def test_every_service_role_trust_names_its_account_and_source(
    request, configuration, stage
) -> None:
    trusts = _trusts(request.getfixturevalue(configuration)[stage])
    assert trusts
    for lid, statement in trusts:
        [service] = _as_list(statement["Principal"]["Service"])
        assert service in SOURCE_ARNS, f"{lid}: a role for {service}: add its condition"
        condition = statement.get("Condition", {})
        assert _resolved(condition["StringEquals"]["aws:SourceAccount"]) == ACCOUNT, lid
        expected = SOURCE_ARNS[service]
        if expected is not None:
            source = condition.get("ArnLike", {}).get("aws:SourceArn") or condition[
                "StringEquals"
            ].get("aws:SourceArn")
            assert source and all(str(s).startswith(expected) for s in _as_list(source)), lid


def test_sagemaker_roles_trust_only_their_own_kind_of_resource(default) -> None:
    sources = {
        lid: statement["Condition"]["ArnLike"]["aws:SourceArn"]
        for lid, statement in _trusts(default["Dev"])
        if statement["Principal"]["Service"] == "sagemaker.amazonaws.com"
    }
    pipeline = resource_name("Dev", load_schema("churn").name, "training")

    def of(prefix: str) -> Any:
        [value] = [v for lid, v in sources.items() if lid.startswith(prefix)]
        return value

    assert of("TrainingJobRole") == [f"{SAGEMAKER}processing-job/*"]
    assert of("TrainingTrainingRole") == [f"{SAGEMAKER}training-job/*"]
    assert of("TrainingPipelineRole") == [f"{SAGEMAKER}pipeline/{pipeline}/*"]
    # Inference: AWS documents "*" as the only form.
    assert of("EndpointModelRole") == [f"{SAGEMAKER}*"]


# --- VPC mode --------------------------------------------------------------------------


def test_vpc_mode_synthesizes_clean(synth_report_vpc) -> None:
    assert synth_report_vpc.nag_failures == []
    assert synth_report_vpc.lint_findings == []


@pytest.mark.parametrize("stage", STAGES)
def test_the_created_vpc_is_private_with_only_the_endpoints_used(vpc, stage) -> None:
    lake = vpc[stage]["DataLake"]
    assert len(_of_type(lake, "AWS::EC2::VPC")) == 1
    for absent in ("AWS::EC2::InternetGateway", "AWS::EC2::NatGateway", "AWS::EC2::Route"):
        assert not _of_type(lake, absent), absent
    subnets = _of_type(lake, "AWS::EC2::Subnet")
    assert len(subnets) == 2
    assert all(s["Properties"]["MapPublicIpOnLaunch"] is False for s in subnets.values())
    endpoints = [e["Properties"] for e in _of_type(lake, "AWS::EC2::VPCEndpoint").values()]
    kinds = {(e["ServiceName"].rsplit(f"{REGION}.", 1)[1], e["VpcEndpointType"]) for e in endpoints}
    assert kinds == {("s3", "Gateway"), *((name, "Interface") for name in INTERFACE_ENDPOINTS)}
    for endpoint in endpoints:
        if endpoint["VpcEndpointType"] == "Interface":
            assert endpoint["PrivateDnsEnabled"] is True
            assert len(endpoint["SubnetIds"]) == 2
    flow_log = _one(lake, "AWS::EC2::FlowLog")
    assert flow_log["TrafficType"] == "ALL"


@pytest.mark.parametrize("stage", STAGES)
def test_every_job_and_the_model_attach_to_the_vpc(vpc, stage) -> None:
    if stage in TRAINING_STAGES:
        steps, values = _steps(vpc[stage]["MlPipeline"])
        subnets = ["${VpcSubnet0}", "${VpcSubnet1}"]
        for name in ("Preprocess", "DataQualityBaseline", "Evaluate"):
            assert steps[name]["NetworkConfig"]["VpcConfig"] == {
                "SecurityGroupIds": ["${VpcSecurityGroup0}"],
                "Subnets": subnets,
            }, name
        assert steps["Train"]["VpcConfig"]["Subnets"] == subnets
        # The placeholders come from the DataLake stack's exports.
        assert _text(values["VpcSubnet1"]).count("Fn::ImportValue") == 1
    model = _one(vpc[stage]["Serving"], "AWS::SageMaker::Model")
    assert model["EnableNetworkIsolation"] is True
    assert len(model["VpcConfig"]["Subnets"]) == 2
    request = _monitor_request(vpc[stage]["Monitoring"])
    assert len(request["NetworkConfig"]["VpcConfig"]["Subnets"]) == 2


def test_vpc_mode_is_priced_per_endpoint_and_zone(synth_report_vpc, synth_report) -> None:
    with_vpc = {c.stage: c for c in price_assembly(synth_report_vpc.assembly_dir)}
    without = {c.stage: c for c in price_assembly(synth_report.assembly_dir)}
    for stage in STAGES:
        [line] = [line for line in with_vpc[stage].idle if line.item == "VPC interface endpoints"]
        assert line.basis == "3 endpoints x 2 zones x 730 h x $0.01/zone-hour"
        assert line.dollars == pytest.approx(43.8)
        assert not [line for line in without[stage].idle if line.item.startswith("VPC")]


# --- VPC settings and an existing VPC (no whole-app synth) ------------------------------


def test_vpc_settings_from_the_context() -> None:
    def context(values: dict[str, str]) -> Any:
        return values.get

    assert vpc_settings(context({})) is None
    assert vpc_settings(context({"vpc": "new", "vpc_azs": "3"})) == VpcSettings(
        availability_zones=3
    )
    assert vpc_settings(
        context(
            {"vpc_id": "vpc-1", "vpc_subnets": "subnet-a, subnet-b", "vpc_security_groups": "sg-1"}
        )
    ) == VpcSettings(
        vpc_id="vpc-1", subnet_ids=("subnet-a", "subnet-b"), security_group_ids=("sg-1",)
    )


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"vpc_id": "vpc-1", "subnet_ids": ("subnet-a",)}, "give its subnet ids and security"),
        ({"subnet_ids": ("subnet-a",)}, "need the vpc_id"),
        ({"availability_zones": 4}, "1 to 3 availability zones"),
    ],
)
def test_incomplete_vpc_settings_are_refused(arguments, message) -> None:
    with pytest.raises(ValueError, match=message):
        VpcSettings(**arguments)


SUBNETS = ("subnet-0123456789abcdef0", "subnet-0123456789abcdef1")
GROUPS = ("sg-0123456789abcdef0",)


def test_an_existing_vpcs_ids_reach_the_model(tmp_path: Path) -> None:
    app = App(outdir=str(tmp_path), context=cdk_json_context())
    stack = Stack(app, "Bare", env={"account": ACCOUNT, "region": REGION})
    settings = stage_settings("Dev", account=ACCOUNT, region=REGION)
    ModelEndpoint(
        stack,
        "Endpoint",
        settings=settings,
        schema=load_schema("churn"),
        key=kms.Key(stack, "Key"),
        artifacts=s3.Bucket(stack, "Artifacts"),
        model_package_arn=f"{SAGEMAKER}model-package/group/1",
        network=JobNetwork(subnet_ids=SUBNETS, security_group_ids=GROUPS),
    )
    template = app.synth().get_stack_by_name("Bare").template
    model = _one(template, "AWS::SageMaker::Model")
    assert model["VpcConfig"] == {"SecurityGroupIds": list(GROUPS), "Subnets": list(SUBNETS)}
    assert model["EnableNetworkIsolation"] is True
