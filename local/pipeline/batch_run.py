"""Run the synthesized batch scoring pipeline of the Dev stage locally (``make batch``).

The pipeline is installed beside the training pipeline on the same moto server (its
buckets, key, code assets and model package group) and executed by the local runtime:
PrepareBatch in the XGBoost image, CreateModel on moto, Score as a batch transform
through the image's serving stack (``local.pipeline.transform_job``, a LOCAL stand-in
for the batch transform service). The result is checked as a user would: one output
line per input line, each keyed by an input row's key, every key once, with every
answer column the serving code writes.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from config.schema import DatasetSchema
from local.cdk_assembly import load_pipeline_template
from local.moto_platform import LocalPlatform
from local.pipeline.pipeline_runtime import Execution
from local.pipeline.training_run import platform_pipeline
from local.s3_sync import download_prefix, object_keys, split_uri
from stacks.constructs.batch_definition import answer_columns


@dataclass
class BatchRun:
    """One execution of the batch scoring pipeline and what its output holds."""

    execution: Execution
    input_rows: int = 0
    output_rows: int = 0
    # Every output line is an input line's key and every answer column, and no key is
    # missing or repeated.
    keyed: bool = False
    outputs: list[str] = field(default_factory=list)
    sample: list[str] = field(default_factory=list)
    # The scored objects, copied out of the (in-memory) S3 for the user to read.
    scores_dir: Path | None = None

    def summary(self) -> dict[str, Any]:
        return {
            "status": self.execution.status,
            "failure_reason": self.execution.failure_reason,
            "input_rows": self.input_rows,
            "output_rows": self.output_rows,
            "keyed": self.keyed,
            "outputs": self.outputs,
            "scores_dir": str(self.scores_dir) if self.scores_dir else None,
            "steps": [
                {"name": s.name, "status": s.status, "seconds": s.seconds}
                for s in self.execution.steps
            ],
        }


def _rows(folder: Path) -> list[list[str]]:
    """Every CSV row of the files under ``folder`` (split at newlines only, as the
    transform splits records)."""
    return [
        row
        for path in sorted(p for p in folder.rglob("*") if p.is_file())
        for row in csv.reader(path.read_text().split("\n"))
        if row
    ]


def run_batch_scoring(
    platform: LocalPlatform,
    cdk_out: Path,
    work_dir: Path,
    schema: DatasetSchema,
    parameters: Mapping[str, Any] | None = None,
) -> BatchRun:
    """Install and execute the Dev stage's batch scoring pipeline once on ``platform``
    (the training pipeline installed there first) for ``schema``'s data; ``parameters``:
    its overrides."""
    template = load_pipeline_template(cdk_out, "Dev", construct="Batch")
    definition = platform.install_batch(template)
    pipeline = platform_pipeline(platform, definition, template.name, work_dir)
    run = BatchRun(pipeline.execute(parameters))
    if run.execution.status != "Succeeded":
        return run
    score = run.execution.step("Score").detail
    # Both sides copied out of the (in-memory) S3: the scores for the user to read.
    download_prefix(platform.s3, score["input"], work_dir / "records")
    run.scores_dir = work_dir / "scores"
    download_prefix(platform.s3, score["output"], run.scores_dir)
    given, scored = [row[0] for row in _rows(work_dir / "records")], _rows(run.scores_dir)
    keys = [row[0] for row in scored]
    run.input_rows, run.output_rows = len(given), len(scored)
    width = 1 + len(answer_columns(schema))
    run.keyed = (
        len(set(keys)) == len(keys)
        and sorted(keys) == sorted(given)
        and all(len(row) == width for row in scored)
    )
    bucket, _ = split_uri(score["output"])
    run.outputs = [f"s3://{bucket}/{key}" for key in object_keys(platform.s3, score["output"])]
    run.sample = [",".join(row) for row in scored[:3]]
    return run
