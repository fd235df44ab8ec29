"""preprocess -> train -> evaluate -> the four hooks, with no training/serving skew."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb

from config.metrics import METRIC_DEFINITIONS
from config.schema import load_schema
from features.transform import FeatureTransform, derive
from inference.inference import model_fn, transform_fn
from training.splits import load_split

CHURN = load_schema("churn")


ROOT = Path(__file__).resolve().parents[2]


def test_preprocess_writes_id_hashed_splits_and_train_only_fit(model_run) -> None:
    prep = model_run["prep"]
    sizes = {}
    rates = {}
    for name in ("train", "validation", "test"):
        _, labels, names = load_split(prep / name, name)
        sizes[name], rates[name] = len(labels), labels.mean()
        assert names == FeatureTransform.load(prep / "train").output_names
    assert sum(sizes.values()) == 6000
    # 15% each by hash: within 4 standard deviations of a binomial draw over 6000 rows.
    assert sizes["validation"] == pytest.approx(900, abs=110)
    assert sizes["test"] == pytest.approx(900, abs=110)
    assert max(rates.values()) - min(rates.values()) < 0.06
    baseline = pd.read_csv(prep / "baseline" / "baseline.csv")
    assert list(baseline.columns) == CHURN.feature_names and len(baseline) == sizes["train"]
    # Medians come from the training rows only.
    transform = FeatureTransform.load(prep / "train")
    assert transform.medians["monthly_charges"] == pytest.approx(
        baseline["monthly_charges"].median()
    )


def test_training_logs_match_the_metric_definitions(model_run) -> None:
    log = model_run["train_log"]
    # A binary model logs auc and logloss for both sets, and its final (stopping) metric.
    found = {d["Name"]: re.findall(d["Regex"], log) for d in METRIC_DEFINITIONS}
    for name, values in found.items():
        if "rmse" in name or "mlogloss" in name:
            assert not values, name
        elif "auc" in name:
            assert values and all(0.5 < float(v) <= 1.0 for v in values), name
        else:  # log loss, and the final validation log loss: below a coin's ln 2
            assert values and all(0.0 < float(v) < np.log(2) for v in values), name
    metrics = json.loads((model_run["output"] / "metrics.json").read_text())
    assert metrics["validation_logloss"] == pytest.approx(
        float(re.findall(r"final validation-logloss=([0-9.]+)", log)[0]), abs=1e-6
    )
    assert sorted(p.name for p in model_run["model_dir"].iterdir()) == [
        "code",
        "model.ubj",
        "transform.json",
    ]
    # The serving code rides along, as SageMaker's repack lays it out.
    code = model_run["model_dir"] / "code"
    assert (code / "inference.py").read_bytes() == (
        ROOT / "inference" / "inference.py"
    ).read_bytes()
    for module in ("features/transform.py", "features/plain_csv.py", "config/schema.py"):
        assert (code / module).exists(), module
    assert not list(code.rglob("__pycache__"))


def test_evaluation_report_format_and_quality(model_run) -> None:
    report = json.loads((model_run["evaluation"] / "evaluation.json").read_text())
    metrics = report["binary_classification_metrics"]
    for name in ("auc", "accuracy", "precision", "recall", "f1"):
        assert set(metrics[name]) == {"value", "standard_deviation"}
    _, labels, _ = load_split(model_run["prep"] / "test", "test")
    matrix = metrics["confusion_matrix"]
    assert matrix["1"]["0"] + matrix["1"]["1"] == int(labels.sum())
    assert sum(matrix[a][p] for a in "01" for p in "01") == len(labels)
    roc = metrics["receiver_operating_characteristic_curve"]
    assert roc["false_positive_rates"][0] == 0.0 and roc["true_positive_rates"][-1] == 1.0
    # A constant score has AUC 0.5 and the majority label has accuracy 1 - churn rate.
    assert metrics["auc"]["value"] > 0.75
    assert metrics["accuracy"]["value"] > 1 - labels.mean()
    for image in ("roc.png", "precision_recall.png", "calibration.png", "feature_importance.png"):
        assert (model_run["evaluation"] / image).stat().st_size > 5_000
    assert "roc.png" in (model_run["evaluation"] / "report.html").read_text()


def test_transform_fn_on_raw_values_equals_booster_on_preprocessed_rows(model_run) -> None:
    """No skew: raw CSV through transform_fn == the booster on preprocess's own matrix."""
    prep = model_run["prep"]
    header, raw = (prep / "test" / "test_raw.csv").read_text().split("\n", 1)
    assert header.split(",") == CHURN.feature_names
    model = model_fn(str(model_run["model_dir"]))
    body = transform_fn(model, raw, "text/csv", "text/csv").text
    served = np.array([float(line.split(",")[0]) for line in body.splitlines()])
    features, _, names = load_split(prep / "test", "test")
    booster = xgb.Booster()
    booster.load_model(model_run["model_dir"] / "model.ubj")
    direct = booster.predict(xgb.DMatrix(features, feature_names=names))
    assert len(served) == len(direct) == len(raw.splitlines())
    np.testing.assert_allclose(served, direct, atol=1e-6)  # CSV output keeps 6 decimals


