"""A multiclass target through the Glue jobs on local Spark: the curated target is the
class index in ``target.classes`` order, a value outside the classes is quarantined as an
unknown category, and a JSON-lines file's numeric class values match their text."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from config.schema import load_schema
from local.lake.etl import LocalLake, run_processed_to_curated, run_raw_to_processed
from local.lake.synthetic import DirtyRows, generate_clean, write_raw
from tests.conftest import MULTICLASS_SCHEMA

pytestmark = pytest.mark.spark

SCHEMA = load_schema(MULTICLASS_SCHEMA)
# Two unknown categories: one lands in the categorical feature, one in the target.
DIRTY = DirtyRows(missing_required=3, wrong_type=2, out_of_range=2, unknown_category=2)


def test_curated_target_is_the_class_index_and_unknown_classes_are_quarantined(
    tmp_path, spark
) -> None:
    lake = LocalLake(tmp_path / "lake")
    clean = generate_clean(SCHEMA, 300, seed=31)
    batch = write_raw(SCHEMA, clean, lake.raw / "plans.csv", dirty=DIRTY, seed=31)
    counts = run_raw_to_processed(lake, MULTICLASS_SCHEMA, batch.path, "csv")
    assert counts.balanced and counts.valid_rows == 300
    assert counts.quarantined_by_reason == {
        "missing_required": 3,
        "wrong_type": 2,
        "out_of_range": 2,
        "unknown_category": 2,
    }
    rejected = pd.read_parquet(lake.quarantine)
    unknown = rejected[rejected["quarantine_reason"] == "unknown_category"]
    assert sorted(unknown["quarantine_column"]) == ["plan", "region"]
    run_processed_to_curated(lake, MULTICLASS_SCHEMA)
    curated = pd.read_parquet(lake.curated).set_index("customer_id").sort_index()
    expected = clean.set_index("customer_id").sort_index()["plan"]
    assert str(curated["plan"].dtype) == "int32"
    assert curated["plan"].tolist() == expected.tolist()
    assert set(curated["plan"]) == {0, 1, 2}


def test_numeric_class_values_in_json_lines_match_their_text(tmp_path, spark) -> None:
    data = json.loads(MULTICLASS_SCHEMA.read_text())
    data["target"]["classes"] = ["1", "2", "3"]  # e.g. a rating: JSON writes 1, not "1"
    schema_path = tmp_path / "ratings.json"
    schema_path.write_text(json.dumps(data))
    schema = load_schema(schema_path)
    lake = LocalLake(tmp_path / "lake")
    clean = generate_clean(schema, 120, seed=32)
    batch = write_raw(schema, clean, lake.raw / "ratings.jsonl", seed=32, fmt="jsonl")
    first = json.loads(batch.path.read_text().splitlines()[0])
    assert isinstance(first["plan"], int)
    counts = run_raw_to_processed(lake, schema_path, batch.path, "jsonl")
    assert counts.valid_rows == 120 and counts.quarantined_rows == 0
    run_processed_to_curated(lake, schema_path)
    curated = pd.read_parquet(lake.curated).set_index("customer_id").sort_index()
    assert curated["plan"].tolist() == clean.set_index("customer_id").sort_index()["plan"].tolist()
