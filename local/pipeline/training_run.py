"""Run the synthesized training pipeline of the Dev stage locally, on a moto server."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from local.cdk_assembly import load_pipeline_template
from local.image.container import describe_runtime
from local.moto_platform import LocalPlatform, local_platform
from local.pipeline.pipeline_runtime import Execution, LocalPipeline, StepRecord


@dataclass
class TrainingRun:
    """Executions in order, and the registry's versions after the last one."""

    pipeline_name: str
    executions: list[Execution] = field(default_factory=list)
    model_packages: list[dict[str, Any]] = field(default_factory=list)

    def execution_summary(self) -> list[dict[str, Any]]:
        return [
            {
                "arn": e.arn,
                "status": e.status,
                "failure_reason": e.failure_reason,
                "model_package_arn": e.model_package_arn,
                "steps": [
                    {
                        "name": s.name,
                        "type": s.type,
                        "status": s.status,
                        "seconds": s.seconds,
                        "detail": s.detail,
                        "log_tail": s.log_tail,
                    }
                    for s in e.steps
                ],
            }
            for e in self.executions
        ]


# Called after each execution with the platform and the run so far.
Between = Callable[[LocalPlatform, TrainingRun], None]


def print_step(record: StepRecord) -> None:
    """Progress line for a finished step (its duration, and what it decided)."""
    facts = ", ".join(f"{k}={v}" for k, v in record.detail.items() if k not in ("job", "runtime"))
    print(f"      {record.name:<20} {record.status:<9} {record.seconds:6.1f}s  {facts}", flush=True)
    if "runtime" in record.detail:
        print(f"{'':<28}in the image: {describe_runtime(record.detail['runtime'])}", flush=True)


@contextmanager
def installed_pipeline(
    cdk_out: Path, curated_dir: Path, work_dir: Path, *, platform: LocalPlatform | None = None
) -> Iterator[tuple[LocalPlatform, LocalPipeline]]:
    """The Dev stage's pipeline installed on ``platform`` (default: a fresh moto server,
    for the block's duration)."""
    template = load_pipeline_template(cdk_out, "Dev")
    started = nullcontext(platform) if platform is not None else local_platform()
    with started as running:
        definition = running.install(template, curated_dir)
        yield running, platform_pipeline(running, definition, running.pipeline_name, work_dir)


def platform_pipeline(
    platform: LocalPlatform, definition: dict[str, Any], name: str, work_dir: Path
) -> LocalPipeline:
    """An installed definition, run with the platform's clients, printing each step."""
    return LocalPipeline(
        definition,
        name=name,
        sagemaker=platform.sagemaker,
        s3=platform.s3,
        work_dir=work_dir,
        env=platform.env,
        on_step=print_step,
        cloudwatch=platform.client("cloudwatch"),
    )


def run_training_pipeline(
    cdk_out: Path,
    curated_dir: Path,
    work_dir: Path,
    *,
    executions: list[Mapping[str, Any]] | None = None,
    between: Between | None = None,
) -> TrainingRun:
    """Install the Dev pipeline on moto and run ``executions`` (parameter overrides).

    ``between(platform, run)`` is called after each execution, e.g. to approve a
    version before the next one runs.
    """
    with installed_pipeline(cdk_out, curated_dir, work_dir) as (platform, pipeline):
        return execute(platform, pipeline, executions=executions, between=between)


def execute(
    platform: LocalPlatform,
    pipeline: LocalPipeline,
    *,
    executions: list[Mapping[str, Any]] | None = None,
    between: Between | None = None,
) -> TrainingRun:
    """Run ``executions`` (parameter overrides; default: one with the defaults)."""
    run = TrainingRun(pipeline_name=platform.pipeline_name)
    for parameters in executions or [{}]:
        run.executions.append(pipeline.execute(parameters))
        if between is not None:
            between(platform, run)
    run.model_packages = platform.model_packages()
    return run


def approve_latest(platform: LocalPlatform, run: TrainingRun) -> None:
    """Approve the version the last execution registered, as a reviewer would."""
    arn = run.executions[-1].model_package_arn
    if arn:
        platform.sagemaker.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Approved")
