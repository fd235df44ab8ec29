"""The value rules: what a raw value means, for every consumer of raw data.

One owner for "is this missing, a number, a boolean, a category", so that serving, the
monitor and the ETL cannot disagree on a value:

* **missing**: ``None``, a float NaN (pandas' missing marker), or text that is blank
  after trimming. The text ``"nan"`` is not missing: it is not a number either.
* **number**: a JSON number (never a JSON boolean) or text made only of digits, signs,
  a decimal point and an exponent (``[0-9+-.eE]``, after trimming) that Python's
  ``float`` accepts; the value must be finite. So ``"1e3"`` and ``"-2.5"`` are numbers,
  while ``"1_0"``, ``"0x10"``, ``"nan"``, ``"inf"`` and ``"١"`` (an Arabic digit) are not,
  although ``float`` alone would take them.
* **boolean**: a JSON boolean, or one of the schema's tokens (``BOOLEAN_TOKENS``, from
  ``TRUE_TOKENS`` / ``FALSE_TOKENS``, case-insensitive, trimmed); the numbers 0 and 1 too.
* **category**: text equal, after trimming, to one of the feature's categories.
* **timestamp**: text (never a JSON number: epochs are ambiguous) that is an ISO 8601
  date or date-time after trimming, such as ``2024-05-01``, ``2024-05-01T13:45:00`` or
  ``2024-05-01 13:45:00.5+02:00``; a time without an offset is UTC. The value is the UTC
  instant, to the microsecond.

The scalar functions state the rules; ``number_column`` applies the number rule to a
whole column at once (in C where it can), and a property test shows the two agree;
``timestamp_column`` is the timestamp rule on a column (``parse_timestamp`` is that
rule on one value). ``features/columns.py`` applies the rules to columns for the ETL and
inference alike.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Mapping, Sequence
from types import MappingProxyType
from typing import Any

import numpy as np

from config.schema import FALSE_TOKENS, TRUE_TOKENS

NUMBER_CHARACTERS = frozenset("0123456789+-.eE")
# str.translate deletes these, so whatever is left of a column's text is not a number.
_DROP_NUMBER_CHARACTERS = {ord(c): None for c in NUMBER_CHARACTERS}
# One or more lines, each a date-time in the one form numpy and the rule read alike, in
# years pandas (the rule's parser, nanosecond-based) holds too.
_PLAIN_TIMES = re.compile(
    r"(?:(?:1[7-9]|2[01])\d\d-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:\.\d{1,6})?Z?\n)*"
    r"(?:1[7-9]|2[01])\d\d-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:\.\d{1,6})?Z?"
)
# The one token table: the ETL, inference and the monitor all look booleans up here.
BOOLEAN_TOKENS: Mapping[str, bool] = MappingProxyType(
    {**{t: True for t in TRUE_TOKENS}, **{t: False for t in FALSE_TOKENS}}
)


class InvalidValueError(ValueError):
    """A raw value that breaks a value rule; the message says which rule."""


def is_missing(value: object) -> bool:
    """Whether ``value`` stands for "no value" (None, NaN, or blank text)."""
    if value is None:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    return isinstance(value, str) and not value.strip()


def parse_number(value: object) -> float:
    """The finite number ``value`` stands for; raises ``InvalidValueError`` otherwise.

    Callers check ``is_missing`` first: a missing value is not a number.
    """
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise InvalidValueError(f"must be a number, got {value!r}")
    if isinstance(value, str):
        text = value.strip()
        if not text or not NUMBER_CHARACTERS.issuperset(text):
            raise InvalidValueError(f"must be a number, got {value!r}")
        try:
            number = float(text)
        except ValueError:
            raise InvalidValueError(f"must be a number, got {value!r}") from None
    else:
        try:
            number = float(value)
        except OverflowError:  # an integer too large for a double
            number = math.inf
    if not math.isfinite(number):
        raise InvalidValueError(f"must be a finite number, got {value!r}")
    return number


def number_or_nan(value: object) -> float:
    """``parse_number``'s number, NaN where the value is missing or not a number."""
    if value is None:
        return math.nan
    try:
        return parse_number(value)
    except InvalidValueError:
        return math.nan


