"""The value rules of ``features/values.py`` applied to a whole column: typed values and
every row's fault, with one message per rule.

Every consumer of raw data calls this module and nothing else to judge values:

* the Glue job (``glue/verdicts.py``) keeps every row's outcome (it quarantines the
  faulty rows and keeps the rest);
* inference (``features/transform.py``) answers a request's first fault as a 4xx;
* the monitor (``monitoring/sketches.py``) counts missing and invalid numbers with
  ``count_numbers``, the number judge in counting mode.

So a value is accepted, typed and, when rejected, described in the same words by all.
Each judge makes one C-level pass over a clean column (``number_column``, a dict lookup
per value, a set inclusion); only where that refuses are the values given one by one
to the scalar rules, which name the fault.

Faults are ``(reason, message)`` per row; a row has at most one per column:

* ``missing_required``: "is required" (a required column with a missing value);
* ``wrong_type``: the scalar rule's message (not a number, not a boolean, not a time);
* ``out_of_range``: ``= <value> is outside [<min>, <max>]`` (an open side is -inf / inf);
* ``unknown_category``: the category rule's message.

Typed values: numbers and booleans as float64 (booleans 1.0 / 0.0; NaN where missing
or faulty), categories and text as objects (None), timestamps as UTC ``datetime64[us]``
(NaT).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Mapping, Sequence
from functools import partial
from types import MappingProxyType
from typing import Any, NamedTuple

import numpy as np

from config.schema import Feature, FeatureType
from features.values import (
    BOOLEAN_TOKENS,
    InvalidValueError,
    is_missing,
    number_column,
    parse_boolean,
    parse_category,
    parse_number,
    timestamp_column,
)

MISSING = "missing_required"
WRONG_TYPE = "wrong_type"
OUT_OF_RANGE = "out_of_range"
UNKNOWN_CATEGORY = "unknown_category"
REQUIRED = "is required"

# Exact tokens (and JSON booleans) settled without the scalar rule's trimming and casing.
_BOOLEAN_TOKENS: dict[Any, float] = {
    **{token: float(flag) for token, flag in BOOLEAN_TOKENS.items()},
    True: 1.0,
    False: 0.0,
}

Fault = tuple[str, str]
_NO_FAULTS: Mapping[int, Fault] = MappingProxyType({})


class Judged(NamedTuple):
    """One column's typed values and its faulty rows (row -> (reason, message)).

    A tuple, not a dataclass: inference judges a few columns per request, and building
    this is then a measurable part of a one-row request.
    """

    values: np.ndarray
    faults: Mapping[int, Fault] = _NO_FAULTS

    def first_fault(self) -> tuple[int, str] | None:
        """The first faulty row and its message (None when the column is clean)."""
        if not self.faults:
            return None
        row = min(self.faults)
        return row, self.faults[row][1]


def range_faults(
    block: np.ndarray, required: np.ndarray, minimum: np.ndarray, maximum: np.ndarray
) -> np.ndarray:
    """Where parsed numbers (columns x rows, NaN = missing) break their columns' rules: a
    required value missing, an infinite value, or one outside its bounds.

    ``required``, ``minimum`` and ``maximum`` hold one entry per column (no bound: -inf or
    inf). Comparisons with NaN are False, so a missing value is never out of range.
    """
    faults: np.ndarray = (
        (np.isnan(block) & required[:, None])
        | np.isinf(block)
        | (block < minimum[:, None])
        | (block > maximum[:, None])
    )
    return faults


def bounds(
    columns: Sequence[tuple[bool, float | None, float | None]],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The per-column vectors ``range_faults`` checks, from (required, min, max) triples."""
    return (
        np.array([required for required, _, _ in columns], dtype=bool),
        np.array([-np.inf if low is None else low for _, low, _ in columns]),
        np.array([np.inf if high is None else high for _, _, high in columns]),
    )


def _bounds_text(minimum: float | None, maximum: float | None) -> str:
    low = "-inf" if minimum is None else f"{minimum:g}"
    high = "inf" if maximum is None else f"{maximum:g}"
    return f"[{low}, {high}]"


