"""Which header of a sample raw file each schema column is read from, and the
``raw_headers`` that would map the ones the file names otherwise.

``make validate-schema SCHEMA=my.json SAMPLE=my_file.csv`` prints this: a column is found
when the file has its header (``schema.raw_header``); otherwise a file header whose
lower_snake_case form is the column's name (``Annual Income`` -> ``annual_income``,
``ClinLR`` -> ``clin_lr``) is suggested for it, and the lines to paste into the schema
follow. Standard library only, like the rest of ``config``.
"""

from __future__ import annotations

import csv
import difflib
import json
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

from config.schema import DatasetSchema
from config.schema_reader import snake_case

# JSON lines: the keys of this many records name the file's columns.
SAMPLED_RECORDS = 1000


class SampleError(ValueError):
    """The sample file cannot be read for its column names."""


def sample_headers(path: Path) -> list[str]:
    """The column names of a raw file as the ETL reads them: a CSV file's header line
    (blanks around names dropped), or the keys of a JSON lines file's first records."""
    if not path.is_file():
        raise SampleError(f"{path}: no such file")
    try:
        return _headers(path)
    except UnicodeDecodeError as error:
        raise SampleError(
            f"{path}: not UTF-8 (byte {error.start}): save it as UTF-8, as the ETL reads it"
        ) from None
    except OSError as error:
        raise SampleError(f"{path}: cannot be read ({error.strerror})") from None


def _headers(path: Path) -> list[str]:
    suffix = path.suffix.lower()
    with path.open(encoding="utf-8-sig", newline="") as handle:
        if suffix == ".csv":
            header = next(csv.reader(handle), [])
            if not any(name.strip() for name in header):
                raise SampleError(f"{path}: the first line is not a header")
            return [name.strip() for name in header]
        if suffix in (".jsonl", ".json"):
            keys: dict[str, None] = {}
            for number, line in enumerate(islice(handle, SAMPLED_RECORDS), start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except ValueError:
                    raise SampleError(f"{path}: line {number} is not JSON") from None
                if isinstance(record, dict):
                    keys.update(dict.fromkeys(record))
            return list(keys)
    raise SampleError(f"{path}: give a .csv, .jsonl or .json file")


@dataclass
class HeaderReport:
    """How a sample file's headers meet a schema's raw columns."""

    found: dict[str, str] = field(default_factory=dict)  # column -> header, as declared
    suggested: dict[str, str] = field(default_factory=dict)  # column -> header to map
    unmatched: dict[str, list[str]] = field(default_factory=dict)  # column -> close headers
    unread: list[str] = field(default_factory=list)  # headers no column reads

    def complete(self, schema: DatasetSchema) -> bool:
        """The schema reads this file as it is: nothing to map, and every required column
        found (a nullable feature's column may be absent: its values are then missing)."""
        required = set(schema.required_raw_columns)
        return not self.suggested and not required.intersection(self.unmatched)

    def raw_headers(self, schema: DatasetSchema) -> dict[str, str]:
        """The schema's ``raw_headers`` with the suggestions added, in column order."""
        mapped = {**dict(schema.raw_headers), **self.suggested}
        return {c: mapped[c] for c in schema.raw_columns if c in mapped}


def _key(name: str) -> str:
    return snake_case(name).replace("_", "")


def match_headers(schema: DatasetSchema, headers: list[str]) -> HeaderReport:
    """Each raw column's header in ``headers``: as declared, else suggested (the one
    header whose snake_case form is the column's name, underscores aside), else none."""
    report = HeaderReport()
    taken = set()
    for column in schema.raw_columns:
        declared = schema.raw_header(column)
        if declared in headers:
            report.found[column] = declared
            taken.add(declared)
    free = [h for h in headers if h not in taken]
    for column in schema.raw_columns:
        if column in report.found:
            continue
        exact = [h for h in free if snake_case(h) == column]
        loose = [h for h in free if _key(h) == _key(column)]
        candidates = exact or loose
        if len(candidates) == 1:
            report.suggested[column] = candidates[0]
            free.remove(candidates[0])
        else:
            by_snake = {snake_case(h): h for h in free}
            close = difflib.get_close_matches(column, list(by_snake), n=3, cutoff=0.6)
            report.unmatched[column] = candidates or [by_snake[c] for c in close]
    report.unread = [h for h in headers if h in free and h not in report.suggested.values()]
    return report


def describe(schema: DatasetSchema, sample: Path, report: HeaderReport) -> list[str]:
    """The lines ``validate-schema --sample`` prints."""
    total = len(schema.raw_columns)
    lines = [f"{sample}: {len(report.found)} of {total} schema columns found under their header"]
    for column, header in report.suggested.items():
        lines.append(
            f"{sample}: {column}: no header {schema.raw_header(column)!r}; the file has {header!r}"
        )
    for column, close in report.unmatched.items():
        hint = f"; close: {', '.join(map(repr, close))}" if close else ""
        absent = "" if column in schema.required_raw_columns else " (nullable: read as missing)"
        lines.append(
            f"{sample}: {column}: no header {schema.raw_header(column)!r} and none like it"
            f"{hint}{absent}"
        )
    if report.unread:
        lines.append(f"{sample}: read by no column (ignored): {', '.join(report.unread)}")
    if report.suggested:
        mapping = json.dumps(report.raw_headers(schema), indent=2).replace("\n", "\n  ")
        lines.append(f'suggested: set the schema\'s "raw_headers" to\n  {mapping}')
    return lines
