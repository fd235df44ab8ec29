"""The model promotion Lambda against moto: SSM, the SageMaker model registry and
CodePipeline (moto starts executions but ignores the idempotency token, so the token's
uniqueness is checked on the function that makes it)."""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
from moto import mock_aws

from config.layout import (
    NO_MODEL_VERSION,
    delivery_pipeline_name,
    model_artifact_parameter,
    model_version_parameter,
)

FUNCTION_DIR = Path(__file__).resolve().parents[2] / "lambda" / "model_promotion"
GROUP = "customer-churn-models-dev"
PARAMETER = model_version_parameter("Dev", "churn")
ARTIFACT_PARAMETER = model_artifact_parameter("Dev", "churn")
PIPELINE = delivery_pipeline_name("churn")
REGION = "us-east-1"


def _load(name: str) -> ModuleType:
    """Load a module of the function by path, as the Lambda runtime does."""
    if str(FUNCTION_DIR) not in sys.path:
        sys.path.insert(0, str(FUNCTION_DIR))  # the runtime puts the function dir first
    spec = importlib.util.spec_from_file_location(name, FUNCTION_DIR / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def aws(monkeypatch) -> Iterator[dict[str, Any]]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        sagemaker = boto3.client("sagemaker", region_name=REGION)
        ssm = boto3.client("ssm", region_name=REGION)
        sagemaker.create_model_package_group(ModelPackageGroupName=GROUP)
        # As the MlPipeline stack creates it: the sentinel until a version is approved.
        ssm.put_parameter(Name=PARAMETER, Value=NO_MODEL_VERSION, Type="String")
        codepipeline = boto3.client("codepipeline", region_name=REGION)
        _create_delivery_pipeline(codepipeline)
        yield {"sagemaker": sagemaker, "ssm": ssm, "codepipeline": codepipeline}


def _create_delivery_pipeline(codepipeline: Any) -> None:
    role = boto3.client("iam", region_name=REGION).create_role(
        RoleName="delivery",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "codepipeline.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
        ),
    )["Role"]["Arn"]
    action = {"category": "Source", "owner": "AWS", "provider": "S3", "version": "1"}
    codepipeline.create_pipeline(
        pipeline={
            "name": PIPELINE,
            "roleArn": role,
            "artifactStore": {"type": "S3", "location": "artifacts"},
            "stages": [
                {"name": "Source", "actions": [{"name": "Source", "actionTypeId": action}]},
                {"name": "Deploy", "actions": [{"name": "Deploy", "actionTypeId": action}]},
            ],
        }
    )


def _starts(aws: dict[str, Any]) -> list[str]:
    """Ids of the delivery pipeline's executions so far."""
    summaries = aws["codepipeline"].list_pipeline_executions(pipelineName=PIPELINE)
    return [e["pipelineExecutionId"] for e in summaries["pipelineExecutionSummaries"]]


@pytest.fixture
def promotion() -> ModuleType:
    return _load("promotion")


def _register(sagemaker: Any, model_data_url: str = "s3://bucket/model.tar.gz") -> str:
    arn: str = sagemaker.create_model_package(
        ModelPackageGroupName=GROUP,
        ModelApprovalStatus="PendingManualApproval",
        InferenceSpecification={
            "Containers": [{"Image": "image", "ModelDataUrl": model_data_url}],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        },
    )["ModelPackageArn"]
    return arn


def _set_status(sagemaker: Any, arn: str, status: str) -> dict[str, Any]:
    """Change the status in the registry and return the event AWS documents for it."""
    sagemaker.update_model_package(ModelPackageArn=arn, ModelApprovalStatus=status)
    return {
        "version": "0",
        "id": "844e2571-85d4-695f-b930-0153b71dcb42",
        "detail-type": "SageMaker Model Package State Change",
        "source": "aws.sagemaker",
        "account": "123456789012",
        "time": "2021-02-24T17:00:14Z",
        "region": REGION,
        "resources": [arn],
        "detail": {
            "ModelPackageGroupName": GROUP,
            "ModelPackageVersion": int(arn.rsplit("/", 1)[1]),
            "ModelPackageArn": arn,
            "ModelPackageStatus": "Completed",
            "ModelApprovalStatus": status,
        },
    }


def _promote(promotion: ModuleType, aws: dict[str, Any], event: dict[str, Any]) -> Any:
    target = promotion.Target(group=GROUP, parameter=PARAMETER, pipeline=PIPELINE)
    return promotion.promote(event, target=target, **aws)


def _served(aws: dict[str, Any]) -> str:
    value: str = aws["ssm"].get_parameter(Name=PARAMETER)["Parameter"]["Value"]
    return value


def test_approved_version_is_recorded_and_the_pipeline_started(promotion, aws) -> None:
    arn = _register(aws["sagemaker"])
    outcome = _promote(promotion, aws, _set_status(aws["sagemaker"], arn, "Approved"))
    assert outcome.decision == promotion.Decision.PROMOTED
    assert _served(aws) == arn
    assert _starts(aws) == [outcome.pipeline_execution_id]


