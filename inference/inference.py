"""Inference entry point for the SageMaker XGBoost framework container 3.2-0 (script mode).

The image serves with sagemaker-containers 2.8.6: its worker calls ``model_fn`` once
per process, then either ``transform_fn`` or the ``input_fn``/``predict_fn``/``output_fn``
trio (never both) per request, and answers any exception a hook raises as
``500 text/html``. A client fault reaches the client as a 4xx only when the hook
*returns* a response with that status, and only ``transform_fn`` sees the whole request
(body, content type and accept) at once. So this module defines ``model_fn`` and
``transform_fn`` and nothing named like the other three hooks.

Contract:

- ``model_fn(model_dir)``: loads ``model.ubj`` (the booster) and ``transform.json`` (the
  fitted feature transformation, schema included) from the model directory.
- ``transform_fn(model, body, content_type, accept)`` returns a ``Reply``, a WSGI
  response (Flask, under the worker, serves any WSGI callable as the response):

  * Accept, checked first (before any parsing or scoring): ``text/csv``, no header,
    one line per record in request order: ``probability,label`` for binary
    classification (P(1), then 0/1), the value for regression, and for multiclass the
    probability of each class in the schema's ``target.classes`` order, then the
    predicted class (the most probable), e.g. ``0.012345,0.051234,0.936421,virginica``
    (the same shape as binary: scores first, the label last); ``application/json``
    (``{"predictions": [...]}`` of ``{"probability": p, "label": l}``, ``{"value": v}``
    or, multiclass, ``{"label": "virginica", "probabilities": {"setosa": p0, ...}}``
    with the classes in schema order) or ``application/jsonlines`` (one such object
    per line); ``*/*`` or none means CSV (the model also sets
    ``SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT=text/csv`` for the worker). Otherwise 406.
  * Explanations on request: ``Accept: application/json; explain=shap`` (or
    ``application/jsonlines; explain=shap``) adds to each prediction its
    ``"explanation"``: the row's SHAP value per schema feature and the expected value,
    in the model's margin (XGBoost's exact TreeSHAP, ``features/attribution.py``); the
    offer carrying the parameter sets the answer's type; on any other type, 406.
  * Content type: ``text/csv`` (raw feature values in schema order, no header, one
    record per line), ``application/json`` (``{"instances": [...]}`` of lists in schema
    order or of objects keyed by feature name) or ``application/jsonlines`` (one list
    or object per line). Otherwise 415.
  * Any value that breaks the dataset's value rules (``features/values.py``), a wrong
    field count, an unknown feature, an unknown category, a value out of range, an
    empty or non-UTF-8 body, or malformed CSV/JSON: 400 with a JSON message that names
    the record and the feature.
  * Results go out with their content type; errors as ``application/json``
    ``{"error": "<status>", "message": "..."}``. Only our own faults raise (and so 500).

The 6 MB request limit is SageMaker's, applied by the service in front of the
container, not here. Unknown categories are rejected rather than mapped to "other":
category sets are closed in the schema, the ETL quarantines them too, and a silent
mapping would hide an upstream bug behind plausible scores.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from config.schema import ProblemType
from features.transform import Columns, FeatureTransform, InvalidInputError

if TYPE_CHECKING:
    # Imported by ``model_fn``, not here: the toolkit's ``serve`` imports this module in
    # the process that then becomes gunicorn's master, which never loads a model, and
    # xgboost (which pulls in scikit-learn, pandas and pyarrow) costs over a second there.
    import xgboost as xgb

    from features.booster_scores import BoosterScores
    from features.plain_csv import PlainCsv

MODEL_FILE = "model.ubj"
CSV, JSON, JSONLINES = "text/csv", "application/json", "application/jsonlines"
SUPPORTED = (CSV, JSON, JSONLINES)
CLASSIFICATION_THRESHOLD = 0.5
# The Accept parameter that asks for each row's SHAP values (JSON answers only).
EXPLAIN_PARAMETER, EXPLAIN_METHOD = "explain", "shap"
# pyarrow's CSV reader costs a fixed few tenths of a millisecond to set up, which the
# rules' Python beats on a small body; from about a hundred records on, pyarrow is the
# faster (8x at 1000 records; bench/model.py times both).
PLAIN_CSV_MIN_RECORDS = 100
# The same holds for pyarrow's CSV writer against one %-format: about even at a hundred
# records, 3.4x faster at 1000 (the image's pyarrow 22).
ARROW_CSV_MIN_RECORDS = 100

StartResponse = Callable[[str, list[tuple[str, str]]], Any]


@dataclass(frozen=True)
class Model:
    """What ``model_fn`` loads: the booster and the transformation it was trained with."""

    booster: xgb.Booster
    transform: FeatureTransform
    # The booster's scores (xgboost's C API, features/booster_scores.py).
    scores: BoosterScores
    # pyarrow's reading of plain CSV bodies (None when the features need the rules).
    plain_csv: PlainCsv | None = None

    @property
    def is_classifier(self) -> bool:
        """Binary classification: one probability per record, thresholded to a 0/1 label."""
        return self.transform.schema.problem_type is ProblemType.BINARY_CLASSIFICATION

    @property
    def classes(self) -> tuple[str, ...]:
        """A multiclass model's classes, in the order of its probabilities (else empty)."""
        return self.transform.schema.target.classes


