"""A multiclass model end to end through the entry points: preprocess -> train
(multi:softprob) -> evaluate (metrics, plots, the quality gate's comparison) -> the
inference hooks' answers. The model is trained once per session on the synthetic
multiclass test schema (3 classes, mixed feature types)."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import xgboost as xgb
from sklearn import metrics as skm

from config.schema import load_schema
from inference.inference import model_fn, transform_fn
from tests.conftest import MULTICLASS_SCHEMA
from tests.integration.test_quality_gate_comparison import approved_archive
from training import evaluate
from training.splits import load_split

GROUP = "multiclass_classification_metrics"
CSV, JSON = "text/csv", "application/json"


@pytest.fixture(scope="module")
def schema():
    return load_schema(MULTICLASS_SCHEMA)


@pytest.fixture(scope="module")
def report(multiclass_model_run) -> dict:
    return json.loads((multiclass_model_run["evaluation"] / "evaluation.json").read_text())


def test_training_uses_softprob_over_the_schema_classes(multiclass_model_run) -> None:
    metrics = json.loads((multiclass_model_run["output"] / "metrics.json").read_text())
    assert metrics["params"]["objective"] == "multi:softprob"
    assert metrics["params"]["num_class"] == 3
    assert "validation-mlogloss" in multiclass_model_run["train_log"]
    # Chance for 3 classes is ln(3) = 1.0986; the synthetic target carries signal.
    assert 0 < metrics["validation_mlogloss"] < np.log(3)


def test_evaluation_metrics_are_sklearn_s_on_the_test_split(
    multiclass_model_run, schema, report
) -> None:
    features, labels, names = load_split(multiclass_model_run["prep"] / "test", "test")
    booster = xgb.Booster()
    booster.load_model(multiclass_model_run["model_dir"] / "model.ubj")
    booster.feature_names = names
    p = booster.inplace_predict(features)
    assert p.shape == (len(labels), 3)
    y = labels.astype(int)
    metrics = report[GROUP]
    assert metrics["accuracy"]["value"] == pytest.approx(skm.accuracy_score(y, p.argmax(1)))
    assert metrics["macro_f1"]["value"] == pytest.approx(
        skm.f1_score(y, p.argmax(1), average="macro")
    )
    assert metrics["weighted_f1"]["value"] == pytest.approx(
        skm.f1_score(y, p.argmax(1), average="weighted")
    )
    assert metrics["log_loss"]["value"] == pytest.approx(skm.log_loss(y, p), rel=1e-5)
    assert list(metrics["confusion_matrix"]) == list(schema.target.classes)
    assert sum(c["support"] for c in metrics["per_class"].values()) == len(y)
    # The gate's JSON path reads the schema's metric; with no group nothing is compared.
    gate = schema.quality_gate
    assert evaluate.metric_at(report, gate.json_path) == metrics["macro_f1"]["value"]
    assert report["approved_model"]["skipped"] == "no approved model to compare with"
    plots = {p.name for p in multiclass_model_run["evaluation"].glob("*.png")}
    assert plots == {
        "confusion_matrix.png",
        "per_class.png",
        "feature_importance.png",
        "shap_importance.png",  # a multiclass target takes no facets: no bias plot
    }


def test_the_endpoint_answers_probabilities_then_the_class(multiclass_model_run, schema) -> None:
    model = model_fn(str(multiclass_model_run["model_dir"]))
    rows = "60,3,urban,true\n20,1,rural,false\n"
    answer = transform_fn(model, rows, CSV, CSV)
    assert answer.status == 200 and answer.content_type == CSV
    lines = [line.split(",") for line in answer.text.splitlines()]
    assert [len(line) for line in lines] == [4, 4]
    for line in lines:
        probabilities = [float(v) for v in line[:3]]
        assert sum(probabilities) == pytest.approx(1.0, abs=1e-5)
        assert line[3] == schema.target.classes[int(np.argmax(probabilities))]
    named = json.loads(transform_fn(model, rows, CSV, JSON).text)["predictions"]
    assert [item["label"] for item in named] == [line[3] for line in lines]
    assert [list(item["probabilities"]) for item in named] == [list(schema.target.classes)] * 2
    assert [list(item["probabilities"].values()) for item in named] == [
        [float(v) for v in line[:3]] for line in lines
    ]
    # Richer, urban streaming households lean to the dearer plans (the synthetic concept).
    assert float(lines[0][2]) > float(lines[1][2])


def _compare(run: dict, monkeypatch, archive: Path, schema, report: dict) -> dict:
    arn = "arn:aws:sagemaker:us-east-1:123456789012:model-package/plan-choice-models-dev/1"
    approved = SimpleNamespace(model_package_arn=arn, model_data_url="s3://artifacts/m.tar.gz")
    monkeypatch.setattr(evaluate, "latest_approved", lambda group: approved)
    monkeypatch.setattr(evaluate, "download", lambda url, to: shutil.copy(archive, to) and to)
    test_dir = run["prep"] / "test"
    _, labels, _ = load_split(test_dir, "test")
    return evaluate.comparison(report, schema.quality_gate, "g", test_dir, labels, schema)


def test_the_champion_with_the_same_classes_is_scored_on_the_same_rows(
    multiclass_model_run, monkeypatch, tmp_path, schema, report
) -> None:
    data = json.loads(MULTICLASS_SCHEMA.read_text())
    archive = approved_archive(tmp_path, multiclass_model_run["model_dir"], data)
    block = _compare(multiclass_model_run, monkeypatch, archive, schema, report)
    assert block["skipped"] is None
    assert block["value"] == pytest.approx(report[GROUP]["macro_f1"]["value"])


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (
            lambda s: s["target"].update(classes=["premium", "standard", "basic"]),
            "it predicts classes ['premium', 'standard', 'basic'], this data has "
            "['basic', 'standard', 'premium']",
        ),
        (
            lambda s: (
                s.update(problem_type="regression", quality_gate={"metric": "r2", "threshold": 0}),
                s["target"].pop("classes"),
                s["target"]["synthetic"].pop("class_shares"),
            ),
            "it is a regression model, this one multiclass_classification",
        ),
    ],
)
def test_a_champion_predicting_something_else_is_skipped_with_the_reason(
    multiclass_model_run, monkeypatch, tmp_path, schema, report, change, reason
) -> None:
    data = copy.deepcopy(json.loads(MULTICLASS_SCHEMA.read_text()))
    change(data)
    archive = approved_archive(tmp_path, multiclass_model_run["model_dir"], data)
    block = _compare(multiclass_model_run, monkeypatch, archive, schema, report)
    assert reason in block["skipped"] and "plan-choice-models-dev/1" in block["skipped"]
    # Compared with itself: the "not worse than the approved model" half holds trivially.
    assert block["value"] == report[GROUP]["macro_f1"]["value"]
