"""SageMaker data-capture JSON lines -> raw feature rows, event ids, times and scores.

One line per captured invocation (the format ``local/serving/image/data_capture.py`` writes, as a
real endpoint does)::

    {"captureData": {"endpointInput": {"observedContentType": "text/csv", "mode": "INPUT",
                                       "data": "...", "encoding": "CSV" | "JSON" | "BASE64"},
                     "endpointOutput": {...}},
     "eventMetadata": {"eventId": "...", "inferenceTime": "2026-11-23T21:42:26Z"},
     "eventVersion": "0"}

Requests are the inference contract's bodies: ``text/csv`` rows in schema order,
``application/json`` ``{"instances": [...]}`` of lists or objects, or
``application/jsonlines``. Responses are ``probability,label`` CSV lines (one value for
regression; ``p_0,...,p_k-1,label`` for multiclass), ``{"predictions": [...]}`` or JSON
lines. A row's score is the probability, the value, or (multiclass, k >= 3 classes: a
CSV line of 4 or more fields, or an object with ``probabilities``) the tuple of class
probabilities. A line that cannot be read is counted by reason and skipped: a monitor
must report bad traffic, not die on it.
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
import itertools
import json
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

CSV_TYPE, JSON_TYPE, JSONLINES_TYPE = "text/csv", "application/json", "application/jsonlines"
# A row's score: the probability or value, or a multiclass model's class probabilities.
Score = float | tuple[float, ...]


class CaptureError(ValueError):
    """One captured line that cannot be used; the message is the reason counted."""


@dataclass
class CaptureChunk:
    """Parsed rows of a chunk of capture lines, one entry per feature row."""

    # A single-row CSV request of the schema's width is kept as text (str), others as lists.
    rows: list[str | Sequence[Any]] = field(default_factory=list)
    event_ids: list[str] = field(default_factory=list)
    # Position of the row in its request and the request's row count (for multi-row bodies).
    positions: list[int] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)
    times: list[str] = field(default_factory=list)
    # Score per row, None when the response could not be matched to the request's rows;
    # a uniform chunk keeps its responses instead and reads a score only when asked.
    scores: list[Score | None] = field(default_factory=list)
    outputs: tuple[list[str], list[str], list[str]] | None = None
    records: int = 0
    malformed: Counter[str] = field(default_factory=Counter)
    extra_columns: set[str] = field(default_factory=set)
    # Every row is a CSV text of the schema's width (no per-row checks needed).
    uniform: bool = False

    def score(self, index: int) -> Score | None:
        """The model's score for row ``index`` (parsed on demand for uniform chunks)."""
        if self.outputs is not None:
            out_type, out_data, out_encoding = (column[index] for column in self.outputs)
            return _score_of(out_type, out_data, out_encoding)
        return self.scores[index]

    def add(
        self,
        row: str | Sequence[Any],
        event_id: str,
        position: int,
        size: int,
        inference_time: str,
        score: Score | None,
    ) -> None:
        self.rows.append(row)
        self.event_ids.append(event_id)
        self.positions.append(position)
        self.sizes.append(size)
        self.times.append(inference_time)
        self.scores.append(score)


def _media_type(content_type: object) -> str:
    return str(content_type or "").split(";", 1)[0].strip().lower()


