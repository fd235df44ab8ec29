"""SageMaker training entry point (XGBoost framework container 3.2-0, script mode).

Contract: hyperparameters arrive as ``--name value`` arguments; data channels, model
and output folders come from the ``SM_*`` environment the container sets:

  SM_CHANNEL_TRAIN       train.npz and transform.json (from preprocess)
  SM_CHANNEL_VALIDATION  validation.npz (early stopping watches it)
  SM_MODEL_DIR           model.ubj + transform.json: what model.tar.gz holds
  SM_OUTPUT_DATA_DIR     metrics.json
  /opt/ml/checkpoints    checkpoints every ``--checkpoint-interval`` rounds when the
                         folder exists (managed spot training syncs it to S3); a
                         restarted job resumes from the newest one.

The objective follows the schema's problem type (binary:logistic, reporting AUC and
stopping early on log loss; multi:softprob with multi-class log loss over the schema's
``target.classes``; or reg:squarederror with RMSE). XGBoost logs one line per round, e.g.
``[12]	train-auc:0.91234	train-logloss:0.31	validation-auc:0.88765	validation-logloss:0.36``,
and the job ends with ``final validation-logloss=0.360000 best_iteration=12``. Metric
definitions for SageMaker: ``config.metrics.METRIC_DEFINITIONS`` (the pipeline passes it to
the training job), e.g. ``validation-auc:([0-9.]+)``.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a file from the repository, make the repository root importable. In the
# container this file sits at the source bundle's root instead, where sagemaker-containers
# runs it as `python -m train` with that root (the working directory) already importable.
if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse
import json
import os
import re
import shutil
from typing import Any

if __name__ == "__main__" and "sklearn" not in sys.modules:
    # xgboost imports scikit-learn eagerly when it is installed (the XGBoost image has it)
    # for estimator wrappers this entry point never uses: most of a job's start-up time.
    # A None entry in sys.modules makes that import fail, and xgboost falls back as it
    # does without scikit-learn. Only when run as the job (a process of its own): code
    # that imports this module keeps its scikit-learn.
    sys.modules["sklearn"] = None  # type: ignore[assignment]  # None: "not importable"

import xgboost as xgb  # after the line above, on purpose

from config.schema import ProblemType
from features.packaged_model import MODEL_FILE
from features.transform import TRANSFORM_FILE, FeatureTransform
from training.failure import report_failure
from training.serving_code import write_serving_code
from training.splits import load_split

CHECKPOINT_DIR = Path("/opt/ml/checkpoints")


def source_root() -> Path:
    """The folder holding this program's packages (the bundle root or the repository)."""
    here = Path(__file__).resolve().parent
    return here if (here / "features").is_dir() else here.parent


def _env_path(name: str, default: str) -> Path:
    return Path(os.environ.get(name, default))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--max_depth", type=int, default=6)
    parser.add_argument("--eta", type=float, default=0.1)
    parser.add_argument("--num_round", type=int, default=300)
    parser.add_argument("--early_stopping_rounds", type=int, default=20)
    parser.add_argument("--subsample", type=float, default=0.8)
    parser.add_argument("--colsample_bytree", type=float, default=0.8)
    parser.add_argument("--min_child_weight", type=float, default=1.0)
    parser.add_argument("--reg_lambda", type=float, default=1.0)
    parser.add_argument("--nthread", type=int, default=0, help="0 = all cores")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--checkpoint-interval", type=int, default=10)
    parser.add_argument(
        "--train", type=Path, default=_env_path("SM_CHANNEL_TRAIN", "/opt/ml/input/data/train")
    )
    parser.add_argument(
        "--validation",
        type=Path,
        default=_env_path("SM_CHANNEL_VALIDATION", "/opt/ml/input/data/validation"),
    )
    parser.add_argument(
        "--model-dir", type=Path, default=_env_path("SM_MODEL_DIR", "/opt/ml/model")
    )
    parser.add_argument(
        "--output-data-dir",
        type=Path,
        default=_env_path("SM_OUTPUT_DATA_DIR", "/opt/ml/output/data"),
    )
    parser.add_argument("--checkpoint-dir", type=Path, default=CHECKPOINT_DIR)
    return parser.parse_args(argv)


# Objective and the metrics logged per round, per problem type; early stopping watches
# the last. Binary stops on log loss, not AUC: AUC only ranks, so on a small validation
# set it can peak at the first tree, whose probabilities all sit near the base rate (no
# row reaches the 0.5 threshold); log loss also rewards calibrated probabilities.
OBJECTIVES: dict[ProblemType, tuple[str, tuple[str, ...]]] = {
    ProblemType.BINARY_CLASSIFICATION: ("binary:logistic", ("auc", "logloss")),
    ProblemType.MULTICLASS_CLASSIFICATION: ("multi:softprob", ("mlogloss",)),
    ProblemType.REGRESSION: ("reg:squarederror", ("rmse",)),
}


