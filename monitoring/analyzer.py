"""The monitor's streaming core: capture lines in, fixed-size feature state and joins out.

``WindowAnalyzer.consume`` parses a stream of capture lines in chunks of
``chunk_lines``; each chunk's rows update every feature's state with a handful of
numpy calls and are dropped, so memory depends on the chunk size and the schema, not
on how many rows the window holds. Rows of requests that have ground truth are joined
on the capture's eventId: their score and label are kept (two numbers per labelled
row; k + 1 for a k-class model) and their raw values go to the feedback file, which
is written as it goes.

Chunks are independent and the state is mergeable, so with a worker pool the chunks
are analyzed in parallel processes and merged in input order: the result is the same
as a serial run's, and at most ``2 x workers`` chunks are in flight (bounded memory).
"""

from __future__ import annotations

import csv
import heapq
import io
import multiprocessing
from collections import Counter, deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO, Any

import numpy as np
import pandas as pd

from config.schema import DatasetSchema, FeatureType
from monitoring.baseline import Baseline
from monitoring.capture import Score, chunked, parse_lines
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
    """Scores and labels of the captured rows that have ground truth, and the raw text
    of their facet columns (the schema's sensitive features, for bias drift)."""

    scores: list[Score] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    facets: dict[str, list[str]] = field(default_factory=dict)
    rows: int = 0
    label_count_mismatch: int = 0
    unscored: int = 0


@dataclass
class ChunkResult:
    """What one chunk contributes: partial feature state, counts and join candidates."""

    states: dict[str, FeatureState] | None
    rows: int = 0
    records: int = 0
    short_rows: int = 0
    long_rows: int = 0
    malformed: Counter[str] = field(default_factory=Counter)
    extra_columns: set[str] = field(default_factory=set)
    # Rows whose event has labels: (event id, position, size, score, id, time, raw values).
    candidates: list[tuple[str, int, int, Score | None, str, str, list[str]]] = field(
        default_factory=list
    )
    # The chunk's part of the window's row sample: (sample key, raw values).
    sample: list[tuple[int, list[str]]] = field(default_factory=list)


def sample_keys(event_ids: Sequence[str], positions: Sequence[int]) -> np.ndarray:
    """Each row's place in the window's sample (uint64): the rows with the smallest keys
    form it. A hash of the row's identity (eventId and position in its request), so the
    sample is uniform, the same whichever chunk or process a row went through, and the
    same when a window is analyzed again: pandas' hash_array (SipHash with a fixed key),
    in C over the whole chunk, which the monitor's scan can afford."""
    hashed = pd.util.hash_array(np.asarray(event_ids, dtype=object))
    spread = np.asarray(positions, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    keys: np.ndarray = hashed ^ spread
    return keys


def _chunk_sample(chunk: Any, kept: list[int], size: int) -> list[tuple[int, list[str]]]:
    """The chunk's ``size`` rows with the smallest keys: (key, raw values). One entry per
    key: a row captured twice is one row of the sample (np.unique keeps the first)."""
    every = len(kept) == len(chunk.rows)
    ids = chunk.event_ids if every else [chunk.event_ids[i] for i in kept]
    positions = chunk.positions if every else [chunk.positions[i] for i in kept]
    keys, first = np.unique(sample_keys(ids, positions), return_index=True)
    return [
        (int(key), _raw_values(chunk.rows[kept[at]]))
        for key, at in zip(keys[:size], first[:size], strict=True)
    ]


def _raw_values(row: str | Sequence[Any]) -> list[str]:
    return row.split(",") if isinstance(row, str) else [raw_text(v) for v in row]


def _split_rows(rows: Sequence[str | Sequence[Any]], uniform: bool) -> tuple[list[str], list[Any]]:
    if uniform:
        return rows, []  # type: ignore[return-value]
    return [r for r in rows if isinstance(r, str)], [r for r in rows if not isinstance(r, str)]


def analyze_chunk(
    batch: Sequence[str | bytes],
    schema: DatasetSchema,
    baseline: Baseline,
    labels: dict[str, list[str]],
    profile: bool,
    sample_rows: int = 0,
) -> ChunkResult:
    """One chunk of capture lines -> its ChunkResult (a pure function: runs in any process).
    ``sample_rows``: how many of its rows (at most) to keep for the window's sample."""
    chunk = parse_lines(batch, schema.feature_names)
    result = ChunkResult(states=None, records=chunk.records, malformed=chunk.malformed)
    result.extra_columns = chunk.extra_columns
    width = len(schema.features)
    if chunk.uniform:
        kept = list(range(len(chunk.rows)))
    else:
        kept = []
        for index, row in enumerate(chunk.rows):
            size = width if isinstance(row, str) else len(row)
            if size == width:
                kept.append(index)
            elif size < width:
                result.short_rows += 1
            else:
                result.long_rows += 1
    if profile and kept:
        rows = chunk.rows if len(kept) == len(chunk.rows) else [chunk.rows[i] for i in kept]
        result.rows = len(rows)
        states = {f.name: new_state(f, baseline.features.get(f.name)) for f in schema.features}
        texts, lists = _split_rows(rows, chunk.uniform)
        if texts:
            frame = read_csv_rows(schema, texts)
            for feature in schema.features:
                states[feature.name].update(frame[feature.name].to_numpy(), feature)
        if lists:
            columns = list(zip(*lists, strict=True))
            for feature, values in zip(schema.features, columns, strict=True):
                states[feature.name].update(values, feature)
        result.states = states
        if sample_rows:
            result.sample = _chunk_sample(chunk, kept, sample_rows)
    if labels:
        for index in kept:
            event_id = chunk.event_ids[index]
            if event_id not in labels:
                continue
            size, position = chunk.sizes[index], chunk.positions[index]
            raw = _raw_values(chunk.rows[index])
            row_id = event_id if size == 1 else f"{event_id}-{position}"
            result.candidates.append(
                (event_id, position, size, chunk.score(index), row_id, chunk.times[index], raw)
            )
    return result


# A pool's workers get the window's fixed inputs once, when they start.
_WORKER: dict[str, Any] = {}


def _start_worker(schema: DatasetSchema, baseline: Baseline, labels: dict[str, list[str]]) -> None:
    _WORKER.update(schema=schema, baseline=baseline, labels=labels)


def _pooled_chunk(batch: list[str | bytes], profile: bool, sample_rows: int) -> ChunkResult:
    return analyze_chunk(
        batch, _WORKER["schema"], _WORKER["baseline"], _WORKER["labels"], profile, sample_rows
    )


@contextmanager
def worker_pool(
    schema: DatasetSchema, baseline: Baseline, labels: dict[str, list[str]], workers: int
) -> Iterator[ProcessPoolExecutor | None]:
    """Processes for ``workers`` > 1 (forked: they inherit the inputs); None otherwise."""
    if workers <= 1:
        yield None
        return
    pool = ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("fork"),
        initializer=_start_worker,
        initargs=(schema, baseline, dict(labels)),
    )
    try:
        yield pool
    finally:
        pool.shutdown(cancel_futures=True)


