"""A schema without an id column or an event time through both Glue jobs on local Spark.

Without an id every record is a row of its own, keyed by ``etl_row_id``: identical records
stay two rows, and loading the same file again, or from a lake elsewhere, gives the same
keys, so curated holds each row once and splits do not depend on the lake's location.
Without an event time the partition month is the raw file's modification time (S3
LastModified on AWS), not the clock of the run.
"""

from __future__ import annotations

import csv
import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from config.schema import DATASETS_DIR, ROW_KEY_COLUMN, DatasetSchema
from local.lake.etl import LocalLake, run_processed_to_curated, run_raw_to_processed
from local.lake.synthetic import generate_clean, raw_records

pytestmark = pytest.mark.spark

MARCH = datetime(2024, 3, 15, 12, tzinfo=UTC).timestamp()
JUNE = datetime(2024, 6, 2, 8, tzinfo=UTC).timestamp()


def _schema(tmp_path: Path, *drop: str) -> tuple[DatasetSchema, Path]:
    data = json.loads((DATASETS_DIR / "churn.json").read_text())
    for key in drop:
        del data[key]
    path = tmp_path / "schema.json"
    path.write_text(json.dumps(data))
    return DatasetSchema.from_dict(data), path


def _write_csv(path: Path, schema: DatasetSchema, rows: list[list[str]], mtime: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(schema.raw_columns)
        writer.writerows(rows)
    os.utime(path, (mtime, mtime))


def test_without_id_every_record_is_a_row_keyed_deterministically(tmp_path: Path, spark) -> None:
    schema, schema_path = _schema(tmp_path, "id_column", "event_time_column")
    rows = raw_records(schema, generate_clean(schema, 50, seed=5))
    rows.append(list(rows[0]))  # an identical record: still a row of its own
    lake = LocalLake(tmp_path / "lake")
    batch = lake.raw / "batch" / "people.csv"
    _write_csv(batch, schema, rows, MARCH)

    first = run_raw_to_processed(lake, schema_path, batch)
    assert (first.input_rows, first.valid_rows, first.duplicates_dropped) == (51, 51, 0)
    assert first.balanced
    processed = pd.read_parquet(lake.processed)
    keys = processed[ROW_KEY_COLUMN]
    assert keys.nunique() == 51
    assert keys.str.fullmatch(r"[0-9a-f]{64}").all()
    # The partition is the file's month (its modification time), not today's.
    assert set(processed["event_month"].astype(str)) == {"2024-03"}
    assert "event_time" not in processed.columns

    second = run_raw_to_processed(lake, schema_path, batch)  # the same file loaded again
    assert second.valid_rows == 51
    reloaded = pd.read_parquet(lake.processed)
    by_run = reloaded.groupby("etl_run_id")[ROW_KEY_COLUMN].apply(frozenset)
    assert len(by_run) == 2 and by_run.iloc[0] == by_run.iloc[1]  # same file, same keys

    # The lake copied elsewhere keys the file the same: the zone's location is not in the
    # key, so a dataset's train/test split does not depend on where its lake lives.
    moved = LocalLake(tmp_path / "elsewhere" / "lake")
    _write_csv(moved.raw / "batch" / "people.csv", schema, rows, MARCH)
    run_raw_to_processed(moved, schema_path, moved.raw / "batch" / "people.csv")
    assert frozenset(pd.read_parquet(moved.processed)[ROW_KEY_COLUMN]) == by_run.iloc[0]

    curated_counts = run_processed_to_curated(lake, schema_path)
    curated = pd.read_parquet(lake.curated)
    assert curated_counts.curated_rows == len(curated) == 51
    assert list(curated.columns[:1]) == [ROW_KEY_COLUMN]
    assert "avg_monthly_spend" in curated.columns


def test_without_event_time_the_newer_file_wins_for_an_id(tmp_path: Path, spark) -> None:
    schema, schema_path = _schema(tmp_path, "event_time_column")
    frame = generate_clean(schema, 20, seed=6)
    rows = raw_records(schema, frame)
    position = schema.raw_columns.index("support_calls")
    changed = [list(row) for row in rows[:5]]
    for row in changed:
        row[position] = "49"
    lake = LocalLake(tmp_path / "lake")
    _write_csv(lake.raw / "batch" / "old.csv", schema, rows, MARCH)
    _write_csv(lake.raw / "batch" / "new.csv", schema, changed, JUNE)

    counts = run_raw_to_processed(lake, schema_path, lake.raw / "batch")
    assert (counts.input_rows, counts.valid_rows, counts.duplicates_dropped) == (25, 20, 5)
    assert counts.balanced
    processed = pd.read_parquet(lake.processed).set_index("customer_id")
    updated = [row[0] for row in changed]
    assert (processed.loc[updated, "support_calls"] == 49).all()
    assert set(processed.loc[updated, "event_month"].astype(str)) == {"2024-06"}
    others = processed.drop(index=updated)
    assert set(others["event_month"].astype(str)) == {"2024-03"}

    run_processed_to_curated(lake, schema_path)
    curated = pd.read_parquet(lake.curated)
    assert len(curated) == 20 and curated["customer_id"].is_unique
