"""The dataset schema loads into typed objects, and every error names its field."""

from __future__ import annotations

import copy
import json

import pytest

from config.schema import (
    DATASETS_DIR,
    DatasetSchema,
    DerivedOp,
    FeatureType,
    ProblemType,
    SchemaError,
    load_schema,
)


@pytest.fixture
def churn_dict() -> dict:
    return json.loads((DATASETS_DIR / "churn.json").read_text())


def test_churn_schema_is_typed() -> None:
    schema = load_schema("churn")
    assert schema.problem_type is ProblemType.BINARY_CLASSIFICATION
    assert schema.id_column == "customer_id"
    assert schema.feature("contract").type is FeatureType.CATEGORICAL
    assert schema.feature("contract").categories == ("month-to-month", "one-year", "two-year")
    assert schema.feature("tenure_months").maximum == 120
    assert schema.feature("total_charges").nullable
    assert {d.op for d in schema.derived_features} == set(DerivedOp)
    assert schema.raw_columns[:2] == ["customer_id", "event_time"]
    assert schema.raw_columns[-1] == "churned"
    assert dict(schema.curated_columns())["tenure_band"] == "int"
    assert dict(schema.processed_columns())["churned"] == "int"


def test_every_shipped_dataset_loads() -> None:
    names = sorted(p.stem for p in DATASETS_DIR.glob("*.json"))
    assert names == ["churn", "house_prices"]
    regression = load_schema("house_prices")
    assert regression.problem_type is ProblemType.REGRESSION
    assert set(regression.feature_names).isdisjoint(load_schema("churn").feature_names)


def test_quality_gate_knows_the_metric_direction() -> None:
    churn_gate = load_schema("churn").quality_gate
    assert (churn_gate.json_path, churn_gate.higher_is_better) == (
        "binary_classification_metrics.auc.value",
        True,
    )
    assert load_schema("house_prices").quality_gate.json_path == "regression_metrics.r2.value"


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.pop("id_column"), "schema.id_column: is required"),
        (lambda d: d.update(problem_type="ranking"), "schema.problem_type: 'ranking' is not one"),
        (lambda d: d["features"][0].update(type="text"), "schema.features[0].type"),
        (lambda d: d["features"][1].update(min=300), "schema.features[1].min: 300.0 is greater"),
        (lambda d: d["features"][5].update(categories=[]), "schema.features[5].categories"),
        (lambda d: d["features"][5].pop("categories"), "schema.features[5].categories: is req"),
        (lambda d: d["features"][8].update(min=0), "schema.features[8]: min/max apply"),
        (lambda d: d["features"][0].update(name="Tenure"), "schema.features[0].name"),
        (lambda d: d["features"][2].update(nullable="yes"), "schema.features[2].nullable"),
        (lambda d: d["features"][0].update(max="a lot"), "schema.features[0].max: must be a num"),
        (
            lambda d: d["derived_features"][0].update(inputs=["total_charges", "nope"]),
            "schema.derived_features[0].inputs[1]: unknown feature 'nope'",
        ),
        (
            lambda d: d["derived_features"][2].update(boundaries=[12, 6]),
            "schema.derived_features[2].boundaries: must be a non-empty, strictly increasing",
        ),
        (
            lambda d: d["derived_features"][1].update(inputs=["contract"]),
            "schema.derived_features[1].inputs[0]: 'contract' is not numeric",
        ),
        (lambda d: d["features"].append(dict(d["features"][0])), "'tenure_months' is used twice"),
        (lambda d: d["features"][4].update(name="event_month"), "'event_month' is reserved"),
        (lambda d: d["target"].update(min=0), "schema.target: a binary target takes no min/max"),
        (lambda d: d.pop("quality_gate"), "schema.quality_gate: is required"),
        (
            lambda d: d["quality_gate"].update(metric="rmse"),
            "schema.quality_gate.metric: 'rmse' is not a binary_classification metric",
        ),
        (lambda d: d["quality_gate"].pop("threshold"), "schema.quality_gate.threshold: is req"),
    ],
)
def test_schema_errors_name_the_field(churn_dict: dict, mutate, message: str) -> None:
    broken = copy.deepcopy(churn_dict)
    mutate(broken)
    with pytest.raises(SchemaError) as error:
        DatasetSchema.from_dict(broken)
    assert message in str(error.value)


def test_invalid_json_and_missing_file_are_schema_errors(tmp_path) -> None:
    with pytest.raises(SchemaError, match="not valid JSON"):
        DatasetSchema.from_json("{")
    with pytest.raises(SchemaError, match="no dataset file"):
        load_schema(tmp_path / "absent.json")
