"""A churn baseline from seeded synthetic rows, and captured traffic to compare with it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pandas as pd
import pytest

from config.schema import DatasetSchema, load_schema
from features.profile import constraints, statistics
from local.lake.synthetic import generate_clean, raw_records
from local.monitoring.capture_traffic import CapturedRow, captured_rows
from monitoring.baseline import Baseline, parse_baseline

START = datetime(2026, 3, 1, tzinfo=UTC)
# Independent features (nothing else is computed from them), one of each type.
SHIFT = {"age": 0.3, "contract": 0.4, "paperless_billing": 0.3}


def raw_frame(schema: DatasetSchema, clean: pd.DataFrame) -> pd.DataFrame:
    """Feature columns as baseline.csv holds them: raw text, blanks missing."""
    records = pd.DataFrame(raw_records(schema, clean), columns=schema.raw_columns)
    return records[schema.feature_names].replace("", None)


@pytest.fixture(scope="session")
def schema() -> DatasetSchema:
    return load_schema("churn")


@pytest.fixture(scope="session")
def baseline_files(schema) -> tuple[dict, dict]:
    stats = statistics(raw_frame(schema, generate_clean(schema, 20_000, seed=1)), schema)
    return stats, constraints(stats, schema)


@pytest.fixture(scope="session")
def baseline(schema, baseline_files) -> Baseline:
    return parse_baseline(*baseline_files, schema)


@pytest.fixture(scope="session")
def traffic(schema) -> Callable[..., list[CapturedRow]]:
    def make(rows: int, *, seed: int = 2, shift: dict | None = None) -> list[CapturedRow]:
        frame = generate_clean(schema, rows, seed=seed, shift=shift)
        return list(captured_rows(schema, frame, seed=seed, start=START))

    return make
