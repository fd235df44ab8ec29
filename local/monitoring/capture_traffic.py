"""Captured traffic and ground truth for a frame of synthetic rows, in SageMaker's formats.

What a served endpoint with data capture would have written for these rows (one
``text/csv`` request per row, the response ``probability,label`` or the value), and
the labels in Model Monitor's ground-truth format. Tests and the monitor benchmark
use it; event ids and times are derived from ``seed`` so the output is reproducible.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from config.schema import DatasetSchema, ProblemType
from local.lake.synthetic import feature_records, raw_records
from local.serving.image.data_capture import capture_record


@dataclass(frozen=True)
class CapturedRow:
    event_id: str
    line: str  # the capture JSON line
    label: str  # the row's target as raw text


def event_id(seed: int, index: int) -> str:
    return str(uuid.UUID(int=(seed << 64) + index))


def captured_rows(
    schema: DatasetSchema,
    frame: pd.DataFrame,
    *,
    seed: int,
    start: datetime,
    scores: np.ndarray | None = None,
) -> Iterator[CapturedRow]:
    """One capture line per row (a CSV request); ``scores`` default to seeded noise."""
    if scores is None:
        scores = np.random.default_rng(seed).random(len(frame))
    classifier = schema.problem_type is ProblemType.BINARY_CLASSIFICATION
    rows = feature_records(schema, frame)
    targets = [record[-1] for record in raw_records(schema, frame)]
    for index, (values, target, score) in enumerate(zip(rows, targets, scores, strict=True)):
        features = ",".join(values)
        response = f"{score:.6f},{int(score >= 0.5)}\n" if classifier else f"{score:.6f}\n"
        eid = event_id(seed, index)
        line = json.dumps(
            capture_record(
                request_type="text/csv",
                request=features.encode(),
                response_type="text/csv",
                response=response.encode(),
                at=start + timedelta(seconds=index),
                event_id=eid,
            ),
            separators=(",", ":"),
        )
        yield CapturedRow(eid, line, target)


def ground_truth_line(event: str, label: str) -> str:
    """One ground-truth record in Model Monitor's format."""
    return json.dumps(
        {
            "groundTruthData": {"data": label, "encoding": "CSV"},
            "eventMetadata": {"eventId": event},
            "eventVersion": "0",
        }
    )
