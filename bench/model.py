"""Model-code benchmarks against raw XGBoost, measured in the same run.

- training: ``training/train.py`` end to end (a subprocess, as the container runs it:
  load the splits, train with early stopping, save) on 1M training rows, against
  ``xgboost.train`` with the same parameters on the same arrays already in memory
  (DMatrix construction included, as any caller must build one).
- inference_1row / inference_1000rows: ``transform_fn`` in-process on a raw CSV payload
  handed over as ``str`` (as the image's worker hands it), against
  ``Booster.inplace_predict`` on the already-encoded rows, in paired batches, with the
  time of each stage (pyarrow's read and encode, predict, serialize; the rules' parse
  and encode for comparison) to show where the rest goes. ``bench/endpoint.py`` takes
  the same requests through the image's HTTP stack.

Results: bench/results/training.json, inference_1row.json, inference_1000rows.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import xgboost as xgb

from config.schema import DATASETS_DIR, load_schema
from features.transform import FeatureTransform, frame_columns
from inference.inference import CSV, Model, model_fn, parse_request, serialize, transform_fn
from local.lake.synthetic import generate_clean
from training.preprocess import raw_feature_frame, write_splits
from training.splits import load_split
from training.train import booster_params, parse_args

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results"
ROUNDS = 100


def write(name: str, result: dict[str, Any]) -> None:
    RESULTS.mkdir(exist_ok=True)
    result = {
        "name": name,
        **result,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "xgboost": xgb.__version__,
        },
    }
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2), flush=True)


def make_splits(work: Path, train_rows: int, validation_rows: int) -> FeatureTransform:
    schema_data = json.loads((DATASETS_DIR / "churn.json").read_text())
    schema = load_schema("churn")
    parts = {
        "train": generate_clean(schema, train_rows, seed=1),
        "validation": generate_clean(schema, validation_rows, seed=2),
    }
    return write_splits(schema_data, parts, work)


def run_train_script(work: Path, argv: list[str]) -> None:
    """training/train.py in a fresh process, with the SM_* environment of the container."""
    env = {
        **os.environ,
        "SM_CHANNEL_TRAIN": str(work / "train"),
        "SM_CHANNEL_VALIDATION": str(work / "validation"),
        "SM_MODEL_DIR": str(work / "model"),
        "SM_OUTPUT_DATA_DIR": str(work / "out"),
    }
    subprocess.run(
        [sys.executable, str(ROOT / "training" / "train.py"), *argv],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )


def bench_training(work: Path, rows: int) -> None:
    print(f"training: generating {rows:,} training rows ...", flush=True)
    make_splits(work, rows, rows // 10)
    argv = ["--num_round", str(ROUNDS), "--early_stopping_rounds", str(ROUNDS)]
    params = booster_params(parse_args(argv), load_schema("churn").problem_type)
    x_train, y_train, names = load_split(work / "train", "train")
    x_valid, y_valid, _ = load_split(work / "validation", "validation")

    def baseline() -> None:
        dtrain = xgb.DMatrix(x_train, label=y_train, feature_names=names)
        dvalid = xgb.DMatrix(x_valid, label=y_valid, feature_names=names)
        xgb.train(
            params,
            dtrain,
            num_boost_round=ROUNDS,
            evals=[(dtrain, "train"), (dvalid, "validation")],
            early_stopping_rounds=ROUNDS,
            verbose_eval=False,
        )

    def ours() -> None:
        run_train_script(work, argv)

    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import xgboost, numpy"], check=True)
    import_seconds = time.perf_counter() - started  # the fixed cost of any fresh container process
    timings: dict[str, list[float]] = {"ours": [], "baseline": []}
    for attempt in range(3):
        for label, work_fn in (("baseline", baseline), ("ours", ours)):
            started = time.perf_counter()
            work_fn()
            timings[label].append(time.perf_counter() - started)
            print(f"  run {attempt + 1} {label}: {timings[label][-1]:.1f}s", flush=True)
    best, best_baseline = min(timings["ours"]), min(timings["baseline"])
    write(
        "training",
        {
            "train_rows": rows,
            "validation_rows": rows // 10,
            "rounds": ROUNDS,
            "params": params,
            "seconds": round(best, 2),
            "baseline": "xgboost.train on the same in-memory arrays",
            "baseline_seconds": round(best_baseline, 2),
            "ratio": round(best / best_baseline, 3),
            "process_start_and_import_seconds": round(import_seconds, 2),
            "ratio_without_process_start": round((best - import_seconds) / best_baseline, 3),
            "all_seconds": timings,
        },
    )


def _batch_seconds(work_fn: Callable[[], object], calls: int) -> float:
    started = time.thread_time()
    for _ in range(calls):
        work_fn()
    return (time.thread_time() - started) / calls


def per_call(work_fn: Callable[[], object], calls: int, repeats: int = 15) -> float:
    """Median CPU seconds of this thread per call, over ``repeats`` batches of ``calls``.

    Every path measured here runs on this one thread (the booster scores with one
    thread), so thread CPU time counts their work and not what other processes on a
    shared machine do to the wall clock.
    """
    return statistics.median(_batch_seconds(work_fn, calls) for _ in range(repeats))


def paired_per_call(
    ours: Callable[[], object], baseline: Callable[[], object], calls: int, rounds: int = 31
) -> tuple[float, float, float]:
    """Median seconds per call of ``ours`` and of ``baseline``, and the median of their
    ratio, over ``rounds`` rounds that each time a batch of both, in turn.

    A shared machine's speed drifts over a minute (the baseline of one run here took
    1.3 ms, of the next 1.7 ms); timing all of one path and then all of the other puts
    that drift into the ratio. Paired batches see the same machine, and which of the
    two goes first alternates, so neither always runs after the other's work.
    """
    ours_seconds, baseline_seconds, ratios = [], [], []
    for round_number in range(rounds):
        if round_number % 2:
            base = _batch_seconds(baseline, calls)
            mine = _batch_seconds(ours, calls)
        else:
            mine = _batch_seconds(ours, calls)
            base = _batch_seconds(baseline, calls)
        ours_seconds.append(mine)
        baseline_seconds.append(base)
        ratios.append(mine / base)
    return (
        statistics.median(ours_seconds),
        statistics.median(baseline_seconds),
        statistics.median(ratios),
    )


def stage_seconds(model: Model, body: str, calls: int) -> dict[str, float]:
    """Where a request's time goes: the hooks' stages, each timed on its own (so with
    warm caches: their sum is below the hook's time)."""
    assert model.plain_csv is not None, "the churn schema is read by the fast path"
    columns = parse_request(model.transform, body, CSV)
    encoded = model.transform.encode(columns)
    scores = np.asarray(model.booster.inplace_predict(encoded), dtype=np.float64)
    plain_csv = model.plain_csv
    stages: dict[str, Callable[[], object]] = {
        # What transform_fn does with this body: pyarrow's read into the model's matrix.
        "read_fast_and_encode": lambda: plain_csv.read(body),
        "predict": lambda: model.booster.inplace_predict(encoded),
        "serialize": lambda: serialize(scores, model.is_classifier, CSV),
        # For comparison: the rules' path (small bodies, and any body pyarrow's read declines).
        "rules_parse": lambda: parse_request(model.transform, body, CSV),
        "rules_encode": lambda: model.transform.encode(columns),
    }
    return {name: per_call(stage, calls) for name, stage in stages.items()}


def bench_inference(work: Path) -> None:
    print("inference: training a 100-round model on 50,000 rows ...", flush=True)
    transform = make_splits(work, 50_000, 5_000)
    run_train_script(work, ["--num_round", str(ROUNDS), "--early_stopping_rounds", str(ROUNDS)])
    model = model_fn(str(work / "model"))
    # As in the serving image, which sets OMP_NUM_THREADS=1 per worker process (its
    # serving.py): both paths score with one thread.
    model.booster.set_param({"nthread": 1})
    schema = transform.schema
    frame = generate_clean(schema, 1000, seed=3)
    body_all = raw_feature_frame(schema, frame).to_csv(header=False, index=False)
    encoded_all = transform.encode(frame_columns(schema, frame))
    for rows, name in ((1, "inference_1row"), (1000, "inference_1000rows")):
        # Text: the image's worker decodes a text/csv body before the hooks see it.
        body = "".join(body_all.splitlines(keepends=True)[:rows])
        encoded = encoded_all[:rows]
        calls = 2000 if rows == 1 else 50

        def hooks_call(b: str = body) -> object:
            return transform_fn(model, b, CSV, CSV)

        def raw_call(e: np.ndarray = encoded) -> object:
            return model.booster.inplace_predict(e)

        hooks, raw, ratio = paired_per_call(hooks_call, raw_call, calls)
        write(
            name,
            {
                "rows": rows,
                "trees": ROUNDS,
                "seconds_per_request": hooks,
                "baseline": "Booster.inplace_predict on the already-encoded rows",
                "threads": 1,
                "clock": "CPU time of the calling thread, medians of 31 paired batches",
                "baseline_seconds": raw,
                "ratio": round(ratio, 3),  # the median of the 31 paired ratios
                "hooks_per_second": round(1 / hooks, 1),
                "baseline_per_second": round(1 / raw, 1),
                "stage_seconds": stage_seconds(model, body, calls),
            },
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--rows", type=int, default=1_000_000, help="training rows for the training bench"
    )
    parser.add_argument("--only", choices=["training", "inference"])
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="bench-model-"))
    try:
        if args.only in (None, "inference"):
            bench_inference(work / "inference")
        if args.only in (None, "training"):
            bench_training(work / "training", args.rows)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
