"""``make run``'s promotion check: the release Dev approved is what Prod's model loads.

Dev's approval is taken by the model-promotion function's own ``promote`` (loaded by
path, as the Lambda runtime loads it, and called with the approval event EventBridge
would deliver: LOCAL stand-in), which records the approved release (package ARN,
model.tar.gz URL, its SHA-256, the key) in SSM on moto. Then the synthesized Prod Serving
template's model is resolved as CloudFormation resolves it at deploy time (its
``ApprovedRelease`` parameter read from SSM), and the archive its package names is
downloaded and hashed: the bytes Prod's endpoint would load.
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from config.layout import RELEASE_FIELDS
from local.cdk_assembly import StageAssembly
from local.moto_platform import LocalPlatform
from local.s3_sync import split_uri

PROMOTION_DIR = Path(__file__).resolve().parents[2] / "lambda" / "model_promotion"
LABEL = "[local stand-in: EventBridge -> model-promotion; CloudFormation's parameter read]"


@dataclass(frozen=True)
class Promotion:
    """What Dev approved and what Prod's synthesized model would load."""

    approved_arn: str
    approved_sha256: str
    prod_package_arn: str
    prod_model_data_url: str
    prod_sha256: str
    prod_tag_sha256: str
    same_container: bool

    @property
    def same_bytes(self) -> bool:
        return self.approved_sha256 == self.prod_sha256 == self.prod_tag_sha256

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "same_bytes": self.same_bytes}


def _promotion_module() -> ModuleType:
    """lambda/model_promotion/promotion.py by path (``lambda`` is a keyword)."""
    path = PROMOTION_DIR / "promotion.py"
    spec = importlib.util.spec_from_file_location("model_promotion_promotion", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def _function_environment(assembly: StageAssembly) -> dict[str, str]:
    """The synthesized Dev promotion function's environment (its names are literals)."""
    stack, _ = assembly.template("MlPipeline")
    [function] = [
        resource
        for logical_id, resource in assembly.resources(stack, "AWS::Lambda::Function").items()
        if logical_id.startswith("PromotionFunction")
    ]
    variables = function["Properties"]["Environment"]["Variables"]
    return {name: value for name, value in variables.items() if isinstance(value, str)}


def approval_event(sagemaker: Any, arn: str) -> dict[str, Any]:
    """The "SageMaker Model Package State Change" event of ``arn``'s approval."""
    described = sagemaker.describe_model_package(ModelPackageName=arn)
    return {
        "version": "0",
        "id": f"local-approval-{described['ModelPackageVersion']}",
        "source": "aws.sagemaker",
        "detail-type": "SageMaker Model Package State Change",
        "detail": {
            "ModelPackageGroupName": described["ModelPackageGroupName"],
            "ModelPackageVersion": described["ModelPackageVersion"],
            "ModelPackageArn": arn,
            "ModelApprovalStatus": described["ModelApprovalStatus"],
        },
    }


def record_approval(platform: LocalPlatform, cdk_out: Path, arn: str) -> dict[str, str]:
    """Run Dev's promotion for the approval of ``arn``; return the recorded release."""
    promotion = _promotion_module()
    env = _function_environment(StageAssembly(cdk_out, "Dev"))
    target = promotion.Target(
        group=env["MODEL_PACKAGE_GROUP"],
        parameter=env["MODEL_VERSION_PARAMETER"],
        # The delivery pipeline (CodePipeline) is not run locally: record only.
        pipeline=None,
        no_model=env["NO_MODEL_VERSION"],
        artifact_parameter=env.get("MODEL_ARTIFACT_PARAMETER") or None,
        release_parameter=env["MODEL_RELEASE_PARAMETER"],
    )
    ssm = platform.client("ssm")
    promotion.promote(
        approval_event(platform.sagemaker, arn),
        target=target,
        sagemaker=platform.sagemaker,
        ssm=ssm,
        codepipeline=None,
        s3=platform.s3,
    )
    value = ssm.get_parameter(Name=target.release_parameter)["Parameter"]["Value"]
    return dict(zip(RELEASE_FIELDS, value.split(","), strict=True))


def sha256_of(s3: Any, url: str) -> str:
    """SHA-256 of the object at ``url``, streamed."""
    bucket, key = split_uri(url)
    body = s3.get_object(Bucket=bucket, Key=key)["Body"]
    digest = hashlib.sha256()
    for chunk in iter(lambda: body.read(1 << 20), b""):
        digest.update(chunk)
    return digest.hexdigest()


def prod_serves_approved(platform: LocalPlatform, cdk_out: Path, arn: str) -> Promotion:
    """Approve ``arn`` in Dev (the promotion function records it), then resolve Prod's
    synthesized model and endpoint config against what was recorded, and hash the
    bytes the model's package names."""
    release = record_approval(platform, cdk_out, arn)
    ssm = platform.client("ssm")

    def parameter(name: str) -> str:
        return str(ssm.get_parameter(Name=name)["Parameter"]["Value"])

    prod = StageAssembly(cdk_out, "Prod", parameters=parameter)
    stack, _ = prod.template("Serving")
    [model] = prod.resources(stack, "AWS::SageMaker::Model").values()
    [config] = prod.resources(stack, "AWS::SageMaker::EndpointConfig").values()
    [container] = prod.resolve(model["Properties"]["Containers"], stack)
    tags = {t["Key"]: t["Value"] for t in prod.resolve(config["Properties"]["Tags"], stack)}
    package = platform.sagemaker.describe_model_package(
        ModelPackageName=container["ModelPackageName"]
    )
    [served] = package["InferenceSpecification"]["Containers"]
    approved = platform.sagemaker.describe_model_package(ModelPackageName=arn)
    [dev_container] = approved["InferenceSpecification"]["Containers"]
    keys = ("Image", "Environment", "ModelDataUrl")
    return Promotion(
        approved_arn=arn,
        approved_sha256=release["model_data_sha256"],
        prod_package_arn=container["ModelPackageName"],
        prod_model_data_url=served["ModelDataUrl"],
        prod_sha256=sha256_of(platform.s3, served["ModelDataUrl"]),
        prod_tag_sha256=tags["mlops:model-data-sha256"],
        same_container=all(served.get(k) == dev_container.get(k) for k in keys),
    )
