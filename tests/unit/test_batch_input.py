"""training/batch_input.py: curated rows as the keyed CSV lines a batch transform splits,
and the version a scheduled run scores with (the group's latest Approved one)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from config.schema import DATASETS_DIR, FeatureType, load_schema
from local.lake.synthetic import generate_clean
from training.batch_input import NoModelError, main, model_version, record_lines

SCHEMA = load_schema("churn")


def test_every_row_becomes_one_keyed_line_of_raw_features(tmp_path: Path) -> None:
    curated = tmp_path / "curated"
    curated.mkdir()
    frame = generate_clean(SCHEMA, 250, seed=4)
    frame.to_parquet(curated / "part-0.parquet")
    arn = "arn:aws:sagemaker:us-east-1:123456789012:model-package/g/3"
    report = main(
        [
            "--input",
            str(curated),
            "--schema",
            str(DATASETS_DIR / "churn.json"),
            "--records",
            str(tmp_path / "records"),
            "--report",
            str(tmp_path / "report"),
            "--model-package-arn",
            arn,
            "--lines-per-file",
            "100",
        ]
    )
    assert report["files"] == ["part-00000.csv", "part-00001.csv", "part-00002.csv"]
    rows = [
        row for name in report["files"] for row in csv.reader((tmp_path / "records" / name).open())
    ]
    assert len(rows) == report["rows"] == 250
    assert [r[0] for r in rows] == frame[SCHEMA.row_key].astype(str).tolist()
    assert all(len(r) == 1 + len(SCHEMA.feature_names) for r in rows)
    written = json.loads((tmp_path / "report" / "batch.json").read_text())
    assert written["model_package_arn"] == arn and written["key"] == SCHEMA.row_key


@mock_aws
def test_latest_is_the_groups_newest_approved_version() -> None:
    sagemaker = boto3.client("sagemaker", region_name="us-east-1")
    sagemaker.create_model_package_group(ModelPackageGroupName="g")
    with pytest.raises(NoModelError, match="no Approved version"):
        model_version("latest", "g", sagemaker)
    container = {"Image": "img", "ModelDataUrl": "s3://b/model.tar.gz"}
    arns = [
        sagemaker.create_model_package(
            ModelPackageGroupName="g",
            InferenceSpecification={
                "Containers": [container],
                "SupportedContentTypes": ["text/csv"],
                "SupportedResponseMIMETypes": ["text/csv"],
            },
            ModelApprovalStatus=status,
        )["ModelPackageArn"]
        for status in ("Approved", "Approved", "PendingManualApproval")
    ]
    assert model_version("latest", "g", sagemaker) == arns[1]
    assert model_version(arns[0], "g", sagemaker) == arns[0]  # a version named is used as is
    with pytest.raises(NoModelError, match="needs --model-package-group"):
        model_version("latest", "")


def test_a_value_with_a_line_break_is_refused_not_split() -> None:
    frame = generate_clean(SCHEMA, 5, seed=4)
    text = next(f.name for f in SCHEMA.features if f.type is FeatureType.CATEGORICAL)
    frame[text] = frame[text].astype(object)
    frame.loc[frame.index[2], text] = "month-to\nmonth"
    with pytest.raises(ValueError, match="line break"):
        record_lines(SCHEMA, frame)
