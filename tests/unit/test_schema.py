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
    dataset_names,
    load_schema,
)
from config.synthetic_hints import synthetic_hint_problems


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


def test_churn_row_key_is_its_id_column() -> None:
    schema = load_schema("churn")
    assert schema.row_key == "customer_id"
    assert schema.record_columns == ["customer_id", "event_time"]
    assert schema.processed_columns()[:2] == [
        ("customer_id", "string"),
        ("event_time", "timestamp"),
    ]


def test_id_and_event_time_are_optional(churn_dict: dict) -> None:
    """Without them the ETL keys rows by etl_row_id and no event time column exists."""
    del churn_dict["id_column"], churn_dict["event_time_column"]
    schema = DatasetSchema.from_dict(churn_dict)
    assert schema.id_column is None and schema.event_time_column is None
    assert schema.row_key == "etl_row_id"
    assert schema.record_columns == []
    assert schema.raw_columns == [*schema.feature_names, "churned"]
    assert schema.processed_columns()[0] == ("etl_row_id", "string")
    assert schema.curated_columns()[0] == ("etl_row_id", "string")
    assert "timestamp" not in dict(schema.curated_columns()).values()


def test_id_without_event_time(churn_dict: dict) -> None:
    del churn_dict["event_time_column"]
    schema = DatasetSchema.from_dict(churn_dict)
    assert schema.row_key == "customer_id"
    assert schema.raw_columns[0] == "customer_id" and "event_time" not in schema.raw_columns


def test_a_feature_may_not_take_the_reserved_row_key(churn_dict: dict) -> None:
    del churn_dict["id_column"]
    churn_dict["features"][0]["name"] = "etl_row_id"
    with pytest.raises(SchemaError, match="'etl_row_id' is reserved for the ETL"):
        DatasetSchema.from_dict(churn_dict)


def test_every_shipped_dataset_loads() -> None:
    names = sorted(p.stem for p in DATASETS_DIR.glob("*.json"))
    assert {"churn", "house_prices"} <= set(names)
    for name in names:
        assert load_schema(name).name
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


