"""The monitor counts values as the ETL judges them: for arbitrary field texts, the rows
the Glue job's verdicts (``glue/verdicts.py`` over ``glue/raw_files.py``'s reading of a
CSV file) quarantine as missing or of the wrong type, or keep as missing, are exactly
the ones the monitor (``monitoring/analyzer.py`` over captured CSV requests) counts as
missing, invalid or unknown. Text such as ``nan`` or ``Infinity`` is therefore never
"missing" to one and a fault to the other.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import numpy as np
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from config.schema import DatasetSchema, FeatureType
from features.columns import MISSING, OUT_OF_RANGE, UNKNOWN_CATEGORY, WRONG_TYPE
from glue.raw_files import CSV, plan_file
from glue.raw_files import parse_lines as etl_lines
from glue.verdicts import BatchVerdict, judge
from local.lake.synthetic import generate_clean, raw_records
from local.serving.image.data_capture import capture_record
from monitoring.analyzer import WindowAnalyzer
from monitoring.sketches import CategoricalState, NumericState
from tests.hypothesis_profiles import share

AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
# A required bounded number, a nullable bounded number, a required boolean and a
# nullable category of the churn schema.
PROBES = ("tenure_months", "total_charges", "paperless_billing", "payment_method")
# Field text both readers take as it is: no CSV delimiter, quote or line break (the
# capture's CSV is read without quoting, the raw file's with it), no control character.
FIELD_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters=',"'),
    max_size=8,
)
NEAR_MISSES = st.one_of(
    st.from_regex(r" ?[+-]?[0-9_]{0,4}(\.[0-9]{0,3})?([eE][+-]?[0-9]{1,3})? ?", fullmatch=True),
    st.sampled_from(["", " ", "nan", "NaN", "-nan", "inf", "-inf", "Infinity", "NA", "None"]),
    st.sampled_from(["true", "FALSE", " Yes ", "t", "1", "0", "2", "1.0", "0x1F", "1e400"]),
    st.sampled_from(["credit-card", " bank-transfer", "Credit-Card", "mailed-check "]),
)
FIELDS = st.lists(st.one_of(NEAR_MISSES, FIELD_TEXT), min_size=1, max_size=40)


def etl_verdict(schema: DatasetSchema, records: list[list[str]]) -> BatchVerdict:
    """The Glue job's verdicts on ``records`` written as a CSV file with a header."""
    plan = plan_file(schema, "s3://raw/part.csv", CSV, schema.raw_columns)
    parsed = etl_lines(schema, plan, [",".join(record) for record in records])
    return judge(schema, parsed.columns, np.array(parsed.malformed, dtype=bool))


def monitored(schema: DatasetSchema, baseline, records: list[list[str]]) -> WindowAnalyzer:
    """The monitor's state after the same rows' features arrive as CSV requests."""
    positions = [schema.raw_columns.index(name) for name in schema.feature_names]
    lines = [
        json.dumps(
            capture_record(
                request_type="text/csv",
                request=",".join(record[p] for p in positions).encode(),
                response_type="text/csv",
                response=b"0.25,0\n",
                at=AT,
                event_id=f"e{row}",
            )
        )
        for row, record in enumerate(records)
    ]
    analyzer = WindowAnalyzer(schema=schema, baseline=baseline)
    analyzer.consume(lines)
    return analyzer


@settings(
    max_examples=share(3),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(column=st.sampled_from(PROBES), fields=FIELDS)
@example(column="tenure_months", fields=["nan", "", " ", "Infinity", "1_0", "12", "500"])
@example(column="total_charges", fields=["nan", "", "NaN", "inf", "1e400", "70.5"])
@example(column="paperless_billing", fields=["nan", "", "1.0", " Yes ", "perhaps"])
@example(column="payment_method", fields=["nan", "", "None", " bank-transfer", "gold"])
def test_monitor_counts_what_the_etl_quarantines(schema, baseline, column, fields) -> None:
    base = raw_records(schema, generate_clean(schema, 1, seed=5))[0]
    at = schema.raw_columns.index(column)
    records = [[*base[:at], text, *base[at + 1 :]] for text in fields]
    verdict = etl_verdict(schema, records)
    state = monitored(schema, baseline, records).states[column]

    assert not any(verdict.column[row] not in (None, column) for row in range(len(fields)))
    reasons = list(verdict.reason)
    kept = np.array([reason is None for reason in reasons])
    feature = schema.feature(column)
    if feature.type is FeatureType.NUMERIC:
        assert isinstance(state, NumericState)
        kept_missing = int(np.count_nonzero(kept & np.isnan(verdict.columns[column])))
        assert state.missing == reasons.count(MISSING) + kept_missing
        assert state.invalid == reasons.count(WRONG_TYPE)
        assert state.below_minimum + state.above_maximum == reasons.count(OUT_OF_RANGE)
        assert state.present == len(fields) - state.missing - state.invalid
        return
    assert isinstance(state, CategoricalState)
    if feature.type is FeatureType.BOOLEAN:
        kept_missing = int(np.count_nonzero(kept & ~verdict.present[column]))
        assert state.missing == reasons.count(MISSING) + kept_missing
        assert state.unknown_count == reasons.count(WRONG_TYPE)
        trues = int(np.count_nonzero(kept & verdict.present[column] & verdict.columns[column]))
        assert state.frequencies()["true"] == trues
        return
    values = verdict.columns[column]
    kept_missing = sum(1 for row in range(len(fields)) if kept[row] and values[row] is None)
    assert state.missing == reasons.count(MISSING) + kept_missing
    assert state.unknown_count == reasons.count(UNKNOWN_CATEGORY)
    for category in feature.categories:
        assert state.frequencies()[category] == sum(
            1 for row in range(len(fields)) if kept[row] and values[row] == category
        )