@dataclass(frozen=True)
class Reply:
    """A finished HTTP answer; called as a WSGI app, it sends itself."""

    status: HTTPStatus
    body: bytes
    content_type: str

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        start_response(
            f"{self.status.value} {self.status.phrase}",
            [("Content-Type", self.content_type), ("Content-Length", str(len(self.body)))],
        )
        return [self.body]

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")


class ClientError(Exception):
    """A request the client must fix: becomes a 4xx ``Reply`` with the message."""

    def __init__(self, status: HTTPStatus, message: str) -> None:
        super().__init__(message)
        self.status = status


def error_reply(status: HTTPStatus, message: str) -> Reply:
    body = json.dumps({"error": status.phrase, "message": message}).encode()
    return Reply(status, body, JSON)


def model_fn(model_dir: str) -> Model:
    """Load the booster and its fitted transformation from the model directory."""
    import xgboost as xgb

    from features.booster_scores import BoosterScores
    from features.plain_csv import PlainCsv

    directory = Path(model_dir)
    booster = xgb.Booster()
    booster.load_model(directory / MODEL_FILE)
    # One scoring thread per worker: the model server already runs a worker per vCPU, so
    # xgboost's own threads (one per CPU, in every worker) only contend; measured in the
    # image, a 1-row request's inplace_predict took 0.41 ms of CPU with two threads and
    # 0.18 ms with one, a 1000-row one 0.80 to 1.1 ms against 0.53 ms.
    booster.set_param({"nthread": 1})
    transform = FeatureTransform.load(directory)
    # Checked once here, so that ``predict`` can skip xgboost's per-call check: every
    # matrix it scores is laid out by the transformation, ``output_names`` wide.
    if booster.num_features() != len(transform.output_names):
        raise ValueError(
            f"{MODEL_FILE} takes {booster.num_features()} features, but transform.json "
            f"encodes {len(transform.output_names)}"
        )
    return Model(
        booster=booster,
        transform=transform,
        scores=BoosterScores.of(booster),
        plain_csv=PlainCsv.of(transform),
    )


def _media_type(header: str) -> str:
    return header.split(";", 1)[0].strip().lower()


