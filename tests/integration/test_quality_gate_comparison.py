"""The quality gate's comparison with the approved model, across schema changes."""

from __future__ import annotations

import copy
import json
import shutil
import tarfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from config.schema import DATASETS_DIR, load_schema
from features.transform import FeatureTransform
from training import evaluate
from training.splits import load_split

GATE = load_schema("churn").quality_gate


def approved_archive(tmp_path: Path, model_dir: Path, schema_data: dict) -> Path:
    """A model.tar.gz holding the booster with the given schema in its transformation
    (the multiclass gate tests use it too)."""
    directory = tmp_path / "approved"
    shutil.copytree(model_dir, directory)
    medians = FeatureTransform.load(model_dir).medians
    FeatureTransform(schema_data=schema_data, medians=medians).save(directory)
    archive = tmp_path / "approved.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for item in directory.iterdir():
            tar.add(item, arcname=item.name)
    return archive


def _compare(model_run, monkeypatch, archive: Path) -> dict:
    arn = "arn:aws:sagemaker:us-east-1:123456789012:model-package/churn-models-dev/1"
    approved = SimpleNamespace(model_package_arn=arn, model_data_url="s3://artifacts/m.tar.gz")
    monkeypatch.setattr(evaluate, "latest_approved", lambda group: approved)
    monkeypatch.setattr(evaluate, "download", lambda url, to: shutil.copy(archive, to) and to)
    test_dir = model_run["prep"] / "test"
    _, labels, _ = load_split(test_dir, "test")
    report = json.loads((model_run["evaluation"] / "evaluation.json").read_text())
    return evaluate.comparison(report, GATE, "churn-models-dev", test_dir, labels)


def test_the_approved_model_is_scored_on_the_same_rows(model_run, monkeypatch, tmp_path):
    schema = json.loads((DATASETS_DIR / "churn.json").read_text())
    block = _compare(
        model_run, monkeypatch, approved_archive(tmp_path, model_run["model_dir"], schema)
    )
    report = json.loads((model_run["evaluation"] / "evaluation.json").read_text())
    # The same model on the same rows: the same metric, and nothing skipped.
    assert block["skipped"] is None
    assert block["value"] == pytest.approx(report["binary_classification_metrics"]["auc"]["value"])


def test_raw_columns_are_matched_by_name_not_position(model_run, monkeypatch, tmp_path):
    schema = json.loads((DATASETS_DIR / "churn.json").read_text())
    reordered = copy.deepcopy(schema)
    reordered["features"].reverse()  # a schema listing the same features in another order
    block = _compare(
        model_run, monkeypatch, approved_archive(tmp_path, model_run["model_dir"], reordered)
    )
    # Read by position, "false" would land in tenure_months and the model be skipped as
    # rejecting the data; read by name, every value reaches its feature and it is scored.
    assert block["skipped"] is None and 0.0 < block["value"] < 1.0


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (
            lambda s: s["features"].append({"name": "loyalty_points", "type": "numeric"}),
            "trained on features this data lacks: ['loyalty_points']",
        ),
        (
            lambda s: s["features"][5].update(categories=["monthly", "yearly"]),
            "rejects this data: record 1: feature 'contract' has unknown category",
        ),
    ],
)
def test_an_approved_model_of_another_schema_is_skipped_with_the_reason(
    model_run, monkeypatch, tmp_path, change, reason
):
    schema = json.loads((DATASETS_DIR / "churn.json").read_text())
    change(schema)
    block = _compare(
        model_run, monkeypatch, approved_archive(tmp_path, model_run["model_dir"], schema)
    )
    report = json.loads((model_run["evaluation"] / "evaluation.json").read_text())
    candidate = report["binary_classification_metrics"]["auc"]["value"]
    assert reason in block["skipped"] and "churn-models-dev/1" in block["skipped"]
    # Compared with itself: the "not worse than the approved model" half holds trivially.
    assert block["value"] == candidate and np.isfinite(candidate)
