"""The data-quality analyzer writes Model Monitor's statistics and constraints formats."""

from __future__ import annotations

import pandas as pd
import pytest

from config.schema import load_schema
from features.profile import HISTOGRAM_BUCKETS, constraints, statistics
from local.lake.synthetic import generate_clean
from training.preprocess import raw_feature_frame


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    schema = load_schema("churn")
    return (
        raw_feature_frame(schema, generate_clean(schema, 500, seed=1))
        .astype(str)
        .replace("nan", None)
    )


def test_statistics_describe_every_feature(frame) -> None:
    schema = load_schema("churn")
    stats = statistics(frame, schema)
    assert stats["dataset"] == {"item_count": 500}
    by_name = {f["name"]: f for f in stats["features"]}
    assert list(by_name) == schema.feature_names
    tenure = by_name["tenure_months"]
    assert tenure["inferred_type"] == "Integral"
    numbers = tenure["numerical_statistics"]
    values = pd.to_numeric(frame["tenure_months"])
    assert numbers["mean"] == pytest.approx(values.mean())
    assert numbers["min"] == values.min() and numbers["max"] == values.max()
    buckets = numbers["distribution"]["kll"]["buckets"]
    assert len(buckets) == HISTOGRAM_BUCKETS and sum(b["count"] for b in buckets) == 500
    contract = by_name["contract"]["string_statistics"]
    assert sum(b["count"] for b in contract["distribution"]["categorical"]["buckets"]) == 500
    total = by_name["total_charges"]["numerical_statistics"]["common"]
    assert total["num_present"] + total["num_missing"] == 500


def test_constraints_follow_the_schema(frame) -> None:
    schema = load_schema("churn")
    suggested = constraints(statistics(frame, schema), schema)
    by_name = {c["name"]: c for c in suggested["features"]}
    assert by_name["contract"]["string_constraints"]["domains"] == list(
        schema.feature("contract").categories
    )
    assert by_name["tenure_months"]["num_constraints"] == {"is_non_negative": True}
    assert 0.0 <= by_name["total_charges"]["completeness"] <= 1.0
    assert suggested["monitoring_config"]["distribution_constraints"]["comparison_threshold"] == 0.1
