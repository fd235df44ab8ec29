"""Row verdicts for a batch of raw values: the value rules of ``features/values.py``, per row.

Inference stops at a request's first bad value; the ETL must instead keep every row's
outcome, so this module applies the same rules column by column and records, for each
row, the first rule it breaks (reason, column and the rule's own message) or its typed
values. Numbers go through ``number_column`` on the whole column; only where that
refuses (some value breaks the rule) is the column split in halves until the faulty
values are isolated and given to the scalar rules, so a clean batch costs one C-level
pass and a dirty one a few more.

Reasons, in the order a row is checked (a row takes the first that applies):
``malformed_record`` (the line does not parse), ``missing_required``, ``wrong_type``,
``out_of_range``, ``unknown_category``. Within a reason, columns are checked in the raw
column order of the schema.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from config.schema import (
    FALSE_TOKENS,
    TRUE_TOKENS,
    DatasetSchema,
    Feature,
    FeatureType,
    ProblemType,
)
from features.values import (
    InvalidValueError,
    is_missing,
    number_column,
    parse_boolean,
    parse_category,
    parse_number,
)
from glue.raw_files import required_columns

MALFORMED = "malformed_record"
MISSING = "missing_required"
WRONG_TYPE = "wrong_type"
OUT_OF_RANGE = "out_of_range"
UNKNOWN_CATEGORY = "unknown_category"
REASON_ORDER = (MALFORMED, MISSING, WRONG_TYPE, OUT_OF_RANGE, UNKNOWN_CATEGORY)

# Exact tokens (and JSON booleans) settled without the scalar rule's trimming and casing.
_BOOLEAN_TOKENS: dict[Any, bool] = {
    **{t: True for t in TRUE_TOKENS},
    **{t: False for t in FALSE_TOKENS},
    True: True,
    False: False,
}


@dataclass
class Column:
    """One column's typed values and the rows that break a rule (row -> (reason, message))."""

    values: np.ndarray
    faults: dict[int, tuple[str, str]] = field(default_factory=dict)


def _fill_numbers(
    values: Sequence[object], start: int, out: np.ndarray, faults: dict[int, str]
) -> None:
    """Parse ``values`` into ``out[start:]``: the vectorised rule where it accepts the
    slice, else halves, down to single values that the scalar rule judges."""
    parsed = number_column(values)
    if parsed is not None:
        out[start : start + len(values)] = parsed
        return
    if len(values) == 1:
        value = values[0]
        if not is_missing(value):
            try:
                out[start] = parse_number(value)
            except InvalidValueError as exc:
                faults[start] = str(exc)
        return
    middle = len(values) // 2
    _fill_numbers(values[:middle], start, out, faults)
    _fill_numbers(values[middle:], start + middle, out, faults)


def numbers(values: Sequence[object]) -> tuple[np.ndarray, dict[int, str]]:
    """float64 values (NaN where missing or faulty) and the faulty rows with the rule's message."""
    out = np.full(len(values), np.nan)
    faults: dict[int, str] = {}
    _fill_numbers(values, 0, out, faults)
    # number_column lets infinities through (its callers check finiteness): the scalar
    # rule rejects them, and says so in its own words.
    for row in np.flatnonzero(np.isinf(out)).tolist():
        try:
            parse_number(values[row])
        except InvalidValueError as exc:
            faults[row] = str(exc)
        out[row] = np.nan
    return out, faults


def _objects(values: Sequence[object]) -> np.ndarray:
    """A 1-d object array of ``values`` (JSON lists stay single elements)."""
    out = np.empty(len(values), dtype=object)
    try:
        out[:] = values
    except ValueError:  # numpy tried to broadcast a nested list: place values one by one
        for row, value in enumerate(values):
            out[row] = value
    return out


def _scalar(
    values: Sequence[object],
    rows: Sequence[int],
    parse: Callable[[object], object],
    out: np.ndarray,
    faults: dict[int, str],
) -> None:
    """The scalar rule on the rows the fast path did not settle; missing -> left empty."""
    for row in rows:
        value = values[row]
        if is_missing(value):
            continue
        try:
            out[row] = parse(value)
        except InvalidValueError as exc:
            faults[row] = str(exc)


