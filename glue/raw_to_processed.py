"""Glue 5.0 job: raw zone -> processed zone (schema enforcement, quarantine, dedup).

Arguments (Glue job parameters, or ``--name value`` locally):
  --schema_uri       dataset schema JSON (s3:// or a local path)
  --input_path       raw files: CSV with a header (.csv) or JSON lines (.jsonl, .json)
  --input_format     optional: auto (default: each file's format from its extension),
                     or csv | jsonl for every file
  --processed_path   Parquet output, partitioned by event_month
  --quarantine_path  rejected rows with their reason, partitioned by reason
"""

from __future__ import annotations

import sys

from glue.job_runtime import GlueJob, log_counts, read_schema
from glue.validate import ProcessedCounts, raw_to_processed

ARGS = ("schema_uri", "input_path", "processed_path", "quarantine_path")
OPTIONAL_ARGS = {"input_format": "auto"}


def main(argv: list[str] | None = None) -> ProcessedCounts:
    """Entry point Glue runs; returns the counts it also logs."""
    with GlueJob(argv if argv is not None else sys.argv, ARGS, OPTIONAL_ARGS) as job:
        args = job.args
        schema = read_schema(job.spark, args["schema_uri"])
        paths = job.new_files(args["input_path"])
        if paths == []:
            counts = ProcessedCounts(0, 0, 0, 0)
        else:
            counts = raw_to_processed(
                job.spark,
                schema,
                input_paths=paths or [args["input_path"]],
                key_root=args["input_path"],
                processed_path=args["processed_path"],
                quarantine_path=args["quarantine_path"],
                fmt=args["input_format"],
                run_id=job.run_id,
            )
        log_counts("raw_to_processed", counts.as_dict())
        job.publish_counts("raw_to_processed", counts.as_dict())
        return counts


if __name__ == "__main__":
    main()