def booster_params(
    args: argparse.Namespace, problem_type: ProblemType, class_count: int = 2
) -> dict[str, Any]:
    """XGBoost parameters from hyperparameters and the schema's problem type.

    ``class_count`` (the schema's ``class_count``) matters for multiclass only:
    multi:softprob predicts one probability per class, in ``target.classes`` order.
    """
    objective, eval_metrics = OBJECTIVES[problem_type]
    params: dict[str, Any] = {
        "objective": objective,
        "eval_metric": list(eval_metrics),
        "tree_method": "hist",
        "max_depth": args.max_depth,
        "eta": args.eta,
        "subsample": args.subsample,
        "colsample_bytree": args.colsample_bytree,
        "min_child_weight": args.min_child_weight,
        "lambda": args.reg_lambda,
        "seed": args.seed,
    }
    if problem_type is ProblemType.MULTICLASS_CLASSIFICATION:
        params["num_class"] = class_count
    if args.nthread:
        params["nthread"] = args.nthread
    return params


def _latest_checkpoint(directory: Path) -> tuple[Path | None, int]:
    """The newest checkpoint written by TrainingCheckPoint and the rounds it holds."""
    if not directory.is_dir():
        return None, 0
    found = [
        (int(match.group(1)), path)
        for path in directory.glob("checkpoint_*.ubj")
        if (match := re.fullmatch(r"checkpoint_(\d+)\.ubj", path.name))
    ]
    if not found:
        return None, 0
    _, path = max(found)
    # Ask the checkpoint itself how many rounds it holds rather than trusting its name.
    booster = xgb.Booster()
    booster.load_model(path)
    return path, booster.num_boosted_rounds()


def train(args: argparse.Namespace) -> dict[str, Any]:
    """Train with early stopping; write the model directory and metrics; return metrics."""
    transform = FeatureTransform.load(args.train)
    schema = transform.schema
    problem_type = schema.problem_type
    x_train, y_train, names = load_split(args.train, "train")
    x_valid, y_valid, _ = load_split(args.validation, "validation")
    dtrain = xgb.DMatrix(x_train, label=y_train, feature_names=names)
    dvalid = xgb.DMatrix(x_valid, label=y_valid, feature_names=names)
    params = booster_params(args, problem_type, schema.class_count)

    callbacks: list[xgb.callback.TrainingCallback] = []
    resume_from, done_rounds = None, 0
    if args.checkpoint_dir.is_dir():
        resume_from, done_rounds = _latest_checkpoint(args.checkpoint_dir)
        callbacks.append(
            xgb.callback.TrainingCheckPoint(
                directory=str(args.checkpoint_dir),
                name="checkpoint",
                interval=args.checkpoint_interval,
            )
        )
        if resume_from is not None:
            print(f"resuming from {resume_from.name} ({done_rounds} rounds done)", flush=True)
    booster = xgb.train(
        params,
        dtrain,
        num_boost_round=max(args.num_round - done_rounds, 1),
        evals=[(dtrain, "train"), (dvalid, "validation")],
        early_stopping_rounds=args.early_stopping_rounds,
        xgb_model=str(resume_from) if resume_from else None,
        callbacks=callbacks,
        verbose_eval=True,
    )
    best = booster.best_iteration
    metric = params["eval_metric"][-1]  # the one early stopping watched
    # Early stopping records the best round's score on the last eval set (validation);
    # read it before slicing, which drops the booster's attributes.
    value = float(booster.best_score)
    if best + 1 < booster.num_boosted_rounds():
        # Keep only the trees up to the best round, so every consumer scores the same model.
        booster = booster[: best + 1]
    print(f"final validation-{metric}={value:.6f} best_iteration={best}", flush=True)

    args.model_dir.mkdir(parents=True, exist_ok=True)
    booster.save_model(args.model_dir / MODEL_FILE)
    shutil.copy(args.train / TRANSFORM_FILE, args.model_dir / TRANSFORM_FILE)
    write_serving_code(args.model_dir, source_root())
    metrics = {
        f"validation_{metric}": value,
        "best_iteration": best,
        "train_rows": int(x_train.shape[0]),
        "validation_rows": int(x_valid.shape[0]),
        "params": params,
    }
    args.output_data_dir.mkdir(parents=True, exist_ok=True)
    (args.output_data_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
    return metrics


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Entry point the training container runs."""
    args = parse_args(argv if argv is not None else sys.argv[1:])
    with report_failure():
        return train(args)


if __name__ == "__main__":
    main()
