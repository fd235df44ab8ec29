"""Bias drift as Model Monitor's bias drift check judges it, on the evaluation's own
bias definitions (features/bias.py)."""

from __future__ import annotations

import numpy as np

from config.schema import load_schema
from features.bias import bias_reports, facet_groups
from monitoring.bias_drift import CHECK, INFINITY, bias_drift, worse
from monitoring.cloudwatch import model_drift_metrics

SCHEMA = load_schema("churn")


def test_the_documentations_example() -> None:
    # "Bias drift violations": DPPL constrained at 0.2; 0.1 is closer to 0 (no violation),
    # -0.3 further from it (a violation).
    assert not worse("DPPL", 0.1, 0.2, 0.0)
    assert worse("DPPL", -0.3, 0.2, 0.0)


def test_disparate_impact_is_judged_by_its_distance_from_parity() -> None:
    assert not worse("DI", 1.05, 0.9, 0.0)  # 0.05 from 1, the baseline 0.1
    assert worse("DI", 0.7, 0.9, 0.0)
    assert not worse("DI", 0.75, 0.9, 0.2)  # within the tolerance


def _window(rows: int, seed: int, biased: bool) -> tuple[dict, list[str], np.ndarray]:
    """Labelled rows with both facets; a fair model's scores follow the label alone,
    a biased one's also favour senior citizens."""
    rng = np.random.default_rng(seed)
    senior = rng.random(rows) < 0.4
    age = np.where(senior, rng.integers(66, 90, rows), rng.integers(18, 65, rows))
    truth = (rng.random(rows) < 0.3).astype(int)
    scores = np.where(truth == 1, 0.8, 0.2) + rng.normal(0, 0.05, rows)
    if biased:
        scores = np.where(senior, 0.9, scores)
    facets = {
        "senior_citizen": ["true" if s else "false" for s in senior],
        "age": [str(a) for a in age],
    }
    return facets, [str(t) for t in truth], scores


def _baseline() -> dict:
    facets, labels, scores = _window(4000, 1, biased=False)
    pre, post = bias_reports(SCHEMA, facets, np.array(labels, dtype=int), scores >= 0.5)
    return {**pre, **post}


def test_a_fair_window_has_no_violation_and_a_biased_model_has() -> None:
    baseline = _baseline()
    fair = bias_drift(SCHEMA, *_window(600, 2, biased=False), baseline)
    assert fair is not None and fair.judged and fair.violation_count == 0

    biased = bias_drift(SCHEMA, *_window(600, 3, biased=True), baseline)
    assert biased is not None
    violated = {(v["facet"], v["metric_name"]) for v in biased.violations}
    # Senior citizens now get positive predictions whatever their label.
    assert {("senior_citizen", "DPPL"), ("senior_citizen", "DI")} <= violated
    assert ("senior_citizen", "CI") not in violated  # the data itself did not change
    assert all(v["constraint_check_type"] == CHECK for v in biased.violations)
    # The violations file has the documented fields, and nothing else.
    assert {tuple(sorted(v)) for v in biased.violations} == {
        ("constraint_check_type", "description", "facet", "facet_value", "metric_name")
    }


def test_a_group_with_too_few_rows_is_measured_but_not_judged() -> None:
    facets, labels, scores = _window(600, 3, biased=True)
    drift = bias_drift(SCHEMA, facets, labels, scores, _baseline(), min_rows=1000)
    assert drift is not None and drift.judged
    assert all(j.violation is None for j in drift.judged) and not drift.violations


def test_unusable_labels_are_left_out() -> None:
    facets, labels, scores = _window(300, 4, biased=False)
    labels[:50] = ["maybe"] * 50
    drift = bias_drift(SCHEMA, facets, labels, scores, _baseline())
    assert drift is not None
    ci = next(j for j in drift.judged if j.metric == "CI" and j.facet == "senior_citizen")
    senior = np.array(facets["senior_citizen"][50:]) == "true"
    assert abs(ci.live - (np.sum(~senior) - np.sum(senior)) / senior.size) < 1e-6


