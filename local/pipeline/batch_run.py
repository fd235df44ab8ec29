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
from local.pipeline.pipeline_runtime import Execution, LocalPipeline
from local.pipeline.training_run import print_step
from local.s3_sync import split_uri
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


def _objects(s3: Any, uri: str) -> dict[str, str]:
    bucket, prefix = split_uri(uri)
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return {
        f"s3://{bucket}/{o['Key']}": s3.get_object(Bucket=bucket, Key=o["Key"])["Body"]
        .read()
        .decode()
        for page in pages
        for o in page.get("Contents", [])
    }


def _rows(texts: dict[str, str]) -> list[list[str]]:
    return [row for text in texts.values() for row in csv.reader(text.split("\n")) if row]


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
    pipeline = LocalPipeline(
        definition,
        name=template.name,
        sagemaker=platform.sagemaker,
        s3=platform.s3,
        work_dir=work_dir,
        env=platform.env,
        on_step=print_step,
        cloudwatch=platform.client("cloudwatch"),
    )
    run = BatchRun(pipeline.execute(parameters))
    if run.execution.status != "Succeeded":
        return run
    score = run.execution.step("Score").detail
    inputs, outputs = _objects(platform.s3, score["input"]), _objects(platform.s3, score["output"])
    given, scored = [r[0] for r in _rows(inputs)], _rows(outputs)
    keys = [row[0] for row in scored]
    run.input_rows, run.output_rows = len(given), len(scored)
    width = 1 + len(answer_columns(schema))
    run.keyed = (
        len(set(keys)) == len(keys)
        and sorted(keys) == sorted(given)
        and all(len(row) == width for row in scored)
    )
    run.outputs = sorted(outputs)
    run.sample = [line for text in outputs.values() for line in text.splitlines()][:3]
    run.scores_dir = work_dir / "scores"
    run.scores_dir.mkdir(parents=True, exist_ok=True)
    for uri, text in outputs.items():
        copy = run.scores_dir / uri.removeprefix(score["output"]).lstrip("/")
        copy.parent.mkdir(parents=True, exist_ok=True)
        copy.write_text(text)
    return run
