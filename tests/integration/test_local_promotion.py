"""``make run``'s promotion check on moto, against the synthesized app: Dev's promotion
records the approved release with its checksum, and the Prod Serving template, resolved
as CloudFormation resolves it at deploy time, serves that very package and its bytes."""

from __future__ import annotations

import hashlib
import io
import tarfile

import pytest

from config.layout import model_release_parameter, parse_release, resource_name
from local.moto_platform import ARTIFACTS_BUCKET, local_platform
from local.serving.promotion import prod_serves_approved

GROUP = resource_name("Dev", "customer_churn", "models")


def _archive() -> bytes:
    """A small model.tar.gz: the check is about bytes, not about the model."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        data = b"booster bytes"
        info = tarfile.TarInfo("xgboost-model")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@pytest.fixture
def approved(synth_report):
    with local_platform() as platform:
        body = _archive()
        key = "pipeline-runs/exec1/model/model.tar.gz"
        platform.s3.create_bucket(Bucket=ARTIFACTS_BUCKET)
        platform.s3.put_object(Bucket=ARTIFACTS_BUCKET, Key=key, Body=body)
        platform.sagemaker.create_model_package_group(ModelPackageGroupName=GROUP)
        arn = platform.sagemaker.create_model_package(
            ModelPackageGroupName=GROUP,
            ModelApprovalStatus="Approved",
            InferenceSpecification={
                "Containers": [
                    {
                        "Image": "xgboost:3.2-0",
                        "ModelDataUrl": f"s3://{ARTIFACTS_BUCKET}/{key}",
                        "Environment": {"SAGEMAKER_PROGRAM": "serve.py"},
                    }
                ],
                "SupportedContentTypes": ["text/csv"],
                "SupportedResponseMIMETypes": ["text/csv"],
            },
        )["ModelPackageArn"]
        yield platform, arn, hashlib.sha256(body).hexdigest(), synth_report.assembly_dir


def test_prod_serves_the_bytes_dev_approved(approved) -> None:
    platform, arn, sha256, cdk_out = approved
    promotion = prod_serves_approved(platform, cdk_out, arn)
    assert promotion.prod_package_arn == arn  # Prod's model is Dev's registered package
    assert promotion.approved_sha256 == promotion.prod_sha256 == sha256
    assert promotion.prod_tag_sha256 == sha256  # the endpoint config's lineage tag
    assert promotion.same_container and promotion.same_bytes
    recorded = platform.client("ssm").get_parameter(
        Name=model_release_parameter("Dev", "customer_churn")
    )["Parameter"]
    assert recorded["Type"] == "StringList"
    release = parse_release(recorded["Value"])
    assert release is not None and release["model_package_arn"] == arn


def test_an_archive_replaced_after_approval_is_caught(approved) -> None:
    """The recorded checksum is of the bytes Dev approved: if the object is overwritten
    afterwards, Prod's model would load other bytes and the check says so."""
    platform, arn, sha256, cdk_out = approved
    first = prod_serves_approved(platform, cdk_out, arn)
    bucket, _, key = first.prod_model_data_url.removeprefix("s3://").partition("/")
    platform.s3.put_object(Bucket=bucket, Key=key, Body=b"replaced")
    again = prod_serves_approved(platform, cdk_out, arn)  # a duplicate approval event
    assert again.approved_sha256 == sha256
    assert again.prod_sha256 == hashlib.sha256(b"replaced").hexdigest()
    assert not again.same_bytes