def _fill_numbers(
    values: Sequence[object], start: int, out: np.ndarray, faults: dict[int, Fault]
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
                faults[start] = (WRONG_TYPE, str(exc))
        return
    middle = len(values) // 2
    _fill_numbers(values[:middle], start, out, faults)
    _fill_numbers(values[middle:], start + middle, out, faults)


def judge_numbers(
    values: Sequence[object],
    *,
    required: bool,
    minimum: float | None = None,
    maximum: float | None = None,
) -> Judged:
    """Numbers as float64 (NaN where missing or faulty) and the faulty rows."""
    faults: dict[int, Fault] = {}
    parsed = np.full(len(values), np.nan)
    _fill_numbers(values, 0, parsed, faults)
    hit = range_faults(parsed[None, :], *bounds([(required, minimum, maximum)]))[0]
    if not hit.any():
        return Judged(parsed, faults)
    parsed = parsed.copy()
    for row in np.flatnonzero(hit).tolist():
        number = parsed[row]
        parsed[row] = np.nan
        if row in faults:
            continue
        if np.isnan(number):
            faults[row] = (MISSING, REQUIRED)
        elif np.isinf(number):
            # number_column lets infinities through: the scalar rule names them.
            try:
                parse_number(values[row])
            except InvalidValueError as exc:
                faults[row] = (WRONG_TYPE, str(exc))
        else:
            faults[row] = (
                OUT_OF_RANGE,
                f"= {number:g} is outside {_bounds_text(minimum, maximum)}",
            )
    return Judged(parsed, faults)


class NumberCounts(NamedTuple):
    """A column judged by the number rule in counting mode: nothing is refused."""

    values: np.ndarray  # float64, NaN where missing or not a number
    missing: np.ndarray  # bool, where the value is missing
    invalid: int  # how many values are present but not a (finite) number


def count_numbers(values: Sequence[object] | np.ndarray) -> NumberCounts:
    """The monitor's view of a column: ``judge_numbers`` (the ETL's and inference's
    judge) with no value required and no bounds, its faults counted rather than refused.

    A numeric array (a CSV column pandas already read as numbers) holds numbers and NaN
    for blank fields: only its infinities break the rule.
    """
    if isinstance(values, np.ndarray):
        if values.dtype.kind in "fiu":
            parsed = values.astype(np.float64)
            infinite = np.isinf(parsed)
            parsed[infinite] = np.nan
            return NumberCounts(parsed, np.isnan(parsed) & ~infinite, int(infinite.sum()))
        return count_numbers(values.tolist())
    # Text with gaps (pandas reads a blank field as NaN): gaps as blank text, equally
    # missing by the rule, keep the column on number_column's one-pass path.
    if any(isinstance(v, str) for v in values):
        values = [v if isinstance(v, str) or not is_missing(v) else "" for v in values]
    judged = judge_numbers(values, required=False)
    missing = np.isnan(judged.values)
    if judged.faults:
        missing[list(judged.faults)] = False
    return NumberCounts(judged.values, missing, len(judged.faults))


def _scalar(
    values: Sequence[object],
    rows: Sequence[int],
    parse: Callable[[object], object],
    out: np.ndarray,
    faults: dict[int, Fault],
    reason: str,
    required: bool,
) -> None:
    """The scalar rule on the rows the fast path did not settle; missing -> left empty."""
    for row in rows:
        value = values[row]
        if is_missing(value):
            if required:
                faults[row] = (MISSING, REQUIRED)
            continue
        try:
            out[row] = parse(value)
        except InvalidValueError as exc:
            faults[row] = (reason, str(exc))


def judge_booleans(values: Sequence[object], *, required: bool) -> Judged:
    """Booleans as float64 1.0 / 0.0 (NaN where missing or faulty) and the faulty rows."""
    try:
        mapped = list(map(_BOOLEAN_TOKENS.get, values))
    except TypeError:  # an unhashable JSON value: look each up on its own
        mapped = [_BOOLEAN_TOKENS.get(v) if _hashable(v) else None for v in values]
    if None not in mapped:  # the usual batch: every value an exact token
        return Judged(np.array(mapped, dtype=np.float64))
    out = np.array([np.nan if m is None else m for m in mapped], dtype=np.float64)
    faults: dict[int, Fault] = {}
    # Not an exact token: the scalar rule decides (trimming, casing, 0 and 1).
    slow = [row for row, m in enumerate(mapped) if m is None]
    _scalar(values, slow, parse_boolean, out, faults, WRONG_TYPE, required)
    return Judged(out, faults)


def _hashable(value: object) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def _objects(values: Sequence[object]) -> np.ndarray:
    """A 1-d object array of ``values`` (JSON lists stay single elements)."""
    out = np.empty(len(values), dtype=object)
    try:
        out[:] = values
    except ValueError:  # numpy tried to broadcast a nested list: place values one by one
        for row, value in enumerate(values):
            out[row] = value
    return out


def judge_categories(
    values: Sequence[object], categories: Collection[str], *, required: bool
) -> Judged:
    """Categories as objects (None where missing or faulty) and the faulty rows."""
    allowed = frozenset(categories)
    try:
        if allowed.issuperset(values):  # the usual batch: every value a known category
            known = np.empty(len(values), dtype=object)
            known[:] = values  # known categories are text: nothing for numpy to broadcast
            return Judged(known)
        if not required and allowed.union(("", None)).issuperset(values):  # ... or missing
            return Judged(_objects([value or None for value in values]))
    except TypeError:  # an unhashable JSON value: check value by value below
        pass
    out = _objects(values)
    slow = [row for row, value in enumerate(values) if not (_hashable(value) and value in allowed)]
    out[slow] = None
    faults: dict[int, Fault] = {}

    def parse(value: object) -> str:
        return parse_category(value, allowed)

    _scalar(values, slow, parse, out, faults, UNKNOWN_CATEGORY, required)
    return Judged(out, faults)


def judge_texts(values: Sequence[object], *, required: bool) -> Judged:
    """Identifiers: trimmed text (a JSON number counts as its text); None where missing."""
    faults: dict[int, Fault] = {}
    try:
        stripped = [value.strip() for value in values]  # type: ignore[attr-defined]
    except AttributeError:  # not all text (JSON numbers, nulls): value by value
        stripped = None
    if stripped is not None:
        out = _objects(stripped)
        if "" in stripped:
            empty = out == ""
            out[empty] = None
            if required:
                faults = {row: (MISSING, REQUIRED) for row in np.flatnonzero(empty).tolist()}
        return Judged(out, faults)
    out = np.full(len(values), None, dtype=object)
    for row, value in enumerate(values):
        if is_missing(value):
            if required:
                faults[row] = (MISSING, REQUIRED)
        elif isinstance(value, str):
            out[row] = value.strip()
        elif isinstance(value, bool) or not isinstance(value, int | float):
            faults[row] = (WRONG_TYPE, f"must be text or a number, got {value!r}")
        else:
            out[row] = json.dumps(value)
    return Judged(out, faults)


def judge_timestamps(values: Sequence[object], *, required: bool) -> Judged:
    """ISO 8601 times as UTC ``datetime64[us]`` (NaT where missing or faulty) and the
    faulty rows."""
    out, bad = timestamp_column(values)
    faults: dict[int, Fault] = {row: (WRONG_TYPE, message) for row, message in bad.items()}
    if required:
        for row in np.flatnonzero(np.isnat(out)).tolist():
            faults.setdefault(row, (MISSING, REQUIRED))
    return Judged(out, faults)


Judge = Callable[[Sequence[object]], Judged]


def feature_judge(feature: Feature) -> Judge:
    """The judge of a feature's raw values: the rules of its type and its schema bounds,
    settled once (inference keeps one per feature, so a request pays no dispatch)."""
    # partial, not a lambda: calling it adds no Python frame.
    required = not feature.nullable
    if feature.type is FeatureType.NUMERIC:
        return partial(
            judge_numbers, required=required, minimum=feature.minimum, maximum=feature.maximum
        )
    if feature.type is FeatureType.BOOLEAN:
        return partial(judge_booleans, required=required)
    if feature.type is FeatureType.TIMESTAMP:
        return partial(judge_timestamps, required=required)
    return partial(judge_categories, categories=frozenset(feature.categories), required=required)


def judge_feature(feature: Feature, values: Sequence[object]) -> Judged:
    """A feature's raw values judged by the rules of its type (and its schema bounds)."""
    return feature_judge(feature)(values)