@pytest.mark.spark
def test_the_curated_zone_derives_features_with_the_models_code(spark) -> None:
    """One implementation: the Glue job's derived features are ``features.transform.derive``
    (the function the model's transformation calls), run in Spark's Python workers."""
    import glue.derive
    from config.schema import DATASETS_DIR

    assert glue.derive.derive is derive
    assert not hasattr(glue.derive, "derived_column")  # the Spark copy is gone
    frame = pd.DataFrame(
        {
            "total_charges": [0.0, 10.0, None, 5.0, -1.0, 300.0],
            "tenure_months": [0.0, 5.0, 3.0, None, 2.0, 48.0],
            "support_calls": [1.0, 0.0, 2.0, 1.0, 0.0, 7.0],
        }
    )
    spark_frame = spark.createDataFrame(frame.astype(object).where(frame.notna(), None))
    schema = load_schema(DATASETS_DIR / "churn.json")
    from_spark = spark_frame.select(glue.derive.derived_struct(schema).alias("d")).toPandas()
    columns = {name: frame[name].to_numpy(dtype=float) for name in frame.columns}
    for spec in CHURN.derived_features:
        got = from_spark["d"].map(lambda d, n=spec.name: d[n]).astype(float).to_numpy()
        np.testing.assert_allclose(derive(spec, columns), got, equal_nan=True)


def test_regression_dataset_trains_through_the_same_code(tmp_path) -> None:
    from local.lake.synthetic import generate_clean
    from training import preprocess, train

    schema = load_schema("house_prices")
    curated = tmp_path / "curated"
    curated.mkdir()
    generate_clean(schema, 2000, seed=9).to_parquet(curated / "p.parquet")
    from config.schema import DATASETS_DIR

    preprocess.main(
        [
            "--input",
            str(curated),
            "--schema",
            str(DATASETS_DIR / "house_prices.json"),
            "--output",
            str(tmp_path / "prep"),
        ]
    )
    metrics = train.main(
        [
            "--num_round",
            "60",
            "--train",
            str(tmp_path / "prep" / "train"),
            "--validation",
            str(tmp_path / "prep" / "validation"),
            "--model-dir",
            str(tmp_path / "model"),
            "--output-data-dir",
            str(tmp_path / "out"),
            "--checkpoint-dir",
            str(tmp_path / "no-checkpoints"),
        ]
    )
    assert metrics["params"]["objective"] == "reg:squarederror"
    _, labels, _ = load_split(tmp_path / "prep" / "validation", "validation")
    assert metrics["validation_rmse"] < 0.6 * labels.std()
    model = model_fn(str(tmp_path / "model"))
    row = (
        '{"instances": [{"living_area_sqft": 1800, "bedrooms": 3, "year_built": 1990, '
        '"lot_size_sqft": null, "neighborhood": "north", "has_garage": true}]}'
    )
    answer = json.loads(transform_fn(model, row, "application/json", "application/json").body)
    assert 100_000 < answer["predictions"][0]["value"] < 2_000_000


def test_checkpoints_are_written_and_a_restarted_job_resumes(model_run, tmp_path, capsys) -> None:
    from training import train

    checkpoints = tmp_path / "checkpoints"
    checkpoints.mkdir()
    common = [
        "--train",
        str(model_run["prep"] / "train"),
        "--validation",
        str(model_run["prep"] / "validation"),
        "--output-data-dir",
        str(tmp_path / "out"),
        "--checkpoint-dir",
        str(checkpoints),
        "--checkpoint-interval",
        "10",
        "--early_stopping_rounds",
        "1000",
    ]
    train.main([*common, "--num_round", "30", "--model-dir", str(tmp_path / "first")])
    written = sorted(p.name for p in checkpoints.iterdir())
    assert written == ["checkpoint_10.ubj", "checkpoint_20.ubj"]  # after rounds 11 and 21
    capsys.readouterr()
    # A spot interruption restarts the job with the same arguments and a longer budget.
    train.main([*common, "--num_round", "40", "--model-dir", str(tmp_path / "second")])
    log = capsys.readouterr().out
    assert "resuming from checkpoint_20.ubj (21 rounds done)" in log
    trained = [int(n) for n in re.findall(r"^\[(\d+)\]\s+train-auc", log, flags=re.MULTILINE)]
    assert len(trained) == 40 - 21  # only the missing rounds (XGBoost counts them from 0)
