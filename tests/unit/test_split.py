"""Splits by id hash: stable as data grows, so the quality gate's comparison is fair."""

from __future__ import annotations

import pandas as pd
import pytest

from config.schema import load_schema
from local.lake.synthetic import generate_clean
from training.preprocess import parse_args, split

CHURN = load_schema("churn")


def _splits(frame: pd.DataFrame, *argv: str) -> dict[str, set[str]]:
    parts = split(frame, CHURN, parse_args(list(argv)))
    return {name: set(part[CHURN.id_column]) for name, part in parts.items()}


def test_rows_keep_their_split_when_data_grows() -> None:
    first = generate_clean(CHURN, 3000, seed=1)
    grown = pd.concat([first, generate_clean(CHURN, 3000, seed=2)], ignore_index=True)
    before, after = _splits(first), _splits(grown)
    for name, ids in before.items():
        assert ids <= after[name], name  # every earlier row is where it was
    assert sum(map(len, after.values())) == len(grown)
    assert not (after["train"] & after["test"]) and not (after["train"] & after["validation"])
    # The ratios hold (to sampling error: 15% of 6000 is 900, sd about 28).
    assert len(after["test"]) == pytest.approx(900, abs=120)


def test_all_rows_of_an_id_share_a_split_and_the_seed_redraws() -> None:
    frame = generate_clean(CHURN, 2000, seed=1)
    twice = pd.concat([frame, frame], ignore_index=True)  # each id twice
    parts = split(twice, CHURN, parse_args([]))
    seen = {name: set(part[CHURN.id_column]) for name, part in parts.items()}
    assert not (seen["train"] & seen["test"]) and len(parts["test"]) % 2 == 0
    assert _splits(frame, "--seed", "7")["test"] != _splits(frame)["test"]


def test_too_few_rows_for_a_split_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="leave no rows for"):
        split(generate_clean(CHURN, 2, seed=1), CHURN, parse_args([]))