def booleans(values: Sequence[object]) -> tuple[np.ndarray, np.ndarray, dict[int, str]]:
    """Booleans as (value, present) arrays, and the faulty rows with the rule's message."""
    try:
        mapped = list(map(_BOOLEAN_TOKENS.get, values))
    except TypeError:  # an unhashable JSON value: look each up on its own
        mapped = [_BOOLEAN_TOKENS.get(v) if _hashable(v) else None for v in values]
    out = _objects(mapped)
    faults: dict[int, str] = {}
    if None in mapped:  # not an exact token: the scalar rule decides (trimming, casing)
        slow = np.flatnonzero(out == None).tolist()  # noqa: E711  (element-wise)
        _scalar(values, slow, parse_boolean, out, faults)
    present = out != None  # noqa: E711  (element-wise on an object array)
    return out == True, present, faults  # noqa: E712  (element-wise on an object array)


def _hashable(value: object) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def categories(
    values: Sequence[object], allowed: Collection[str]
) -> tuple[np.ndarray, dict[int, str]]:
    """Categories as objects (None where missing), and the rows naming an unknown one."""
    allowed = frozenset(allowed)
    out = _objects(values)
    try:
        if allowed.issuperset(values):  # the usual batch: every value a known category
            return out, {}
        if allowed.union(("", None)).issuperset(values):  # ... or missing
            out[(out == "") | (out == None)] = None  # noqa: E711  (element-wise)
            return out, {}
    except TypeError:  # an unhashable JSON value: check value by value below
        pass
    slow = [row for row, value in enumerate(values) if not (_hashable(value) and value in allowed)]
    out[slow] = None
    faults: dict[int, str] = {}
    _scalar(values, slow, lambda value: parse_category(value, allowed), out, faults)
    return out, faults


def texts(values: Sequence[object]) -> tuple[np.ndarray, dict[int, str]]:
    """Identifiers: trimmed text (a JSON number counts as its text); None where missing."""
    try:
        stripped = [value.strip() for value in values]  # type: ignore[attr-defined]
    except AttributeError:  # not all text (JSON numbers, nulls): value by value
        stripped = None
    if stripped is not None:
        out = _objects(stripped)
        if "" in stripped:
            out[out == ""] = None
        return out, {}
    out = np.full(len(values), None, dtype=object)
    faults: dict[int, str] = {}
    for row, value in enumerate(values):
        if is_missing(value):
            continue
        if isinstance(value, str):
            out[row] = value.strip()
        elif isinstance(value, bool) or not isinstance(value, int | float):
            faults[row] = f"must be text or a number, got {value!r}"
        else:
            out[row] = json.dumps(value)
    return out, faults


def timestamps(values: Sequence[object]) -> tuple[np.ndarray, dict[int, str]]:
    """ISO 8601 event times as UTC datetime64[us] (NaT where missing or faulty).

    A time without an offset is taken as UTC, as the Spark session of the jobs does.
    """
    out = _parse_times(values)
    retry = [row for row in np.flatnonzero(np.isnat(out)).tolist() if not is_missing(values[row])]
    if retry:  # blanks around the text, or a value that is not a time at all
        out[retry] = _parse_times([_trimmed(values[row]) for row in retry])
    faults = {
        row: f"must be an ISO 8601 timestamp, got {values[row]!r}"
        for row in retry
        if np.isnat(out[row])
    }
    return out, faults


def _trimmed(value: object) -> object:
    return value.strip() if isinstance(value, str) else None


def _parse_times(values: Sequence[object]) -> np.ndarray:
    try:
        "".join(values)  # type: ignore[arg-type]  # a TypeError unless every value is text
        text = pd.Series(values, dtype=object)
    except TypeError:  # JSON numbers or nulls: never a time (pandas would read epochs)
        text = pd.Series([v if isinstance(v, str) else None for v in values], dtype=object)
    parsed = pd.to_datetime(text, utc=True, errors="coerce", format="ISO8601")
    result: np.ndarray = parsed.dt.tz_localize(None).to_numpy(dtype="datetime64[us]")
    return result


def _range_faults(
    numbers_: np.ndarray, minimum: float | None, maximum: float | None
) -> dict[int, str]:
    low = -np.inf if minimum is None else minimum
    high = np.inf if maximum is None else maximum
    with np.errstate(invalid="ignore"):
        rows = np.flatnonzero((numbers_ < low) | (numbers_ > high)).tolist()
    bounds = f"[{'-inf' if minimum is None else f'{minimum:g}'}, " + (
        "inf]" if maximum is None else f"{maximum:g}]"
    )
    return {row: f"= {numbers_[row]:g} is outside {bounds}" for row in rows}


@dataclass
class BatchVerdict:
    """Typed columns (processed kinds) and, per row, the first rule it breaks (or None)."""

    columns: dict[str, np.ndarray]
    present: dict[str, np.ndarray]
    reason: np.ndarray
    column: np.ndarray
    detail: np.ndarray


