"""Feature attribution drift as Model Monitor's check judges it: nDCG of the live
global SHAP ranking against the baseline's, a violation below 0.9."""

from __future__ import annotations

import math

import pytest

from monitoring.attribution_drift import CHECK, THRESHOLD, attribution_drift, ndcg

# "Feature attribution drift for models in production": the college admissions example.
TRAINING = {"SAT score": 0.70, "GPA": 0.50, "Class rank": 0.05}
LIVE = {"SAT score": 0.10, "GPA": 0.20, "Class rank": 0.70}


def test_the_documentations_example() -> None:
    # The page's definition: DCG ranks the features by live attribution and gains the
    # training attribution, with log2(i + 1) discounts; iDCG ranks by training.
    dcg = 0.05 / math.log2(2) + 0.50 / math.log2(3) + 0.70 / math.log2(4)
    idcg = 0.70 / math.log2(2) + 0.50 / math.log2(3) + 0.05 / math.log2(4)
    assert ndcg(TRAINING, LIVE) == pytest.approx(dcg / idcg)
    assert ndcg(TRAINING, LIVE) < THRESHOLD  # the reversed ranking raises the alert


def test_the_same_ranking_scores_one_whatever_the_scale() -> None:
    assert ndcg(TRAINING, {k: v * 3 for k, v in TRAINING.items()}) == pytest.approx(1.0)
    # Swapping two features that matter little barely moves it.
    many = {f"f{i}": 2.0**-i for i in range(8)}
    swapped = {**many, "f6": many["f7"], "f7": many["f6"]}
    assert ndcg(many, swapped) > 0.99


def test_a_baseline_where_nothing_mattered_has_no_ranking_to_lose() -> None:
    assert ndcg({"a": 0.0, "b": 0.0}, {"a": 0.3, "b": 0.1}) == 1.0


def _report(values: dict[str, float], rows: int = 100) -> dict:
    return {
        "version": "1.0",
        "explanations": {"tree_shap": {"churned": {"global_shap_values": values, "rows": rows}}},
    }


def test_violations_have_the_documented_form() -> None:
    drift = attribution_drift(_report(LIVE, 250), _report(TRAINING))
    assert drift is not None and drift.rows == 250
    assert drift.lowest == pytest.approx(ndcg(TRAINING, LIVE))
    assert drift.violations == [
        {
            "label": "churned",
            "metric_name": "shap",
            "constraint_check_type": CHECK,
            "description": f"Feature attribution drift {drift.lowest:.4f} exceeds threshold 0.9",
        }
    ]
    assert attribution_drift(_report(TRAINING), _report(TRAINING)).violations == []


def test_reports_without_a_common_label_are_not_compared() -> None:
    other = {"version": "1.0", "explanations": {"tree_shap": {"other": {"global_shap_values": {}}}}}
    assert attribution_drift(other, _report(TRAINING)) is None
