"""The model version a monitor run compares the window with: the newest Approved
package of the group, and the documents its registry entry points at (the data quality
baseline it must have; the evaluation, bias and explainability baselines it may have)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from config.schema import DatasetSchema
from features.registry import describe_latest_approved
from features.s3_objects import get_json
from monitoring.baseline import Baseline, parse_baseline


@dataclass(frozen=True)
class Registered:
    """The approved version the window is compared with: its data baseline, evaluation,
    and (when it has them) its bias and explainability drift baselines."""

    arn: str
    baseline: Baseline
    evaluation: dict[str, Any] | None
    bias: dict[str, Any] | None = None  # Clarify analysis.json keys: pre- and post-training
    explanations: dict[str, Any] | None = None
    model_data_url: str | None = None


def _uri(described: dict[str, Any], *path: str) -> str | None:
    node: Any = described
    for key in path:
        node = node.get(key) if isinstance(node, dict) else None
    return node if isinstance(node, str) else None


def load_registered(s3: Any, sagemaker: Any, group: str, schema: DatasetSchema) -> Registered:
    """The newest Approved package's baselines and evaluation; a clear error if none."""
    described = describe_latest_approved(group, sagemaker)
    if described is None:
        raise RuntimeError(f"model package group {group!r} has no Approved version to monitor")
    stats_uri = _uri(described, "DriftCheckBaselines", "ModelDataQuality", "Statistics", "S3Uri")
    cons_uri = _uri(described, "DriftCheckBaselines", "ModelDataQuality", "Constraints", "S3Uri")
    if not stats_uri or not cons_uri:
        raise RuntimeError(
            f"{described['ModelPackageArn']} has no DriftCheckBaselines.ModelDataQuality"
        )
    evaluation_uri = _uri(described, "ModelMetrics", "ModelQuality", "Statistics", "S3Uri")
    bias: dict[str, Any] = {}
    for stage in ("PreTrainingConstraints", "PostTrainingConstraints"):
        uri = _uri(described, "DriftCheckBaselines", "Bias", stage, "S3Uri")
        bias.update(get_json(s3, uri) if uri else {})
    explanations = _uri(described, "DriftCheckBaselines", "Explainability", "Constraints", "S3Uri")
    containers = described.get("InferenceSpecification", {}).get("Containers") or [{}]
    return Registered(
        arn=described["ModelPackageArn"],
        baseline=parse_baseline(get_json(s3, stats_uri), get_json(s3, cons_uri), schema),
        evaluation=get_json(s3, evaluation_uri) if evaluation_uri else None,
        bias=bias or None,
        explanations=get_json(s3, explanations) if explanations else None,
        model_data_url=containers[0].get("ModelDataUrl"),
    )
