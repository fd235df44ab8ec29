"""The peer of ``inference.py``: the handler a user would write from AWS's XGBoost
script-mode examples, for the endpoint bench (``bench/endpoint.py``); never shipped.

It follows the shape of the examples' ``inference.py`` (amazon-sagemaker-examples,
XGBoost script mode): ``model_fn`` loads the booster, ``input_fn`` reads a CSV body of
already-encoded rows with pandas into a ``DMatrix``, ``predict_fn`` calls
``Booster.predict`` and ``output_fn`` writes one score per line. It validates nothing,
encodes nothing and answers nothing but CSV: it is the floor a served model's own code
can be compared with, on the same booster and the same serving stack.

The serving container imports it by path as ``SAGEMAKER_PROGRAM``; it needs only what
the image ships (numpy, pandas, xgboost).
"""

from __future__ import annotations

import io
import os

import numpy as np
import pandas as pd
import xgboost as xgb

MODEL_FILE = "model.ubj"


def model_fn(model_dir: str) -> xgb.Booster:
    """The booster the product serves, from the same model directory."""
    booster = xgb.Booster()
    booster.load_model(os.path.join(model_dir, MODEL_FILE))
    # The examples' boosters carry no feature names, and their DMatrix has none to check.
    booster.feature_names = None
    return booster


def input_fn(request_body: str | bytes, request_content_type: str) -> xgb.DMatrix:
    """A CSV body of encoded rows (no header) as a DMatrix."""
    if request_content_type != "text/csv":
        raise ValueError(f"unsupported content type {request_content_type}")
    if isinstance(request_body, bytes):
        request_body = request_body.decode("utf-8")
    frame = pd.read_csv(io.StringIO(request_body), header=None)
    return xgb.DMatrix(frame.values)


def predict_fn(input_data: xgb.DMatrix, model: xgb.Booster) -> np.ndarray:
    """The booster's scores."""
    return np.asarray(model.predict(input_data))


def output_fn(predictions: np.ndarray, accept: str) -> tuple[str, str]:
    """One score per line, as CSV (the toolkit turns the pair into a response)."""
    return "\n".join(str(score) for score in predictions.tolist()) + "\n", "text/csv"
