"""SageMaker Processing entry point: the data-quality baseline of the training split.

Contract (processing job; paths overridable for local runs):
  inputs   /opt/ml/processing/input/baseline/baseline.csv   raw features, with header
           --schema (the dataset schema shipped in the source bundle)
  outputs  /opt/ml/processing/output/statistics.json        Model Monitor format
           /opt/ml/processing/output/constraints.json       Model Monitor format

The files are what the model package records as its data-quality metrics and
drift-check baselines, and what monitoring compares captured traffic against.
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

from config.schema import load_schema
from features.profile import constraints, statistics
from training.failure import report_failure

LOG = logging.getLogger("baseline")
PROCESSING = Path("/opt/ml/processing")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--input", type=Path, default=PROCESSING / "input" / "baseline")
    parser.add_argument("--schema", type=Path, required=True)
    parser.add_argument("--output", type=Path, default=PROCESSING / "output")
    return parser.parse_args(argv)


def baseline(*, input_dir: Path, schema_path: Path, output_dir: Path) -> dict[str, Any]:
    """Profile ``input_dir/baseline.csv``; write statistics and constraints; return counts."""
    schema = load_schema(schema_path)
    # Every column as text, as captured requests arrive: the profile judges values by the
    # value rules, so only a blank field is missing ("NA" or "None" may be a category).
    frame = pd.read_csv(input_dir / "baseline.csv", dtype=str, keep_default_na=False)
    missing = [name for name in schema.feature_names if name not in frame.columns]
    if missing:
        raise ValueError(f"{input_dir / 'baseline.csv'} lacks feature columns {missing}")
    stats = statistics(frame, schema)
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "statistics.json").write_text(json.dumps(stats, indent=2))
    (output_dir / "constraints.json").write_text(json.dumps(constraints(stats, schema), indent=2))
    summary = {"item_count": len(frame), "features": len(stats["features"])}
    LOG.info("baseline %s", json.dumps(summary))
    return summary


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Entry point the processing container runs."""
    logging.basicConfig(level=logging.INFO, stream=sys.stdout)
    args = parse_args(argv)
    with report_failure("message"):
        return baseline(input_dir=args.input, schema_path=args.schema, output_dir=args.output)


if __name__ == "__main__":
    main()
