"""Raw files: their format (by extension), their columns (by header name) and their lines.

A CSV file's columns are named by its header line, in any order; a JSON lines file's by
its records' keys. A schema column is found under its raw header (the schema's
``raw_headers``, or its own name); from here on it goes by its schema name. Columns the
schema does not know are ignored and reported. A file that lacks a required column (the
id and the event time when the schema has them, a non-nullable feature or the target)
cannot yield one valid row, so it is quarantined whole, with the missing headers named;
the other files of the batch proceed. A nullable feature's column may be absent: its
values are then missing.

Lines are parsed here, in plain Python, so that the value rules see the text exactly as
the file holds it (no reader's null or number conventions in between).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from config.schema import DatasetSchema

CSV = "csv"
JSONL = "jsonl"
FORMATS = (CSV, JSONL)
EXTENSIONS = {".csv": CSV, ".jsonl": JSONL, ".json": JSONL}
MISSING_COLUMNS = "missing_columns"


def file_format(path: str, forced: str = "auto") -> str | None:
    """``csv`` or ``jsonl`` from the file's extension (or ``forced``); None if unknown."""
    if forced != "auto":
        if forced not in FORMATS:
            raise ValueError(f"input format must be auto or one of {FORMATS}, not {forced!r}")
        return forced
    name = path.rsplit("/", 1)[-1].lower()
    for extension, fmt in EXTENSIONS.items():
        if name.endswith(extension):
            return fmt
    return None


def header_names(line: str) -> list[str]:
    """Column names of a CSV header line (a byte-order mark and blanks around names dropped)."""
    fields = next(csv.reader([line.lstrip("\ufeff")]), [])
    return [name.strip() for name in fields]


@dataclass(frozen=True)
class FilePlan:
    """How to read one raw file: its format, where each schema column sits, what is off."""

    path: str
    fmt: str
    # CSV: the position of each schema raw column in a line (None: absent) and the field count.
    positions: tuple[int | None, ...] = ()
    width: int = 0
    has_header: bool = False
    extra: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    duplicated: tuple[str, ...] = ()

    @property
    def rejected(self) -> bool:
        return bool(self.missing or self.duplicated)

    @property
    def problem(self) -> str:
        """Why the whole file is quarantined (empty when it is not)."""
        parts = []
        if self.missing:
            parts.append(f"lacks required column(s) {', '.join(self.missing)}")
        if self.duplicated:
            parts.append(f"names column(s) {', '.join(self.duplicated)} more than once")
        return f"{self.path}: the header " + " and ".join(parts) if parts else ""


def plan_file(schema: DatasetSchema, path: str, fmt: str, names: Sequence[str]) -> FilePlan:
    """The plan of a file whose columns (CSV header, or JSON keys seen) are ``names``:
    each schema column is found under its raw header (``schema.raw_header``); what is
    missing, extra or duplicated is named as the file names it."""
    wanted = schema.raw_header_names
    known = set(wanted)
    seen: dict[str, int] = {}
    duplicated = []
    for position, name in enumerate(names):
        if name in seen and name in known:
            duplicated.append(name)
        seen.setdefault(name, position)
    missing = tuple(
        header
        for header in map(schema.raw_header, schema.required_raw_columns)
        if header not in seen
    )
    return FilePlan(
        path=path,
        fmt=fmt,
        positions=tuple(seen.get(h) for h in wanted) if fmt == CSV else (),
        width=len(names) if fmt == CSV else 0,
        has_header=fmt == CSV and bool(names),
        extra=tuple(sorted({n for n in names if n not in known})),
        missing=missing,
        duplicated=tuple(sorted(set(duplicated))),
    )


@dataclass
class ParsedLines:
    """Raw values per schema column for a run of lines of one file, and which are malformed."""

    columns: dict[str, list[Any]]
    malformed: list[bool]
    lines: list[str]
    keys: set[str] = field(default_factory=set)


def parse_lines(schema: DatasetSchema, plan: FilePlan, lines: list[str]) -> ParsedLines:
    """Split record lines (blank lines and the header already removed) into columns."""
    names = schema.raw_columns
    columns: dict[str, list[Any]] = {name: [] for name in names}
    malformed: list[bool] = []
    if plan.fmt == CSV:
        plain = plain_fields(lines, plan.width)
        if plain is not None:  # the usual batch: no quoting, every line the header's width
            absent = [None] * len(lines)
            for name, position in zip(names, plan.positions, strict=True):
                columns[name] = plain[position :: plan.width] if position is not None else absent
            return ParsedLines(columns, [False] * len(lines), lines)
        rows = list(csv.reader(lines))
        if len(rows) != len(lines):
            # An unbalanced quote made the reader join lines: records are single lines
            # here (as for the row count), so parse each on its own.
            rows = [next(csv.reader([line]), []) for line in lines]
        malformed = [len(fields) != plan.width for fields in rows]
        if any(malformed):
            blank = [""] * plan.width  # never judged: malformed_record comes first
            rows = [blank if bad else fields for fields, bad in zip(rows, malformed, strict=True)]
        # One C-level transpose; each schema column is then picked by its header position.
        fields_by_position = list(zip(*rows, strict=True)) if rows else []
        absent = [None] * len(rows)
        for name, position in zip(names, plan.positions, strict=True):
            columns[name] = list(fields_by_position[position]) if position is not None else absent
        return ParsedLines(columns, malformed, lines)
    keys: set[str] = set()
    headers = schema.raw_header_names
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            record = None
        bad = not isinstance(record, dict)
        malformed.append(bad)
        if bad:
            for name in names:
                columns[name].append(None)
            continue
        assert isinstance(record, dict)
        keys.update(record)
        for name, header in zip(names, headers, strict=True):
            columns[name].append(record.get(header))
    return ParsedLines(columns, malformed, lines, keys)


def plain_fields(lines: list[str], width: int) -> list[str] | None:
    """Every field of ``lines``, row by row, when no line needs the CSV reader: none holds
    a quote or a carriage return and each has ``width`` fields. Then splitting at commas
    is what ``csv.reader`` does, done in C over the whole batch; otherwise None."""
    joined = "\n".join(lines)
    if '"' in joined or "\r" in joined or {line.count(",") for line in lines} != {width - 1}:
        return None
    return joined.replace("\n", ",").split(",")


def raw_text(value: object) -> str | None:
    """A raw value as the quarantine keeps it: text as is, JSON values as JSON."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value)
