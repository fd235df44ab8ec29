"""The monitor's streaming core: capture lines in, fixed-size feature state and joins out.

``WindowAnalyzer.consume`` parses a stream of capture lines in chunks of
``chunk_lines``; each chunk's rows update every feature's state with a handful of
numpy calls and are dropped, so memory depends on the chunk size and the schema, not
on how many rows the window holds. Rows of requests that have ground truth are joined
on the capture's eventId: their score and label are kept (two numbers per labelled
row) and their raw values go to the feedback file, which is written as it goes.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

import pandas as pd

from config.schema import DatasetSchema, FeatureType
from monitoring.baseline import Baseline
from monitoring.capture import CaptureChunk, chunked, parse_lines
from monitoring.sketches import FeatureState, new_state

CHUNK_LINES = 20_000


def read_csv_rows(schema: DatasetSchema, texts: list[str]) -> pd.DataFrame:
    """Unquoted CSV rows of the schema's width -> one column per feature, parsed in C.

    Numeric columns come back as numbers (object when a value is not a number, which
    the numeric state then counts); categorical and boolean ones as text. Only a blank
    field is missing: "None" or "NA" are values, as the inference contract reads them.
    """
    text_columns = {f.name: str for f in schema.features if f.type is not FeatureType.NUMERIC}
    return pd.read_csv(
        io.StringIO("\n".join(texts)),
        header=None,
        names=schema.feature_names,
        dtype=text_columns,
        keep_default_na=False,
        na_values=[""],
        quoting=csv.QUOTE_NONE,
        engine="c",
    )


def raw_text(value: Any) -> str:
    """A captured value as a raw-zone CSV field (JSON null -> blank, booleans as words)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass
class Joined:
    """Scores and labels of the captured rows that have ground truth."""

    scores: list[float] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    rows: int = 0
    label_count_mismatch: int = 0
    unscored: int = 0


@dataclass
class WindowAnalyzer:
    """Accumulates one monitoring window. ``labels`` maps eventId -> labels (consumed on join)."""

    schema: DatasetSchema
    baseline: Baseline
    labels: dict[str, list[str]] = field(default_factory=dict)
    feedback: IO[str] | None = None
    chunk_lines: int = CHUNK_LINES
    states: dict[str, FeatureState] = field(init=False)
    rows: int = 0
    records: int = 0
    short_rows: int = 0
    long_rows: int = 0
    malformed: Counter[str] = field(default_factory=Counter)
    extra_columns: set[str] = field(default_factory=set)
    joined: Joined = field(default_factory=Joined)

    def __post_init__(self) -> None:
        self.states = {
            f.name: new_state(f, self.baseline.features.get(f.name)) for f in self.schema.features
        }
        self._writer = csv.writer(self.feedback, lineterminator="\n") if self.feedback else None

    def consume(self, lines: Iterable[str | bytes], *, profile: bool = True) -> None:
        """Analyze ``lines``; ``profile=False`` only joins ground truth (an earlier window)."""
        names = self.schema.feature_names
        for batch in chunked(lines, self.chunk_lines):
            chunk = parse_lines(batch, names)
            rows = self._well_formed(chunk, count=profile)
            if profile:
                self.records += chunk.records
                self.malformed.update(chunk.malformed)
                self.extra_columns |= chunk.extra_columns
                self._profile([chunk.rows[i] for i in rows])
            if self.labels:
                self._join(chunk, rows)

    def _well_formed(self, chunk: CaptureChunk, *, count: bool) -> list[int]:
        width = len(self.schema.features)
        good = []
        for index, row in enumerate(chunk.rows):
            size = width if isinstance(row, str) else len(row)
            if size == width:
                good.append(index)
            elif count and size < width:
                self.short_rows += 1
            elif count:
                self.long_rows += 1
        return good

    def _profile(self, rows: Sequence[str | Sequence[Any]]) -> None:
        if not rows:
            return
        self.rows += len(rows)
        texts = [row for row in rows if isinstance(row, str)]
        if texts:
            frame = read_csv_rows(self.schema, texts)
            for feature in self.schema.features:
                self.states[feature.name].update(frame[feature.name].to_numpy(), feature)
        lists = [row for row in rows if not isinstance(row, str)]
        if lists:
            columns = list(zip(*lists, strict=True))
            for feature, values in zip(self.schema.features, columns, strict=True):
                self.states[feature.name].update(values, feature)

    def _join(self, chunk: CaptureChunk, rows: list[int]) -> None:
        joined = self.joined
        done: set[str] = set()
        for index in rows:
            event_id = chunk.event_ids[index]
            labels = self.labels.get(event_id)
            if labels is None:
                continue
            size, position = chunk.sizes[index], chunk.positions[index]
            if position == size - 1:
                done.add(event_id)
            if len(labels) != size:
                joined.label_count_mismatch += 1
                continue
            label = labels[position]
            joined.rows += 1
            score = chunk.scores[index]
            if score is None:
                joined.unscored += 1
            else:
                joined.scores.append(score)
                joined.labels.append(label)
            if self._writer is not None:
                row_id = event_id if size == 1 else f"{event_id}-{position}"
                row = chunk.rows[index]
                values = row.split(",") if isinstance(row, str) else [raw_text(v) for v in row]
                self._writer.writerow([row_id, chunk.times[index], *values, label])
        for event_id in done:  # each event joins once, even if captured twice
            self.labels.pop(event_id, None)