def test_a_window_without_a_usable_label_has_no_bias_drift() -> None:
    facets, _, scores = _window(50, 5, biased=False)
    assert bias_drift(SCHEMA, facets, ["yes"] * 50, scores, _baseline()) is None


def test_a_schema_without_facets_has_no_bias_drift() -> None:
    schema = load_schema("house_prices")
    assert bias_drift(schema, {}, ["1"], [0.5], _baseline()) is None


def test_a_captured_value_that_is_not_of_its_type_is_an_unknown_facet() -> None:
    facets, labels, scores = _window(400, 6, biased=False)
    facets["age"][:40] = ["abc"] * 40
    facets["senior_citizen"][:40] = ["maybe"] * 40
    drift = bias_drift(SCHEMA, facets, labels, scores, _baseline())
    assert drift is not None
    ci = {j.facet: j.live for j in drift.judged if j.metric == "CI"}
    for name, values in facets.items():
        known = values[40:]
        inside = sum(
            1 for v in known if (v == "true" if name == "senior_citizen" else float(v) > 65)
        )
        assert abs(ci[name] - (len(known) - 2 * inside) / len(known)) < 1e-6


def _fixed(senior: list[bool], truth: list[int], scores: list[float]):
    facets = {
        "senior_citizen": ["true" if s else "false" for s in senior],
        "age": ["70" if s else "30" for s in senior],
    }
    return facets, [str(t) for t in truth], np.array(scores)


def _verdicts(drift) -> dict[tuple[str, str], bool | None]:
    return {(j.facet, j.metric): j.violation for j in drift.judged}


def test_metrics_that_are_0_over_0_are_not_judged() -> None:
    # No positive prediction anywhere: DI is Clarify's 0/0 = 0, not a measurement; no
    # senior churned: their recall is 0/0 too.
    senior = [i % 2 == 0 for i in range(400)]
    truth = [0 if s else int(i % 3 == 0) for i, s in enumerate(senior)]
    drift = bias_drift(SCHEMA, *_fixed(senior, truth, [0.1] * 400), _baseline())
    verdicts = _verdicts(drift)
    assert verdicts[("senior_citizen", "DI")] is None
    assert verdicts[("senior_citizen", "RD")] is None
    assert verdicts[("senior_citizen", "CI")] is False  # the rest is judged


def test_an_infinite_disparate_impact_is_judged_and_published_as_clarify_does() -> None:
    # Positive predictions for seniors only: DI = q_d / 0.
    senior = [i % 2 == 0 for i in range(400)]
    truth = [int(i % 3 == 0) for i in range(400)]
    scores = [0.9 if s else 0.1 for s in senior]
    drift = bias_drift(SCHEMA, *_fixed(senior, truth, scores), _baseline())
    di = next(j for j in drift.judged if (j.facet, j.metric) == ("senior_citizen", "DI"))
    assert di.live == INFINITY and di.violation is True


def test_no_verdict_publishes_no_violation_count() -> None:
    facets, labels, scores = _window(600, 3, biased=True)
    unjudged = bias_drift(SCHEMA, facets, labels, scores, _baseline(), min_rows=1000)
    judged = bias_drift(SCHEMA, facets, labels, scores, _baseline())

    def names(drift) -> set[str]:
        data = model_drift_metrics(
            endpoint="e", schedule="s", label="churned", bias=drift, attribution=None
        )
        return {d.name for d in data}

    assert "BiasDriftViolations" not in names(unjudged)
    assert "BiasDriftViolations" in names(judged)
    assert "bias_metric_DPPL" in names(unjudged)  # measured values are published all the same


def test_a_category_the_schema_does_not_list_is_an_unknown_facet_value() -> None:
    titanic = load_schema("titanic")
    [sex] = [f for f in titanic.facets if f.name == "sex"]
    groups = facet_groups(titanic, sex, ["male", "female", "Male", "", "female"])
    assert [g.value_or_threshold for g in groups] == ["female", "male"]
    for group in groups:
        assert group.known.tolist() == [True, True, False, False, True]