# One mutation of the churn schema per class of problem; each must be reported at the
# field's path, list entries named by their name, with its fix.
@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            lambda d: d.update(id_column="Customer ID"),
            "schema.id_column: 'Customer ID' must be lower_snake_case",
        ),
        (
            lambda d: d.update(event_time_column="etl_row_id"),
            "schema.event_time_column: column name 'etl_row_id' is reserved for the ETL",
        ),
        (
            lambda d: d.update(problem_type="ranking"),
            "schema.problem_type: 'ranking' is not one of",
        ),
        (
            lambda d: d["features"][0].update(type="text"),
            "schema.features[tenure_months].type: 'text' is not one of "
            "['numeric', 'categorical', 'boolean', 'timestamp']; "
            "fix: use one of numeric, categorical, boolean, timestamp",
        ),
        (
            lambda d: d["features"][0].update(type="numerc"),
            "schema.features[tenure_months].type: 'numerc' is not one of "
            "['numeric', 'categorical', 'boolean', 'timestamp']; fix: use 'numeric'",
        ),
        (
            lambda d: d["features"][1].update(min=300),
            "schema.features[monthly_charges].min: 300 is greater than max 200; fix: swap",
        ),
        (
            lambda d: d["features"][5].update(categories=[]),
            "schema.features[contract].categories: must name at least one category",
        ),
        (
            lambda d: d["features"][5].update(categories=["one-year", "two-year", "one-year"]),
            "schema.features[contract].categories: lists 'one-year' more than once; "
            "fix: list each category once",
        ),
        (
            lambda d: d["features"][5].update(categories="one-year,two-year"),
            "schema.features[contract].categories: must be a list",
        ),
        (
            lambda d: d["features"][5].pop("categories"),
            "schema.features[contract].categories: is required for a categorical feature",
        ),
        (
            lambda d: d["features"][0].update(categories=["a"]),
            "schema.features[tenure_months].categories: only categorical features have "
            'categories, not numeric; fix: remove "categories"',
        ),
        (
            lambda d: d["features"][8].update(min=0),
            "schema.features[paperless_billing]: min/max apply to numeric features only",
        ),
        (
            lambda d: d["features"][0].update(name="Tenure Months"),
            "schema.features[Tenure Months].name: 'Tenure Months' must be lower_snake_case "
            "(letters, digits, _); fix: rename it to 'tenure_months'",
        ),
        (
            lambda d: d["features"][2].update(nullable="yes"),
            "schema.features[total_charges].nullable: must be true or false",
        ),
        (
            lambda d: d["features"][0].update(max="a lot"),
            "schema.features[tenure_months].max: must be a number",
        ),
        (
            lambda d: d["features"][2].update(nulable=True),
            'schema.features[total_charges].nulable: is not a known key; fix: did you mean "nulla',
        ),
        (
            lambda d: d["derived_features"][0].update(inputs=["total_charges", "nope"]),
            "schema.derived_features[avg_monthly_spend].inputs: unknown feature 'nope'; "
            "fix: declare 'nope' under \"features\", or use a numeric feature: age, ",
        ),
        (
            lambda d: d["derived_features"][0].update(inputs=["total_charges"]),
            "schema.derived_features[avg_monthly_spend].inputs: ratio takes 2 input(s), got 1",
        ),
        (
            lambda d: d["derived_features"][2].update(boundaries=[12, 6]),
            "schema.derived_features[tenure_band].boundaries: must be a non-empty, strictly "
            "increasing list; fix: use [6, 12]",
        ),
        (
            lambda d: d["derived_features"][2].pop("boundaries"),
            "schema.derived_features[tenure_band].boundaries: is required for a bucket feature",
        ),
        (
            lambda d: d["derived_features"][1].update(boundaries=[1, 2]),
            "schema.derived_features[log_total_charges].boundaries: only bucket features",
        ),
        (
            lambda d: d["derived_features"][1].update(inputs=["contract"]),
            "schema.derived_features[log_total_charges].inputs: 'contract' is categorical, "
            "not numeric",
        ),
        (
            lambda d: d["features"].append(dict(d["features"][0])),
            "schema.features[tenure_months]: column name 'tenure_months' is used twice; "
            "fix: rename or remove one of them",
        ),
        (
            lambda d: d["derived_features"][0].update(name="age"),
            "schema.derived_features[age]: column name 'age' is used twice "
            "(also at schema.features[age])",
        ),
        (
            lambda d: d["features"][4].update(name="event_month"),
            "schema.features[event_month]: column name 'event_month' is reserved for the ETL",
        ),
        (lambda d: d["target"].update(min=0), "schema.target: a binary target takes no min/max"),
        (
            lambda d: d.pop("quality_gate"),
            'schema.quality_gate: is required; fix: add "quality_gate": {"metric"',
        ),
        (
            lambda d: d["quality_gate"].update(metric="rmse"),
            "schema.quality_gate.metric: 'rmse' is not a binary_classification metric; "
            "fix: use one of accuracy, auc, f1, precision, recall",
        ),
        (
            lambda d: d["quality_gate"].update(threshold=75),
            "schema.quality_gate.threshold: 75 is outside auc's range [0, 1]: no model could pass",
        ),
        (
            lambda d: d["quality_gate"].pop("threshold"),
            "schema.quality_gate.threshold: is required",
        ),
        (lambda d: d["features"].clear(), "schema.features: must list at least one feature"),
    ],
)
def test_schema_errors_name_the_field_and_the_fix(churn_dict: dict, mutate, message: str) -> None:
    broken = copy.deepcopy(churn_dict)
    mutate(broken)
    with pytest.raises(SchemaError) as error:
        DatasetSchema.from_dict(broken)
    assert any(line.startswith(message) for line in error.value.lines()), error.value.lines()


