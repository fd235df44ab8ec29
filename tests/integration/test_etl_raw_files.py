"""Raw files matched by header name: any column order, extra columns reported, a file that
lacks a required column quarantined whole while the others proceed; CSV and JSON lines
chosen by extension. All through the raw -> processed job on local Spark."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pandas as pd
import pytest

from config.schema import DATASETS_DIR, load_schema
from local.lake.etl import LocalLake, run_raw_to_processed
from local.lake.synthetic import generate_clean, raw_records

pytestmark = pytest.mark.spark

CHURN = load_schema("churn")
CHURN_PATH = DATASETS_DIR / "churn.json"


def _records(rows: int, seed: int) -> list[dict[str, str]]:
    frame = generate_clean(CHURN, rows, seed=seed)
    return [dict(zip(CHURN.raw_columns, r, strict=True)) for r in raw_records(CHURN, frame)]


def _write_csv(path: Path, header: list[str], records: list[dict[str, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        for record in records:
            writer.writerow([record.get(name, "x") for name in header])


@pytest.fixture(scope="module")
def mixed_batch(tmp_path_factory, spark):
    """One batch of four files: reordered CSV with an extra column, a CSV lacking two
    required columns, JSON lines with shuffled keys and an extra key, and a README."""
    lake = LocalLake(tmp_path_factory.mktemp("lake"))
    batch = lake.raw / "batch"
    reordered = [*reversed(CHURN.raw_columns), "crm_segment"]
    _write_csv(batch / "reordered.csv", reordered, _records(40, seed=1))
    lacking = [c for c in CHURN.raw_columns if c not in ("monthly_charges", "churned")]
    _write_csv(batch / "lacking.csv", lacking, _records(7, seed=2))
    with (batch / "events.jsonl").open("w", encoding="utf-8") as handle:
        for record in _records(30, seed=3):
            shuffled = dict(sorted(record.items(), reverse=True))
            handle.write(json.dumps({**shuffled, "source_system": "crm"}) + "\n")
    (batch / "README.txt").write_text("not data\n")
    counts = run_raw_to_processed(lake, CHURN_PATH, batch)
    return lake, batch, counts


def test_columns_are_matched_by_name_and_the_lacking_file_alone_is_quarantined(
    mixed_batch,
) -> None:
    lake, _, counts = mixed_batch
    assert (counts.input_rows, counts.valid_rows) == (40 + 7 + 30, 40 + 30)
    assert counts.quarantined_by_reason == {"missing_columns": 7}
    assert counts.balanced
    processed = pd.read_parquet(lake.processed)
    assert len(processed) == 70
    # Values landed in their own columns despite the reversed header and shuffled keys.
    expected = pd.DataFrame(_records(40, seed=1) + _records(30, seed=3)).set_index("customer_id")
    got = processed.set_index("customer_id").loc[expected.index]
    assert (got["contract"] == expected["contract"]).all()
    assert got["monthly_charges"].tolist() == pytest.approx(
        expected["monthly_charges"].astype(float).tolist()
    )
    assert got["churned"].tolist() == expected["churned"].astype(int).tolist()
    assert {Path(f).name for f in processed["etl_source_file"]} == {
        "reordered.csv",
        "events.jsonl",
    }


def test_the_quarantine_names_the_file_and_its_missing_columns(mixed_batch) -> None:
    lake, _, counts = mixed_batch
    [(path, problem)] = counts.rejected_files.items()
    assert path.endswith("lacking.csv")
    assert "lacks required column(s) monthly_charges, churned" in problem
    rejected = pd.read_parquet(lake.quarantine)
    assert len(rejected) == 7
    assert set(rejected["quarantine_reason"]) == {"missing_columns"}
    assert set(rejected["quarantine_column"]) == {"monthly_charges,churned"}
    assert rejected["etl_source_file"].str.endswith("lacking.csv").all()
    assert rejected["quarantine_detail"].str.contains("lacking.csv").all()
    # Nothing is lost: each record's line is kept as the file held it.
    lines = (mixed_batch[1] / "lacking.csv").read_text().splitlines()[1:]
    assert sorted(rejected["raw_record"]) == sorted(lines)


def test_extra_columns_and_unreadable_files_are_reported(mixed_batch) -> None:
    _, _, counts = mixed_batch
    extra = {Path(path).name: columns for path, columns in counts.extra_columns.items()}
    assert extra == {"reordered.csv": ["crm_segment"], "events.jsonl": ["source_system"]}
    assert [Path(p).name for p in counts.skipped_files] == ["README.txt"]
    summary = counts.as_dict()
    assert summary["extra_columns"] and summary["rejected_files"] and summary["skipped_files"]


def test_json_lines_missing_a_key_in_every_record_is_quarantined_whole(
    tmp_path: Path, spark
) -> None:
    """For JSON lines the "header" is the keys the records use: a key absent from every
    record is a missing column; absent from some records only, a missing value."""
    lake = LocalLake(tmp_path)
    records = _records(6, seed=4)
    lake.raw.mkdir(parents=True)
    with (lake.raw / "a.json").open("w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps({k: v for k, v in record.items() if k != "event_time"}) + "\n")
    with (lake.raw / "b.jsonl").open("w", encoding="utf-8") as handle:
        for number, record in enumerate(records):
            kept = {k: v for k, v in record.items() if not (number == 0 and k == "contract")}
            handle.write(json.dumps({**kept, "customer_id": f"b-{number}"}) + "\n")
    counts = run_raw_to_processed(lake, CHURN_PATH, lake.raw)
    assert counts.quarantined_by_column == {
        "missing_columns:event_time": 6,
        "missing_required:contract": 1,
    }
    assert (counts.valid_rows, counts.balanced) == (5, True)
