"""Bias drift and feature attribution drift, from captured traffic to the synthesized
alarms: the monitor (against moto) compares two hourly windows with a registered churn
model's own bias and explainability baselines (Evaluate's reports, as the Register step
files them), publishes its metrics, and the Dev stage's alarms are evaluated on them
(the local CloudWatch alarm stand-in).

Three endpoints get the same kind of traffic but for one injected fault each: none; a
biased model (its answers favour senior citizens); a shifted attribution (a new customer
segment, in which another feature leads the model's answers).
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from config.layout import DATA_CAPTURE_PREFIX, GROUND_TRUTH_PREFIX, MONITORING_PREFIX, VARIANT_NAME
from config.schema import DATASETS_DIR, load_schema
from features.packaged_model import load_packaged
from features.profile import constraints, statistics
from local.lake.synthetic import feature_records, generate_clean
from local.monitoring.alarms import ALARM, evaluate_in_cloudwatch, load_alarms
from local.monitoring.capture_traffic import captured_rows, ground_truth_line
from local.moto_platform import ACCOUNT, ARTIFACTS_BUCKET, REGION, local_platform
from monitoring.monitor import Clients, monitor
from tests.unit.monitoring.conftest import raw_frame

SCHEMA = load_schema("churn")
GROUP = "churn-models-dev"
NOW = datetime(2026, 12, 1, 21, 30, tzinfo=UTC)
ROWS = 1_500


def _uri(platform, key: str, body: bytes) -> dict[str, str]:
    platform.s3.put_object(Bucket=ARTIFACTS_BUCKET, Key=key, Body=body)
    return {"ContentType": "application/json", "S3Uri": f"s3://{ARTIFACTS_BUCKET}/{key}"}


def _register(platform, model_run: dict) -> None:
    """An Approved version with the model_run's model and its Evaluate reports."""
    stats = statistics(raw_frame(SCHEMA, generate_clean(SCHEMA, 5_000, seed=1)), SCHEMA)
    data_quality = {
        "Statistics": _uri(platform, "v1/statistics.json", json.dumps(stats).encode()),
        "Constraints": _uri(
            platform, "v1/constraints.json", json.dumps(constraints(stats, SCHEMA)).encode()
        ),
    }
    report = {
        name: _uri(platform, f"v1/{name}", (model_run["evaluation"] / name).read_bytes())
        for name in ("bias_pre_training.json", "bias_post_training.json", "explanations.json")
    }
    archive = model_run["work"] / "packaged" / "model.tar.gz"
    platform.s3.upload_file(str(archive), ARTIFACTS_BUCKET, "v1/model.tar.gz")
    platform.sagemaker.create_model_package_group(ModelPackageGroupName=GROUP)
    platform.sagemaker.create_model_package(
        ModelPackageGroupName=GROUP,
        ModelApprovalStatus="Approved",
        InferenceSpecification={
            "Containers": [
                {"Image": "xgboost", "ModelDataUrl": f"s3://{ARTIFACTS_BUCKET}/v1/model.tar.gz"}
            ],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        },
        ModelMetrics={"ModelDataQuality": data_quality},
        DriftCheckBaselines={
            "ModelDataQuality": data_quality,
            "Bias": {
                "PreTrainingConstraints": report["bias_pre_training.json"],
                "PostTrainingConstraints": report["bias_post_training.json"],
            },
            "Explainability": {"Constraints": report["explanations.json"]},
        },
    )


@pytest.fixture(scope="module")
def platform(model_run):
    with local_platform() as platform:
        platform.s3.create_bucket(Bucket=ARTIFACTS_BUCKET)
        _register(platform, model_run)
        yield platform


def _model_scores(model_run: dict, frame: pd.DataFrame) -> np.ndarray:
    """What the registered model answers for ``frame``'s rows."""
    booster, transform = load_packaged(model_run["work"] / "packaged" / "model.tar.gz")
    matrix = transform.encode(transform.parse_rows(feature_records(SCHEMA, frame)))
    return booster.inplace_predict(matrix)


