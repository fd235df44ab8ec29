"""The feature transformation: the whole-request parse agrees with the scalar value rules
applied value by value (first fault by feature, then by record, named in the rules' own
words), and ``encode`` lays out imputed, one-hot, timestamp and derived columns as
documented."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from config.schema import DATASETS_DIR, Feature, FeatureType
from features.transform import Columns, FeatureTransform, InvalidInputError
from features.values import (
    InvalidValueError,
    is_missing,
    parse_boolean,
    parse_category,
    parse_number,
)

SCHEMA = json.loads((DATASETS_DIR / "churn.json").read_text())
TRANSFORM = FeatureTransform(schema_data=SCHEMA, medians={"age": 40.0, "total_charges": 900.0})
FEATURES = TRANSFORM.schema.features
# Cells that are valid for some feature and invalid for others, near misses included.
CELL = st.one_of(
    st.sampled_from(["0", "12", "45.5", "1e1", "500", "-3", "", " ", " 7 ", "nan", "1_0"]),
    st.sampled_from(["dsl", " dsl", "DSL", "one-year", "true", "False", "yes", "maybe"]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-200, max_value=200),
    st.booleans(),
    st.none(),
)


def _outcome(parse):  # the columns, or the message of the fault named first
    try:
        return parse()
    except InvalidInputError as error:
        return str(error)


def _scalar(feature: Feature, value: object) -> object:
    """One value by the scalar rules, with the bounds check the schema adds."""
    if feature.type is FeatureType.BOOLEAN:
        return float(parse_boolean(value))
    if feature.type is FeatureType.CATEGORICAL:
        return parse_category(value, feature.categories)
    number = parse_number(value)
    low = -np.inf if feature.minimum is None else feature.minimum
    high = np.inf if feature.maximum is None else feature.maximum
    if not low <= number <= high:
        raise InvalidValueError(f"= {number:g} is outside [{low:g}, {high:g}]")
    return number


def _feature_by_feature(rows: list[list[object]]) -> Columns:
    """The reference: every feature in schema order, every value in record order."""
    columns: Columns = {}
    for feature, values in zip(FEATURES, zip(*rows, strict=True), strict=True):
        parsed: list[object] = []
        for row, value in enumerate(values):
            where = f"record {row + 1}: feature {feature.name!r}"
            if is_missing(value):
                if not feature.nullable:
                    raise InvalidInputError(f"{where} is required")
                parsed.append(None if feature.type is FeatureType.CATEGORICAL else np.nan)
                continue
            try:
                parsed.append(_scalar(feature, value))
            except InvalidValueError as error:
                raise InvalidInputError(f"{where} {error}") from None
        if feature.type is FeatureType.CATEGORICAL:
            columns[feature.name] = np.array(parsed, dtype=object)
        else:
            columns[feature.name] = np.array(parsed, dtype=np.float64)
    return columns


@given(st.lists(st.lists(CELL, min_size=len(FEATURES), max_size=len(FEATURES)), min_size=1))
def test_the_whole_request_parse_agrees_with_the_rules_feature_by_feature(rows) -> None:
    fast = _outcome(lambda: TRANSFORM.parse_rows(rows))
    reference = _outcome(lambda: _feature_by_feature(rows))
    if isinstance(reference, str):
        assert fast == reference
        return
    assert not isinstance(fast, str), fast
    assert fast.keys() == reference.keys()
    for name, column in reference.items():
        if column.dtype == object:
            assert list(fast[name]) == list(column), name
        else:
            np.testing.assert_array_equal(fast[name], column, err_msg=name)


def test_a_clean_request_takes_the_numeric_block() -> None:
    row = ["12", "70.5", "", "1", "40", "one-year", "dsl", "", "true", "false"]
    assert TRANSFORM._parse_numeric_block(list(zip(row))) is not None
    row[0] = " 12"  # valid by the scalar rules only: the feature-by-feature path
    assert TRANSFORM._parse_numeric_block(list(zip(row))) is None
    assert TRANSFORM.parse_rows([row])["tenure_months"][0] == 12.0


def test_the_first_fault_in_schema_order_is_named() -> None:
    row = ["12", "70.5", "", "1", "40", "weekly", "dsl", "", "true", "false"]
    later = [*row[:5], "one-year", *row[6:9], "maybe"]
    with pytest.raises(InvalidInputError, match="record 1: feature 'contract'"):
        TRANSFORM.parse_rows([row, later])
    later[4] = "17"  # age comes before contract in the schema, whatever the record
    with pytest.raises(InvalidInputError, match=r"record 2: feature 'age' = 17 is outside"):
        TRANSFORM.parse_rows([row, later])


def test_encode_imputes_one_hot_encodes_and_derives() -> None:
    rows = [
        ["12", "70", "840", "3", "", "one-year", "none", "", "true", "false"],
        ["0", "20", "", "0", "30", "two-year", "dsl", "credit-card", "false", "true"],
    ]
    encoded = TRANSFORM.encode(TRANSFORM.parse_rows(rows))
    assert encoded.dtype == np.float32
    by_name = dict(zip(TRANSFORM.output_names, encoded.T, strict=True))
    np.testing.assert_array_equal(by_name["age"], [40.0, 30.0])  # imputed with the median
    np.testing.assert_array_equal(by_name["total_charges"], [840.0, 900.0])
    np.testing.assert_array_equal(by_name["paperless_billing"], [1.0, 0.0])
    np.testing.assert_array_equal(by_name["contract=one-year"], [1.0, 0.0])
    np.testing.assert_array_equal(by_name["internet_service=dsl"], [0.0, 1.0])
    # A missing optional category is all zeros across its block.
    categorical = [f for f in FEATURES if f.type is FeatureType.CATEGORICAL]
    payment = [n for n in TRANSFORM.output_names if n.startswith("payment_method=")]
    assert len(payment) == len(categorical[2].categories)
    np.testing.assert_array_equal([by_name[n][0] for n in payment], [0.0] * len(payment))
    assert by_name["payment_method=credit-card"][1] == 1.0
    # Derived: 840 / 12; ratio undefined at tenure 0 and then imputed (median 0: none fitted).
    np.testing.assert_allclose(by_name["avg_monthly_spend"], [70.0, 0.0])
    np.testing.assert_array_equal(by_name["tenure_band"], [2.0, 0.0])  # 12 is in [12, 24)


TIMED = FeatureTransform(
    schema_data={
        "name": "rides",
        "problem_type": "regression",
        "quality_gate": {"metric": "r2", "threshold": 0.1},
        "id_column": "ride_id",
        "event_time_column": "booked_at",
        "target": {"name": "fare"},
        "features": [
            {"name": "distance", "type": "numeric", "min": 0},
            {"name": "pickup", "type": "timestamp", "nullable": True},
        ],
    },
    medians={"pickup.hour": 9.0, "pickup.days": 100.0},
)


def test_a_timestamp_feature_becomes_hour_weekday_month_and_days() -> None:
    rows = [
        ["1.5", "2024-05-04T13:30:00Z"],  # a Saturday
        ["2", " 2024-05-04 13:30:00+02:00 "],  # the same wall time two hours east
        ["3", ""],  # missing: imputed with the training medians
    ]
    columns = TIMED.parse_rows(rows)
    assert columns["pickup"].dtype == np.dtype("datetime64[us]")
    encoded = TIMED.encode(columns)
    assert TIMED.output_names == [
        "distance",
        "pickup.hour",
        "pickup.day_of_week",
        "pickup.month",
        "pickup.days",
    ]
    by_name = dict(zip(TIMED.output_names, encoded.T, strict=True))
    np.testing.assert_array_equal(by_name["pickup.hour"], [13.0, 11.0, 9.0])
    np.testing.assert_array_equal(by_name["pickup.day_of_week"], [5.0, 5.0, 0.0])
    np.testing.assert_array_equal(by_name["pickup.month"], [5.0, 5.0, 0.0])
    days = (np.datetime64("2024-05-04T13:30") - np.datetime64("1970-01-01")) / np.timedelta64(
        1, "D"
    )
    np.testing.assert_allclose(by_name["pickup.days"], [days, days - 2 / 24, 100.0], rtol=1e-6)


@pytest.mark.parametrize("value", ["yesterday", "2024-13-01", "1714829400", "05/04/2024"])
def test_a_value_that_is_not_an_iso_8601_time_is_named(value: str) -> None:
    with pytest.raises(
        InvalidInputError, match="record 1: feature 'pickup' must be an ISO 8601 timestamp"
    ):
        TIMED.parse_rows([["1", value]])


def test_a_json_number_is_not_a_time() -> None:
    with pytest.raises(InvalidInputError, match="must be an ISO 8601 timestamp, got 1714829400"):
        TIMED.parse_records([{"distance": 1, "pickup": 1714829400}])