# The local generator's hints: checked apart (only `make run` reads them), so that a run
# on a new dataset cannot fail half-way.
@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            lambda d: d["target"]["synthetic"]["effects"].update(tenure=0.1),
            "schema.target.synthetic.effects.tenure: names no declared feature; fix: did you "
            'mean "tenure_months"?',
        ),
        (
            lambda d: d["target"]["synthetic"]["effects"]["contract"].update(weekly=1.0),
            "schema.target.synthetic.effects.contract: must map contract's categories to "
            "numbers; not among them: 'weekly'",
        ),
        (
            lambda d: d["features"][5]["synthetic"].update(weights=[0.5, 0.5]),
            "schema.features[contract].synthetic.weights: must list one weight per category (3)",
        ),
        (
            lambda d: d["features"][1]["synthetic"].update(distribution="gamma"),
            "schema.features[monthly_charges].synthetic.distribution: 'gamma' is not one of",
        ),
        (
            lambda d: d["features"][1]["synthetic"].pop("std"),
            "schema.features[monthly_charges].synthetic: a normal distribution needs std",
        ),
        (
            lambda d: d["features"][2]["synthetic"].update(of=["tenure_months", "age"]),
            "schema.features[total_charges].synthetic.of: must name two numeric features "
            "declared before this one; fix: use two of: tenure_months, monthly_charges",
        ),
    ],
)
def test_synthetic_hint_problems_name_the_hint_and_the_fix(
    churn_dict: dict, mutate, message: str
) -> None:
    broken = copy.deepcopy(churn_dict)
    mutate(broken)
    schema = DatasetSchema.from_dict(broken)  # a valid schema: hints never fail it
    problems = [str(p) for p in synthetic_hint_problems(schema)]
    assert len(problems) == 1 and problems[0].startswith(message), problems


def test_shipped_datasets_have_valid_synthetic_hints() -> None:
    for name in dataset_names():
        assert synthetic_hint_problems(load_schema(name)) == []


def test_every_problem_is_reported_in_one_pass(churn_dict: dict) -> None:
    broken = copy.deepcopy(churn_dict)
    broken["id_column"] = ""
    broken["features"][0]["type"] = "text"
    broken["features"][5]["categories"] = ["dsl", "dsl"]
    broken["derived_features"][0]["inputs"] = ["total_charges", "nope"]
    broken["quality_gate"]["metric"] = "rmse"
    with pytest.raises(SchemaError) as error:
        DatasetSchema.from_dict(broken)
    assert [p.path for p in error.value.problems] == [
        "schema.id_column",
        "schema.features[tenure_months].type",
        "schema.features[contract].categories",
        "schema.derived_features[avg_monthly_spend].inputs",
        "schema.quality_gate.metric",
    ]
    assert all(p.fix for p in error.value.problems)
    assert str(error.value).count("\n") == 4  # one line per problem


@pytest.mark.parametrize(
    ("mutate", "path"),
    [
        # total_charges: input of two derived features and of the generator's hints
        (lambda d: d["features"][2].update(type="money"), "schema.features[total_charges].type"),
        # contract: its categories are keys of the target's synthetic effects and weights
        (lambda d: d["features"][5].pop("categories"), "schema.features[contract].categories"),
        (
            lambda d: d["features"][5].update(categories=["a", "a", "b"]),
            "schema.features[contract].categories",
        ),
    ],
)
def test_a_problem_is_reported_once_not_again_where_the_field_is_used(
    churn_dict: dict, mutate, path: str
) -> None:
    broken = copy.deepcopy(churn_dict)
    mutate(broken)
    with pytest.raises(SchemaError) as error:
        DatasetSchema.from_dict(broken)
    assert [p.path for p in error.value.problems] == [path]


def test_a_regression_gate_rejects_classification_metrics() -> None:
    data = json.loads((DATASETS_DIR / "house_prices.json").read_text())
    data["quality_gate"] = {"metric": "auc", "threshold": 0.8}
    with pytest.raises(SchemaError, match=r"'auc' is not a regression metric; fix: use one of mae"):
        DatasetSchema.from_dict(data)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '{\n  "name": "x", // the dataset\n  "features": []\n}',
            "line 2 column 16: not valid JSON (Expecting property name enclosed in double quotes);"
            " fix: JSON has no comments",
        ),
        (
            '{\n  "name": "x",\n  "features": [],\n}',
            "line 4 column 1: not valid JSON (Expecting property name enclosed in double quotes);"
            " fix: delete the trailing comma",
        ),
        (
            '{\n  "name": "x"\n  "features": []\n}',
            "line 3 column 3: not valid JSON (Expecting ',' delimiter); fix: add the missing comma",
        ),
        ("{'name': 'x'}", "line 1 column 2: not valid JSON"),
    ],
)
def test_invalid_json_names_line_column_and_fix(text: str, message: str) -> None:
    with pytest.raises(SchemaError) as error:
        DatasetSchema.from_json(text)
    assert len(error.value.lines()) == 1
    assert error.value.lines()[0].startswith(message)


