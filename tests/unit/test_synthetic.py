"""The synthetic generator: seeded, about 20% churners with real signal, exact dirty rows, drift."""

from __future__ import annotations

import csv
import dataclasses

import numpy as np
import pytest

from config.schema import load_schema
from local.lake.synthetic import DirtyRows, generate_clean, write_raw

CHURN = load_schema("churn")


def test_same_seed_same_data_other_seed_other_data() -> None:
    first = generate_clean(CHURN, 500, seed=11)
    assert first.equals(generate_clean(CHURN, 500, seed=11))
    assert not first.equals(generate_clean(CHURN, 500, seed=12))


def test_churn_rate_and_signal() -> None:
    frame = generate_clean(CHURN, 40_000, seed=3)
    assert 0.18 <= frame["churned"].mean() <= 0.22
    by_contract = frame.groupby("contract")["churned"].mean()
    assert by_contract["month-to-month"] > 2 * by_contract["two-year"]
    assert frame.loc[frame["support_calls"] >= 4, "churned"].mean() > frame["churned"].mean()
    assert frame["tenure_months"].between(0, 120).all()
    assert 0.005 < frame["total_charges"].isna().mean() < 0.02


def test_shift_moves_distributions() -> None:
    base = generate_clean(CHURN, 20_000, seed=5)
    shifted = generate_clean(CHURN, 20_000, seed=5, shift={"monthly_charges": 0.3, "contract": 0.5})
    ratio = shifted["monthly_charges"].mean() / base["monthly_charges"].mean()
    assert 1.2 < ratio < 1.4
    assert (shifted["contract"] == "two-year").mean() > (
        base["contract"] == "two-year"
    ).mean() + 0.2
    with pytest.raises(ValueError, match="unknown features"):
        generate_clean(CHURN, 10, shift={"shoe_size": 1.0})


def test_written_file_holds_clean_plus_dirty_rows(tmp_path) -> None:
    dirty = DirtyRows(
        missing_required=3,
        wrong_type=2,
        out_of_range=2,
        unknown_category=1,
        malformed=2,
        duplicates=4,
    )
    batch = write_raw(CHURN, generate_clean(CHURN, 100, seed=1), tmp_path / "b.csv", dirty=dirty)
    with batch.path.open() as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == CHURN.raw_columns
    assert len(rows) - 1 == batch.total_rows == 100 + 10 + 4
    widths = [len(r) for r in rows[1:]]
    assert sum(w != len(CHURN.raw_columns) for w in widths) == 2  # the malformed lines
    ids = [r[0] for r in rows[1:] if len(r) == len(CHURN.raw_columns)]
    # 8 broken rows keep their width; the first missing_required one blanks its own id.
    assert sum(i.startswith("dirty-") for i in ids) == 8 - 1
    assert ids.count("") == 1
    assert len(ids) - len(set(ids)) == 4  # each stale copy repeats an existing id once


def test_regression_dataset_has_a_numeric_target() -> None:
    schema = load_schema("house_prices")
    frame = generate_clean(schema, 5_000, seed=2)
    assert frame["sale_price"].between(0, 5_000_000).all()
    corr = np.corrcoef(frame["living_area_sqft"], frame["sale_price"])[0, 1]
    assert corr > 0.3


def test_a_schema_without_id_or_event_time_gets_neither_and_no_duplicates(tmp_path) -> None:
    keyless = dataclasses.replace(CHURN, id_column=None, event_time_column=None)
    frame = generate_clean(keyless, 50, seed=4)
    assert list(frame.columns) == [*keyless.feature_names, "churned"]
    # The features are drawn as for the full schema: only the two columns are left out.
    full = generate_clean(CHURN, 50, seed=4)
    assert frame[keyless.feature_names].equals(full[keyless.feature_names])
    dirty = DirtyRows(missing_required=3, duplicates=5).possible_for(keyless)
    assert (dirty.missing_required, dirty.duplicates) == (3, 0)
    batch = write_raw(keyless, frame, tmp_path / "a.csv", dirty=dirty)
    with (tmp_path / "a.csv").open() as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == keyless.raw_columns and len(rows) - 1 == batch.total_rows == 53
    with pytest.raises(ValueError, match="no id column"):
        write_raw(keyless, frame, tmp_path / "b.csv", dirty=DirtyRows(duplicates=1))