def response_type(accept: str | None) -> str:
    """The media type to answer in, from an Accept header (quality values honoured)."""
    if not accept or not accept.strip():
        return CSV
    offers = []
    for position, part in enumerate(accept.split(",")):
        media, _, params = part.partition(";")
        quality = 1.0
        for param in params.split(";"):
            key, _, value = param.partition("=")
            if key.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        offers.append((-quality, position, media.strip().lower()))
    for negative_quality, _, media in sorted(offers):
        if negative_quality >= 0:  # q=0 means "not this"
            break
        if media in SUPPORTED:
            return media
        if media in ("*/*", "text/*"):
            return CSV
        if media == "application/*":
            return JSON
    raise ClientError(
        HTTPStatus.NOT_ACCEPTABLE, f"accept {accept!r} is not supported; use one of {SUPPORTED}"
    )


def explained_type(accept: str | None) -> str | None:
    """The media type an Accept header asks explanations in (the first offer carrying
    ``explain=shap``), or None when it asks for none."""
    for part in (accept or "").split(","):
        media, *parameters = part.split(";")
        for parameter in parameters:
            key, _, value = parameter.partition("=")
            if key.strip().lower() != EXPLAIN_PARAMETER:
                continue
            if value.strip().strip('"').lower() != EXPLAIN_METHOD:
                raise ClientError(
                    HTTPStatus.NOT_ACCEPTABLE,
                    f"explain={value.strip()!r} is not supported; use explain=shap",
                )
            if media.strip().lower() not in (JSON, JSONLINES):
                raise ClientError(
                    HTTPStatus.NOT_ACCEPTABLE,
                    "explanations (explain=shap) come as application/json or application/jsonlines",
                )
            return media.strip().lower()
    return None


def _text(body: str | bytes) -> str:
    if isinstance(body, str):
        return body
    try:
        return bytes(body).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ClientError(HTTPStatus.BAD_REQUEST, f"body is not UTF-8 text: {exc}") from None


def _lines(text: str) -> list[str]:
    # Records end at "\n" (or "\r\n") only: str.splitlines would also split inside a
    # value at U+2028, U+0085 and other Unicode line breaks.
    lines = text.split("\n")
    if "\r" in text:
        lines = [line.removesuffix("\r") for line in lines]
    return list(filter(str.strip, lines))


def _csv_rows(text: str) -> list[list[str]]:
    if '"' not in text:
        # No quoting: a plain split gives exactly what the csv module would, much faster.
        return [line.split(",") for line in _lines(text)]
    try:
        return [row for row in csv.reader(io.StringIO(text, newline="")) if row]
    except csv.Error as exc:
        raise InvalidInputError(f"body is not valid CSV: {exc}") from None


def _reject_constant(name: str) -> float:
    raise InvalidInputError(f"{name} is not a number JSON allows")


def _json(text: str) -> Any:
    try:
        # Integers parse as floats: a 400-digit integer is then simply not finite, and
        # Python's limit on digits for int() (a ValueError) never applies.
        return json.loads(text, parse_int=float, parse_constant=_reject_constant)
    except RecursionError:
        raise InvalidInputError("body is nested too deeply to be a request") from None
    except ValueError as exc:  # json.JSONDecodeError included
        if isinstance(exc, InvalidInputError):
            raise
        raise InvalidInputError(f"body is not valid JSON: {exc}") from None


def _json_items(text: str, media_type: str) -> list[Any]:
    if media_type == JSONLINES:
        return [_json(line) for line in _lines(text)]
    document = _json(text)
    if not isinstance(document, dict) or "instances" not in document:
        raise InvalidInputError('JSON body must be an object with an "instances" list')
    items = document["instances"]
    if not isinstance(items, list):
        raise InvalidInputError('"instances" must be a list')
    return items


