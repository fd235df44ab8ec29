"""Glue 5.0 job: processed zone -> curated zone (latest row per id, derived features).

Arguments (Glue job parameters, or ``--name value`` locally):
  --schema_uri      dataset schema JSON (s3:// or a local path)
  --processed_path  Parquet written by raw_to_processed
  --curated_path    Parquet output, rebuilt whole on every run
"""

from __future__ import annotations

import sys

from glue.derive import CuratedCounts, processed_to_curated
from glue.job_runtime import GlueJob, log_counts, read_schema

ARGS = ("schema_uri", "processed_path", "curated_path")


def main(argv: list[str] | None = None) -> CuratedCounts:
    """Entry point Glue runs; returns the counts it also logs."""
    with GlueJob(argv if argv is not None else sys.argv, ARGS) as job:
        schema = read_schema(job.spark, job.args["schema_uri"])
        counts = processed_to_curated(
            job.spark,
            schema,
            processed_path=job.args["processed_path"],
            curated_path=job.args["curated_path"],
        )
        log_counts("processed_to_curated", counts.as_dict())
        return counts


if __name__ == "__main__":
    main()
