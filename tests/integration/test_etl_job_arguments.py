"""Local ETL runs take their job arguments from the synthesized DataLake template: each
Glue job is found by the script it runs, the arguments its script declares come from
the job's ``DefaultArguments`` (local paths in place of the bucket URLs), and the
deployed raw job reads each file by its extension (CSV and JSON lines alike)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from local.cdk_assembly import AssemblyError
from local.lake.etl import LocalLake, job_argv

LOCATIONS = {
    "schema_uri": Path("/schemas/churn.json"),
    "input_path": Path("/lake/raw/incoming"),
    "processed_path": Path("/lake/processed/data"),
    "quarantine_path": Path("/lake/processed/quarantine"),
}


@pytest.fixture(scope="module")
def lake(synth_report) -> LocalLake:
    return LocalLake(Path("/lake")).with_synthesized_jobs(synth_report.assembly_dir)


def test_each_job_is_found_by_the_script_it_runs(lake: LocalLake) -> None:
    raw, curated = lake.glue_jobs["raw_to_processed"], lake.glue_jobs["processed_to_curated"]
    assert "RawToProcessed" in raw.logical_id
    assert "ProcessedToCurated" in curated.logical_id
    assert raw.arguments["--job-bookmark-option"] == "job-bookmark-enable"
    assert curated.arguments["--job-bookmark-option"] == "job-bookmark-disable"


def test_the_deployed_raw_job_reads_each_file_by_its_extension(lake: LocalLake) -> None:
    # No --input_format, or "auto": the script then takes each file's format (CSV, JSON
    # lines) from its extension; forcing one format would quarantine the other's files.
    assert lake.glue_jobs["raw_to_processed"].literal("input_format") in (None, "auto")
    argv = job_argv(lake, "raw_to_processed", LOCATIONS)
    assert argv[:2] == ["raw_to_processed.py", "--JOB_NAME=raw_to_processed"]
    assert sorted(argv[2:]) == sorted(f"--{k}={v}" for k, v in LOCATIONS.items())


def test_a_value_the_template_passes_reaches_the_local_run(lake: LocalLake) -> None:
    job = lake.glue_jobs["raw_to_processed"]
    changed = dataclasses.replace(job, arguments={**job.arguments, "--input_format": "jsonl"})
    edited = dataclasses.replace(lake, glue_jobs={**lake.glue_jobs, "raw_to_processed": changed})
    assert "--input_format=jsonl" in job_argv(edited, "raw_to_processed", LOCATIONS)
    # An explicit local choice (the monitoring loop's feedback CSV) still wins.
    argv = job_argv(edited, "raw_to_processed", LOCATIONS, input_format="csv")
    assert "--input_format=csv" in argv and "--input_format=jsonl" not in argv


def test_a_location_the_template_does_not_pass_fails_the_local_run(lake: LocalLake) -> None:
    job = lake.glue_jobs["raw_to_processed"]
    arguments = {k: v for k, v in job.arguments.items() if k != "--quarantine_path"}
    broken = dataclasses.replace(
        lake,
        glue_jobs={
            **lake.glue_jobs,
            "raw_to_processed": dataclasses.replace(job, arguments=arguments),
        },
    )
    with pytest.raises(AssemblyError, match="does not pass --quarantine_path"):
        job_argv(broken, "raw_to_processed", LOCATIONS)
