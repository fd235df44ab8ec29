"""The ETL job's count metrics: what raw -> processed publishes to MLOps/DataLake."""

from __future__ import annotations

import boto3
from moto import mock_aws

from config.metrics import DATA_LAKE_NAMESPACE, QUARANTINE_REASONS
from glue.job_runtime import count_metrics, metrics_client, publish_counts

COUNTS = {
    "input_rows": 100,
    "valid_rows": 90,
    "quarantined_rows": 7,
    "duplicates_dropped": 3,
    "quarantined_by_reason": {"out_of_range": 5, "wrong_type": 2},
}


def test_counts_become_per_job_and_per_reason_metrics() -> None:
    data = count_metrics("raw_to_processed", COUNTS)
    by_key = {
        (d["MetricName"], tuple(sorted((x["Name"], x["Value"]) for x in d["Dimensions"]))): d[
            "Value"
        ]
        for d in data
    }
    job = ("Job", "raw_to_processed")
    assert by_key[("RowsRead", (job,))] == 100
    assert by_key[("RowsQuarantined", (job,))] == 7
    assert by_key[("RowsQuarantined", (job, ("Reason", "out_of_range")))] == 5
    assert by_key[("RowsQuarantined", (job, ("Reason", "wrong_type")))] == 2
    reasons = [d for d in data if len(d["Dimensions"]) == 2]
    assert sum(d["Value"] for d in reasons) == COUNTS["quarantined_rows"]
    assert {x["Value"] for d in reasons for x in d["Dimensions"][1:]} <= set(QUARANTINE_REASONS)


def test_published_to_cloudwatch(monkeypatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        cloudwatch = boto3.client("cloudwatch")
        sent = publish_counts("raw_to_processed", COUNTS, cloudwatch)
        metrics = cloudwatch.list_metrics(Namespace=DATA_LAKE_NAMESPACE)["Metrics"]
    assert sent == 6
    reasons = sorted(
        d["Value"]
        for m in metrics
        if m["MetricName"] == "RowsQuarantined"
        for d in m["Dimensions"]
        if d["Name"] == "Reason"
    )
    assert reasons == ["out_of_range", "wrong_type"]


def test_a_local_run_without_a_stand_in_publishes_nothing(monkeypatch) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    assert metrics_client(on_glue=False) is None
    assert publish_counts("raw_to_processed", COUNTS, None) == 0
