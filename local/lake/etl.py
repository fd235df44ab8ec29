"""The data lake on a laptop: zone folders, and the Glue job scripts run on local Spark.

The scripts are invoked through their own ``main(argv)`` with the arguments the
synthesized Glue job definitions pass (``DefaultArguments`` of the DataLake template in
``cdk.out``, read by ``with_synthesized_jobs``), only with file paths where Glue has
``s3://`` URIs. A lake without the synthesized jobs (a test with no synth) passes the
locations alone, and the scripts' own defaults stand. With an
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
from types import ModuleType
from typing import Any

import boto3

from glue import processed_to_curated, raw_to_processed
from glue.derive import CuratedCounts
from glue.job_runtime import local_spark
from glue.validate import ProcessedCounts
from local.cdk_assembly import AssemblyError, GlueJobTemplate, load_glue_jobs
from local.moto_platform import environment
from local.service_metrics import GLUE, glue_task_data, put

_RUNS = itertools.count(1)
JOB_SCRIPTS: dict[str, ModuleType] = {
    "raw_to_processed": raw_to_processed,
    "processed_to_curated": processed_to_curated,
}


@dataclass(frozen=True)
class LocalLake:
    """Zone folders under ``root``, laid out like the stage's buckets and prefixes;
    ``aws_env`` is the AWS environment the jobs see (empty: they publish nothing)."""

    root: Path
    aws_env: Mapping[str, str] = field(default_factory=dict, compare=False, hash=False)
    glue_jobs: Mapping[str, GlueJobTemplate] = field(
        default_factory=dict, compare=False, hash=False
    )

    def with_synthesized_jobs(self, cdk_out: Path, stage: str = "Dev") -> LocalLake:
        """This lake running its jobs with the arguments of ``stage``'s synthesized jobs."""
        scripts = {name: Path(str(module.__file__)) for name, module in JOB_SCRIPTS.items()}
        jobs = load_glue_jobs(cdk_out, scripts, stage)
        return LocalLake(self.root, aws_env=self.aws_env, glue_jobs=jobs)

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


def job_argv(lake: LocalLake, name: str, locations: Mapping[str, Path], **given: str) -> list[str]:
    """The command line of job ``name``: each argument its script declares, with the
    synthesized job's value (a local path for a location), then ``given`` overrides.

    A location the synthesized job does not pass is an error: the deployed job would
    fail on it too.
    """
    module = JOB_SCRIPTS[name]
    declared = [*module.ARGS, *getattr(module, "OPTIONAL_ARGS", {})]
    job = lake.glue_jobs.get(name)
    values: dict[str, str] = {}
    for argument in declared:
        if argument in locations:
            if job is not None and f"--{argument}" not in job.arguments:
                raise AssemblyError(
                    f"the synthesized {name} job ({job.logical_id}) does not pass --{argument}"
                )
            values[argument] = str(locations[argument])
        elif job is not None and (literal := job.literal(argument)) is not None:
            values[argument] = literal
    values.update(given)
    return [f"{name}.py", f"--JOB_NAME={name}", *(f"--{k}={v}" for k, v in values.items())]


def run_raw_to_processed(
    lake: LocalLake, schema_path: Path, batch: Path, fmt: str | None = None
) -> ProcessedCounts:
    """Run glue/raw_to_processed.py over one raw batch (a file or a folder).

    ``fmt`` forces one format on every file; by default the job runs as synthesized
    (the deployed job reads each file by its extension).
    """
    locations = {
        "schema_uri": schema_path,
        "input_path": batch,
        "processed_path": lake.processed,
        "quarantine_path": lake.quarantine,
    }
    forced = {} if fmt is None else {"input_format": fmt}
    with glue_run(lake, "raw_to_processed"):
        return raw_to_processed.main(job_argv(lake, "raw_to_processed", locations, **forced))


def run_processed_to_curated(lake: LocalLake, schema_path: Path) -> CuratedCounts:
    """Run glue/processed_to_curated.py over the whole processed zone."""
    locations = {
        "schema_uri": schema_path,
        "processed_path": lake.processed,
        "curated_path": lake.curated,
    }
    with glue_run(lake, "processed_to_curated"):
        return processed_to_curated.main(job_argv(lake, "processed_to_curated", locations))