def test_errors_from_a_file_name_the_file(tmp_path, churn_dict: dict) -> None:
    churn_dict["features"][0]["max"] = -1
    path = tmp_path / "mine.json"
    path.write_text(json.dumps(churn_dict))
    with pytest.raises(SchemaError) as error:
        load_schema(path)
    assert error.value.lines() == [
        f"{path}: schema.features[tenure_months].min: 0 is greater than max -1; "
        "fix: swap min and max, or correct the wrong one"
    ]
    with pytest.raises(SchemaError, match=r"no such dataset file; fix: give a \.json file's path"):
        load_schema(tmp_path / "absent.json")


def _multiclass(churn_dict: dict, **target: object) -> dict:
    data = copy.deepcopy(churn_dict)
    data["problem_type"] = "multiclass_classification"
    data.pop("facets")  # bias metrics are for a binary target
    data["quality_gate"] = {"metric": "log_loss", "threshold": 1.0}
    data["target"] = {"name": "plan", **target}
    return data


def test_a_multiclass_target_lists_its_classes_in_index_order(churn_dict: dict) -> None:
    schema = DatasetSchema.from_dict(_multiclass(churn_dict, classes=["b", "a", "c"]))
    assert schema.problem_type is ProblemType.MULTICLASS_CLASSIFICATION
    assert schema.target.classes == ("b", "a", "c") and schema.class_count == 3
    assert schema.target_kind == "int"  # the curated target is the class index
    gate = schema.quality_gate
    assert (gate.group, gate.higher_is_better) == ("multiclass_classification_metrics", False)
    assert load_schema("churn").target.classes == ()


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ({}, "schema.target.classes: is required for a multiclass target; fix: list the raw"),
        ({"classes": ["a", "b"]}, "schema.target.classes: lists 2 class(es); multiclass needs"),
        ({"classes": ["a", "b", "a"]}, "schema.target.classes: lists 'a' more than once"),
        ({"classes": ["a", "b,c", "d"]}, "schema.target.classes: 'b,c' cannot be a bare CSV"),
        ({"classes": ["a", " b", "d"]}, "schema.target.classes: ' b' cannot be a bare CSV"),
        ({"classes": ["a", "b", "c"], "min": 0}, "schema.target: a multiclass target takes no"),
    ],
)
def test_multiclass_target_errors_name_the_field_and_the_fix(
    churn_dict: dict, target: dict, message: str
) -> None:
    with pytest.raises(SchemaError) as error:
        DatasetSchema.from_dict(_multiclass(churn_dict, **target))
    assert any(line.startswith(message) for line in error.value.lines()), error.value.lines()


def test_classes_belong_to_a_multiclass_target_and_gates_to_their_type(churn_dict) -> None:
    binary = copy.deepcopy(churn_dict)
    binary["target"]["classes"] = ["a", "b", "c"]
    with pytest.raises(SchemaError, match="only a multiclass target has classes, not a binary"):
        DatasetSchema.from_dict(binary)
    auc = _multiclass(churn_dict, classes=["a", "b", "c"])
    auc["quality_gate"] = {"metric": "auc", "threshold": 0.8}
    with pytest.raises(SchemaError, match="'auc' is not a multiclass_classification metric"):
        DatasetSchema.from_dict(auc)
    shares = _multiclass(churn_dict, classes=["a", "b", "c"], synthetic={"class_shares": [1, 2]})
    [problem] = synthetic_hint_problems(DatasetSchema.from_dict(shares))
    assert str(problem).startswith("schema.target.synthetic.class_shares: must list 3 positive")
