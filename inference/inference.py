"""Inference hooks for the SageMaker XGBoost framework container 3.2-0 (script mode).

Contract, as the container's serving stack calls it:

- ``model_fn(model_dir)`` once per worker: loads ``model.ubj`` (the booster) and
  ``transform.json`` (the fitted feature transformation, schema included).
- ``input_fn(request_body, content_type)``: the body arrives as ``str`` for ``text/csv``
  and ``application/json``, as ``bytes`` otherwise. Accepted content types:

  * ``text/csv``: raw feature values in schema order, no header, one record per line;
  * ``application/json``: ``{"instances": [...]}`` of lists (schema order) or of objects
    keyed by feature name (a missing optional feature is null);
  * ``application/jsonlines``: one list or object per line.

- ``predict_fn(data, model)``: applies the same transformation as training, then scores.
- ``output_fn(prediction, accept)``: ``text/csv`` (one line per record:
  ``probability,label`` for binary classification, the value for regression) or
  ``application/json`` (``{"predictions": [{"probability": p, "label": l}]}`` or
  ``[{"value": v}]``), or ``application/jsonlines`` (one such object per line).
  ``*/*`` or no Accept answers CSV.

Bad input is a client error, never a 500: it raises the inference toolkit's
``GenericInferenceToolkitError`` with 400 (malformed body, wrong field count, unknown
feature, non-numeric value, unknown category, value out of range, empty body), 413
(payload over 6 MB, SageMaker's real-time limit) or 415 (unsupported content type or
accept), and a message naming the problem. Unknown categories are rejected rather
than mapped to "other": category sets are closed in the schema, the ETL quarantines
them too, and a silent mapping would hide an upstream bug behind plausible scores.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Any

import numpy as np
import xgboost as xgb
from sagemaker_inference.errors import GenericInferenceToolkitError

from config.schema import ProblemType
from features.transform import Columns, FeatureTransform, InvalidInputError

MODEL_FILE = "model.ubj"
MAX_PAYLOAD_BYTES = 6 * 1024 * 1024
CSV, JSON, JSONLINES = "text/csv", "application/json", "application/jsonlines"
CLASSIFICATION_THRESHOLD = 0.5


@dataclass(frozen=True)
class Model:
    """What ``model_fn`` loads: the booster and the transformation it was trained with."""

    booster: xgb.Booster
    transform: FeatureTransform

    @property
    def is_classifier(self) -> bool:
        return self.transform.schema.problem_type is ProblemType.BINARY_CLASSIFICATION


@dataclass(frozen=True)
class Prediction:
    """Scores plus what ``output_fn`` needs to serialize them."""

    scores: np.ndarray
    is_classifier: bool


def client_error(status: HTTPStatus, message: str) -> GenericInferenceToolkitError:
    return GenericInferenceToolkitError(int(status), message, message)


def _media_type(header: str | None) -> str:
    return (header or "").split(";", 1)[0].strip().lower()


# The container calls input_fn without the model, yet parsing needs the schema the model
# was trained with; model_fn runs first in every worker process, so it leaves it here.
_TRANSFORM_FOR_PARSING: dict[str, FeatureTransform] = {}


def model_fn(model_dir: str) -> Model:
    """Load the booster and its fitted transformation from the model directory."""
    directory = Path(model_dir)
    booster = xgb.Booster()
    booster.load_model(directory / MODEL_FILE)
    model = Model(booster=booster, transform=FeatureTransform.load(directory))
    _TRANSFORM_FOR_PARSING["transform"] = model.transform
    return model


def _decode(request_body: str | bytes) -> str:
    if isinstance(request_body, bytes | bytearray):
        if len(request_body) > MAX_PAYLOAD_BYTES:
            raise client_error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, _too_large(len(request_body)))
        try:
            return bytes(request_body).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise client_error(HTTPStatus.BAD_REQUEST, f"body is not UTF-8 text: {exc}") from None
    if not isinstance(request_body, str):
        raise client_error(HTTPStatus.BAD_REQUEST, "body must be text")
    # A str body counts characters; the limit is on bytes, so encode only when it may matter.
    if len(request_body) * 4 > MAX_PAYLOAD_BYTES:
        size = len(request_body.encode("utf-8"))
        if size > MAX_PAYLOAD_BYTES:
            raise client_error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, _too_large(size))
    return request_body


def _too_large(size: int) -> str:
    return f"payload is {size} bytes; the limit is {MAX_PAYLOAD_BYTES} bytes (6 MB)"


def _json_items(text: str, content_type: str) -> list[Any]:
    try:
        if content_type == JSON:
            document = json.loads(text)
            if not isinstance(document, dict) or "instances" not in document:
                raise InvalidInputError('JSON body must be an object with an "instances" list')
            items = document["instances"]
            if not isinstance(items, list):
                raise InvalidInputError('"instances" must be a list')
            return items
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    except json.JSONDecodeError as exc:
        raise InvalidInputError(f"body is not valid JSON: {exc}") from None
    except RecursionError:
        raise InvalidInputError("body is nested too deeply to be a request") from None


def _columns(transform: FeatureTransform, items: list[Any]) -> Columns:
    if all(isinstance(item, dict) for item in items):
        return transform.parse_records(items)
    if all(isinstance(item, list) for item in items):
        return transform.parse_rows(items)
    raise InvalidInputError("each instance must be a list of values or an object keyed by feature")


def _csv_rows(text: str) -> list[list[str]]:
    if '"' not in text:
        # No quoting: a plain split gives exactly what the csv module would, much faster.
        return [line.split(",") for line in text.splitlines() if line]
    return [row for row in csv.reader(io.StringIO(text)) if row]


def input_fn(request_body: str | bytes, content_type: str) -> Columns:
    """Deserialize and validate a request into typed raw feature columns."""
    media_type = _media_type(content_type)
    if media_type not in (CSV, JSON, JSONLINES):
        raise client_error(
            HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
            f"content type {content_type!r} is not supported; use {CSV}, {JSON} or {JSONLINES}",
        )
    text = _decode(request_body)
    if not text.strip():
        raise client_error(HTTPStatus.BAD_REQUEST, "request body is empty")
    transform = _TRANSFORM_FOR_PARSING.get("transform")
    if transform is None:
        raise RuntimeError("input_fn called before model_fn loaded a model")
    try:
        if media_type == CSV:
            return transform.parse_rows(_csv_rows(text))
        items = _json_items(text, media_type)
        if not items:
            raise InvalidInputError("no instances in the request")
        return _columns(transform, items)
    except InvalidInputError as exc:
        raise client_error(HTTPStatus.BAD_REQUEST, str(exc)) from None
    except csv.Error as exc:
        raise client_error(HTTPStatus.BAD_REQUEST, f"body is not valid CSV: {exc}") from None


def predict_fn(data: Columns, model: Model) -> Prediction:
    """Encode with the training transformation and score with the booster."""
    features = model.transform.encode(data)
    scores = model.booster.inplace_predict(features)
    return Prediction(
        scores=np.asarray(scores, dtype=np.float64), is_classifier=model.is_classifier
    )


def _json_predictions(prediction: Prediction) -> list[dict[str, Any]]:
    if prediction.is_classifier:
        return [
            {"probability": round(float(p), 6), "label": int(p >= CLASSIFICATION_THRESHOLD)}
            for p in prediction.scores
        ]
    return [{"value": round(float(v), 6)} for v in prediction.scores]


def output_fn(prediction: Prediction, accept: str) -> str:
    """Serialize predictions as CSV (default) or JSON."""
    media_type = _media_type(accept)
    if media_type in ("", "*/*"):
        media_type = CSV
    scores = prediction.scores
    if media_type == CSV:
        # One %-format over the whole batch: formatting happens in C, not per row in Python.
        if prediction.is_classifier:
            labels = (scores >= CLASSIFICATION_THRESHOLD).astype(int)
            pairs = np.column_stack([scores, labels]).ravel().tolist()
            return ("%.6f,%d\n" * len(scores)) % tuple(pairs)
        return ("%.6f\n" * len(scores)) % tuple(scores.tolist())
    if media_type == JSON:
        return json.dumps({"predictions": _json_predictions(prediction)})
    if media_type == JSONLINES:
        return "".join(json.dumps(item) + "\n" for item in _json_predictions(prediction))
    raise client_error(
        HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
        f"accept {accept!r} is not supported; use {CSV}, {JSON} or {JSONLINES}",
    )
