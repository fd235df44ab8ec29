"""``--raw`` with files that do not fit the schema: they are quarantined with their reason
and the run stops with one line naming it, no traceback (steps 2 to 4 on local Spark)."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.schema import DATASETS_DIR, load_schema
from local import run
from local.lake.etl import LocalLake

pytestmark = pytest.mark.spark

TITANIC = Path(__file__).resolve().parents[1] / "data" / "titanic"


def test_files_that_do_not_fit_stop_the_run_with_the_reason(tmp_path: Path, spark) -> None:
    raw = tmp_path / "mine"
    raw.mkdir()
    # Only the file whose header lacks `sex`: every record is quarantined whole.
    (raw / "lacking.csv").write_text((TITANIC / "passengers-3.csv").read_text())
    out = tmp_path / "run"
    with pytest.raises(SystemExit) as stop:
        run.user_data(
            raw,
            out,
            LocalLake(out / "lake"),
            load_schema("titanic"),
            DATASETS_DIR / "titanic.json",
            {"steps": {}},
        )
    message = str(stop.value.code)
    assert message.startswith(f"no valid rows in {raw}: ")
    assert "missing_columns" in message and "quarantine" in message
    assert (out / "lake" / "processed" / "quarantine").is_dir()  # nothing lost: kept there
