"""The local run's data generator and endpoint probe work for any mix of feature types:
numeric-only, categorical-only and boolean-only schemas generate raw batches with every
kind of dirty row the schema can hold, and a probe whose bad requests the inference
parser rejects (a 4xx) while its good ones parse."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

from config.schema import DatasetSchema, FeatureType
from features.transform import FeatureTransform
from inference.inference import ClientError, parse_request
from local.lake.synthetic import DirtyRows, generate_clean, write_raw
from local.serving.endpoint_run import INVALID_VALUE, request_mix
from training.baseline import baseline
from training.preprocess import parse_args, preprocess
from training.splits import load_split


def _schema(problem: str, target: dict[str, Any], features: list[dict[str, Any]]) -> dict:
    gate = (
        {"metric": "auc", "threshold": 0.6}
        if problem == "binary_classification"
        else {
            "metric": "r2",
            "threshold": 0.1,
        }
    )
    return {
        "name": "mix",
        "problem_type": problem,
        "quality_gate": gate,
        "id_column": "row_id",
        "event_time_column": "seen_at",
        "target": target,
        "features": features,
    }


NUMERIC_ONLY = _schema(
    "binary_classification",
    {"name": "failed", "synthetic": {"positive_rate": 0.3, "effects": {"temperature": 0.05}}},
    [
        {"name": "temperature", "type": "numeric", "min": -40, "max": 150,
         "synthetic": {"distribution": "normal", "mean": 60, "std": 15}},
        {"name": "vibration", "type": "numeric", "nullable": True,
         "synthetic": {"distribution": "exponential", "mean": 2, "null_fraction": 0.05}},
    ],
)  # fmt: skip
CATEGORICAL_ONLY = _schema(
    "regression",
    {
        "name": "basket_value",
        "min": 0,
        "synthetic": {"intercept": 50, "noise_std": 5, "effects": {"region": {"north": 20}}},
    },
    [
        {"name": "region", "type": "categorical", "categories": ["north", "south"]},
        {"name": "channel", "type": "categorical", "categories": ["web", "store", "phone"],
         "nullable": True, "synthetic": {"null_fraction": 0.1}},
    ],
)  # fmt: skip
BOOLEAN_ONLY = _schema(
    "binary_classification",
    {"name": "clicked", "synthetic": {"positive_rate": 0.2, "effects": {"mobile": 1.0}}},
    [
        {"name": "mobile", "type": "boolean", "synthetic": {"p_true": 0.5}},
        {"name": "returning", "type": "boolean", "synthetic": {"p_true": 0.3}},
    ],
)
SCHEMAS = {
    "numeric-only": NUMERIC_ONLY,
    "categorical-only": CATEGORICAL_ONLY,
    "boolean-only": BOOLEAN_ONLY,
}
EVERY_KIND = DirtyRows(
    missing_required=3, wrong_type=3, out_of_range=3, unknown_category=3, malformed=2, duplicates=2
)


@pytest.mark.parametrize(
    ("name", "impossible"),
    [
        ("numeric-only", {"unknown_category"}),
        ("categorical-only", {"wrong_type", "out_of_range"}),
        ("boolean-only", {"out_of_range", "unknown_category"}),
    ],
)
def test_dirty_rows_keep_every_kind_the_schema_can_hold(name: str, impossible: set) -> None:
    schema = DatasetSchema.from_dict(SCHEMAS[name])
    possible = EVERY_KIND.possible_for(schema)
    assert {k for k, n in possible.as_dict().items() if n == 0} == impossible
    assert all(
        possible.as_dict()[k] == n for k, n in EVERY_KIND.as_dict().items() if k not in impossible
    )


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_raw_batches_for_any_feature_mix(name: str, tmp_path: Path) -> None:
    schema = DatasetSchema.from_dict(SCHEMAS[name])
    dirty = EVERY_KIND.possible_for(schema)
    clean = generate_clean(schema, 200, seed=4)
    batch = write_raw(schema, clean, tmp_path / "batch.csv", dirty=dirty)
    with batch.path.open() as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == schema.raw_columns
    assert len(rows) - 1 == batch.total_rows == 200 + dirty.quarantined + dirty.duplicates
    assert batch.dirty == dirty
    # Asking for a kind the schema cannot hold stays a clear error, not a silent zero.
    impossible = [k for k, n in dirty.as_dict().items() if n == 0]
    if impossible:
        with pytest.raises(ValueError, match="has no column that can be made"):
            write_raw(schema, clean, tmp_path / "again.csv", dirty=EVERY_KIND)


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_endpoint_probe_for_any_feature_mix(name: str) -> None:
    schema = DatasetSchema.from_dict(SCHEMAS[name])
    transform = FeatureTransform(schema_data=SCHEMAS[name])
    requests = request_mix(schema, 60)
    rejected = []
    for index, request in enumerate(requests):
        try:
            columns = parse_request(transform, request.body, request.content_type)
        except ClientError:
            rejected.append(index)
            continue
        assert set(columns) >= set(schema.feature_names)
    # Every tenth request is a malformed one, and only those are rejected.
    assert rejected == list(range(9, 60, 10))
    bad_values = {r.body.decode(errors="replace") for r in requests[9::10]}
    for feature_type in {f.type for f in schema.features}:
        assert any(INVALID_VALUE[feature_type] in body for body in bad_values), feature_type
    absent = set(FeatureType) - {f.type for f in schema.features}
    for feature_type in absent:
        assert not any(INVALID_VALUE[feature_type] in body for body in bad_values)


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_preprocess_and_baseline_for_any_feature_mix(name: str, tmp_path: Path) -> None:
    """The pipeline's first two steps: a categorical-only schema has no numeric column to
    impute, only one-hot ones."""
    schema = DatasetSchema.from_dict(SCHEMAS[name])
    schema_path = tmp_path / "schema.json"
    schema_path.write_text(json.dumps(SCHEMAS[name]))
    (tmp_path / "curated").mkdir()
    generate_clean(schema, 300, seed=2).to_parquet(tmp_path / "curated" / "part.parquet")
    counts = preprocess(
        input_dir=tmp_path / "curated",
        schema_path=schema_path,
        output_dir=tmp_path / "out",
        args=parse_args([]),
    )
    assert counts["train"] + counts["validation"] + counts["test"] == 300
    features, labels, names = load_split(tmp_path / "out" / "train", "train")
    expected = FeatureTransform(schema_data=SCHEMAS[name]).output_names
    assert names == expected and features.shape == (counts["train"], len(expected))
    assert len(labels) == counts["train"]
    profile = baseline(
        input_dir=tmp_path / "out" / "baseline",
        schema_path=schema_path,
        output_dir=tmp_path / "baseline",
    )
    assert profile == {"item_count": counts["train"], "features": len(schema.features)}
