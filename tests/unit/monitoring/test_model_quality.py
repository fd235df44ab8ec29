"""Ground truth joins capture by eventId; metrics match sklearn's on the joined rows."""

from __future__ import annotations

import csv
import dataclasses
import io
from collections import Counter

import numpy as np
import pytest
from sklearn import metrics as skm

from local.lake.synthetic import feature_records, generate_clean
from local.monitoring.capture_traffic import captured_rows, ground_truth_line
from monitoring.analyzer import WindowAnalyzer
from monitoring.ground_truth import read_labels
from monitoring.model_quality import evaluate
from tests.unit.monitoring.conftest import START


@pytest.fixture(scope="module")
def labelled(schema):
    frame = generate_clean(schema, 3_000, seed=8)
    truth = frame[schema.target.name].to_numpy()
    rng = np.random.default_rng(8)
    scores = np.clip(0.35 * truth + rng.random(len(frame)) * 0.65, 0, 1)
    return list(captured_rows(schema, frame, seed=8, start=START, scores=scores))


def test_ground_truth_joins_by_event_id_and_scores_like_sklearn(schema, baseline, labelled) -> None:
    chosen = labelled[::3]
    lines = [ground_truth_line(r.event_id, r.label) for r in chosen]
    lines += ["not json", '{"eventMetadata": {"eventId": "x"}}']
    labels: dict[str, list[str]] = {}
    unreadable: Counter[str] = Counter()
    read_labels(lines, labels, unreadable)
    assert len(labels) == len(chosen) and unreadable["ground_truth_unreadable"] == 2
    feedback = io.StringIO()
    analyzer = WindowAnalyzer(schema=schema, baseline=baseline, labels=labels, feedback=feedback)
    analyzer.consume([r.line for r in labelled])
    assert analyzer.joined.rows == len(chosen) and labels == {}
    y = np.array([int(r.label) for r in chosen])
    p = np.array([float(r.line.split('"data":"')[2].split(",")[0]) for r in chosen])
    result = evaluate(schema, analyzer.joined.scores, analyzer.joined.labels, None)
    assert result.metrics["auc"] == pytest.approx(skm.roc_auc_score(y, p))
    assert result.metrics["accuracy"] == pytest.approx(skm.accuracy_score(y, p >= 0.5))
    assert result.metrics["f1"] == pytest.approx(skm.f1_score(y, p >= 0.5))
    assert result.violation is None  # nothing registered to compare with
    rows = list(csv.reader(io.StringIO(feedback.getvalue())))
    assert len(rows) == len(chosen)
    assert [row[0] for row in rows] == [r.event_id for r in chosen]
    assert all(len(row) == len(schema.raw_columns) for row in rows)
    assert [row[-1] for row in rows] == [r.label for r in chosen]
    assert rows[0][1] == "2026-03-01T00:00:00Z"  # the capture's inference time


def test_the_gate_metric_is_compared_in_its_direction(schema) -> None:
    scores, labels = [0.9, 0.8, 0.3, 0.2, 0.6, 0.4], ["1", "1", "0", "0", "0", "1"]
    live = evaluate(schema, scores, labels, None).metrics["auc"]
    better = {"binary_classification_metrics": {"auc": {"value": live + 0.2}}}
    close = {"binary_classification_metrics": {"auc": {"value": live + 0.01}}}
    assert evaluate(schema, scores, labels, better).violation is True
    assert evaluate(schema, scores, labels, close).violation is False
    comparison = evaluate(schema, scores, labels, better).document["comparison"]
    assert comparison["registered"] == pytest.approx(live + 0.2)


def test_one_class_or_bad_labels_are_not_a_quality_verdict(schema) -> None:
    result = evaluate(schema, [0.2, 0.7], ["1", "yes"], None)
    assert result.document["status"] == "insufficient_labels"
    assert result.document["dataset"]["unusable_labels"] == 1
    assert result.violation is None and result.metrics == {}


def test_feedback_rows_follow_a_schema_without_id_or_event_time(schema, baseline) -> None:
    """The feedback file is a raw file of the schema: no id or time column it lacks."""
    keyless = dataclasses.replace(schema, id_column=None, event_time_column=None)
    frame = generate_clean(keyless, 40, seed=9)
    captured = list(captured_rows(keyless, frame, seed=9, start=START))
    labels: dict[str, list[str]] = {}
    read_labels([ground_truth_line(r.event_id, r.label) for r in captured], labels, Counter())
    feedback = io.StringIO()
    analyzer = WindowAnalyzer(schema=keyless, baseline=baseline, labels=labels, feedback=feedback)
    analyzer.consume([r.line for r in captured])
    rows = list(csv.reader(io.StringIO(feedback.getvalue())))
    assert len(rows) == 40
    width = len(schema.feature_names) + 1  # the features and the label
    assert len(keyless.raw_columns) == width and all(len(row) == width for row in rows)
    expected = [",".join(values) for values in feature_records(keyless, frame)]
    assert [",".join(row[:-1]) for row in rows] == expected