def _feature_column(feature: Feature, values: Sequence[object]) -> tuple[Column, np.ndarray]:
    """A feature's typed values, faults (wrong type / out of range / unknown category) and
    a mask of the rows where it is missing."""
    if feature.type is FeatureType.NUMERIC:
        parsed, bad = numbers(values)
        faults = {row: (WRONG_TYPE, msg) for row, msg in bad.items()}
        for row, msg in _range_faults(parsed, feature.minimum, feature.maximum).items():
            faults.setdefault(row, (OUT_OF_RANGE, msg))
        missing = np.isnan(parsed)
        return Column(parsed, faults), missing
    if feature.type is FeatureType.BOOLEAN:
        flags, present, bad = booleans(values)
        faults = {row: (WRONG_TYPE, msg) for row, msg in bad.items()}
        column = Column(flags, faults)
        return column, ~present
    labels, bad = categories(values, feature.categories)
    faults = {row: (UNKNOWN_CATEGORY, msg) for row, msg in bad.items()}
    return Column(labels, faults), labels == None  # noqa: E711  (element-wise)


def _clear(missing: np.ndarray, faults: Collection[int]) -> np.ndarray:
    """``missing`` without the rows that hold a value, only a faulty one."""
    if faults:
        missing = missing.copy()
        missing[list(faults)] = False
    return missing


def judge(
    schema: DatasetSchema, raw: Mapping[str, Sequence[object]], malformed: np.ndarray
) -> BatchVerdict:
    """Apply the value rules to one batch of raw columns (``schema.raw_columns`` keys, all
    of the batch's length; malformed rows hold None) and keep every row's outcome."""
    rows = len(malformed)
    checked: dict[str, Column] = {}
    missing: dict[str, np.ndarray] = {}
    present: dict[str, np.ndarray] = {}

    if schema.id_column is not None:
        ids, id_faults = texts(raw[schema.id_column])
        checked[schema.id_column] = Column(ids, {r: (WRONG_TYPE, m) for r, m in id_faults.items()})
        missing[schema.id_column] = _clear(ids == None, id_faults)  # noqa: E711
    if schema.event_time_column is not None:
        times, time_faults = timestamps(raw[schema.event_time_column])
        checked[schema.event_time_column] = Column(
            times, {r: (WRONG_TYPE, m) for r, m in time_faults.items()}
        )
        missing[schema.event_time_column] = _clear(np.isnat(times), time_faults)

    for feature in schema.features:
        column, absent = _feature_column(feature, raw[feature.name])
        checked[feature.name] = column
        missing[feature.name] = _clear(absent, column.faults)
        if feature.type is FeatureType.BOOLEAN:
            present[feature.name] = ~absent

    target = schema.target
    if schema.problem_type is ProblemType.BINARY_CLASSIFICATION:
        flags, known, bad = booleans(raw[target.name])
        checked[target.name] = Column(
            flags.astype(np.int32), {r: (WRONG_TYPE, m) for r, m in bad.items()}
        )
        present[target.name] = known
        missing[target.name] = _clear(~known, bad)
    else:
        parsed, bad = numbers(raw[target.name])
        faults = {r: (WRONG_TYPE, m) for r, m in bad.items()}
        for r, m in _range_faults(parsed, target.minimum, target.maximum).items():
            faults.setdefault(r, (OUT_OF_RANGE, m))
        checked[target.name] = Column(parsed, faults)
        missing[target.name] = _clear(np.isnan(parsed), bad)

    reason = np.full(rows, None, dtype=object)
    failed = np.full(rows, None, dtype=object)
    detail = np.full(rows, None, dtype=object)
    reason[malformed] = MALFORMED
    detail[malformed] = "the record does not parse into the header's columns"
    required = required_columns(schema)
    order = schema.raw_columns
    open_rows = reason == None  # noqa: E711  (element-wise comparison on an object array)
    for name in required:
        hit = np.flatnonzero(missing[name] & open_rows)
        reason[hit], failed[hit], detail[hit] = MISSING, name, "is required"
        open_rows[hit] = False
    for why in (WRONG_TYPE, OUT_OF_RANGE, UNKNOWN_CATEGORY):
        for name in order:
            for row, (fault, message) in sorted(checked[name].faults.items()):
                if fault == why and open_rows[row]:
                    reason[row], failed[row], detail[row] = why, name, message
                    open_rows[row] = False
    return BatchVerdict(
        columns={name: checked[name].values for name in order},
        present=present,
        reason=reason,
        column=failed,
        detail=detail,
    )
