"""The value rules: one owner, and the whole-column fast path agrees with the scalar rules."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from features.values import (
    InvalidValueError,
    _parse_times,
    is_missing,
    number_column,
    parse_boolean,
    parse_category,
    parse_number,
    parse_timestamp,
    timestamp_column,
)

NUMBERISH = st.text(alphabet="0123456789+-.eE_ xnaif\u0661\u2028", max_size=8)
RAW = st.one_of(
    NUMBERISH,
    st.text(max_size=4),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(10**500), max_value=10**500),
    st.booleans(),
    st.none(),
)


@pytest.mark.parametrize(
    ("value", "number"),
    [("1", 1.0), (" -2.5 ", -2.5), ("1e3", 1000.0), ("+.5", 0.5), (7, 7.0), (2.5, 2.5)],
)
def test_numbers(value, number) -> None:
    assert parse_number(value) == number


@pytest.mark.parametrize(
    "value", ["1_0", "0x10", "nan", "inf", "-Infinity", "\u0661", "1.2.3", "", True, [1], 10**400]
)
def test_not_numbers(value) -> None:
    with pytest.raises(InvalidValueError):
        parse_number(value)


def test_missing_booleans_and_categories() -> None:
    assert all(is_missing(v) for v in (None, float("nan"), "", "  "))
    assert not any(is_missing(v) for v in ("nan", 0, "0", False))
    assert [parse_boolean(v) for v in ("TRUE", " no ", 1, False)] == [True, False, True, False]
    with pytest.raises(InvalidValueError):
        parse_boolean("maybe")
    assert parse_category(" dsl ", {"dsl"}) == "dsl"
    with pytest.raises(InvalidValueError, match="unknown category"):
        parse_category("DSL", {"dsl"})


def test_a_clean_text_column_takes_the_fast_path() -> None:
    column = number_column(["1", "", "2.5e1", "-3"])
    assert column is not None
    np.testing.assert_array_equal(column, [1.0, np.nan, 25.0, -3.0])


@given(st.lists(RAW, min_size=1, max_size=12))
def test_the_column_path_agrees_with_the_scalar_rules(values) -> None:
    column = number_column(values)
    if column is None:
        return  # the caller falls back to the scalar rules for the whole column
    for value, number in zip(values, column, strict=True):
        if is_missing(value):
            assert math.isnan(number), value
            continue
        try:
            assert parse_number(value) == number, value
        except InvalidValueError as error:
            # The column path lets infinities through; callers reject them on the array.
            assert "finite" in str(error) and math.isinf(number), value


PLAIN_TIME = st.from_regex(
    r"(1[6-9]|2[0-3])[0-9]{2}-[01][0-9]-[0-3][0-9][T ][0-2][0-9]:[0-5][0-9]:[0-6][0-9]"
    r"(\.[0-9]{1,7})?Z?",
    fullmatch=True,
)


@given(
    st.lists(
        st.one_of(PLAIN_TIME, st.sampled_from(["", " 2024-05-01", "2024-05-01T00:00:00+02:00"])),
        min_size=1,
        max_size=8,
    )
)
def test_the_timestamp_fast_path_agrees_with_the_rule(values) -> None:
    """numpy's C parser, taken for plain UTC date-times, reads them as the rule's (pandas)
    parser does, and hands every other column to it."""
    fast, faults = timestamp_column(values)
    rule = _parse_times(values)
    retry = [i for i, v in enumerate(values) if np.isnat(rule[i]) and not is_missing(v)]
    if retry:
        rule[retry] = _parse_times([values[i].strip() for i in retry])
    np.testing.assert_array_equal(fast, rule)
    assert set(faults) == {i for i in retry if np.isnat(rule[i])}
    for value in values:
        if not is_missing(value) and not np.isnat(timestamp_column([value])[0][0]):
            assert parse_timestamp(value) == timestamp_column([value])[0][0]