def parse_boolean(value: object) -> bool:
    """The boolean ``value`` stands for; raises ``InvalidValueError`` otherwise."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        token = BOOLEAN_TOKENS.get(value.strip().lower())
        if token is not None:
            return token
    elif isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    raise InvalidValueError(f"must be true or false, got {value!r}")


def boolean_text(value: object) -> str:
    """``"true"`` or ``"false"`` (Model Monitor's spelling) for the boolean ``value`` stands
    for; raises ``InvalidValueError`` as ``parse_boolean`` does."""
    return "true" if parse_boolean(value) else "false"


def parse_category(value: object, categories: Collection[str]) -> str:
    """The category ``value`` names; raises ``InvalidValueError`` otherwise."""
    text = value.strip() if isinstance(value, str) else None
    if text is None or text not in categories:
        raise InvalidValueError(
            f"has unknown category {value!r}; expected one of {sorted(categories)}"
        )
    return text


def number_column(values: Sequence[object]) -> np.ndarray | None:
    """A column of text or numbers as float64 (missing -> NaN), if every value obeys the
    rules; ``None`` when some value does not, so the caller finds and names it with the
    scalar functions. Infinite values pass here: callers check finiteness on the array.
    """
    if not values:
        return np.empty(0, dtype=np.float64)
    if isinstance(values[0], str):
        try:
            joined = "".join(values)  # type: ignore[arg-type]  # a TypeError if one is not text
        except TypeError:
            return None
        # One C-level pass over the whole column: any character outside the number
        # alphabet (letters, "_", spaces, other digits) sends it to the slow path.
        if joined.translate(_DROP_NUMBER_CHARACTERS):
            return None
        try:
            return np.array([v or "nan" for v in values], dtype=np.float64)
        except ValueError:  # "1.2.3", "--1", a lone "e": the slow path names it
            return None
    # JSON: numbers, with null for missing (numpy turns None into NaN); never booleans.
    if any(isinstance(v, bool) or not (v is None or isinstance(v, int | float)) for v in values):
        return None
    try:
        return np.array(values, dtype=np.float64)
    except OverflowError:
        return None


def parse_timestamp(value: object) -> np.datetime64:
    """The UTC instant ``value`` stands for; raises ``InvalidValueError`` otherwise."""
    parsed, faults = timestamp_column([value])
    if faults or np.isnat(parsed[0]):
        raise InvalidValueError(f"must be an ISO 8601 timestamp, got {value!r}")
    instant: np.datetime64 = parsed[0]
    return instant


def timestamp_column(values: Sequence[object]) -> tuple[np.ndarray, dict[int, str]]:
    """A column as UTC ``datetime64[us]`` (NaT where missing or not a time) and the rows
    that hold a value that is not a time, with the rule's message."""
    plain = _plain_times(values)
    if plain is not None:
        return plain, {}
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


def _plain_times(values: Sequence[object]) -> np.ndarray | None:
    """The usual column, every value a plain UTC date-time (``2024-05-01T13:45:00Z``,
    ``2024-05-01 13:45:00.5``), parsed in C by numpy, which reads that form exactly as
    the rule does; None for any other column (the rule's own parser then decides)."""
    try:
        joined = "\n".join(values)  # type: ignore[arg-type]  # a TypeError unless all text
    except TypeError:
        return None
    if not values or not _PLAIN_TIMES.fullmatch(joined):
        return None
    try:
        times: np.ndarray = np.array(joined.replace("Z", "").split("\n"), dtype="datetime64[us]")
    except ValueError:  # a date that does not exist (2024-02-30): the rule names it
        return None
    return times


def _trimmed(value: object) -> object:
    return value.strip() if isinstance(value, str) else None


def _parse_times(values: Sequence[object]) -> np.ndarray:
    # pandas only here: inference of a dataset without times never imports it.
    import pandas as pd

    text: Any
    try:
        "".join(values)  # type: ignore[arg-type]  # a TypeError unless every value is text
        text = pd.Series(values, dtype=object)
    except TypeError:  # JSON numbers or nulls: never a time (pandas would read epochs)
        text = pd.Series([v if isinstance(v, str) else None for v in values], dtype=object)
    parsed = pd.to_datetime(text, utc=True, errors="coerce", format="ISO8601")
    result: np.ndarray = parsed.dt.tz_localize(None).to_numpy(dtype="datetime64[us]")
    return result
