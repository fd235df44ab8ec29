"""The CSV fast path (features/plain_csv.py, pyarrow's reader) can only be faster,
never different.

Whatever body it settles, as text (what the image's worker hands over) or as bytes, the
rules (``parse_request`` then ``encode``) settle the same way, to the same matrix bit
for bit; whatever it declines, the rules judge.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from config.schema import DATASETS_DIR
from features.plain_csv import PlainCsv
from features.transform import FeatureTransform
from inference.inference import CSV, ClientError, model_fn, parse_request, transform_fn

SCHEMA = json.loads((DATASETS_DIR / "churn.json").read_text())
TRANSFORM = FeatureTransform(
    schema_data=SCHEMA, medians={name: 1.5 for name in FeatureTransform(SCHEMA)._imputed_names}
)
PLAIN = PlainCsv.of(TRANSFORM)
assert PLAIN is not None
ROW = "12,70.5,800,1,40,month-to-month,dsl,,true,false"


# Cells that the rules accept in some column, and cells that break them in every way
# the fast path must notice: blanks to trim, casing, nan/inf, digit separators, quotes.
def numbers(low: float, high: float) -> st.SearchStrategy[str]:
    """Number text in the forms clients send, mostly within the feature's bounds."""
    inside = st.floats(low, high)
    return st.one_of(
        inside.map(repr),
        inside.map(lambda v: f"{v:e}"),
        inside.map(lambda v: f"{v:.3f}"),
        st.integers(int(low), int(high)).map(str),
        st.sampled_from(["20", "+20", "2e1", "2E+01", "20.", "00020", "20.000"]),
    )


CATEGORIES = st.sampled_from(
    ["month-to-month", "one-year", "two-year", "dsl", "fiber-optic", "none", "bank-transfer",
     "electronic-check", "mailed-check", "credit-card"]
)  # fmt: skip
BOOLEANS = st.sampled_from(["true", "false", "1", "0", "yes", "no", "y", "n", "t", "f"])
ODD = st.one_of(
    CATEGORIES,
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.sampled_from(["0", "-0", ".5", "1e400", "-1e-400", "1e-400", "-5", "1e-5"]),
    st.sampled_from(
        ["", " ", " 5", "5 ", "nan", "NaN", "inf", "-inf", "Infinity", "1_0", "0x10", "1e", "--1",
         ".", "+", "TRUE", " dsl", "DSL", "cable", '"dsl"', "1,5", "١", "5\r", "\u2028", "null"]
    ),
    st.text(max_size=6),
)  # fmt: skip


@st.composite
def bodies(draw: st.DrawFn) -> str:
    """Mostly well-formed churn records, with odd cells, widths and line ends mixed in."""
    kinds = [
        numbers(f["min"], f["max"]) if f["type"] == "numeric"
        else BOOLEANS if f["type"] == "boolean"
        else st.sampled_from(f["categories"])
        for f in SCHEMA["features"]
    ]  # fmt: skip
    odd_in_50 = draw(st.sampled_from([0, 1, 5, 17]))  # clean bodies, a few odd cells, many
    records = []
    for _ in range(draw(st.integers(1, 6))):
        cells = [draw(ODD if draw(st.integers(0, 49)) < odd_in_50 else kind) for kind in kinds]
        if draw(st.integers(0, 9)) == 0:
            cells = cells[: draw(st.integers(0, 11))]
        records.append(",".join(cells))
    end = "\n" if odd_in_50 < 5 else draw(st.sampled_from(["\n", "\r\n", "\n\n"]))
    return end.join(records) + draw(st.sampled_from(["", "\n", end]))


def by_the_rules(body: bytes) -> np.ndarray | None:
    try:
        return TRANSFORM.encode(parse_request(TRANSFORM, body, CSV))
    except ClientError:
        return None


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bodies())
@example(ROW)
@example(ROW + "\n" + ROW.replace("12,", ",") + "\n")
@example(ROW.replace("month-to-month", "Month-to-month"))
@example(ROW.replace(",40,", ",nan,"))
@example(ROW.replace(",40,", ",1e999,"))
@example(ROW.replace(",40,", ",400,"))  # out of range
def test_what_the_fast_path_settles_the_rules_settle_identically(body: str) -> None:
    fast = PLAIN.read(body)
    event("settled by the fast path" if fast is not None else "left to the rules")
    fast_bytes = PLAIN.read(body.encode())
    assert (fast is None) == (fast_bytes is None)
    if fast is None or fast_bytes is None:
        return
    assert np.array_equal(fast, fast_bytes, equal_nan=True)
    slow = by_the_rules(body.encode())
    assert slow is not None, "the fast path accepted a body the rules refuse"
    assert fast.dtype == slow.dtype and fast.shape == slow.shape
    assert np.array_equal(fast, slow, equal_nan=True)


def test_the_fast_path_settles_a_usual_body_and_declines_odd_ones() -> None:
    # total_charges, age and payment_method may be missing.
    usual = "\n".join([ROW, ROW.replace(",800,", ",,"), ROW.replace(",40,", ",,")]) + "\n"
    assert by_the_rules(usual.encode()) is not None
    assert PLAIN.read(usual) is not None
    assert PLAIN.read(usual.encode()) is not None
    # A blank around a number is trimmed by both (pyarrow and the number rule).
    assert np.array_equal(PLAIN.read(ROW.replace(",40,", ", 40,")), PLAIN.read(ROW))
    for odd in (
        ROW.replace("dsl", "DSL"),
        ROW + "\r\n",
        '"12",' + ROW.split(",", 1)[1],
        ROW.replace(",40,", ",nan,"),  # pyarrow reads it, the rules refuse it
        ROW.replace(",40,", ",1e999,"),
        ROW + "\n \n" + ROW,  # a blank-only line: the rules skip it
        ROW + ",1",
        ROW.replace(",40,", ",\xff,"),  # not UTF-8: the rules answer it
        "",
    ):
        body = odd.encode("latin-1") if "\xff" in odd else odd.encode()
        assert PLAIN.read(body) is None, odd
        if "\xff" not in odd:
            assert PLAIN.read(odd) is None, odd


def test_features_the_fast_path_does_not_read_keep_to_the_rules() -> None:
    taxis = json.loads((DATASETS_DIR / "taxis.json").read_text())
    assert PlainCsv.of(FeatureTransform(schema_data=taxis)) is None  # timestamp features


@pytest.fixture(scope="module")
def model(model_run):
    return model_fn(str(model_run["model_dir"]))


def test_the_hook_answers_the_same_bytes_either_way(model) -> None:
    rows = [ROW, ROW.replace(",800,", ",,"), ROW.replace("dsl", "fiber-optic")] * 300
    body = "\n".join(rows) + "\n"  # text, as the image's worker hands it over
    assert model.plain_csv is not None and model.plain_csv.read(body) is not None
    by_rules = dataclasses.replace(model, plain_csv=None)
    for accept in (CSV, "application/json"):
        fast, slow = (
            transform_fn(model, body, CSV, accept),
            transform_fn(by_rules, body, CSV, accept),
        )
        assert (fast.status, fast.content_type, fast.body) == (
            slow.status,
            slow.content_type,
            slow.body,
        )