def parse_request(transform: FeatureTransform, body: str | bytes, content_type: str) -> Columns:
    """Deserialize and validate a request body into typed raw feature columns."""
    media_type = _media_type(content_type or "")
    if media_type not in SUPPORTED:
        raise ClientError(
            HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
            f"content type {content_type!r} is not supported; use one of {SUPPORTED}",
        )
    text = _text(body)
    if not text.strip():
        raise ClientError(HTTPStatus.BAD_REQUEST, "request body is empty")
    try:
        if media_type == CSV:
            return transform.parse_rows(_csv_rows(text))
        items = _json_items(text, media_type)
        if not items:
            raise InvalidInputError("no instances in the request")
        if all(isinstance(item, dict) for item in items):
            return transform.parse_records(items)
        if all(isinstance(item, list) for item in items):
            return transform.parse_rows(items)
        raise InvalidInputError(
            "each instance must be a list of values or an object keyed by feature"
        )
    except InvalidInputError as exc:
        raise ClientError(HTTPStatus.BAD_REQUEST, str(exc)) from None


def predict(model: Model, matrix: np.ndarray) -> np.ndarray:
    """The booster's scores for an encoded matrix, as float64: one value per record, or
    (multiclass) one row of class probabilities per record."""
    return model.scores(matrix)


def _json_predictions(
    scores: np.ndarray, is_classifier: bool, classes: Sequence[str] = ()
) -> list[dict[str, Any]]:
    if classes:
        winners = scores.argmax(axis=1).tolist()  # before rounding, as the CSV answer
        return [
            {"label": classes[winner], "probabilities": dict(zip(classes, row, strict=True))}
            for winner, row in zip(winners, np.round(scores, 6).tolist(), strict=True)
        ]
    if is_classifier:
        return [
            {"probability": round(float(p), 6), "label": int(p >= CLASSIFICATION_THRESHOLD)}
            for p in scores
        ]
    return [{"value": round(float(v), 6)} for v in scores]


def _percent_csv(scores: np.ndarray, is_classifier: bool, classes: Sequence[str]) -> str:
    """The CSV answer by one %-format over the whole batch (formatting in C, not per row
    in Python). Multiclass: ``p_0,...,p_k-1,label``; classes are bare CSV fields (the
    schema checks)."""
    if classes:
        labels = np.asarray(classes, dtype=object)[scores.argmax(axis=1)]
        row_format = ",".join(["%.6f"] * scores.shape[1]) + ",%s\n"
        cells = np.column_stack([scores.astype(object), labels]).ravel().tolist()
        return (row_format * len(scores)) % tuple(cells)
    if is_classifier:
        labels = (scores >= CLASSIFICATION_THRESHOLD).astype(int)
        pairs = np.column_stack([scores, labels]).ravel().tolist()
        return ("%.6f,%d\n" * len(scores)) % tuple(pairs)
    return ("%.6f\n" * len(scores)) % tuple(scores.tolist())


def _millionths(scores: np.ndarray) -> np.ndarray | None:
    """Each score as a whole number of millionths, rounded as ``"%.6f"`` rounds it, or
    ``None`` where that cannot be promised. The booster's scores are float32 values: a
    float32 significand (24 bits) times 10**6 (2**6 x 15625, 14 bits) is exact in float64,
    and ``np.rint`` then rounds the exact value half to even, as ``"%.6f"`` does. Not
    for other values, nor for what ``"%.6f"`` writes as ``-0.000000``, nor past
    decimal64's 18 digits (``tests/unit/test_inference.py`` compares the two)."""
    with np.errstate(over="ignore", invalid="ignore"):  # what overflows is refused
        scaled = scores * 1e6
        float32 = np.array_equal(scores.astype(np.float32), scores)
        if not (float32 and np.all(np.abs(scaled) < 1e17)):
            return None  # not a float32 value, not finite, or too large
    units = np.rint(scaled)
    if np.any(np.signbit(units) & (units == 0)):
        return None
    return units.astype(np.int64)