def test_duplicate_event_starts_nothing_twice(promotion, aws) -> None:
    arn = _register(aws["sagemaker"])
    event = _set_status(aws["sagemaker"], arn, "Approved")
    first = _promote(promotion, aws, event)
    second = _promote(promotion, aws, json.loads(json.dumps(event)))
    assert (first.decision, second.decision) == (
        promotion.Decision.PROMOTED,
        promotion.Decision.DUPLICATE,
    )
    assert len(_starts(aws)) == 1
    assert _served(aws) == arn


def test_rejecting_the_served_version_falls_back_to_the_newest_approved(promotion, aws) -> None:
    sagemaker = aws["sagemaker"]
    v1, v2, v3 = (_register(sagemaker) for _ in range(3))
    _promote(promotion, aws, _set_status(sagemaker, v1, "Approved"))
    _promote(promotion, aws, _set_status(sagemaker, v2, "Approved"))
    assert _served(aws) == v2
    # v3 never approved: rejecting it changes nothing, with the reason given.
    ignored = _promote(promotion, aws, _set_status(sagemaker, v3, "Rejected"))
    assert ignored.decision == promotion.Decision.IGNORED_NOT_SERVING
    assert "not the served version" in ignored.reason
    rolled = _promote(promotion, aws, _set_status(sagemaker, v2, "Rejected"))
    assert rolled.decision == promotion.Decision.ROLLED_BACK
    assert _served(aws) == v1
    assert len(_starts(aws)) == 3  # v1, v2, back to v1


def test_rejecting_the_last_approved_version_keeps_it_and_says_why(promotion, aws) -> None:
    sagemaker = aws["sagemaker"]
    v1 = _register(sagemaker)
    _promote(promotion, aws, _set_status(sagemaker, v1, "Approved"))
    outcome = _promote(promotion, aws, _set_status(sagemaker, v1, "Rejected"))
    assert outcome.decision == promotion.Decision.NO_APPROVED_VERSION
    assert "no Approved version left" in outcome.reason
    assert _served(aws) == v1
    assert len(_starts(aws)) == 1


def test_approving_an_older_version_is_ignored_not_a_rollback(promotion, aws) -> None:
    sagemaker = aws["sagemaker"]
    v1, v2 = _register(sagemaker), _register(sagemaker)
    _promote(promotion, aws, _set_status(sagemaker, v2, "Approved"))
    outcome = _promote(promotion, aws, _set_status(sagemaker, v1, "Approved"))
    assert outcome.decision == promotion.Decision.IGNORED_OLDER
    assert "to roll back, reject v2" in outcome.reason
    assert _served(aws) == v2
    assert len(_starts(aws)) == 1


def test_a_stale_event_does_not_promote_what_the_registry_rejected(promotion, aws) -> None:
    """Events may arrive late: the registry, not the event, decides what is approved."""
    sagemaker = aws["sagemaker"]
    v1 = _register(sagemaker)
    stale = _set_status(sagemaker, v1, "Approved")
    sagemaker.update_model_package(ModelPackageArn=v1, ModelApprovalStatus="Rejected")
    outcome = _promote(promotion, aws, stale)
    assert outcome.decision == promotion.Decision.NO_APPROVED_VERSION
    assert _served(aws) == NO_MODEL_VERSION
    assert _starts(aws) == []


def test_the_served_versions_artifact_is_recorded_with_it(promotion, aws) -> None:
    """The endpoint's role may read the served model.tar.gz only: its URL follows every
    change of the served version, a rollback included."""
    sagemaker = aws["sagemaker"]
    v1 = _register(
        sagemaker, "s3://artifacts/pipeline-runs/run1/train/model/j1/output/model.tar.gz"
    )
    v2 = _register(
        sagemaker, "s3://artifacts/pipeline-runs/run2/train/model/j2/output/model.tar.gz"
    )
    target = promotion.Target(
        group=GROUP, parameter=PARAMETER, pipeline=None, artifact_parameter=ARTIFACT_PARAMETER
    )

    def recorded() -> tuple[str, str]:
        get = aws["ssm"].get_parameter
        artifact = get(Name=ARTIFACT_PARAMETER)["Parameter"]["Value"]
        return get(Name=PARAMETER)["Parameter"]["Value"], artifact

    promotion.promote(_set_status(sagemaker, v1, "Approved"), target=target, **aws)
    assert recorded() == (
        v1,
        "s3://artifacts/pipeline-runs/run1/train/model/j1/output/model.tar.gz",
    )
    promotion.promote(_set_status(sagemaker, v2, "Approved"), target=target, **aws)
    assert recorded() == (
        v2,
        "s3://artifacts/pipeline-runs/run2/train/model/j2/output/model.tar.gz",
    )
    promotion.promote(_set_status(sagemaker, v2, "Rejected"), target=target, **aws)
    assert recorded() == (
        v1,
        "s3://artifacts/pipeline-runs/run1/train/model/j1/output/model.tar.gz",
    )


