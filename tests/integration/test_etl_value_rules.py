"""One owner for the value rules: for arbitrary strings, the Glue job's verdict on each
value (kept with its typed value, or quarantined with a reason, column and message) is
what ``features/values.py`` says, and what inference says: the same record sent to the
model's transformation is refused with the very message the job quarantined it with,
or accepted with the same typed value. Through the real job code on local Spark, for
CSV and JSON lines alike."""

from __future__ import annotations

import csv
import json
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from config.schema import DATASETS_DIR, load_schema
from features.transform import FeatureTransform, InvalidInputError
from features.values import (
    InvalidValueError,
    is_missing,
    parse_boolean,
    parse_category,
    parse_number,
)
from local.lake.etl import LocalLake, run_raw_to_processed
from local.lake.synthetic import generate_clean, raw_records
from tests.hypothesis_profiles import share

pytestmark = pytest.mark.spark

CHURN = load_schema("churn")
CHURN_PATH = DATASETS_DIR / "churn.json"
# Probed columns: a required bounded number, a nullable bounded number, a required
# boolean, a nullable category.
PROBES = ("tenure_months", "total_charges", "paperless_billing", "payment_method")
TRANSFORM = FeatureTransform(schema_data=json.loads(CHURN_PATH.read_text()))
BASE = dict(
    zip(CHURN.raw_columns, raw_records(CHURN, generate_clean(CHURN, 1, seed=5))[0], strict=True)
)

# Strings that look like numbers, booleans and categories, with noise around them.
NEAR_MISSES = st.one_of(
    st.from_regex(
        r"[ \t]?[+-]?[0-9_]{0,4}(\.[0-9]{0,3})?([eE][+-]?[0-9]{1,4})?[ \t]?", fullmatch=True
    ),
    st.sampled_from(["true", "FALSE", " Yes ", "t", "2", "nan", "-inf", "Infinity", "0x1F"]),
    st.sampled_from(["credit-card", " bank-transfer", "Credit-Card", "mailed-check "]),
)
# Any text a line-based file can hold (line breaks end a CSV record; surrogates are not
# encodable).
ANY_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"),
    max_size=12,
)


def expected(column: str, value: str) -> tuple[str | None, Any]:
    """(reason, typed value) by the value rules alone."""
    feature = CHURN.feature(column)
    if is_missing(value):
        return (None, None) if feature.nullable else ("missing_required", None)
    try:
        if column == "paperless_billing":
            return None, parse_boolean(value)
        if column == "payment_method":
            return None, parse_category(value, feature.categories)
        number = parse_number(value)
    except InvalidValueError:
        return ("unknown_category" if column == "payment_method" else "wrong_type"), None
    assert feature.minimum is not None and feature.maximum is not None
    if not feature.minimum <= number <= feature.maximum:
        return "out_of_range", None
    return None, number


def inference(column: str, value: str) -> tuple[str | None, Any]:
    """(the 4xx message, typed value) of the record with ``value`` at ``column``, as the
    inference hooks parse it."""
    record = [value if name == column else BASE[name] for name in CHURN.feature_names]
    try:
        parsed = TRANSFORM.parse_rows([record])[column][0]
    except InvalidInputError as error:
        return str(error), None
    return None, None if parsed is None or parsed != parsed else parsed  # NaN: missing


def _rows(values: list[str], prefix: str) -> list[dict[str, str]]:
    rows = []
    for column in PROBES:
        for index, value in enumerate(values):
            rows.append({**BASE, "customer_id": f"{prefix}-{column}-{index}", column: value})
    return rows


def _run(values: list[str], spark: Any) -> dict[str, tuple[str | None, Any, str | None]]:
    """Run the job over the values as CSV and as JSON lines; each id's verdict."""
    with tempfile.TemporaryDirectory() as work:
        lake = LocalLake(Path(work))
        lake.raw.mkdir(parents=True)
        with (lake.raw / "probe.csv").open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, CHURN.raw_columns, lineterminator="\n")
            writer.writeheader()
            writer.writerows(_rows(values, "csv"))
        with (lake.raw / "probe.jsonl").open("w", encoding="utf-8") as handle:
            handle.writelines(json.dumps(row) + "\n" for row in _rows(values, "json"))
        counts = run_raw_to_processed(lake, CHURN_PATH, lake.raw)
        assert counts.balanced and counts.input_rows == 2 * len(PROBES) * len(values)
        verdicts: dict[str, tuple[str | None, Any, str | None]] = {}
        if lake.processed.exists() and any(lake.processed.glob("*/*.parquet")):
            processed = pd.read_parquet(lake.processed)
            for row in processed.itertuples(index=False):
                column = row.customer_id.split("-")[1]
                value = getattr(row, column)
                verdicts[row.customer_id] = (None, None if pd.isna(value) else value, None)
        if lake.quarantine.exists():
            rejected = pd.read_parquet(lake.quarantine)
            for row in rejected.itertuples(index=False):
                column = row.customer_id.split("-")[1]
                assert row.quarantine_column == column, row
                detail = f"record 1: feature {column!r} {row.quarantine_detail}"
                verdicts[row.customer_id] = (str(row.quarantine_reason), None, detail)
        return verdicts


@settings(
    # Every example is a Spark job: a fiftieth of the profile's count (4 in ``ci``).
    max_examples=share(50, at_least=4),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(values=st.lists(st.one_of(NEAR_MISSES, ANY_TEXT), min_size=1, max_size=15))
@example(
    values=[
        "nan",
        "1_0",
        "true",
        " 5 ",
        "1e999",
        "",
        "١٢",
        "５",
        "\u00a0",
        "-0",
        "1e3",
        "0x10",
        "inf",
        "+.5",
        "1.2.3",
        " yes",
        " credit-card ",
        'say "hi", twice',
    ]
)
def test_the_job_judges_every_value_as_the_value_rules_do(values: list[str], spark) -> None:
    verdicts = _run(values, spark)
    for fmt in ("csv", "json"):
        for column in PROBES:
            for index, value in enumerate(values):
                reason, typed, message = verdicts[f"{fmt}-{column}-{index}"]
                assert (reason, typed) == expected(column, value), (fmt, column, value)
                refused, served = inference(column, value)
                assert message == refused, (fmt, column, value)
                if refused is None:  # booleans: the job keeps True/False, the model 1.0/0.0
                    assert served == typed, (fmt, column, value)
