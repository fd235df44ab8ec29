"""Check dataset schema files: every problem on a line of its own, or a one-line summary.

    python -m config.validate_schema config/datasets/churn.json   # a file
    python -m config.validate_schema house_prices                 # a dataset's name
    make validate-schema SCHEMA=path/to/my_dataset.json
    make validate-schema SCHEMA=my_dataset.json SAMPLE=my_file.csv   # + the file's headers

Each problem reads ``<file>: <field>: <what is wrong>; fix: <how>``, where the field names
list entries by their name (``schema.features[tenure_months].max``). Exit status 1 when a
file has problems, 0 when every file is valid. ``cdk synth`` runs the same schema check on
the dataset it builds (app.py); ``python -m local.run`` runs it and the check of the
``synthetic`` hints its data generator reads, as this command does.

With ``--sample <raw file>`` (one schema), a valid schema is also matched with the file's
headers: each column's header found, or the ``raw_headers`` entry that would map the
header the file has instead (``config/header_suggestion.py``); exit status 1 when the
schema as it is would not read the file.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from config.header_suggestion import SampleError, describe, match_headers, sample_headers
from config.schema import (
    DatasetSchema,
    FeatureType,
    SchemaError,
    display_path,
    load_schema,
    schema_path,
)
from config.synthetic_hints import synthetic_hint_problems


def summary(schema: DatasetSchema, source: Path) -> str:
    """One line saying what a valid schema declares."""
    counts = {t: sum(f.type is t for f in schema.features) for t in FeatureType}
    kinds = ", ".join(f"{n} {t.value}" for t, n in counts.items() if n)
    gate = schema.quality_gate
    direction = ">=" if gate.higher_is_better else "<="
    key = schema.id_column or f"{schema.row_key} (no id_column: every record is a row)"
    months = schema.event_time_column or "the raw file's time (no event_time_column)"
    classes = schema.target.classes
    target = f"{schema.target.name!r}" + (
        f" ({len(classes)} classes: {', '.join(classes)})" if classes else ""
    )
    return (
        f"{source}: valid: {schema.name}, {schema.problem_type.value}, target "
        f"{target}, {len(schema.features)} features ({kinds}), "
        f"{len(schema.derived_features)} derived, quality gate {gate.metric} {direction} "
        f"{gate.threshold:g}, rows keyed by {key}, partition month from {months}"
    )


def check(name_or_path: str | Path) -> tuple[bool, list[str]]:
    """Validate one schema: (valid, the lines to print)."""
    try:
        schema = load_schema(name_or_path)
        hints = synthetic_hint_problems(schema)
        if hints:
            raise SchemaError(hints, source=schema_path(name_or_path))
    except SchemaError as error:
        return False, error.lines()
    return True, [summary(schema, display_path(schema_path(name_or_path)))]


def main(argv: Sequence[str] | None = None) -> int:
    """Check each schema given; print its problems or its summary; 1 if any is invalid."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "schemas", nargs="+", help="a schema file (.json) or a dataset name in config/datasets/"
    )
    parser.add_argument(
        "--sample",
        type=Path,
        help="a raw file (.csv, .jsonl): match its headers with the schema's columns",
    )
    args = parser.parse_args(argv)
    if args.sample is not None and len(args.schemas) != 1:
        parser.error("--sample goes with exactly one schema")
    all_valid = True
    for name_or_path in args.schemas:
        valid, lines = check(name_or_path)
        all_valid &= valid
        for line in lines:
            print(line)
    if args.sample is not None and all_valid:
        all_valid = check_sample(load_schema(args.schemas[0]), args.sample)
    return 0 if all_valid else 1


def check_sample(schema: DatasetSchema, sample: Path) -> bool:
    """Print how ``sample``'s headers meet the schema; True when it reads the file as is."""
    try:
        report = match_headers(schema, sample_headers(sample))
    except SampleError as error:
        print(error)
        return False
    for line in describe(schema, sample, report):
        print(line)
    return report.complete(schema)


if __name__ == "__main__":
    sys.exit(main())