def _arrow_csv(
    units: np.ndarray, scores: np.ndarray, is_classifier: bool, classes: Sequence[str]
) -> bytes:
    """The CSV answer written by pyarrow's CSV writer: each score a decimal64 with 6
    digits after the point (``units`` millionths), the label as ``_percent_csv`` writes it."""
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    per_column = np.ascontiguousarray(units.reshape(len(units), -1).T)
    fields = [
        pa.Array.from_buffers(pa.decimal64(18, 6), len(column), [None, pa.py_buffer(column)])
        for column in per_column
    ]
    if classes:
        winners = pa.array(scores.argmax(axis=1).astype(np.int32))
        fields.append(pa.DictionaryArray.from_arrays(winners, pa.array(classes, pa.string())))
    elif is_classifier:
        fields.append(pa.array((scores >= CLASSIFICATION_THRESHOLD).astype(np.int8)))
    sink = pa.BufferOutputStream()
    pa_csv.write_csv(
        pa.RecordBatch.from_arrays(fields, names=[str(i) for i in range(len(fields))]),
        sink,
        write_options=pa_csv.WriteOptions(include_header=False, quoting_style="none"),
    )
    return bytes(sink.getvalue())


def _csv_answer(scores: np.ndarray, is_classifier: bool, classes: Sequence[str]) -> bytes:
    if len(scores) >= ARROW_CSV_MIN_RECORDS:
        units = _millionths(scores)
        if units is not None:
            return _arrow_csv(units, scores, is_classifier, classes)
    return _percent_csv(scores, is_classifier, classes).encode()


def serialize(
    scores: np.ndarray,
    is_classifier: bool,
    media_type: str,
    classes: Sequence[str] = (),
    explanations: Sequence[dict[str, Any]] | None = None,
) -> Reply:
    """Predictions as a 200 ``Reply`` in ``media_type`` (one of ``SUPPORTED``); with
    ``classes``, ``scores`` holds one row of class probabilities per record; with
    ``explanations`` (JSON types only), each prediction carries its row's."""
    if media_type == CSV:
        return Reply(HTTPStatus.OK, _csv_answer(scores, is_classifier, classes), media_type)
    items = _json_predictions(scores, is_classifier, classes)
    if explanations is not None:
        items = [{**item, "explanation": e} for item, e in zip(items, explanations, strict=True)]
    if media_type == JSON:
        text = json.dumps({"predictions": items})
    else:
        text = "".join(json.dumps(item) + "\n" for item in items)
    return Reply(HTTPStatus.OK, text.encode(), media_type)


def transform_fn(model: Model, body: str | bytes, content_type: str, accept: str) -> Reply:
    """Answer one invocation: negotiate, parse, score, serialize; client faults as 4xx."""
    try:
        explained = explained_type(accept)
        media_type = explained or response_type(accept)
        matrix = _plain_csv_matrix(model, body, content_type)
        if matrix is None:
            matrix = model.transform.encode(parse_request(model.transform, body, content_type))
    except ClientError as exc:
        return error_reply(exc.status, str(exc))
    scores = predict(model, matrix)
    explanations = _explanations(model, matrix) if explained else None
    return serialize(scores, model.is_classifier, media_type, model.classes, explanations)


def _explanations(model: Model, matrix: np.ndarray) -> list[dict[str, Any]]:
    # Imported on the first explained request: plain predictions never pay for it.
    from features.attribution import row_explanations

    transform = model.transform
    return row_explanations(
        model.booster, matrix, transform.output_names, transform.schema, model.classes
    )


def _plain_csv_matrix(model: Model, body: str | bytes, content_type: str) -> np.ndarray | None:
    """pyarrow's reading of a CSV body whose every cell is settled without the rules
    (``features/plain_csv.py``); None sends the body to ``parse_request``. The image's
    worker hands a ``text/csv`` body over as ``str``; in-process callers may pass bytes."""
    if model.plain_csv is None or _media_type(content_type or "") != CSV:
        return None
    if isinstance(body, str):
        if body.count("\n") < PLAIN_CSV_MIN_RECORDS:
            return None
    elif not isinstance(body, bytes) or body.count(b"\n") < PLAIN_CSV_MIN_RECORDS:
        return None
    return model.plain_csv.read(body)
