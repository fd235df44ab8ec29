"""The currently approved model of a model package group, and its gate metric.

The evaluation step reads it so the pipeline's condition can refuse a model that is
worse than the one in production. The metric comes from the evaluation.json the
approved package recorded as its model-quality statistics, so both numbers were
computed by the same code.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import boto3

from config.schema import QualityGate


@dataclass(frozen=True)
class ApprovedModel:
    model_package_arn: str
    value: float


def metric_at(report: dict[str, Any], path: str) -> float:
    """The number at a dotted ``path`` of an evaluation report (a ``JsonGet`` path)."""
    node: Any = report
    for key in path.split("."):
        if not isinstance(node, dict) or key not in node:
            raise KeyError(f"evaluation report has no {path!r}")
        node = node[key]
    return float(node)


def latest_approved(group: str, gate: QualityGate) -> ApprovedModel | None:
    """The newest Approved package of ``group`` and its gate metric; None if there is none."""
    sagemaker = boto3.client("sagemaker")
    listing = sagemaker.list_model_packages(
        ModelPackageGroupName=group,
        ModelApprovalStatus="Approved",
        SortBy="CreationTime",
        SortOrder="Descending",
        MaxResults=1,
    )["ModelPackageSummaryList"]
    if not listing:
        return None
    arn = listing[0]["ModelPackageArn"]
    described = sagemaker.describe_model_package(ModelPackageName=arn)
    try:
        uri = described["ModelMetrics"]["ModelQuality"]["Statistics"]["S3Uri"]
    except KeyError as missing:
        raise ValueError(f"approved model package {arn} records no model-quality metrics") from (
            missing
        )
    location = urlparse(uri)
    body = boto3.client("s3").get_object(Bucket=location.netloc, Key=location.path.lstrip("/"))
    report = json.loads(body["Body"].read())
    return ApprovedModel(model_package_arn=arn, value=metric_at(report, gate.json_path))
