"""The synthesized training pipeline, executed end to end by the local runtime on moto.

The Dev stage's definition from cdk.out runs on a small curated dataset: every step's
real entry point in a subprocess, S3 and the model registry on a moto server. The
registered v1 and the worse candidate scored against it are one pipeline's two
executions, read by two tests; the impossible threshold is an execution of its own.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from config.schema import load_schema
from local.lake.synthetic import generate_clean
from local.moto_platform import CURATED_BUCKET, LocalPlatform
from local.pipeline.training_run import TrainingRun, approve_latest, run_training_pipeline
from local.s3_sync import split_uri, upload_dir

ROWS = 3000


@pytest.fixture(scope="module")
def cdk_out(synth_report):
    return synth_report.assembly_dir


@pytest.fixture(scope="module")
def curated(tmp_path_factory):
    directory = tmp_path_factory.mktemp("curated")
    generate_clean(load_schema("churn"), ROWS, seed=11).to_parquet(directory / "part-0.parquet")
    return directory


def _evaluation(platform: LocalPlatform, run: TrainingRun) -> dict:
    execution = run.executions[-1]
    uri = f"s3://local-artifacts/pipeline-runs/{execution.id}/evaluate/evaluation/evaluation.json"
    bucket, key = split_uri(uri)
    return json.loads(platform.s3.get_object(Bucket=bucket, Key=key)["Body"].read())


@pytest.fixture(scope="module")
def approved_then_worse(cdk_out, curated, tmp_path_factory) -> dict:
    """One pipeline, two executions: v1 on the curated rows (inspected as registered,
    then approved), then a candidate trained on noisy labels, scored against v1."""
    work = tmp_path_factory.mktemp("pipeline")
    # Flip a third of the labels: the second model learns noise and scores lower.
    noisy = work / "noisy"
    noisy.mkdir()
    frame = generate_clean(load_schema("churn"), ROWS, seed=11)
    flip = np.random.default_rng(3).random(len(frame)) < 0.35
    frame.loc[flip, "churned"] = 1 - frame.loc[flip, "churned"]
    frame.to_parquet(noisy / "part-0.parquet")
    seen: dict = {"reports": []}

    def inspect_approve_then_add_noise(platform: LocalPlatform, run: TrainingRun) -> None:
        seen["reports"].append(_evaluation(platform, run))
        if len(run.executions) > 1:
            return
        arn = run.executions[-1].model_package_arn
        package = platform.sagemaker.describe_model_package(ModelPackageName=arn)
        seen["package"] = package
        seen["registered"] = platform.model_packages()  # as registered, before approval
        baselines = package["DriftCheckBaselines"]["ModelDataQuality"]
        for document in ("Statistics", "Constraints"):
            bucket, key = split_uri(baselines[document]["S3Uri"])
            seen[document] = json.loads(
                platform.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            )
        approve_latest(platform, run)
        upload_dir(platform.s3, noisy, f"s3://{CURATED_BUCKET}/data/noisy/")

    seen["run"] = run_training_pipeline(
        cdk_out,
        curated,
        work / "work",
        # The threshold is out of the way: only "not worse than approved" decides.
        executions=[
            {},
            {"InputDataUrl": f"s3://{CURATED_BUCKET}/data/noisy/", "MetricThreshold": 0.0},
        ],
        between=inspect_approve_then_add_noise,
    )
    return seen


def test_pipeline_registers_a_version_with_metrics_and_baselines(approved_then_worse):
    seen = approved_then_worse
    execution = seen["run"].executions[0]
    assert execution.status == "Succeeded", execution.failure_reason
    assert [s.name for s in execution.steps] == [
        "Preprocess",
        "DataQualityBaseline",
        "Train",
        "Evaluate",
        "QualityGate",
        "Register",
    ]
    assert execution.step("Train").detail["metrics"]["validation:auc"] > 0.75
    [package] = seen["registered"]
    assert package["arn"] == execution.model_package_arn
    assert package["version"] == 1 and package["approval_status"] == "PendingManualApproval"
    assert package["metrics"]["auc"] >= 0.75
    container = seen["package"]["InferenceSpecification"]["Containers"][0]
    assert container["Environment"]["SAGEMAKER_PROGRAM"] == "inference.py"
    assert container["ModelDataUrl"].endswith("/output/model.tar.gz")
    statistics = seen["Statistics"]
    assert statistics["dataset"]["item_count"] == pytest.approx(ROWS * 0.7, rel=0.02)
    names = {f["name"] for f in statistics["features"]}
    assert names == set(load_schema("churn").feature_names)
    assert seen["Constraints"]["monitoring_config"]["evaluate_constraints"] == "Enabled"


def test_impossible_threshold_ends_at_the_fail_step(cdk_out, curated, tmp_path):
    run = run_training_pipeline(cdk_out, curated, tmp_path, executions=[{"MetricThreshold": 1.01}])

    execution = run.executions[0]
    assert execution.status == "Failed"
    assert execution.steps[-1].name == "QualityGateFailed"
    assert execution.step("QualityGate").detail == {"outcome": False}
    assert "auc" in execution.failure_reason and "threshold 1.01" in execution.failure_reason
    assert run.model_packages == []


def test_model_worse_than_the_approved_one_is_not_registered(approved_then_worse):
    run = approved_then_worse["run"]
    first, second = run.executions
    assert first.status == "Succeeded" and second.status == "Failed"
    first_report, candidate = approved_then_worse["reports"]
    assert first_report["approved_model"]["model_package_arn"] is None
    # v1 was scored again, on the second execution's own test split.
    assert candidate["approved_model"]["model_package_arn"] == first.model_package_arn
    assert candidate["approved_model"]["value"] != pytest.approx(
        first_report["binary_classification_metrics"]["auc"]["value"]
    )
    assert (
        candidate["binary_classification_metrics"]["auc"]["value"]
        < candidate["approved_model"]["value"]
    )
    assert "approved model's" in second.failure_reason
    assert [p["version"] for p in run.model_packages] == [1]
    assert run.model_packages[0]["approval_status"] == "Approved"
