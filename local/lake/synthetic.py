"""Seeded synthetic data for any dataset schema, with known dirty rows and optional drift.

Every value comes from the schema's ``synthetic`` hints (per-feature distributions and
the target's effects), so a new dataset needs a new JSON file, not new code. The target
carries real signal: a linear score over the features (logistic for binary
classification, with the intercept calibrated to the requested positive rate; for
multiclass, the score plus logistic noise cut into the classes in order, at cut points
that give each class its ``class_shares`` share, equal by default).

Dirty rows are copies of clean rows broken in exactly one way, with fresh ids, so the
ETL's quarantine counts can be asserted exactly: each kind below maps to one reason.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from config.schema import DatasetSchema, Feature, FeatureType, ProblemType, Target

DEFAULT_START = datetime(2025, 1, 1, tzinfo=UTC)
DEFAULT_DAYS = 365


@dataclass(frozen=True)
class DirtyRows:
    """How many broken rows of each kind to inject; each kind maps to one quarantine reason."""

    missing_required: int = 0
    wrong_type: int = 0
    out_of_range: int = 0
    unknown_category: int = 0
    malformed: int = 0
    # Valid rows repeating an existing id with an older event time: dropped, not quarantined.
    duplicates: int = 0

    @property
    def quarantined(self) -> int:
        return (
            self.missing_required
            + self.wrong_type
            + self.out_of_range
            + self.unknown_category
            + self.malformed
        )

    def as_dict(self) -> dict[str, int]:
        return asdict(self)

    def possible_for(self, schema: DatasetSchema) -> DirtyRows:
        """These counts, with 0 for each kind ``schema`` has no column to break that way.

        A numeric-only schema has no category to make unknown; a categorical-only one has
        no value of the wrong type or out of range. ``write_raw`` refuses an impossible
        kind, so a run that must work for any schema asks for what is possible.
        """
        impossible = {kind: 0 for kind, columns in _dirty_columns(schema).items() if not columns}
        if schema.id_column is None:  # every record is a row of its own: none is stale
            impossible["duplicates"] = 0
        return replace(self, **impossible)


@dataclass(frozen=True)
class RawBatch:
    """What a generator call wrote: the file and the counts the ETL must reproduce."""

    path: Path
    clean_rows: int
    dirty: DirtyRows

    @property
    def total_rows(self) -> int:
        return self.clean_rows + self.dirty.quarantined + self.dirty.duplicates


def generate_clean(
    schema: DatasetSchema,
    n_rows: int,
    *,
    seed: int = 7,
    shift: Mapping[str, float] | None = None,
    start: datetime = DEFAULT_START,
    days: int = DEFAULT_DAYS,
) -> pd.DataFrame:
    """A typed, valid frame of ``n_rows`` rows: id and event time (those the schema has),
    features and target.

    ``shift`` moves feature distributions (for drift demos): for a numeric feature the
    mean changes by that fraction (0.3 = 30% higher); for a categorical one that share of
    the probability mass moves to its last category; for a boolean, P(true) moves by it.
    """
    rng = np.random.default_rng(seed)
    shift = dict(shift or {})
    unknown = set(shift) - set(schema.feature_names)
    if unknown:
        raise ValueError(f"shift names unknown features: {sorted(unknown)}")
    frame = pd.DataFrame(index=pd.RangeIndex(n_rows))
    if schema.id_column is not None:
        frame[schema.id_column] = [f"{schema.name[:3]}-{seed:04d}-{i:08d}" for i in range(n_rows)]
    # Drawn whether or not the schema keeps them, so the features' draws do not depend on it.
    times = _event_times(rng, n_rows, start, days)
    if schema.event_time_column is not None:
        frame[schema.event_time_column] = times
    for feature in schema.features:
        frame[feature.name] = _sample_feature(rng, feature, frame, n_rows, shift.get(feature.name))
    # The concept (how features drive the target) is calibrated on unshifted data, so a
    # shifted batch shows covariate drift under the same relationship.
    reference = frame if not shift else generate_clean(schema, min(n_rows, 20_000), seed=seed)
    frame[schema.target.name] = _sample_target(rng, schema, frame, reference)
    return frame


def write_raw(
    schema: DatasetSchema,
    clean: pd.DataFrame,
    path: Path,
    *,
    dirty: DirtyRows | None = None,
    seed: int = 7,
    fmt: str = "csv",
) -> RawBatch:
    """Write ``clean`` plus the requested dirty rows, shuffled, as CSV (header) or JSON lines."""
    if fmt not in ("csv", "jsonl"):
        raise ValueError(f"format must be 'csv' or 'jsonl', not {fmt!r}")
    dirty = dirty or DirtyRows()
    rng = np.random.default_rng(seed + 1)
    records = _render(schema, clean)
    broken = _dirty_records(schema, records, clean, dirty, rng)
    rows: list[list[str] | str] = [*records, *broken]
    order = rng.permutation(len(rows))
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        if fmt == "csv":
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(schema.raw_header_names)  # as the user's files name them
            for index in order:
                row = rows[index]
                if isinstance(row, str):
                    handle.write(row + "\n")
                else:
                    writer.writerow(row)
        else:
            for index in order:
                row = rows[index]
                if isinstance(row, str):
                    handle.write(row + "\n")
                else:
                    typed = {
                        c: _json_value(v) for c, v in zip(schema.raw_header_names, row, strict=True)
                    }
                    handle.write(json.dumps(typed) + "\n")
    return RawBatch(path=path, clean_rows=len(records), dirty=dirty)


def _event_times(rng: np.random.Generator, n_rows: int, start: datetime, days: int) -> pd.Series:
    seconds = rng.integers(0, days * 86_400, size=n_rows)
    base = pd.Timestamp(start)
    return pd.Series(base + pd.to_timedelta(seconds, unit="s"))


def _sample_feature(
    rng: np.random.Generator,
    feature: Feature,
    frame: pd.DataFrame,
    n_rows: int,
    shift: float | None,
) -> pd.Series:
    hints = feature.synthetic
    if feature.type is FeatureType.CATEGORICAL:
        weights = np.asarray(hints.get("weights") or [1.0] * len(feature.categories), float)
        weights = weights / weights.sum()
        if shift:
            moved = weights * shift
            weights = weights - moved
            weights[-1] += moved.sum()
        values: pd.Series = pd.Series(rng.choice(feature.categories, size=n_rows, p=weights))
    elif feature.type is FeatureType.BOOLEAN:
        p_true = min(max(float(hints.get("p_true", 0.5)) + (shift or 0.0), 0.0), 1.0)
        values = pd.Series(rng.random(n_rows) < p_true)
    elif feature.type is FeatureType.TIMESTAMP:
        # Spread over a year unless the hints say otherwise ("start", "days").
        start = datetime.fromisoformat(str(hints.get("start", "2024-01-01")))
        values = _event_times(rng, n_rows, start, int(hints.get("days", 365)))
    else:
        values = pd.Series(_sample_numeric(rng, feature, frame, n_rows, shift or 0.0))
    null_fraction = float(hints.get("null_fraction", 0.0)) if feature.nullable else 0.0
    if null_fraction:
        values = values.astype(object)
        values[rng.random(n_rows) < null_fraction] = None
    return values


def _sample_numeric(
    rng: np.random.Generator, feature: Feature, frame: pd.DataFrame, n_rows: int, shift: float
) -> np.ndarray:
    hints = feature.synthetic
    dist = hints.get("distribution", "uniform")
    scale = 1.0 + shift
    if dist == "normal":
        values = rng.normal(float(hints["mean"]) * scale, float(hints["std"]), n_rows)
    elif dist == "lognormal":
        values = rng.lognormal(float(hints["mean"]) + math.log(scale), float(hints["std"]), n_rows)
    elif dist == "exponential":
        values = rng.exponential(float(hints["mean"]) * scale, n_rows)
    elif dist == "poisson":
        values = rng.poisson(float(hints["mean"]) * scale, n_rows).astype(float)
    elif dist == "uniform":
        low = float(hints.get("low", feature.minimum or 0.0))
        high = float(hints.get("high", feature.maximum or 1.0))
        offset = shift * (high - low)
        values = rng.uniform(low + offset, high + offset, n_rows)
    elif dist == "product":
        left, right = (frame[name].astype(float).to_numpy() for name in hints["of"])
        noise = rng.normal(1.0, float(hints.get("noise", 0.0)), n_rows)
        values = left * right * np.clip(noise, 0.0, None) * scale
    else:
        raise ValueError(f"feature {feature.name!r}: unknown synthetic distribution {dist!r}")
    if hints.get("integer"):
        values = np.round(values)
    low = feature.minimum if feature.minimum is not None else -np.inf
    high = feature.maximum if feature.maximum is not None else np.inf
    return np.clip(values, low, high)


def _linear_score(
    schema: DatasetSchema, frame: pd.DataFrame, reference: pd.DataFrame
) -> np.ndarray:
    """Sum of effects; numeric features are centred on the reference mean."""
    score = np.zeros(len(frame))
    for name, effect in schema.target.synthetic.get("effects", {}).items():
        feature = schema.feature(name)
        column = frame[name]
        if feature.type is FeatureType.CATEGORICAL:
            score += column.map(
                lambda v, e=effect: e.get(v, 0.0) if v is not None else 0.0
            ).to_numpy(float)
        else:
            numeric = pd.to_numeric(column, errors="coerce").astype(float)
            centre = pd.to_numeric(reference[name], errors="coerce").astype(float).mean()
            score += float(effect) * (numeric - centre).fillna(0.0).to_numpy()
    return score


def _sample_target(
    rng: np.random.Generator, schema: DatasetSchema, frame: pd.DataFrame, reference: pd.DataFrame
) -> pd.Series:
    hints = schema.target.synthetic
    score = _linear_score(schema, frame, reference)
    if schema.problem_type is ProblemType.BINARY_CLASSIFICATION:
        intercept = _calibrate_intercept(
            _linear_score(schema, reference, reference), float(hints.get("positive_rate", 0.2))
        )
        probability = 1.0 / (1.0 + np.exp(-(score + intercept)))
        return pd.Series((rng.random(len(frame)) < probability).astype(int))
    if schema.problem_type is ProblemType.MULTICLASS_CLASSIFICATION:
        return pd.Series(
            _ordered_classes(rng, schema, score, _linear_score(schema, reference, reference))
        )
    values = float(hints.get("intercept", 0.0)) + score
    values = values + rng.normal(0.0, float(hints.get("noise_std", 0.0)), len(frame))
    low = schema.target.minimum if schema.target.minimum is not None else -np.inf
    high = schema.target.maximum if schema.target.maximum is not None else np.inf
    return pd.Series(np.round(np.clip(values, low, high), 2))


def _ordered_classes(
    rng: np.random.Generator, schema: DatasetSchema, score: np.ndarray, reference: np.ndarray
) -> np.ndarray:
    """Class indices by an ordered-logit draw: the score plus logistic noise, cut at the
    reference's quantiles of the class shares (class 0 lowest). The noise scale is the
    ``noise_std`` hint, else 0.3 x the reference score's standard deviation (a logistic
    noise of about half the signal's spread; 1 when the score is constant)."""
    classes = len(schema.target.classes)
    shares = np.asarray(schema.target.synthetic.get("class_shares") or [1.0] * classes, float)
    spread = float(schema.target.synthetic.get("noise_std", 0.3 * np.std(reference) or 1.0))
    # The cut points depend on the reference alone (its own seeded noise), so a shifted
    # batch keeps the concept and shows in the class mix instead.
    latent = reference + spread * np.random.default_rng(0).logistic(size=len(reference))
    cuts = np.quantile(latent, np.cumsum(shares / shares.sum())[:-1])
    noisy = score + spread * rng.logistic(size=len(score))
    return np.searchsorted(cuts, noisy).astype(int)


