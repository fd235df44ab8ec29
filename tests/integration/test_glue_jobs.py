"""The Glue job scripts on local Spark: exact quarantine counts, no row lost, correct curation."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from config.schema import DATASETS_DIR, load_schema
from glue.validate import RowsLostError
from local.lake.etl import LocalLake, run_processed_to_curated, run_raw_to_processed
from local.lake.synthetic import DirtyRows, generate_clean, write_raw

pytestmark = pytest.mark.spark

CHURN = load_schema("churn")
CHURN_PATH = DATASETS_DIR / "churn.json"
DIRTY = DirtyRows(
    missing_required=9, wrong_type=7, out_of_range=6, unknown_category=5, malformed=4, duplicates=8
)


@pytest.fixture(scope="module")
def churn_lake(tmp_path_factory, spark) -> tuple[LocalLake, list, object]:
    """Two batches (CSV then JSON lines) through both jobs, shared by the tests below."""
    lake = LocalLake(tmp_path_factory.mktemp("lake"))
    csv_batch = write_raw(
        CHURN, generate_clean(CHURN, 600, seed=21), lake.raw / "a.csv", dirty=DIRTY, seed=21
    )
    json_batch = write_raw(
        CHURN,
        generate_clean(CHURN, 300, seed=22),
        lake.raw / "b.jsonl",
        dirty=DIRTY,
        seed=22,
        fmt="jsonl",
    )
    counts = [
        run_raw_to_processed(lake, CHURN_PATH, csv_batch.path, "csv"),
        run_raw_to_processed(lake, CHURN_PATH, json_batch.path, "jsonl"),
    ]
    curated = run_processed_to_curated(lake, CHURN_PATH)
    return lake, counts, curated


@pytest.mark.parametrize("batch", [0, 1], ids=["csv", "jsonl"])
def test_exact_quarantine_counts_and_nothing_lost(churn_lake, batch: int) -> None:
    _, counts, _ = churn_lake
    result = counts[batch]
    clean = 600 if batch == 0 else 300
    assert result.quarantined_by_reason == {
        "malformed_record": 4,
        "missing_required": 9,
        "out_of_range": 6,
        "unknown_category": 5,
        "wrong_type": 7,
    }
    assert result.duplicates_dropped == 8
    assert result.valid_rows == clean
    assert result.input_rows == clean + DIRTY.quarantined + DIRTY.duplicates
    assert result.balanced
    assert (
        result.input_rows == result.valid_rows + result.quarantined_rows + result.duplicates_dropped
    )


def test_quarantine_keeps_raw_values_reason_and_column(churn_lake) -> None:
    lake, _, _ = churn_lake
    rejected = pd.read_parquet(lake.quarantine)
    assert len(rejected) == 2 * DIRTY.quarantined
    assert rejected["quarantine_reason"].value_counts().to_dict() == {
        "missing_required": 18,
        "wrong_type": 14,
        "out_of_range": 12,
        "unknown_category": 10,
        "malformed_record": 8,
    }
    # Every rejected row keeps its line as read, and the rule's own words.
    assert rejected["raw_record"].notna().all()
    assert rejected["quarantine_detail"].notna().all()
    unknown = rejected[rejected["quarantine_reason"] == "unknown_category"]
    assert set(unknown["quarantine_column"]) <= {"contract", "internet_service", "payment_method"}
    for _, row in unknown.iterrows():
        assert row[row["quarantine_column"]] == "not-a-known-category"
    wrong = rejected[rejected["quarantine_reason"] == "wrong_type"]
    assert all(
        row[row["quarantine_column"]] in ("n/a-text", "perhaps") for _, row in wrong.iterrows()
    )
    numbers = wrong[wrong["quarantine_column"] == "tenure_months"]
    assert set(numbers["quarantine_detail"]) == {"must be a number, got 'n/a-text'"}
    assert rejected["etl_source_file"].str.endswith(("a.csv", "b.jsonl")).all()


def test_processed_zone_is_typed_partitioned_and_deduplicated(churn_lake) -> None:
    lake, _, _ = churn_lake
    processed = pd.read_parquet(lake.processed)
    assert len(processed) == 900
    assert processed["customer_id"].is_unique
    assert str(processed["event_time"].dtype).startswith("datetime64")
    assert processed["paperless_billing"].dtype == bool
    assert set(processed["churned"].unique()) <= {0, 1}
    assert {p.name.split("=")[0] for p in lake.processed.iterdir() if p.is_dir()} == {"event_month"}
    # Stale duplicates carried older event times: the kept row is the newest one.
    source = generate_clean(CHURN, 600, seed=21).set_index("customer_id")["event_time"]
    kept = processed.set_index("customer_id")["event_time"]
    common = source.index.intersection(kept.index)
    assert (kept[common].dt.tz_convert("UTC") == source[common].dt.tz_convert("UTC")).all()


def test_curated_has_derived_features_with_right_values(churn_lake) -> None:
    lake, _, curated_counts = churn_lake
    curated = pd.read_parquet(lake.curated)
    assert list(curated.columns) == [name for name, _ in CHURN.curated_columns()]
    assert curated_counts.curated_rows == len(curated) == 900
    assert curated_counts.superseded_rows == 0
    row = curated[(curated["tenure_months"] > 0) & curated["total_charges"].notna()].iloc[0]
    assert row["avg_monthly_spend"] == pytest.approx(row["total_charges"] / row["tenure_months"])
    assert row["log_total_charges"] == pytest.approx(math.log1p(row["total_charges"]))
    expected_band = sum(row["tenure_months"] >= b for b in (6, 12, 24, 48))
    assert row["tenure_band"] == expected_band
    zero_tenure = curated[curated["tenure_months"] == 0]
    assert zero_tenure["avg_monthly_spend"].isna().all()


def test_newer_batch_supersedes_older_rows_in_curated(tmp_path: Path, spark) -> None:
    lake = LocalLake(tmp_path)
    old = generate_clean(CHURN, 50, seed=31)
    newer = old.copy()
    newer["event_time"] = newer["event_time"] + pd.Timedelta(days=3)
    newer["support_calls"] = 9.0
    write_raw(CHURN, old, lake.raw / "1" / "old.csv")
    write_raw(CHURN, newer.iloc[:20], lake.raw / "2" / "new.csv")
    run_raw_to_processed(lake, CHURN_PATH, lake.raw / "1")
    run_raw_to_processed(lake, CHURN_PATH, lake.raw / "2")
    counts = run_processed_to_curated(lake, CHURN_PATH)
    assert (counts.input_rows, counts.superseded_rows, counts.curated_rows) == (70, 20, 50)
    curated = pd.read_parquet(lake.curated)
    assert (curated["support_calls"] == 9.0).sum() == 20


def test_second_dataset_flows_with_no_code_change(tmp_path: Path, spark) -> None:
    """house_prices shares no column with churn; only its JSON file describes it."""
    schema_path = DATASETS_DIR / "house_prices.json"
    schema = load_schema(schema_path)
    lake = LocalLake(tmp_path)
    dirty = DirtyRows(
        missing_required=3,
        wrong_type=3,
        out_of_range=2,
        unknown_category=2,
        malformed=2,
        duplicates=5,
    )
    batch = write_raw(schema, generate_clean(schema, 400, seed=4), lake.raw / "h.csv", dirty=dirty)
    counts = run_raw_to_processed(lake, schema_path, batch.path)
    assert counts.quarantined_by_reason == {
        "malformed_record": 2,
        "missing_required": 3,
        "out_of_range": 2,
        "unknown_category": 2,
        "wrong_type": 3,
    }
    assert (counts.valid_rows, counts.duplicates_dropped, counts.balanced) == (400, 5, True)
    curated_counts = run_processed_to_curated(lake, schema_path)
    curated = pd.read_parquet(lake.curated)
    assert curated_counts.curated_rows == 400
    assert list(curated.columns) == [name for name, _ in schema.curated_columns()]
    assert curated["era"].between(0, 4).all()
    assert curated["sale_price"].dtype == float


def test_a_count_mismatch_fails_the_batch_before_any_write(
    tmp_path: Path, spark, monkeypatch
) -> None:
    """The balance line is a real check: each side is counted on its own, so when the
    text holds a record the parser did not yield, the counts disagree and nothing is
    written. (Every odd line we could build is quarantined, not lost, so the test makes
    the independent text count disagree.)"""
    import glue.validate

    lake = LocalLake(tmp_path)
    batch = write_raw(
        CHURN,
        generate_clean(CHURN, 5, seed=8),
        lake.raw / "ok.csv",
        dirty=DirtyRows(wrong_type=1, duplicates=1),
    )
    real_count = glue.validate.count_records
    monkeypatch.setattr(glue.validate, "count_records", lambda *a: real_count(*a) + 1)
    with pytest.raises(RowsLostError, match="hold 8 records but 5 valid") as refused:
        run_raw_to_processed(lake, CHURN_PATH, batch.path)
    counts = refused.value.counts
    assert (counts.valid_rows, counts.quarantined_rows, counts.duplicates_dropped) == (5, 1, 1)
    assert counts.balanced is False
    assert not lake.processed.exists()
    assert not lake.quarantine.exists()