def test_request_token_is_stable_for_a_retry_and_new_for_a_new_record(promotion) -> None:
    arn = f"arn:aws:sagemaker:us-east-1:123456789012:model-package/{GROUP}/3"
    # Literals, not a second call: a retry runs in another process (another Lambda
    # instance), so a token from a per-process salted hash() would differ there.
    assert promotion.request_token(arn, 4) == "promote-6037255653941e98-4"
    assert promotion.request_token(arn, 5) == "promote-6037255653941e98-5"
    assert len(promotion.request_token(arn, 10**9)) <= 128


def test_without_a_pipeline_the_version_is_only_recorded(promotion, aws) -> None:
    """Two accounts: Prod's function cannot start the Dev account's pipeline."""
    arn = _register(aws["sagemaker"])
    target = promotion.Target(group=GROUP, parameter=PARAMETER, pipeline=None)
    outcome = promotion.promote(
        _set_status(aws["sagemaker"], arn, "Approved"), target=target, **aws
    )
    assert outcome.decision == promotion.Decision.PROMOTED
    assert "release the delivery pipeline" in outcome.reason
    assert _served(aws) == arn
    assert _starts(aws) == []


def test_malformed_event_is_a_clear_error(promotion, aws) -> None:
    with pytest.raises(promotion.PromotionEventError, match="lacks ModelPackageArn"):
        _promote(
            promotion,
            aws,
            {
                "source": "aws.sagemaker",
                "detail-type": "SageMaker Model Package State Change",
                "detail": {"ModelPackageGroupName": GROUP, "ModelPackageVersion": 1},
            },
        )


def test_handler_reads_its_environment_and_publishes_the_decision(aws, monkeypatch, capsys) -> None:
    monkeypatch.setenv("MODEL_PACKAGE_GROUP", GROUP)
    monkeypatch.setenv("MODEL_VERSION_PARAMETER", PARAMETER)
    monkeypatch.setenv("DELIVERY_PIPELINE_NAME", PIPELINE)
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "model-promotion")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "MLOps/Delivery")
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    handler = _load("handler")
    arn = _register(aws["sagemaker"])
    event = _set_status(aws["sagemaker"], arn, "Approved")

    class Context:
        function_name = "model-promotion"
        memory_limit_in_mb = 128
        invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:model-promotion"
        aws_request_id = "req-1"

    result = handler.handler(event, Context())
    assert result["decision"] == "promoted"
    assert result["served"] == arn
    assert _starts(aws) == [result["pipeline_execution_id"]]
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if "_aws" in line]
    [metric] = [m for m in emf if "PromotionDecision" in m]
    assert metric["Decision"] == "promoted"
    assert metric["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "MLOps/Delivery"


RELEASE_PARAMETER = "/mlops/churn/dev/approved-model-release"


def _release_target(promotion: ModuleType) -> Any:
    return promotion.Target(
        group=GROUP, parameter=PARAMETER, pipeline=PIPELINE, release_parameter=RELEASE_PARAMETER
    )


def _archive(body: bytes) -> str:
    """A model.tar.gz in S3, encrypted with a KMS key as the artifacts bucket does."""
    s3 = boto3.client("s3", region_name=REGION)
    key = boto3.client("kms", region_name=REGION).create_key()["KeyMetadata"]["Arn"]
    s3.create_bucket(Bucket="artifacts")
    s3.put_object(
        Bucket="artifacts",
        Key="pipeline-runs/e1/model.tar.gz",
        Body=body,
        ServerSideEncryption="aws:kms",
        SSEKMSKeyId=key,
    )
    return "s3://artifacts/pipeline-runs/e1/model.tar.gz"


def test_approval_records_the_release_with_the_archives_checksum(promotion, aws) -> None:
    import hashlib

    url = _archive(b"model bytes")
    arn = _register(aws["sagemaker"], url)
    event = _set_status(aws["sagemaker"], arn, "Approved")
    s3 = boto3.client("s3", region_name=REGION)
    promotion.promote(event, target=_release_target(promotion), s3=s3, **aws)
    value = aws["ssm"].get_parameter(Name=RELEASE_PARAMETER)["Parameter"]["Value"]
    package, data, sha256, key = value.split(",")
    assert (package, data) == (arn, url)
    assert sha256 == hashlib.sha256(b"model bytes").hexdigest()
    assert key.startswith(f"arn:aws:kms:{REGION}:")


def test_a_release_parameter_added_later_gets_the_served_version(promotion, aws) -> None:
    """An upgrade: the version was recorded before the release parameter existed; the
    next event for it (a duplicate) records the release, and starts no pipeline run."""
    arn = _register(aws["sagemaker"], _archive(b"v1"))
    event = _set_status(aws["sagemaker"], arn, "Approved")
    _promote(promotion, aws, event)  # recorded without a release parameter
    runs = _starts(aws)
    s3 = boto3.client("s3", region_name=REGION)
    outcome = promotion.promote(event, target=_release_target(promotion), s3=s3, **aws)
    assert outcome.decision == promotion.Decision.DUPLICATE
    value = aws["ssm"].get_parameter(Name=RELEASE_PARAMETER)["Parameter"]["Value"]
    assert value.split(",")[0] == arn
    assert _starts(aws) == runs
