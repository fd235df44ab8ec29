"""Drift follows Model Monitor's semantics and flags exactly the features that moved."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as scipy_stats

from monitoring.analyzer import WindowAnalyzer, worker_pool
from monitoring.baseline import CategoricalBaseline, NumericBaseline
from monitoring.drift import categorical_distance, numeric_distance, robust
from monitoring.monitor import analyze_lines, compare
from monitoring.sketches import CategoricalState, NumericState
from tests.unit.monitoring.conftest import SHIFT


def test_a_known_shift_flags_exactly_the_shifted_features(schema, baseline, traffic) -> None:
    rows = traffic(20_000, seed=3, shift=SHIFT)
    result = analyze_lines(schema, baseline, [[r.line for r in rows]])
    assert sorted(result.drifted) == sorted(SHIFT)
    drift_checks = [
        v for v in result.violations if v["constraint_check_type"] == "baseline_drift_check"
    ]
    assert sorted(v["feature_name"] for v in drift_checks) == sorted(SHIFT)


def test_unshifted_traffic_flags_nothing(schema, baseline, traffic) -> None:
    rows = traffic(20_000, seed=4)
    result = analyze_lines(schema, baseline, [[r.line for r in rows]])
    assert result.drifted == []
    assert result.violations == []
    assert all(d.compared for d in result.drifts)


def test_robust_subtracts_the_ks_term_and_never_goes_negative() -> None:
    assert robust(0.3, 10_000, 10_000) == pytest.approx(0.3 - 1.8 * np.sqrt(2 / 10_000))
    assert robust(0.01, 100, 100) == 0.0


def test_numeric_distance_is_the_ks_statistic_up_to_the_sketch(schema) -> None:
    rng = np.random.default_rng(0)
    reference, current = rng.normal(0, 1, 50_000), rng.normal(0.4, 1.2, 30_000)
    points = np.quantile(reference, np.linspace(0, 1, 256))
    edges = np.unique(points)
    cdf = (np.searchsorted(points, edges, side="right")) / len(points)
    state = NumericState(edges=edges)
    state.update(current, schema.feature("age"))  # a nullable numeric feature, no range hit
    expected = scipy_stats.ks_2samp(reference, current).statistic
    distance = numeric_distance(NumericBaseline(edges, cdf, 50_000), state)
    assert distance == pytest.approx(expected, abs=1 / 255 + 1e-9)


def test_categorical_distance_is_the_largest_frequency_gap(schema) -> None:
    feature = schema.feature("contract")
    state = CategoricalState(domain=feature.categories)
    state.update(["month-to-month"] * 50 + ["one-year"] * 30 + ["gold"] * 20, feature)
    reference = CategoricalBaseline({"month-to-month": 60, "one-year": 20, "two-year": 20}, 100)
    # gaps: 0.10, 0.10, 0.20 (two-year), 0.20 (gold, unknown to the baseline)
    assert categorical_distance(reference, state) == pytest.approx(0.2)
    assert state.unknown == {"gold": 20}


def test_state_is_mergeable(schema, baseline, traffic) -> None:
    lines = [r.line for r in traffic(4_000, seed=5)]
    whole = WindowAnalyzer(schema=schema, baseline=baseline)
    whole.consume(lines)
    halves = [WindowAnalyzer(schema=schema, baseline=baseline) for _ in range(2)]
    halves[0].consume(lines[:1_500])
    halves[1].consume(lines[1_500:])
    for name, state in whole.states.items():
        merged = halves[0].states[name]
        merged.merge(halves[1].states[name])  # type: ignore[arg-type]
        if isinstance(state, NumericState):
            assert isinstance(merged, NumericState)
            assert np.array_equal(state.counts, merged.counts)
            assert merged.total == pytest.approx(state.total)
            assert (merged.present, merged.missing) == (state.present, state.missing)
        else:
            assert isinstance(merged, CategoricalState)
            assert merged.frequencies() == state.frequencies()


def test_parallel_chunks_give_the_serial_result(schema, baseline, traffic) -> None:
    lines = [r.line for r in traffic(6_000, seed=10, shift=SHIFT)]
    lines.insert(100, "{broken")
    results = []
    for workers in (1, 2):
        with worker_pool(schema, baseline, {}, workers) as pool:
            analyzer = WindowAnalyzer(
                schema=schema, baseline=baseline, pool=pool, workers=workers, chunk_lines=1_000
            )
            analyzer.consume(lines)
        results.append((compare(analyzer).statistics, analyzer.rows, dict(analyzer.malformed)))
    assert results[0] == results[1]
    assert results[0][1] == 6_000 and results[0][2] == {"not_json": 1}


def test_the_row_sample_is_the_same_whatever_the_chunks_and_workers(
    schema, baseline, traffic
) -> None:
    rows = traffic(3_000, seed=12)
    labels = {r.event_id: [r.label] for r in rows[::3]}
    samples, facets = [], []
    for workers, chunk in ((1, 3_000), (1, 700), (2, 500)):
        with worker_pool(schema, baseline, labels, workers) as pool:
            analyzer = WindowAnalyzer(
                schema=schema,
                baseline=baseline,
                labels=dict(labels),
                pool=pool,
                workers=workers,
                chunk_lines=chunk,
                sample_rows=200,
            )
            analyzer.consume([r.line for r in rows])
        samples.append(analyzer.sampled_rows)
        facets.append(analyzer.joined.facets)
    assert samples[0] == samples[1] == samples[2]
    assert len(samples[0]) == 200 and all(len(r) == len(schema.features) for r in samples[0])
    assert len({",".join(r) for r in samples[0]}) == 200  # 200 different rows
    # Each joined row's facet values, in the order of its score and label.
    assert facets[0] == facets[1] == facets[2]
    assert set(facets[0]) == {"senior_citizen", "age"}
    assert len(facets[0]["age"]) == 1_000


def test_a_row_captured_twice_joins_once_and_is_sampled_once(schema, baseline, traffic) -> None:
    rows = traffic(600, seed=13)
    labels = {r.event_id: [r.label] for r in rows}
    found = []
    for lines in ([r.line for r in rows], [r.line for r in rows for _ in range(2)]):
        analyzer = WindowAnalyzer(
            schema=schema, baseline=baseline, labels=dict(labels), sample_rows=700
        )
        analyzer.consume(lines)
        found.append((analyzer.joined.rows, len(analyzer.joined.scores), analyzer.sampled_rows))
    assert found[0] == found[1]
    assert found[0][0] == 600 and len(found[0][2]) == 600