@dataclass
class WindowAnalyzer:
    """Accumulates one monitoring window. ``labels`` maps eventId -> labels (consumed on join)."""

    schema: DatasetSchema
    baseline: Baseline
    labels: dict[str, list[str]] = field(default_factory=dict)
    feedback: IO[str] | None = None
    chunk_lines: int = CHUNK_LINES
    pool: ProcessPoolExecutor | None = None
    workers: int = 1  # the pool's size: 2 chunks per worker are kept in flight
    sample_rows: int = 0  # a uniform sample of the window's rows, at most this many
    states: dict[str, FeatureState] = field(init=False)
    rows: int = 0
    records: int = 0
    short_rows: int = 0
    long_rows: int = 0
    malformed: Counter[str] = field(default_factory=Counter)
    extra_columns: set[str] = field(default_factory=set)
    joined: Joined = field(default_factory=Joined)
    sample: list[tuple[int, list[str]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.states = {
            f.name: new_state(f, self.baseline.features.get(f.name)) for f in self.schema.features
        }
        self._writer = csv.writer(self.feedback, lineterminator="\n") if self.feedback else None
        names = self.schema.feature_names
        self._facets = {f.name: names.index(f.name) for f in self.schema.facets}
        self.joined.facets = {name: [] for name in self._facets}

    @property
    def sampled_rows(self) -> list[list[str]]:
        """The window's row sample (raw values in schema order)."""
        return [values for _, values in self.sample]

    def consume(self, lines: Iterable[str | bytes], *, profile: bool = True) -> None:
        """Analyze ``lines``; ``profile=False`` only joins ground truth (an earlier window)."""
        if self.pool is None:
            for batch in chunked(lines, self.chunk_lines):
                chunk = analyze_chunk(
                    batch, self.schema, self.baseline, self.labels, profile, self.sample_rows
                )
                self._apply(chunk, profile)
            return
        in_flight: deque[Future[ChunkResult]] = deque()
        limit = 2 * max(self.workers, 1)
        for batch in chunked(lines, self.chunk_lines):
            in_flight.append(self.pool.submit(_pooled_chunk, batch, profile, self.sample_rows))
            if len(in_flight) >= limit:
                self._apply(in_flight.popleft().result(), profile)
        while in_flight:
            self._apply(in_flight.popleft().result(), profile)

    def _apply(self, result: ChunkResult, profile: bool) -> None:
        """Merge one chunk's result, in input order (joins deduplicated here)."""
        if profile:
            self.rows += result.rows
            self.records += result.records
            self.short_rows += result.short_rows
            self.long_rows += result.long_rows
            self.malformed.update(result.malformed)
            self.extra_columns |= result.extra_columns
            for name, state in (result.states or {}).items():
                self.states[name].merge(state)  # type: ignore[arg-type]
            if result.sample:  # a row captured twice has one key: it is sampled once
                merged = dict([*self.sample, *result.sample])
                self.sample = heapq.nsmallest(self.sample_rows, merged.items())
        joined = self.joined
        done: set[str] = set()
        seen: set[tuple[str, int]] = set()  # a row captured twice in this chunk joins once
        for event_id, position, size, score, row_id, time, values in result.candidates:
            labels = self.labels.get(event_id)
            if labels is None or (event_id, position) in seen:
                continue  # joined already (captured twice), or not labelled
            seen.add((event_id, position))
            if position == size - 1:
                done.add(event_id)
            if len(labels) != size:
                joined.label_count_mismatch += 1
                continue
            label = labels[position]
            joined.rows += 1
            if score is None:
                joined.unscored += 1
            else:
                joined.scores.append(score)
                joined.labels.append(label)
                for name, column in self._facets.items():
                    joined.facets[name].append(values[column])
            if self._writer is not None:
                # The schema's raw columns: the capture's id and time stand for the id and
                # event time columns where the dataset has them.
                record = [row_id] if self.schema.id_column is not None else []
                if self.schema.event_time_column is not None:
                    record.append(time)
                self._writer.writerow([*record, *values, label])
        for event_id in done:  # each event joins once, even if captured twice
            self.labels.pop(event_id, None)
