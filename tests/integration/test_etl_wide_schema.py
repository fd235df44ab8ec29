"""A 33-feature schema through both jobs, with Spark's codegen fallback switched off.

The old Spark-expression validator grew one CASE WHEN chain per check and column, and a
30-feature schema made Janino fail with "Code grows beyond 64 KB" (logged, then Spark
fell back to interpreted execution). The jobs now judge values in Python workers, so the
JVM plan does not grow with the checks. With ``spark.sql.codegen.fallback`` off, a
compile failure is an error instead of a log line, so this test fails if it comes back
(checked: on the old validator it fails with "Code grows beyond 64 KB").
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from config.schema import DATASETS_DIR, load_schema
from local.lake.etl import LocalLake, run_processed_to_curated, run_raw_to_processed
from local.lake.synthetic import DirtyRows, generate_clean, write_raw

pytestmark = pytest.mark.spark


def wide_schema(path: Path) -> Path:
    """churn plus 20 numeric, 2 categorical and 1 boolean features and 4 more derived."""
    data = json.loads((DATASETS_DIR / "churn.json").read_text())
    data["features"] += [
        {"name": f"metric_{i:02d}", "type": "numeric", "min": 0, "max": 100, "nullable": i % 3 == 0}
        for i in range(20)
    ]
    data["features"] += [
        {"name": f"segment_{i}", "type": "categorical", "categories": ["a", "b", "c"]}
        for i in range(2)
    ]
    data["features"].append({"name": "flag_extra", "type": "boolean"})
    data["derived_features"] += [
        {"name": f"ratio_{i:02d}", "op": "ratio", "inputs": [f"metric_{i:02d}", "tenure_months"]}
        for i in range(4)
    ]
    path.write_text(json.dumps(data))
    return path


def test_a_wide_schema_runs_without_codegen_fallbacks(tmp_path: Path, spark) -> None:
    schema_path = wide_schema(tmp_path / "wide.json")
    schema = load_schema(schema_path)
    assert len(schema.features) >= 32
    lake = LocalLake(tmp_path / "lake")
    dirty = DirtyRows(missing_required=3, wrong_type=3, out_of_range=3, unknown_category=3)
    batch = write_raw(schema, generate_clean(schema, 300, seed=6), lake.raw / "w.csv", dirty=dirty)
    spark.conf.set("spark.sql.codegen.fallback", "false")
    try:
        counts = run_raw_to_processed(lake, schema_path, batch.path)
        curated = run_processed_to_curated(lake, schema_path)
    finally:
        spark.conf.unset("spark.sql.codegen.fallback")
    assert counts.balanced and counts.valid_rows == 300 and counts.quarantined_rows == 12
    assert curated.curated_rows == 300
