"""ETL throughput: raw -> processed -> curated at 1 million rows on local Spark.

Baseline, measured in the same run and Spark session: the same two passes with no
logic at all (CSV -> Parquet, then Parquet -> Parquet). The ratio says what schema
enforcement, quarantine, deduplication and feature derivation cost on top of pure I/O.
Results: bench/results/etl.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from config.schema import DATASETS_DIR, load_schema
from glue.job_runtime import local_spark
from local.lake.etl import LocalLake, run_processed_to_curated, run_raw_to_processed
from local.lake.synthetic import DirtyRows, generate_clean, write_raw

RESULTS = Path(__file__).resolve().parent / "results"


def timed(label: str, work: Any) -> float:
    started = time.perf_counter()
    work()
    seconds = time.perf_counter() - started
    print(f"  {label}: {seconds:.1f}s", flush=True)
    return seconds


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args(argv)
    schema_path = DATASETS_DIR / "churn.json"
    schema = load_schema(schema_path)
    work = Path(tempfile.mkdtemp(prefix="bench-etl-"))
    try:
        print(f"Generating {args.rows:,} clean rows plus dirty ones ...", flush=True)
        dirty = DirtyRows(
            missing_required=1000,
            wrong_type=1000,
            out_of_range=1000,
            unknown_category=1000,
            malformed=1000,
            duplicates=5000,
        )
        batch = write_raw(
            schema, generate_clean(schema, args.rows, seed=1), work / "raw" / "b.csv", dirty=dirty
        )
        spark = local_spark("bench-etl")
        ours: list[float] = []
        baseline: list[float] = []
        for attempt in range(1, args.repeats + 1):
            print(f"Run {attempt}/{args.repeats}", flush=True)
            lake = LocalLake(work / f"lake-{attempt}")
            plain = work / f"plain-{attempt}"

            def platform_etl(lake: LocalLake = lake) -> None:
                counts = run_raw_to_processed(lake, schema_path, batch.path)
                assert counts.balanced and counts.valid_rows == args.rows
                run_processed_to_curated(lake, schema_path)

            def plain_io(plain: Path = plain) -> None:
                spark.read.option("header", "true").csv(str(batch.path)).write.parquet(
                    str(plain / "a")
                )
                spark.read.parquet(str(plain / "a")).write.parquet(str(plain / "b"))

            baseline.append(timed("baseline: plain Spark CSV -> Parquet -> Parquet", plain_io))
            ours.append(timed("platform: raw -> processed -> curated", platform_etl))
        best, best_baseline = min(ours), min(baseline)
        result = {
            "name": "etl",
            "rows_in": batch.total_rows,
            "clean_rows": args.rows,
            "seconds": round(best, 2),
            "rows_per_second": round(batch.total_rows / best),
            "baseline": "plain Spark CSV -> Parquet -> Parquet, same session, same input",
            "baseline_seconds": round(best_baseline, 2),
            "baseline_rows_per_second": round(batch.total_rows / best_baseline),
            "ratio": round(best / best_baseline, 3),
            "all_seconds": [round(s, 2) for s in ours],
            "all_baseline_seconds": [round(s, 2) for s in baseline],
            "machine": {
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "spark_master": spark.sparkContext.master,
            },
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "etl.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
