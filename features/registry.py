"""The currently approved model of a model package group.

The evaluation step (``training/evaluate.py``) scores it on the execution's own test
split, so the pipeline's condition can refuse a model that is worse than the approved one
on the same data; the monitor (``monitoring/monitor.py``) reads its baselines and
registered metrics. Below both runtimes, so neither imports the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import boto3


@dataclass(frozen=True)
class ApprovedModel:
    model_package_arn: str
    model_data_url: str


def metric_at(report: dict[str, Any], path: str) -> float:
    """The number at a dotted ``path`` of an evaluation report (a ``JsonGet`` path)."""
    node: Any = report
    for key in path.split("."):
        if not isinstance(node, dict) or key not in node:
            raise KeyError(f"evaluation report has no {path!r}")
        node = node[key]
    return float(node)


def describe_latest_approved(group: str, sagemaker: Any = None) -> dict[str, Any] | None:
    """DescribeModelPackage of the newest Approved package of ``group``; None if none."""
    sagemaker = sagemaker or boto3.client("sagemaker")
    listing = sagemaker.list_model_packages(
        ModelPackageGroupName=group,
        ModelApprovalStatus="Approved",
        SortBy="CreationTime",
        SortOrder="Descending",
        MaxResults=1,
    )["ModelPackageSummaryList"]
    if not listing:
        return None
    described: dict[str, Any] = sagemaker.describe_model_package(
        ModelPackageName=listing[0]["ModelPackageArn"]
    )
    return described


def latest_approved(group: str) -> ApprovedModel | None:
    """The newest Approved package of ``group`` and its model artifact; None if none."""
    described = describe_latest_approved(group)
    if described is None:
        return None
    container = described["InferenceSpecification"]["Containers"][0]
    return ApprovedModel(
        model_package_arn=described["ModelPackageArn"], model_data_url=container["ModelDataUrl"]
    )


def download(uri: str, destination: Path) -> Path:
    """Copy the S3 object at ``uri`` to ``destination``."""
    location = urlparse(uri)
    boto3.client("s3").download_file(location.netloc, location.path.lstrip("/"), str(destination))
    return destination