def _calibrate_intercept(score: np.ndarray, positive_rate: float) -> float:
    """Bisection for the intercept whose mean probability equals ``positive_rate``."""
    low, high = -30.0, 30.0
    for _ in range(60):
        middle = (low + high) / 2
        if float(np.mean(1.0 / (1.0 + np.exp(-(score + middle))))) < positive_rate:
            low = middle
        else:
            high = middle
    return (low + high) / 2


def _format_number(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    number = float(value)
    return str(int(number)) if number.is_integer() else f"{number:.2f}"


def raw_records(schema: DatasetSchema, frame: pd.DataFrame) -> list[list[str]]:
    """Typed frame -> raw string records in ``schema.raw_columns`` order, as in raw files."""
    return _render(schema, frame)


def feature_records(schema: DatasetSchema, frame: pd.DataFrame) -> list[list[str]]:
    """Typed frame -> each row's raw feature values (what a client sends), in schema order."""
    first = len(schema.record_columns)
    return [record[first:-1] for record in _render(schema, frame)]


def _render(schema: DatasetSchema, frame: pd.DataFrame) -> list[list[str]]:
    """Typed frame -> raw string records in ``schema.raw_columns`` order."""
    columns: list[list[str]] = []
    if schema.id_column is not None:
        columns.append(frame[schema.id_column].astype(str).tolist())
    if schema.event_time_column is not None:
        columns.append(frame[schema.event_time_column].dt.strftime("%Y-%m-%dT%H:%M:%SZ").tolist())
    for feature in schema.features:
        series = frame[feature.name]
        if feature.type is FeatureType.NUMERIC:
            columns.append([_format_number(v) for v in series.tolist()])
        elif feature.type is FeatureType.BOOLEAN:
            columns.append(["" if v is None else ("true" if v else "false") for v in series])
        elif feature.type is FeatureType.TIMESTAMP:
            times = pd.to_datetime(series, utc=True)
            columns.append(times.dt.strftime("%Y-%m-%dT%H:%M:%SZ").fillna("").tolist())
        else:
            columns.append(["" if v is None else str(v) for v in series])
    target = frame[schema.target.name].tolist()
    if schema.problem_type is ProblemType.MULTICLASS_CLASSIFICATION:
        # The typed frame holds class indices, as the curated zone; raw files hold names.
        columns.append([schema.target.classes[int(v)] for v in target])
    else:
        columns.append([_format_number(v) for v in target])
    return [list(row) for row in zip(*columns, strict=True)]


def _dirty_columns(schema: DatasetSchema) -> dict[str, list[Any]]:
    """Per kind of dirty row, the columns a row can be broken in that way (maybe none)."""
    required = schema.required_raw_columns
    numeric = [f for f in schema.features if f.type is FeatureType.NUMERIC]
    return {
        "missing_required": required,
        # A categorical field holds any text, so only numbers and booleans can be mistyped.
        "wrong_type": [f for f in schema.features if f.type is not FeatureType.CATEGORICAL],
        "out_of_range": [f for f in numeric if f.minimum is not None or f.maximum is not None],
        "unknown_category": [
            *(f for f in schema.features if f.type is FeatureType.CATEGORICAL),
            # A multiclass target is a category too: a value outside its classes.
            *(
                [schema.target]
                if schema.problem_type is ProblemType.MULTICLASS_CLASSIFICATION
                else []
            ),
        ],
    }


def _dirty_records(
    schema: DatasetSchema,
    records: list[list[str]],
    clean: pd.DataFrame,
    dirty: DirtyRows,
    rng: np.random.Generator,
) -> list[list[str] | str]:
    if not records and (dirty.quarantined or dirty.duplicates):
        raise ValueError("dirty rows are copies of clean ones: generate at least one clean row")
    position = {name: i for i, name in enumerate(schema.raw_columns)}
    columns = _dirty_columns(schema)
    out: list[list[str] | str] = []
    counter = iter(range(10**9))

    def copy() -> list[str]:
        row = list(records[int(rng.integers(len(records)))])
        if schema.id_column is not None:  # a fresh id: dirty rows never collide in dedup
            row[position[schema.id_column]] = f"dirty-{next(counter):08d}"
        return row

    def broken(kind: str, candidates: list[Any], count: int, corrupt: Any) -> None:
        if count and not candidates:
            raise ValueError(f"dataset {schema.name!r} has no column that can be made {kind}")
        for i in range(count):
            row = copy()
            corrupt(row, candidates[i % len(candidates)])
            out.append(row)

    def set_blank(row: list[str], name: str) -> None:
        row[position[name]] = ""

    def set_wrong_type(row: list[str], f: Feature) -> None:
        row[position[f.name]] = "n/a-text" if f.type is FeatureType.NUMERIC else "perhaps"

    def set_out_of_range(row: list[str], f: Feature) -> None:
        over = f.maximum is not None
        limit = f.maximum if over else f.minimum
        row[position[f.name]] = _format_number((limit or 0.0) + (1.0 if over else -1.0) * 7.0)

    def set_unknown(row: list[str], f: Feature | Target) -> None:
        row[position[f.name]] = "not-a-known-category"

    broken("missing", columns["missing_required"], dirty.missing_required, set_blank)
    broken("of the wrong type", columns["wrong_type"], dirty.wrong_type, set_wrong_type)
    broken("out of range", columns["out_of_range"], dirty.out_of_range, set_out_of_range)
    broken("an unknown category", columns["unknown_category"], dirty.unknown_category, set_unknown)
    for i in range(dirty.malformed):
        row = copy()
        # Alternate too few and too many fields: both are the same reason, a malformed record.
        fields = row[: len(row) // 2] if i % 2 == 0 else [*row, "extra", "fields"]
        out.append(",".join(fields))
    if dirty.duplicates and schema.id_column is None:
        raise ValueError(f"dataset {schema.name!r} has no id column: no row can be a duplicate")
    for _ in range(dirty.duplicates):
        index = int(rng.integers(len(records)))
        row = list(records[index])
        if schema.event_time_column is not None:  # else: the same id again in the same file
            older = clean[schema.event_time_column].iloc[index] - timedelta(
                days=int(rng.integers(1, 60))
            )
            row[position[schema.event_time_column]] = older.strftime("%Y-%m-%dT%H:%M:%SZ")
        out.append(row)
    return out


def _json_value(token: str) -> Any:
    if token == "":
        return None
    try:
        number = float(token)
    except ValueError:
        return token
    return int(number) if number.is_integer() and "." not in token else number