def _text(payload: Any, side: str) -> tuple[str, str]:
    """(media type, text) of one side of a capture record."""
    if not isinstance(payload, dict) or "data" not in payload:
        raise CaptureError(f"{side}_missing")
    data, encoding = payload["data"], str(payload.get("encoding", "CSV")).upper()
    if not isinstance(data, str):
        raise CaptureError(f"{side}_not_text")
    if encoding == "BASE64":
        try:
            data = base64.b64decode(data, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise CaptureError(f"{side}_bad_base64") from None
    return _media_type(payload.get("observedContentType")), data


def _csv_rows(text: str) -> list[list[str]]:
    if '"' not in text:
        return [line.split(",") for line in text.splitlines() if line]
    return [row for row in csv.reader(io.StringIO(text)) if row]


def _json_items(media_type: str, text: str) -> list[Any]:
    try:
        if media_type == JSON_TYPE:
            document = json.loads(text)
            items = document.get("instances") if isinstance(document, dict) else None
            if not isinstance(items, list):
                raise CaptureError("input_json_without_instances")
            return items
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    except json.JSONDecodeError:
        raise CaptureError("input_bad_json") from None


def request_rows(
    media_type: str, text: str, names: Sequence[str], extra: set[str]
) -> list[Sequence[Any]]:
    """Raw rows in schema order; objects keyed by name are put in that order.

    Keys the schema does not know are collected in ``extra`` (Model Monitor's
    extra_column_check); a list of the wrong length is kept as is, for the caller to
    count as a missing or extra column.
    """
    if media_type == CSV_TYPE:
        return list(_csv_rows(text))
    if media_type not in (JSON_TYPE, JSONLINES_TYPE):
        raise CaptureError("input_unsupported_content_type")
    rows: list[Sequence[Any]] = []
    for item in _json_items(media_type, text):
        if isinstance(item, list):
            rows.append(item)
        elif isinstance(item, dict):
            extra.update(key for key in item if key not in names)
            rows.append([item.get(name) for name in names])
        else:
            raise CaptureError("input_instance_not_list_or_object")
    return rows


def _score(item: Any) -> Score:
    if isinstance(item, dict):
        probabilities = item.get("probabilities")
        if isinstance(probabilities, dict):  # multiclass, classes in the schema's order
            return tuple(float(p) for p in probabilities.values())
        item = item.get("probability", item.get("value", item.get("score")))
    return float(item)


def _csv_score(line: str) -> Score:
    """``value``, ``probability,label`` or (multiclass) ``p_0,...,p_k-1,label``."""
    fields = line.split(",")
    if len(fields) <= 2:
        return float(fields[0])
    return tuple(float(p) for p in fields[:-1])


def response_scores(media_type: str, text: str) -> list[Score]:
    """The model's score per row: the probability (binary), the value (regression) or
    the class probabilities (multiclass)."""
    try:
        if media_type == JSON_TYPE:
            document = json.loads(text)
            items = document.get("predictions") if isinstance(document, dict) else document
            if not isinstance(items, list):
                raise ValueError("no predictions list")
            return [_score(item) for item in items]
        if media_type == JSONLINES_TYPE:
            return [_score(json.loads(line)) for line in text.splitlines() if line.strip()]
        return [_csv_score(line) for line in text.splitlines() if line.strip()]
    except (ValueError, TypeError, AttributeError, json.JSONDecodeError):
        raise CaptureError("output_unreadable") from None


# The layout SageMaker (and local/serving/image/data_capture.py) writes for a CSV request, matched
# without a JSON parse: the groups are plain strings (no quote or backslash other than
# an escaped newline), so they equal what json.loads would give. Anything else (JSON
# bodies, BASE64, other key order or spacing) takes the general path.
_TEXT = r'([^"\\]*(?:\\n[^"\\]*)*)'
_FAST = re.compile(
    r'\{"captureData":\{"endpointInput":\{"observedContentType":"text/csv","mode":"INPUT",'
    r'"data":"' + _TEXT + r'","encoding":"CSV"\},"endpointOutput":\{"observedContentType":'
    r'"([^"\\]*)","mode":"OUTPUT","data":"' + _TEXT + r'","encoding":"(CSV|BASE64|JSON)"\}\},'
    r'"eventMetadata":\{"eventId":"([^"\\]+)","inferenceTime":"([^"\\]*)"\},'
    r'"eventVersion":"0"\}\s*'
)
# The same layout, every line of a chunk in one call (the usual case: uniform traffic).
_FAST_LINES = re.compile("^" + _FAST.pattern.removesuffix(r"\s*") + r"[ \t\r]*$", re.MULTILINE)


def parse_record(text: str, names: Sequence[str], chunk: CaptureChunk) -> None:
    """Any capture line: parsed as JSON, then each side by content type and encoding."""
    try:
        document = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        chunk.malformed["not_json"] += 1
        return
    try:
        if not isinstance(document, dict):
            raise CaptureError("not_json_object")
        capture = document.get("captureData")
        metadata = document.get("eventMetadata")
        if not isinstance(capture, dict) or not isinstance(metadata, dict):
            raise CaptureError("missing_capture_data")
        event_id = metadata.get("eventId")
        if not isinstance(event_id, str) or not event_id:
            raise CaptureError("missing_event_id")
        media_type, body = _text(capture.get("endpointInput"), "input")
        rows = request_rows(media_type, body, names, chunk.extra_columns)
        if not rows:
            raise CaptureError("input_empty")
    except CaptureError as exc:
        chunk.malformed[str(exc)] += 1
        return
    scores: list[Score | None] = [None] * len(rows)
    try:
        out_type, out_text = _text(capture.get("endpointOutput"), "output")
        parsed = response_scores(out_type, out_text)
        if len(parsed) == len(rows):
            scores = list(parsed)
    except CaptureError:
        pass  # the request still counts for drift; only the quality join loses it
    inference_time = str(metadata.get("inferenceTime", ""))
    for index, row in enumerate(rows):
        chunk.add(row, event_id, index, len(rows), inference_time, scores[index])


def _score_of(out_type: str, out_data: str, out_encoding: str) -> Score | None:
    """The one score of a single-row response (None when there is not exactly one)."""
    try:
        if out_encoding == "CSV" and (out_type == CSV_TYPE or _media_type(out_type) == CSV_TYPE):
            if out_data.count(",", 0, 64) < 2:  # a value, or probability,label: the head
                head = out_data.split(",", 1)[0]
                return float(head.split("\\", 1)[0] if "\\" in head else head)
            return _csv_score(out_data.split("\\", 1)[0])
        data = out_data.replace("\\n", "\n")
        payload = {"observedContentType": out_type, "data": data, "encoding": out_encoding}
        parsed = response_scores(*_text(payload, "output"))
    except (ValueError, CaptureError):
        return None
    return parsed[0] if len(parsed) == 1 else None


def _parse_uniform(texts: Sequence[str], commas: int) -> CaptureChunk | None:
    """The whole chunk at once when every line is a single-row CSV request in the
    layout SageMaker writes; None otherwise (then the chunk is parsed line by line).
    One regex scan of the chunk, then C-level calls over its columns, not a Python
    statement per line (this is the monitor's hot path)."""
    matches = _FAST_LINES.findall("\n".join(texts))
    records = len(texts) - texts.count("\n") - texts.count("")
    if not matches or len(matches) != records:
        return None
    bodies, out_types, out_data, out_encodings, event_ids, times = map(
        list, zip(*matches, strict=True)
    )
    if "\\" in "".join(bodies) or "" in bodies:  # escapes or empty bodies: line by line
        return None
    chunk = CaptureChunk(records=records, uniform=True)
    widths = list(map(str.count, bodies, itertools.repeat(",")))
    if min(widths) == max(widths) == commas:
        chunk.rows = list(bodies)
    else:
        chunk.uniform = False
        chunk.rows = [
            b if n == commas else b.split(",") for b, n in zip(bodies, widths, strict=True)
        ]
    chunk.event_ids, chunk.times = event_ids, times
    chunk.positions, chunk.sizes = [0] * records, [1] * records
    chunk.outputs = (out_types, out_data, out_encodings)
    return chunk


def parse_lines(lines: Sequence[str | bytes], names: Sequence[str]) -> CaptureChunk:
    """Parse a chunk of capture lines; bad lines are counted in ``malformed`` by reason.

    A single-row CSV request of the right width is kept as its CSV text (the caller
    converts all of them at once); every other row as a list of values. This loop is
    the monitor's hot path: one regex match and a few appends per line.
    """
    commas = len(names) - 1
    # A source yields one type: text from files, bytes from S3.
    texts: Sequence[str] = (
        [line.decode("utf-8", "replace") for line in lines]  # type: ignore[union-attr]
        if lines and isinstance(lines[0], bytes)
        else lines  # type: ignore[assignment]
    )
    uniform = _parse_uniform(texts, commas)
    if uniform is not None:
        return uniform
    chunk = CaptureChunk()
    fast = _FAST.fullmatch
    rows, event_ids, times, scores = chunk.rows, chunk.event_ids, chunk.times, chunk.scores
    positions, sizes = chunk.positions, chunk.sizes
    for text in texts:
        match = fast(text)
        if match is None:
            if text and not text.isspace():
                chunk.records += 1
                parse_record(text, names, chunk)
            continue
        chunk.records += 1
        body, out_type, out_data, out_encoding, event_id, inference_time = match.groups()
        if "\\n" in body:
            body = body.replace("\\n", "\n").strip("\n")
            if not body or "\n" in body:  # empty, or several rows: the general path
                parse_record(text, names, chunk)
                continue
        rows.append(body if body.count(",") == commas else body.split(","))
        event_ids.append(event_id)
        positions.append(0)
        sizes.append(1)
        times.append(inference_time)
        scores.append(_score_of(out_type, out_data, out_encoding))
    return chunk


def chunked(lines: Iterable[str | bytes], size: int) -> Iterator[list[str | bytes]]:
    """Lists of at most ``size`` lines, so memory does not grow with the input."""
    iterator = iter(lines)
    while batch := list(itertools.islice(iterator, size)):
        yield batch
