"""SageMaker Processing entry point: curated Parquet -> the batch transform's input lines.

The batch scoring pipeline's first step (``stacks/constructs/batch_definition.py``).
A transform job splits its input by line (``SplitType=Line``) and hands each record to
the same serving code the endpoint runs, so the curated rows become what a client would
send: one CSV line per row, the row key first (the transform's ``InputFilter`` "$[1:]"
drops it before the model, its ``OutputFilter`` puts it back beside the scores), then
the raw feature values in schema order (``training.preprocess.raw_feature_frame``).

Contract:
  inputs   /opt/ml/processing/input/curated/   curated zone or any prefix (Parquet)
  outputs  /opt/ml/processing/output/records/  part-00000.csv ... (no header)
           /opt/ml/processing/output/report/   batch.json: the model version to score
                                               with, the rows and files written

``--model-package-arn``: a version ARN, or ``latest`` for the group's latest Approved
version (``--model-package-group``): a scheduled run scores with what is approved now.
"""

from __future__ import annotations

import sys
from pathlib import Path

# SageMaker runs this file as a script from the uploaded source directory, which mirrors
# the repository (training/, features/, config/): make that root importable.
if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse
import json
import logging
from typing import Any

import pandas as pd

from config.schema import DatasetSchema
from features.registry import describe_latest_approved
from training.failure import report_failure
from training.preprocess import raw_feature_frame

LOG = logging.getLogger("batch_input")
PROCESSING = Path("/opt/ml/processing")
LATEST = "latest"
# Lines per file: batch transform hands each instance whole files (one instance in the
# definition today); each file is split into mini-batches anyway.
LINES_PER_FILE = 100_000


class NoModelError(RuntimeError):
    """There is no version to score with."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--input", type=Path, default=PROCESSING / "input" / "curated")
    parser.add_argument(
        "--schema", type=Path, default=PROCESSING / "input" / "schema" / "dataset.json"
    )
    parser.add_argument("--records", type=Path, default=PROCESSING / "output" / "records")
    parser.add_argument("--report", type=Path, default=PROCESSING / "output" / "report")
    parser.add_argument("--model-package-arn", default=LATEST)
    parser.add_argument("--model-package-group", default="")
    parser.add_argument("--lines-per-file", type=int, default=LINES_PER_FILE)
    return parser.parse_args(argv)


def model_version(arn: str, group: str, sagemaker: Any = None) -> str:
    """``arn`` itself, or for ``latest`` the group's latest Approved version."""
    if arn != LATEST:
        return arn
    if not group:
        raise NoModelError("--model-package-arn latest needs --model-package-group")
    described = describe_latest_approved(group, sagemaker)
    if described is None:
        raise NoModelError(f"no Approved version in model package group {group}")
    return str(described["ModelPackageArn"])


def record_lines(schema: DatasetSchema, frame: pd.DataFrame) -> pd.DataFrame:
    """The key and the raw feature values, in the order the transform sends them.
    Raises ValueError for a value with a line break: ``SplitType=Line`` would cut its
    record in two."""
    lines = raw_feature_frame(schema, frame)
    lines.insert(0, schema.row_key, frame[schema.row_key].astype(str))
    for column in lines.columns:
        if lines[column].dtype == object:
            broken = lines[column].astype(str).str.contains("[\r\n]", regex=True)
            if broken.any():
                first = lines.loc[broken, schema.row_key].iloc[0]
                raise ValueError(
                    f"{int(broken.sum())} value(s) of {column} hold a line break (first in "
                    f"row {first}): a line-split batch transform would cut the record"
                )
    return lines


def write_records(lines: pd.DataFrame, out: Path, lines_per_file: int) -> list[str]:
    """``lines`` as headerless CSV files of at most ``lines_per_file`` rows each."""
    out.mkdir(parents=True, exist_ok=True)
    names = []
    for index, start in enumerate(range(0, len(lines), lines_per_file)):
        name = f"part-{index:05d}.csv"
        lines.iloc[start : start + lines_per_file].to_csv(out / name, index=False, header=False)
        names.append(name)
    return names


def batch_input(args: argparse.Namespace, sagemaker: Any = None) -> dict[str, Any]:
    """Write the records and the report; return the report."""
    schema = DatasetSchema.from_json(args.schema.read_text())
    arn = model_version(args.model_package_arn, args.model_package_group, sagemaker)
    frame = pd.read_parquet(args.input)
    if frame.empty:
        raise ValueError(f"no rows in {args.input}")
    if frame[schema.row_key].isna().any():
        raise ValueError(f"rows without a {schema.row_key} in {args.input}: every row is keyed")
    files = write_records(record_lines(schema, frame), args.records, args.lines_per_file)
    report = {
        "model_package_arn": arn,
        "rows": len(frame),
        "files": files,
        "key": schema.row_key,
        "features": schema.feature_names,
    }
    args.report.mkdir(parents=True, exist_ok=True)
    (args.report / "batch.json").write_text(json.dumps(report, indent=2))
    LOG.info("batch input %s", json.dumps({k: report[k] for k in ("model_package_arn", "rows")}))
    return report


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Entry point the processing container runs."""
    logging.basicConfig(level=logging.INFO, stream=sys.stdout)
    args = parse_args(argv)
    with report_failure("message"):
        return batch_input(args)


if __name__ == "__main__":
    main()
