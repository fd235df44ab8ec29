"""Bias metrics against SageMaker Clarify's own examples, facet groups from raw text, and
TreeSHAP attributions summed per schema feature.

The examples (data and expected values) are those of Clarify's open-source core's unit
tests: aws/amazon-sagemaker-clarify at 024329d, tests/unit/bias/metrics/test_metrics.py
(``dfBinary``, ``dfContinuous``, ``test_CI``, ``test_DPL``, ``test_DI``, ``test_RD``)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import xgboost as xgb

from config.schema import DATASETS_DIR, DatasetSchema, SchemaError
from features.attribution import (
    contributions,
    explanations_report,
    global_importance,
    per_feature,
)
from features.bias import Group, bias_reports, facet_groups, group_metrics

# Clarify's dfBinary: 12 rows, a sex facet, labels and predicted labels.
SEX = ["M", "F", "F", "M", "F", "M", "F", "F", "M", "M", "F", "F"]
LABEL = np.array([0, 1, 1, 1, 1, 0, 0, 0, 1, 0, 0, 0]) == 1
PREDICTED = np.array([1, 1, 1, 0, 0, 0, 1, 1, 0, 1, 0, 0]) == 1
# Clarify's dfContinuous: CI with the rows above 1.0 as the facet is -1/3.
CONTINUOUS = [
    "1.55255404", "1.87128923", "1.82640675", "0.48706083", "0.21833644", "0.45007763",
    "0.47457823", "1.5346789", "1.61042132", "1.87130261", "1.97768247", "1.05499183",
]  # fmt: skip


def _group(values: list[str], chosen: str) -> Group:
    sensitive = np.array([v == chosen for v in values])
    return Group("sex", chosen, sensitive, np.ones(len(values), dtype=bool))


@pytest.mark.parametrize(
    ("facet", "ci", "di", "rd"),
    [("F", -1 / 6, 10 / 7, -2 / 3), ("M", 1 / 6, 7 / 10, 2 / 3)],
)
def test_the_metrics_give_clarifys_values_on_its_examples(
    facet: str, ci: float, di: float, rd: float
) -> None:
    found = group_metrics(_group(SEX, facet), LABEL, PREDICTED)
    assert found["CI"] == pytest.approx(ci)
    assert found["DI"] == pytest.approx(di)
    assert found["RD"] == pytest.approx(rd)
    # DPPL is DPL on the predicted labels (Clarify computes it with the same function).
    on_predictions = group_metrics(_group(SEX, facet), PREDICTED, None)
    assert found["DPPL"] == pytest.approx(on_predictions["DPL"])


def test_dpl_is_clarifys_on_its_example() -> None:
    x, y = ["a", "a", "b", "b"], np.array([1, 1, 0, 1]) == 1
    assert group_metrics(_group(x, "a"), y, None)["DPL"] == -0.5
    assert group_metrics(_group(x, "b"), y, None)["DPL"] == 0.5


def test_an_infinite_disparate_impact_is_reported_not_written_as_a_number() -> None:
    # Clarify's example: no positive prediction among the M rows, so DI(F) is infinite.
    zero_for_m = np.array([0, 1, 1, 0, 1, 0, 1, 1, 0, 0, 1, 1]) == 1
    found = group_metrics(_group(SEX, "F"), LABEL, zero_for_m)
    assert found["DI"] == "infinite: no positive prediction in a"
    empty = group_metrics(_group(SEX, "X"), LABEL, PREDICTED)
    assert set(empty.values()) == {"facet set is empty"}


def _churn(facets: list[dict]) -> DatasetSchema:
    data = json.loads((DATASETS_DIR / "churn.json").read_text())
    data["facets"] = facets
    return DatasetSchema.from_dict(data)


def test_facet_groups_come_from_the_raw_text_and_blanks_belong_to_no_group() -> None:
    schema = _churn(
        [
            {"name": "age", "threshold": 1.0},
            {"name": "senior_citizen"},
            {"name": "contract"},
            {"name": "internet_service", "values": ["dsl", "none"]},
        ]
    )
    [above] = facet_groups(schema, schema.facets[0], CONTINUOUS)
    assert above.value_or_threshold == "(>1)"
    assert group_metrics(above, LABEL, None)["CI"] == pytest.approx(-1 / 3)
    [senior] = facet_groups(schema, schema.facets[1], ["True", "false", "", "yes", "maybe"])
    assert senior.sensitive.tolist() == [True, False, False, True, False]
    assert senior.known.tolist() == [True, True, False, True, False]
    contract = facet_groups(schema, schema.facets[2], ["one-year", "two-year", ""])
    assert [g.value_or_threshold for g in contract] == ["month-to-month", "one-year", "two-year"]
    [chosen] = facet_groups(schema, schema.facets[3], ["dsl", "fiber-optic", "none"])
    assert chosen.value_or_threshold == "dsl, none" and chosen.sensitive.tolist() == [
        True,
        False,
        True,
    ]


def test_the_reports_have_clarifys_analysis_shape() -> None:
    schema = _churn([{"name": "contract", "values": ["month-to-month"]}])
    raw = {"contract": ["month-to-month" if s == "F" else "two-year" for s in SEX]}
    pre, post = bias_reports(schema, raw, LABEL.astype(int), PREDICTED)
    block = pre["pre_training_bias_metrics"]
    assert block["label"] == "churned" and block["label_value_or_threshold"] == "1"
    [group] = block["facets"]["contract"]
    assert group["value_or_threshold"] == "month-to-month"
    assert [m["name"] for m in group["metrics"]] == ["CI", "DPL"]
    assert group["metrics"][0] == {
        "name": "CI",
        "description": "Class Imbalance (CI)",
        "value": pytest.approx(-1 / 6, abs=1e-6),
    }
    [after] = post["post_training_bias_metrics"]["facets"]["contract"]
    assert [m["name"] for m in after["metrics"]] == ["DPPL", "DI", "RD"]


def test_only_a_binary_target_takes_facets() -> None:
    data = json.loads((DATASETS_DIR / "penguins.json").read_text())
    data["facets"] = [{"name": "sex"}]
    with pytest.raises(SchemaError, match="bias metrics compare positive outcomes"):
        DatasetSchema.from_dict(data)


def test_shap_values_per_feature_add_up_to_the_margin() -> None:
    """TreeSHAP's local accuracy survives the sum over a feature's encoded columns."""
    schema = _churn([])
    rng = np.random.default_rng(5)
    names = ["tenure_months", "contract=month-to-month", "contract=one-year", "age"]
    x = rng.normal(size=(200, 4))
    y = (x[:, 0] + 2 * x[:, 1] > 0).astype(float)
    booster = xgb.train(
        {"objective": "binary:logistic", "max_depth": 3},
        xgb.DMatrix(x, label=y, feature_names=names),
        num_boost_round=10,
    )
    values = contributions(booster, x, names)
    margin = booster.predict(xgb.DMatrix(x, feature_names=names), output_margin=True)
    summed = sum(per_feature(values, names, schema).values()) + values[:, -1]
    assert np.allclose(summed, margin, atol=1e-5)
    importance = global_importance(values, names, schema)
    assert list(importance) == ["contract", "tenure_months", "age"]
    assert all(math.isfinite(v) and v >= 0 for v in importance.values())


def test_a_multiclass_report_has_an_entry_per_class() -> None:
    schema = DatasetSchema.from_dict(json.loads((DATASETS_DIR / "penguins.json").read_text()))
    rng = np.random.default_rng(2)
    names = ["culmen_length_mm", "island=Biscoe", "island=Dream", "body_mass_g"]
    x = rng.normal(size=(150, 4))
    y = np.digitize(x[:, 0] + x[:, 1], [-0.5, 0.5])
    booster = xgb.train(
        {"objective": "multi:softprob", "num_class": 3, "max_depth": 2},
        xgb.DMatrix(x, label=y, feature_names=names),
        num_boost_round=5,
    )
    values = contributions(booster, x, names)
    report = explanations_report(values, names, schema)["explanations"]["tree_shap"]
    assert list(report) == list(schema.target.classes)
    for k, entry in enumerate(report.values()):
        assert entry["expected_value"] == pytest.approx(values[:, k, -1].mean(), abs=1e-6)
        assert set(entry["global_shap_values"]) == {"culmen_length_mm", "island", "body_mass_g"}
