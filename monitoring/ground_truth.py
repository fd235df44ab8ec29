"""Ground truth in Model Monitor's format: one JSON line per labelled inference::

    {"groundTruthData": {"data": "1", "encoding": "CSV"},
     "eventMetadata": {"eventId": "<the capture's eventId>"}, "eventVersion": "0"}

``data`` holds one label per row of the captured request (CSV: comma- or
line-separated; JSON: a value or a list). A later line for the same event replaces
an earlier one.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from typing import Any


def _labels(payload: Any) -> list[str]:
    if not isinstance(payload, dict) or "data" not in payload:
        raise ValueError("missing groundTruthData.data")
    data, encoding = payload["data"], str(payload.get("encoding", "CSV")).upper()
    if encoding == "JSON":
        value = json.loads(data) if isinstance(data, str) else data
        values = value if isinstance(value, list) else [value]
        return [str(v) for v in values]
    text = str(data)
    return [
        token.strip() for line in text.splitlines() for token in line.split(",") if token.strip()
    ]


def read_labels(
    lines: Iterable[str | bytes], into: dict[str, list[str]], malformed: Counter[str]
) -> None:
    """Add each line's labels to ``into`` by event id; count unreadable lines."""
    for line in lines:
        if not line.strip():
            continue
        try:
            document = json.loads(line)
            event_id = document["eventMetadata"]["eventId"]
            labels = _labels(document.get("groundTruthData"))
            if not isinstance(event_id, str) or not labels:
                raise ValueError("no event id or no label")
        except (ValueError, KeyError, TypeError):
            malformed["ground_truth_unreadable"] += 1
            continue
        into[event_id] = labels
