"""Fault: an ETL job dies part way. Rerun, the curated zone must be what an uninterrupted
run writes: the same rows, none lost, none doubled.

Two deaths, where each job is exposed:
* ``processed_to_curated`` rebuilds the curated zone with an overwrite: its process is
  SIGKILLed while Spark writes (the write's ``_temporary`` folder exists), leaving the
  zone half written or empty, with no job commit;
* ``raw_to_processed`` appends a batch: it dies after its write, before the job commit
  (on Glue the bookmark does not move, so the rerun reads the same raw files again).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

import glue.raw_to_processed
from config.schema import DATASETS_DIR, load_schema
from local.lake.etl import LocalLake, run_processed_to_curated, run_raw_to_processed
from local.lake.synthetic import DirtyRows, generate_clean, write_raw

pytestmark = pytest.mark.spark

CHURN = load_schema("churn")
CHURN_PATH = DATASETS_DIR / "churn.json"
ROOT = Path(__file__).resolve().parents[2]
DIRTY = DirtyRows(missing_required=5, wrong_type=4, duplicates=6)


def _curated(lake: LocalLake) -> pd.DataFrame:
    frame = pd.read_parquet(lake.curated)
    return frame.sort_values(CHURN.id_column).reset_index(drop=True)


def _lake(root: Path) -> LocalLake:
    lake = LocalLake(root)
    for name, seed in (("a.csv", 31), ("b.csv", 32)):
        clean = generate_clean(CHURN, 400, seed=seed)
        write_raw(CHURN, clean, lake.raw / name, dirty=DIRTY, seed=seed)
    return lake


@pytest.fixture(scope="module")
def reference(tmp_path_factory, spark) -> pd.DataFrame:
    """The curated zone of an uninterrupted run over the same raw files."""
    lake = _lake(tmp_path_factory.mktemp("reference"))
    run_raw_to_processed(lake, CHURN_PATH, lake.raw)
    run_processed_to_curated(lake, CHURN_PATH)
    return _curated(lake)


# processed_to_curated with its write held: the write's tasks (the job's ``_temporary``
# folder exists by then) touch the marker file and wait to be killed, so the kill lands
# mid-write however fast the machine writes.
KILLABLE = """
import sys
import time
from pathlib import Path

import glue.derive
from local.lake.etl import LocalLake, run_processed_to_curated

curate, marker = glue.derive.curate, Path(sys.argv[3])


def hold(batches):
    marker.touch()
    time.sleep(3600)
    yield from batches


def curate_then_hold(processed, schema):
    curated = curate(processed, schema)
    return curated.mapInPandas(hold, curated.schema)


glue.derive.curate = curate_then_hold
run_processed_to_curated(LocalLake(Path(sys.argv[1])), Path(sys.argv[2]))
"""


def _kill_while_writing(lake: LocalLake, work: Path, seconds: float = 300.0) -> None:
    """Run processed_to_curated in its own process and SIGKILL it while its write's tasks
    are held (its ``_temporary`` folder checked to be there)."""
    marker, log = work / "write-started", work / "killable.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            [sys.executable, "-c", KILLABLE, str(lake.root), str(CHURN_PATH), str(marker)],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # the JVM and Python workers go with it
        )
    deadline = time.monotonic() + seconds
    try:
        # The job holds once its write starts: waiting for the marker cannot miss it.
        while not marker.exists():
            assert process.poll() is None, f"the job ended before its write: {log.read_text()}"
            assert time.monotonic() < deadline, "the job's write never started"
            time.sleep(0.1)
        assert (lake.curated / "_temporary").exists(), "held, but not inside the write"
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def test_curated_rebuild_killed_mid_write_then_rerun_is_the_same(
    tmp_path, spark, reference
) -> None:
    lake = _lake(tmp_path)
    run_raw_to_processed(lake, CHURN_PATH, lake.raw)
    run_processed_to_curated(lake, CHURN_PATH)  # a curated zone to overwrite
    _kill_while_writing(lake, tmp_path)
    assert not (lake.curated / "_SUCCESS").exists()  # the write never committed

    counts = run_processed_to_curated(lake, CHURN_PATH)

    curated = _curated(lake)
    pd.testing.assert_frame_equal(curated, reference)
    assert counts.curated_rows == len(reference) == curated[CHURN.id_column].nunique()
    assert not (lake.curated / "_temporary").exists()


def test_batch_dying_before_its_commit_then_rerun_is_the_same(
    tmp_path, spark, reference, monkeypatch
) -> None:
    lake = _lake(tmp_path)

    def die_after_the_write(job_name: str, counts: dict) -> None:
        raise KeyboardInterrupt("killed between the write and the job commit")

    with monkeypatch.context() as patched:
        patched.setattr(glue.raw_to_processed, "log_counts", die_after_the_write)
        with pytest.raises(KeyboardInterrupt):
            run_raw_to_processed(lake, CHURN_PATH, lake.raw)
    written = len(pd.read_parquet(lake.processed))
    assert written > 0  # the batch was in the processed zone when the job died

    rerun = run_raw_to_processed(lake, CHURN_PATH, lake.raw)
    counts = run_processed_to_curated(lake, CHURN_PATH)

    curated = _curated(lake)
    pd.testing.assert_frame_equal(curated, reference)
    assert curated[CHURN.id_column].is_unique
    # The processed zone holds the batch twice (two run ids); curation keeps one row per
    # id, and says how many it set aside.
    assert counts.input_rows == written + rerun.valid_rows
    assert counts.superseded_rows == counts.input_rows - len(reference)
