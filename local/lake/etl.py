"""The data lake on a laptop: zone folders, and the Glue job scripts run on local Spark.

The scripts are invoked through their own ``main(argv)`` with the same arguments the
Glue job definitions pass, only with file paths where Glue has ``s3://`` URIs. With an
AWS environment (the moto server's), the jobs publish their counts there as on Glue,
and the runs also put Glue's own task metrics, measured with Spark's status tracker
(LOCAL stand-in: Glue publishes these itself).
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3

from glue import processed_to_curated, raw_to_processed
from glue.derive import CuratedCounts
from glue.job_runtime import local_spark
from glue.validate import ProcessedCounts
from local.moto_platform import environment
from local.service_metrics import GLUE, glue_task_data, put

_RUNS = itertools.count(1)


@dataclass(frozen=True)
class LocalLake:
    """Zone folders under ``root``, laid out like the stage's buckets and prefixes;
    ``aws_env`` is the AWS environment the jobs see (empty: they publish nothing)."""

    root: Path
    aws_env: Mapping[str, str] = field(default_factory=dict, compare=False, hash=False)

    @property
    def raw(self) -> Path:
        return self.root / "raw" / "incoming"

    @property
    def processed(self) -> Path:
        return self.root / "processed" / "data"

    @property
    def quarantine(self) -> Path:
        return self.root / "processed" / "quarantine"

    @property
    def curated(self) -> Path:
        return self.root / "curated" / "data"


@contextlib.contextmanager
def glue_run(lake: LocalLake, job_name: str) -> Iterator[None]:
    """One job run: the job's own metrics client reaches ``lake.aws_env``'s CloudWatch,
    and Glue's task counts for the run's Spark jobs are put there when it succeeds."""
    if not lake.aws_env:
        yield
        return
    context = local_spark().sparkContext  # the session the job's getOrCreate returns
    group = f"{job_name}-{next(_RUNS)}"
    started_at = datetime.now(UTC)
    with environment(lake.aws_env):
        context.setJobGroup(group, f"Glue job {job_name} (local)")
        try:
            yield
        finally:
            context.setLocalProperty("spark.jobGroup.id", None)  # type: ignore[arg-type]
        completed, failed = _task_counts(context, group)
        data = glue_task_data(job_name, completed=completed, failed=failed, at=started_at)
        put(boto3.client("cloudwatch"), GLUE, data)


def _task_counts(context: Any, group: str) -> tuple[int, int]:
    """Completed and failed tasks of the job group's stages (a stage shared by two Spark
    jobs counts once; a skipped stage ran no tasks)."""
    # The status store is fed by an asynchronous listener: let it catch up first.
    context._jsc.sc().listenerBus().waitUntilEmpty()
    tracker = context.statusTracker()
    stages = {
        stage_id
        for job_id in tracker.getJobIdsForGroup(group)
        if (job := tracker.getJobInfo(job_id)) is not None
        for stage_id in job.stageIds
    }
    completed = failed = 0
    for stage_id in stages:
        stage = tracker.getStageInfo(stage_id)
        if stage is not None:
            completed += stage.numCompletedTasks
            failed += stage.numFailedTasks
    return completed, failed


def run_raw_to_processed(
    lake: LocalLake, schema_path: Path, batch: Path, fmt: str = "auto"
) -> ProcessedCounts:
    """Run glue/raw_to_processed.py over one raw batch (a file or a folder).

    ``fmt`` "auto" reads each file by its extension, as the deployed job does.
    """
    with glue_run(lake, "raw_to_processed"):
        return raw_to_processed.main(
            [
                "raw_to_processed.py",
                "--JOB_NAME=raw_to_processed",
                f"--schema_uri={schema_path}",
                f"--input_path={batch}",
                f"--input_format={fmt}",
                f"--processed_path={lake.processed}",
                f"--quarantine_path={lake.quarantine}",
            ]
        )


def run_processed_to_curated(lake: LocalLake, schema_path: Path) -> CuratedCounts:
    """Run glue/processed_to_curated.py over the whole processed zone."""
    with glue_run(lake, "processed_to_curated"):
        return processed_to_curated.main(
            [
                "processed_to_curated.py",
                "--JOB_NAME=processed_to_curated",
                f"--schema_uri={schema_path}",
                f"--processed_path={lake.processed}",
                f"--curated_path={lake.curated}",
            ]
        )
