"""Multiclass model quality: the endpoint's class-probability answers, captured and joined
with class-name ground truth, give the metrics sklearn gives on the same rows."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest
from sklearn import metrics as skm

from config.schema import DatasetSchema, load_schema
from features.profile import constraints, statistics
from local.lake.synthetic import generate_clean
from local.monitoring.capture_traffic import captured_rows, ground_truth_line
from monitoring.analyzer import WindowAnalyzer
from monitoring.baseline import parse_baseline
from monitoring.capture import parse_lines, response_scores
from monitoring.ground_truth import read_labels
from monitoring.model_quality import evaluate
from tests.conftest import MULTICLASS_SCHEMA
from tests.unit.monitoring.conftest import START, raw_frame


@pytest.fixture(scope="module")
def schema() -> DatasetSchema:
    return load_schema(MULTICLASS_SCHEMA)


def test_every_response_format_reads_as_the_class_probabilities() -> None:
    rows = [(0.1, 0.2, 0.7), (0.6, 0.3, 0.1)]
    csv_text = "0.100000,0.200000,0.700000,premium\n0.600000,0.300000,0.100000,basic\n"
    named = [
        {"label": "premium", "probabilities": {"basic": 0.1, "standard": 0.2, "premium": 0.7}},
        {"label": "basic", "probabilities": {"basic": 0.6, "standard": 0.3, "premium": 0.1}},
    ]
    assert response_scores("text/csv", csv_text) == rows
    assert response_scores("application/json", json.dumps({"predictions": named})) == rows
    lines = "".join(json.dumps(item) + "\n" for item in named)
    assert response_scores("application/jsonlines", lines) == rows
    # Binary and regression answers keep their one score per row.
    assert response_scores("text/csv", "0.25,0\n0.75,1\n") == [0.25, 0.75]
    assert response_scores("text/csv", "3.5\n") == [3.5]


def test_captured_answers_join_class_labels_and_score_like_sklearn(schema) -> None:
    frame = generate_clean(schema, 1_500, seed=8)
    truth = frame[schema.target.name].to_numpy()
    rng = np.random.default_rng(8)
    # Probabilities that lean towards the true class, so the metrics are not chance.
    probabilities = rng.dirichlet(np.ones(3), len(frame)) + 0.6 * np.eye(3)[truth]
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    rows = list(captured_rows(schema, frame, seed=8, start=START, scores=probabilities))
    assert rows[0].label in schema.target.classes  # ground truth carries the class name
    # Single-row CSV capture lines take the monitor's fast path: the whole row is read.
    chunk = parse_lines([r.line for r in rows[:5]], schema.feature_names)
    assert chunk.score(0) == pytest.approx(tuple(probabilities[0]), abs=1e-6)

    chosen = rows[::2]
    labels: dict[str, list[str]] = {}
    unreadable: Counter[str] = Counter()
    read_labels([ground_truth_line(r.event_id, r.label) for r in chosen], labels, unreadable)
    stats = statistics(raw_frame(schema, generate_clean(schema, 2_000, seed=1)), schema)
    baseline = parse_baseline(stats, constraints(stats, schema), schema)
    analyzer = WindowAnalyzer(schema=schema, baseline=baseline, labels=labels)
    analyzer.consume([r.line for r in rows])
    assert analyzer.joined.rows == len(chosen) and analyzer.joined.unscored == 0

    result = evaluate(schema, analyzer.joined.scores, analyzer.joined.labels, None)
    y = truth[::2]
    p = probabilities[::2]
    assert result.metrics["accuracy"] == pytest.approx(skm.accuracy_score(y, p.argmax(1)))
    assert result.metrics["macro_f1"] == pytest.approx(
        skm.f1_score(y, p.argmax(1), average="macro")
    )
    assert result.metrics["log_loss"] == pytest.approx(skm.log_loss(y, p), abs=1e-4)
    assert 0.5 < result.metrics["accuracy"] < 1.0
    matrix = result.document["multiclass_classification_metrics"]["confusion_matrix"]
    assert list(matrix) == list(schema.target.classes)
    assert sum(sum(row.values()) for row in matrix.values()) == len(chosen)


def test_unknown_classes_and_foreign_answers_are_unusable_not_fatal(schema) -> None:
    scores = [(0.7, 0.2, 0.1), (0.1, 0.8, 0.1), (0.2, 0.2, 0.6), 0.9, (0.5, 0.5)]
    labels = ["basic", "standard", "gold", "premium", "premium"]
    result = evaluate(schema, scores, labels, None)
    # "gold" is no class; 0.9 and a 2-wide row are not this model's answers.
    assert result.document["dataset"] == {"item_count": 2, "unusable_labels": 3}
    assert result.metrics["accuracy"] == 1.0


def test_log_loss_gate_is_compared_lower_is_better() -> None:
    data = json.loads(MULTICLASS_SCHEMA.read_text())
    data["quality_gate"] = {"metric": "log_loss", "threshold": 1.0}
    schema = DatasetSchema.from_dict(data)
    scores = [(0.6, 0.3, 0.1), (0.2, 0.6, 0.2), (0.1, 0.3, 0.6)]
    labels = ["basic", "standard", "premium"]
    live = evaluate(schema, scores, labels, None).metrics["log_loss"]
    assert live == pytest.approx(-np.log(0.6))
    group = "multiclass_classification_metrics"
    better = {group: {"log_loss": {"value": live - 0.2}}}
    close = {group: {"log_loss": {"value": live - 0.01}}}
    assert evaluate(schema, scores, labels, better).violation is True
    assert evaluate(schema, scores, labels, close).violation is False
