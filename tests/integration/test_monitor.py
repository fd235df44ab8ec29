"""The monitor entry point against moto (S3, SageMaker registry, CloudWatch).

It runs as the processing job runs it: ``python3 monitoring/monitor.py ...`` from the
training source bundle as synth packages it, with AWS reached through AWS_ENDPOINT_URL.
The registry holds an Approved version whose drift baselines come from unshifted
data; the capture holds traffic with three shifted features and ground truth for a
third of it.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import tarfile
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from config.layout import (
    DATA_CAPTURE_PREFIX,
    FEEDBACK_PREFIX,
    GROUND_TRUTH_PREFIX,
    MONITORING_PREFIX,
    VARIANT_NAME,
)
from config.schema import DATASETS_DIR, load_schema
from features.profile import constraints, statistics
from local.lake.synthetic import generate_clean
from local.monitoring.capture_traffic import captured_rows, ground_truth_line
from local.moto_platform import ARTIFACTS_BUCKET, local_platform
from stacks.constructs.code_bundle import training_members, write_archive
from tests.unit.monitoring.conftest import SHIFT, START, raw_frame

ENDPOINT, SCHEDULE, GROUP = "churn-endpoint-dev", "churn-monitor-dev", "churn-models-dev"
RAW_BUCKET = "local-raw"
REGISTERED_AUC = 0.99  # far above what the noisy scores reach: a quality violation


def _put_lines(s3, key: str, lines: list[str]) -> None:
    s3.put_object(Bucket=ARTIFACTS_BUCKET, Key=key, Body=("\n".join(lines) + "\n").encode())


def _register(platform) -> None:
    schema = load_schema("churn")
    stats = statistics(raw_frame(schema, generate_clean(schema, 10_000, seed=1)), schema)
    documents = {
        "statistics.json": stats,
        "constraints.json": constraints(stats, schema),
        "evaluation.json": {
            "binary_classification_metrics": {
                "auc": {"value": REGISTERED_AUC, "standard_deviation": "NaN"}
            }
        },
    }
    uri = {}
    for name, document in documents.items():
        key = f"pipeline-runs/1/{name}"
        platform.s3.put_object(Bucket=ARTIFACTS_BUCKET, Key=key, Body=json.dumps(document))
        uri[name] = {"ContentType": "application/json", "S3Uri": f"s3://{ARTIFACTS_BUCKET}/{key}"}
    platform.sagemaker.create_model_package_group(ModelPackageGroupName=GROUP)
    data_quality = {"Statistics": uri["statistics.json"], "Constraints": uri["constraints.json"]}
    platform.sagemaker.create_model_package(
        ModelPackageGroupName=GROUP,
        ModelApprovalStatus="Approved",
        InferenceSpecification={
            "Containers": [{"Image": "xgboost", "ModelDataUrl": "s3://x/model.tar.gz"}],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        },
        ModelMetrics={
            "ModelQuality": {"Statistics": uri["evaluation.json"]},
            "ModelDataQuality": data_quality,
        },
        DriftCheckBaselines={"ModelDataQuality": data_quality},
    )


def _traffic(seed: int, rows: int, hour: int, labelled_every: int = 3):
    schema = load_schema("churn")
    frame = generate_clean(schema, rows, seed=seed, shift=SHIFT)
    truth = frame[schema.target.name].to_numpy()
    scores = np.clip(0.3 * truth + np.random.default_rng(seed).random(rows) * 0.7, 0, 1)
    start = START + timedelta(hours=hour)
    captured = list(captured_rows(schema, frame, seed=seed, start=start, scores=scores))
    prefix = f"{start:%Y/%m/%d/%H}"
    return (
        captured,
        prefix,
        [ground_truth_line(r.event_id, r.label) for r in captured[::labelled_every]],
    )


@pytest.fixture(scope="module")
def platform_and_bundle(tmp_path_factory):
    work = tmp_path_factory.mktemp("monitor")
    bundle = write_archive(training_members(), work / "training-source.tar.gz")
    with tarfile.open(bundle) as archive:
        archive.extractall(work / "code", filter="data")
    with local_platform() as platform:
        for bucket in (ARTIFACTS_BUCKET, RAW_BUCKET):
            platform.s3.create_bucket(Bucket=bucket)
        _register(platform)
        yield platform, work


def _run(platform, work, name: str) -> dict:
    output = work / name
    capture_uri = f"s3://{ARTIFACTS_BUCKET}/{DATA_CAPTURE_PREFIX}/{ENDPOINT}/"
    done = subprocess.run(
        [
            sys.executable,
            "monitoring/monitor.py",
            "--schema",
            str(DATASETS_DIR / "churn.json"),
            "--capture-uri",
            capture_uri,
            "--ground-truth-uri",
            f"s3://{ARTIFACTS_BUCKET}/{GROUND_TRUTH_PREFIX}/{ENDPOINT}/",
            "--state-uri",
            f"s3://{ARTIFACTS_BUCKET}/{MONITORING_PREFIX}/{ENDPOINT}/state/checkpoint.json",
            "--model-package-group",
            GROUP,
            "--endpoint-name",
            ENDPOINT,
            "--schedule-name",
            SCHEDULE,
            "--feedback-uri",
            f"s3://{RAW_BUCKET}/{FEEDBACK_PREFIX}",
            "--output",
            str(output),
        ],
        cwd=work / "code",
        env=platform.env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads((output / "summary.json").read_text())


def _metric(cloudwatch, namespace: str, name: str, dimensions: dict[str, str]) -> list[float]:
    now = datetime.now(UTC)
    points = cloudwatch.get_metric_statistics(
        Namespace=namespace,
        MetricName=name,
        Dimensions=[{"Name": k, "Value": v} for k, v in dimensions.items()],
        StartTime=now - timedelta(hours=1),
        EndTime=now + timedelta(hours=1),
        Period=60,
        Statistics=["Maximum", "SampleCount"],
    )["Datapoints"]
    return [p["Maximum"] for p in points]


def _samples(cloudwatch, name: str) -> float:
    """How many datapoints of the endpoint's metric ``name`` were put (one per run that
    published), from two hours around now."""
    now = datetime.now(UTC)
    found = cloudwatch.get_metric_data(
        MetricDataQueries=[
            {
                "Id": "m",
                "MetricStat": {
                    "Metric": {
                        "Namespace": "MLOps/Monitoring",
                        "MetricName": name,
                        "Dimensions": [{"Name": "Endpoint", "Value": ENDPOINT}],
                    },
                    "Period": 7200,
                    "Stat": "SampleCount",
                },
            }
        ],
        StartTime=now - timedelta(hours=1),
        EndTime=now + timedelta(hours=1),
    )
    return float(sum(found["MetricDataResults"][0]["Values"]))


def test_monitor_run_publishes_metrics_reports_and_feedback(platform_and_bundle) -> None:
    platform, work = platform_and_bundle
    s3 = platform.s3
    captured, hour, truth = _traffic(seed=11, rows=3_000, hour=0)
    capture_prefix = f"{DATA_CAPTURE_PREFIX}/{ENDPOINT}/{VARIANT_NAME}/{hour}"
    _put_lines(s3, f"{capture_prefix}/00-00-000-a.jsonl", [r.line for r in captured[:1_800]])
    _put_lines(s3, f"{capture_prefix}/30-00-000-b.jsonl", [r.line for r in captured[1_800:]])
    _put_lines(s3, f"{GROUND_TRUTH_PREFIX}/{ENDPOINT}/{hour}/labels.jsonl", truth)

    summary = _run(platform, work, "run-1")
    assert summary["rows_analyzed"] == 3_000 and summary["capture_objects"] == 2
    assert sorted(summary["features_drifted"]) == sorted(SHIFT)
    assert summary["ground_truth"]["joined_rows"] == len(truth)
    assert summary["model_quality"]["violation"] is True

    cloudwatch = platform.client("cloudwatch")
    model_monitor = {"Endpoint": ENDPOINT, "MonitoringSchedule": SCHEDULE}
    listed = cloudwatch.list_metrics(Namespace="aws/sagemaker/Endpoints/data-metrics")["Metrics"]
    assert {m["MetricName"] for m in listed} == {
        f"feature_baseline_drift_{name}" for name in load_schema("churn").feature_names
    }
    assert all({d["Name"]: d["Value"] for d in m["Dimensions"]} == model_monitor for m in listed)
    drift = _metric(
        cloudwatch,
        "aws/sagemaker/Endpoints/data-metrics",
        "feature_baseline_drift_age",
        model_monitor,
    )
    assert drift == [pytest.approx(summary["drift"]["age"], abs=1e-6)] and drift[0] > 0.1
    ours = {"Endpoint": ENDPOINT}
    assert _metric(cloudwatch, "MLOps/Monitoring", "FeaturesDrifted", ours) == [3.0]
    assert _metric(cloudwatch, "MLOps/Monitoring", "RowsAnalyzed", ours) == [3_000.0]
    assert _metric(cloudwatch, "MLOps/Monitoring", "ModelQualityViolation", ours) == [1.0]
    assert _metric(cloudwatch, "MLOps/Monitoring", "DataQualityViolations", ours) == [
        float(summary["data_quality_violations"])
    ]
    auc = _metric(cloudwatch, "MLOps/Monitoring", "auc", ours)
    assert auc == [pytest.approx(summary["model_quality"]["metrics"]["auc"])]
    assert _metric(cloudwatch, "aws/sagemaker/Endpoints/model-metrics", "auc", model_monitor) == auc

    feedback_key = summary["feedback"].removeprefix(f"s3://{RAW_BUCKET}/")
    assert feedback_key.startswith(FEEDBACK_PREFIX) and feedback_key.endswith(".csv")
    body = s3.get_object(Bucket=RAW_BUCKET, Key=feedback_key)["Body"].read().decode()
    rows = list(csv.reader(io.StringIO(body)))
    assert rows[0] == load_schema("churn").raw_columns and len(rows) == 1 + len(truth)
    output = work / "run-1"
    for name in (
        "statistics.json",
        "constraint_violations.json",
        "model_quality.json",
        "report.html",
    ):
        assert (output / name).is_file()

    # Nothing new: nothing read twice.
    assert _run(platform, work, "run-2")["rows_analyzed"] == 0
    # A new file: only it is read; its labels arrived with it.
    later, hour2, truth2 = _traffic(seed=12, rows=600, hour=1)
    _put_lines(
        s3,
        f"{DATA_CAPTURE_PREFIX}/{ENDPOINT}/{VARIANT_NAME}/{hour2}/00-00-000-c.jsonl",
        [r.line for r in later],
    )
    _put_lines(s3, f"{GROUND_TRUTH_PREFIX}/{ENDPOINT}/{hour2}/labels.jsonl", truth2)
    third = _run(platform, work, "run-3")
    assert third["rows_analyzed"] == 600 and third["capture_objects"] == 1
    assert third["ground_truth"]["joined_rows"] == len(truth2)
    # Labels for requests an earlier run already profiled: joined, not profiled again.
    late = [ground_truth_line(r.event_id, r.label) for r in captured[1::3]]
    _put_lines(s3, f"{GROUND_TRUTH_PREFIX}/{ENDPOINT}/{hour2}/late-labels.jsonl", late)
    fourth = _run(platform, work, "run-4")
    assert fourth["rows_analyzed"] == 0 and fourth["ground_truth"]["joined_rows"] == len(late)
    assert fourth["ground_truth"]["pending_labels"] == 0


def test_a_run_repeated_from_the_same_checkpoint_gives_the_same_result(platform_and_bundle) -> None:
    platform, work = platform_and_bundle
    s3 = platform.s3
    state_key = f"{MONITORING_PREFIX}/{ENDPOINT}/state/checkpoint.json"
    if "Contents" not in s3.list_objects_v2(Bucket=ARTIFACTS_BUCKET, Prefix=state_key):
        # Run alone (or on another worker than the test above): a first run of its own
        # leaves the checkpoint that the replay starts from.
        first, hour0, truth0 = _traffic(seed=14, rows=300, hour=1)
        _put_lines(
            s3,
            f"{DATA_CAPTURE_PREFIX}/{ENDPOINT}/{VARIANT_NAME}/{hour0}/00-00-000-e.jsonl",
            [r.line for r in first],
        )
        _put_lines(s3, f"{GROUND_TRUTH_PREFIX}/{ENDPOINT}/{hour0}/labels.jsonl", truth0)
        assert _run(platform, work, "replay-0")["rows_analyzed"] == 300
    saved = s3.get_object(Bucket=ARTIFACTS_BUCKET, Key=state_key)["Body"].read()
    late, hour, truth = _traffic(seed=13, rows=900, hour=2)
    _put_lines(
        s3,
        f"{DATA_CAPTURE_PREFIX}/{ENDPOINT}/{VARIANT_NAME}/{hour}/00-00-000-d.jsonl",
        [r.line for r in late],
    )
    _put_lines(s3, f"{GROUND_TRUTH_PREFIX}/{ENDPOINT}/{hour}/labels.jsonl", truth)
    cloudwatch = platform.client("cloudwatch")
    rows_before = _samples(cloudwatch, "RowsAnalyzed")
    feedback_before = s3.list_objects_v2(Bucket=RAW_BUCKET, Prefix=FEEDBACK_PREFIX)["KeyCount"]
    first = _run(platform, work, "replay-1")
    checkpoint = json.loads(s3.get_object(Bucket=ARTIFACTS_BUCKET, Key=state_key)["Body"].read())
    feedback_key = first["feedback"].split("/", 3)[3]
    feedback = s3.get_object(Bucket=RAW_BUCKET, Key=feedback_key)["Body"].read()
    rows_after_first = _samples(cloudwatch, "RowsAnalyzed")
    # As if the run had died before saving its checkpoint: the next run redoes it.
    s3.put_object(Bucket=ARTIFACTS_BUCKET, Key=state_key, Body=saved)
    again = _run(platform, work, "replay-2")
    # Nothing counted twice: the rows are in CloudWatch once, the feedback batch is the
    # same object with the same rows, the checkpoint has moved to the same place.
    assert rows_after_first == rows_before + 1
    assert _samples(cloudwatch, "RowsAnalyzed") == rows_after_first
    assert again["feedback"] == first["feedback"]
    assert s3.get_object(Bucket=RAW_BUCKET, Key=feedback_key)["Body"].read() == feedback
    rerun = json.loads(s3.get_object(Bucket=ARTIFACTS_BUCKET, Key=state_key)["Body"].read())
    moved = ("capture", "ground_truth", "pending_labels")
    assert {k: rerun[k] for k in moved} == {k: checkpoint[k] for k in moved}
    assert rerun["last_run"]["run_id"] == checkpoint["last_run"]["run_id"]
    same = (
        "rows_analyzed",
        "drift",
        "features_drifted",
        "ground_truth",
        "model_quality",
        "feedback",
    )
    assert {k: first[k] for k in same} == {k: again[k] for k in same}
    assert first["rows_analyzed"] == 900
    assert (work / "replay-1" / "statistics.json").read_text() == (
        work / "replay-2" / "statistics.json"
    ).read_text()
    listed = s3.list_objects_v2(Bucket=RAW_BUCKET, Prefix=FEEDBACK_PREFIX)["Contents"]
    assert len(listed) == feedback_before + 1  # this window's, written twice under one key