def _new_segment(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` as a new customer segment: phone-only, monthly contracts, typical tenure
    and support calls. In it the internet service, not the contract, leads the model's
    answers: its attribution ranking no longer is the baseline's."""
    return frame.assign(
        contract="month-to-month",
        internet_service="none",
        tenure_months=frame["tenure_months"].median(),
        support_calls=frame["support_calls"].median(),
    )


def _run_window(platform, endpoint: str, hour: int, frame: pd.DataFrame, scores, tmp: Path):
    """Capture and label ``frame``'s rows in hour ``hour`` before NOW, then run the monitor
    as that hour's scheduled run."""
    at = NOW - timedelta(hours=hour)
    rows = list(captured_rows(SCHEMA, frame, seed=hour, start=at, scores=scores))
    body = "\n".join(r.line for r in rows) + "\n"
    prefix = f"{at:%Y/%m/%d/%H}"
    key = f"{DATA_CAPTURE_PREFIX}/{endpoint}/{VARIANT_NAME}/{prefix}/00-00-000-a.jsonl"
    platform.s3.put_object(Bucket=ARTIFACTS_BUCKET, Key=key, Body=body.encode())
    truth = "\n".join(ground_truth_line(r.event_id, r.label) for r in rows) + "\n"
    label_key = f"{GROUND_TRUTH_PREFIX}/{endpoint}/{prefix}/labels.jsonl"
    platform.s3.put_object(Bucket=ARTIFACTS_BUCKET, Key=label_key, Body=truth.encode())
    clients = Clients(platform.s3, platform.sagemaker, platform.client("cloudwatch"))
    return monitor(
        schema_path=DATASETS_DIR / "churn.json",
        capture_uri=f"s3://{ARTIFACTS_BUCKET}/{DATA_CAPTURE_PREFIX}/{endpoint}/",
        ground_truth_uri=f"s3://{ARTIFACTS_BUCKET}/{GROUND_TRUTH_PREFIX}/{endpoint}/",
        state_uri=f"s3://{ARTIFACTS_BUCKET}/{MONITORING_PREFIX}/{endpoint}/state/checkpoint.json",
        model_package_group=GROUP,
        endpoint_name=endpoint,
        schedule_name=f"{endpoint}-monitor",
        feedback_uri="",
        output_dir=tmp / endpoint / str(hour),
        clients=clients,
        now=at,
    )


def _alarm_states(platform, synth_report, endpoint: str) -> dict[str, str]:
    """The Dev stage's synthesized model-drift alarms, evaluated on ``endpoint``'s metrics."""
    alarms = load_alarms(synth_report.assembly_dir, "Dev")
    cloudwatch = platform.client("cloudwatch")
    states = {}
    for kind in ("bias-drift", "attribution-drift"):
        alarm = alarms[f"mlops-dev-churn-{kind}"]
        watched = replace(alarm, dimensions={**alarm.dimensions, "Endpoint": endpoint})
        transition = evaluate_in_cloudwatch(
            cloudwatch, watched, now=NOW, account=ACCOUNT, region=REGION
        )
        states[kind] = transition.current.value
    return states


def _two_windows(platform, model_run, tmp, endpoint, fault) -> list[dict]:
    summaries = []
    for hour in (1, 0):
        frame = generate_clean(SCHEMA, ROWS, seed=40 + hour)
        frame, scores = fault(frame)
        summaries.append(_run_window(platform, endpoint, hour, frame, scores, tmp))
    return summaries


def test_fair_traffic_raises_neither_alarm(platform, model_run, synth_report, tmp_path) -> None:
    def none(frame):
        return frame, _model_scores(model_run, frame)

    summaries = _two_windows(platform, model_run, tmp_path, "fair-endpoint", none)
    for summary in summaries:
        assert summary["bias_drift"]["violations"] == []
        assert min(summary["attribution_drift"]["ndcg"].values()) >= 0.9
        assert summary["attribution_drift"]["rows"] == ROWS  # under the sample's cap
    states = _alarm_states(platform, synth_report, "fair-endpoint")
    assert states == {"bias-drift": "OK", "attribution-drift": "OK"}


def test_a_biased_model_raises_the_bias_drift_alarm(
    platform, model_run, synth_report, tmp_path
) -> None:
    def biased(frame):
        scores = _model_scores(model_run, frame)
        return frame, np.where(frame["senior_citizen"].to_numpy(), 0.95, scores)

    summaries = _two_windows(platform, model_run, tmp_path, "biased-endpoint", biased)
    for summary in summaries:
        violated = {(v["facet"], v["metric_name"]) for v in summary["bias_drift"]["violations"]}
        assert ("senior_citizen", "DPPL") in violated
    out = tmp_path / "biased-endpoint" / "0"
    written = json.loads((out / "bias_drift.json").read_text())
    assert {"pre_training_bias_metrics", "post_training_bias_metrics", "violations"} <= set(written)
    assert (out / "bias_drift.png").exists() and "Bias drift" in (out / "report.html").read_text()
    states = _alarm_states(platform, synth_report, "biased-endpoint")
    assert states == {"bias-drift": ALARM, "attribution-drift": "OK"}


def test_a_shifted_attribution_raises_the_attribution_drift_alarm(
    platform, model_run, synth_report, tmp_path
) -> None:
    def shifted(frame):
        segment = _new_segment(frame)
        return segment, _model_scores(model_run, segment)

    summaries = _two_windows(platform, model_run, tmp_path, "shifted-endpoint", shifted)
    for summary in summaries:
        assert min(summary["attribution_drift"]["ndcg"].values()) < 0.9
    out = tmp_path / "shifted-endpoint" / "0"
    written = json.loads((out / "attribution_drift.json").read_text())
    assert written["violations"][0]["constraint_check_type"] == "feature_attribution_drift_check"
    assert (out / "attribution_drift.png").exists()
    assert _alarm_states(platform, synth_report, "shifted-endpoint")["attribution-drift"] == ALARM
