"""SageMaker Processing entry point: curated Parquet -> train / validation / test splits.

Contract (processing job; every path can be overridden for local runs):
  inputs   /opt/ml/processing/input/curated/   curated zone (Parquet)
           /opt/ml/processing/input/schema/dataset.json
  outputs  /opt/ml/processing/output/train/       train.npz + transform.json
           /opt/ml/processing/output/validation/  validation.npz
           /opt/ml/processing/output/test/        test.npz + test_raw.csv (raw features,
                                                  header: the quality gate scores the
                                                  approved model on them by name)
           /opt/ml/processing/output/baseline/    baseline.csv (raw features, header)

Rows are split by a seeded hash of their row key (``schema.row_key``: the id column or
the ETL's ``etl_row_id``; see ``split``), so a row keeps its split
as data accumulates across retraining executions. The feature
transformation is fitted on the training split only, then applied to all three; it
is written next to the training data so the training job carries it into the model.
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

from config.schema import DatasetSchema, FeatureType, ProblemType
from features.transform import FeatureTransform, frame_columns
from training.failure import report_failure
from training.splits import save_split

LOG = logging.getLogger("preprocess")
PROCESSING = Path("/opt/ml/processing")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--input", type=Path, default=PROCESSING / "input" / "curated")
    parser.add_argument(
        "--schema", type=Path, default=PROCESSING / "input" / "schema" / "dataset.json"
    )
    parser.add_argument("--output", type=Path, default=PROCESSING / "output")
    parser.add_argument("--validation-ratio", type=float, default=0.15)
    parser.add_argument("--test-ratio", type=float, default=0.15)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)
    if not 0 < args.validation_ratio < 1 or not 0 < args.test_ratio < 1:
        parser.error("ratios must be between 0 and 1")
    if args.validation_ratio + args.test_ratio >= 1:
        parser.error("validation + test ratios must leave rows for training")
    return args


def split(
    frame: pd.DataFrame, schema: DatasetSchema, args: argparse.Namespace
) -> dict[str, pd.DataFrame]:
    """Train / validation / test by a seeded hash of each row's id.

    A row's split depends on its id alone, never on the other rows: as the curated zone
    grows, every row keeps its split, so the approved model that the quality gate scores
    on this execution's test rows never learned from them (a random split of the grown
    data would put most of its training rows in the test split and flatter it). All rows
    of one id stay together, so no entity leaks across splits. The label is not used,
    so classes are balanced across splits only as well as sampling makes them.
    """
    key = f"{args.seed:016d}"[-16:]  # the hash key: another seed draws another partition
    hashes = pd.util.hash_pandas_object(
        frame[schema.row_key].astype(str), index=False, hash_key=key
    ).to_numpy()
    position = hashes / float(2**64)  # uniform in [0, 1), a function of the id alone
    test = position < args.test_ratio
    validation = ~test & (position < args.test_ratio + args.validation_ratio)
    parts = {
        "train": frame[~(test | validation)],
        "validation": frame[validation],
        "test": frame[test],
    }
    empty = [name for name, part in parts.items() if part.empty]
    if empty:
        raise ValueError(
            f"{len(frame)} rows ({frame[schema.row_key].nunique()} ids) leave no rows "
            f"for {', '.join(empty)}: add data or raise --validation-ratio/--test-ratio"
        )
    return parts


def raw_feature_frame(schema: DatasetSchema, frame: pd.DataFrame) -> pd.DataFrame:
    """Raw feature values as a client would send them (booleans as true/false)."""
    raw = frame[schema.feature_names].copy()
    for feature in schema.features:
        if feature.type is FeatureType.BOOLEAN:
            raw[feature.name] = raw[feature.name].map({True: "true", False: "false"})
    return raw


def write_splits(
    schema_data: dict[str, Any], parts: dict[str, pd.DataFrame], output_dir: Path
) -> FeatureTransform:
    """Fit the transformation on ``parts["train"]``, encode and save every split, and
    save the transformation beside the training split (the training job carries it)."""
    schema = DatasetSchema.from_dict(schema_data)
    transform = FeatureTransform.fit(schema_data, frame_columns(schema, parts["train"]))
    for name, part in parts.items():
        features = transform.encode(frame_columns(schema, part))
        labels = part[schema.target.name].to_numpy()
        save_split(output_dir / name, name, features, labels, transform.output_names)
    transform.save(output_dir / "train")
    return transform


def preprocess(
    *, input_dir: Path, schema_path: Path, output_dir: Path, args: argparse.Namespace
) -> dict[str, Any]:
    """Split, fit the transformation on train, write every output; return row counts."""
    schema_data = json.loads(schema_path.read_text())
    schema = DatasetSchema.from_dict(schema_data)
    frame = pd.read_parquet(input_dir)
    if frame.empty:
        raise ValueError(f"no rows in {input_dir}")
    parts = split(frame, schema, args)
    write_splits(schema_data, parts, output_dir)
    raw_feature_frame(schema, parts["test"]).to_csv(
        output_dir / "test" / "test_raw.csv", index=False
    )
    baseline = output_dir / "baseline"
    baseline.mkdir(parents=True, exist_ok=True)
    raw_feature_frame(schema, parts["train"]).to_csv(baseline / "baseline.csv", index=False)
    counts: dict[str, Any] = {name: len(part) for name, part in parts.items()}
    if schema.problem_type is ProblemType.BINARY_CLASSIFICATION:
        counts["positive_rate"] = {
            name: round(float(part[schema.target.name].mean()), 4) for name, part in parts.items()
        }
    LOG.info("preprocess %s", json.dumps(counts))
    return counts


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Entry point the processing container runs."""
    logging.basicConfig(level=logging.INFO, stream=sys.stdout)
    args = parse_args(argv)
    with report_failure("message"):
        return preprocess(
            input_dir=args.input, schema_path=args.schema, output_dir=args.output, args=args
        )


if __name__ == "__main__":
    main()
