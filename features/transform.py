"""The feature transformation: one implementation for training and serving.

``FeatureTransform.fit`` learns what must come from training data only (the medians
that impute missing numeric values); everything else (feature order, category sets,
derived features) comes from the dataset schema, which is embedded in the fitted
transformation so the model artifact is self-contained.

Raw values are judged column by column by ``features/columns.py`` (the judges the ETL
calls too; ``parse_rows``/``parse_records``) and encoded by ``encode``. Preprocessing
calls ``encode`` on curated data; the inference hooks call ``parse_*`` then ``encode``
on request data, so there is no training/serving skew by construction. Bad raw values
raise ``InvalidInputError`` with a message that names the record and the feature.

Output columns: numeric features, boolean features (0/1), the parts of each timestamp
feature (``<name>.hour``, ``.day_of_week``, ``.month``, ``.days``: see
``TIMESTAMP_PARTS``; computed here only), one-hot categories (an unknown category is
rejected, a missing optional one is all zeros), derived features. Missing numbers,
booleans and timestamp parts are imputed with the training medians.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from itertools import chain, repeat
from pathlib import Path
from typing import Any

import numpy as np

from config.schema import (
    DatasetSchema,
    DerivedFeature,
    Feature,
    FeatureType,
)
from features.columns import Judge, Judged, bounds, feature_judge, range_faults
from features.derived import OP_CODES, derive_values
from features.values import number_column

TRANSFORM_FILE = "transform.json"
Columns = dict[str, np.ndarray]
# The numbers the model sees for a timestamp feature (UTC), named "<feature>.<part>":
# the hour (0-23) and day of week (0 = Monday) carry daily and weekly patterns, the
# month (1-12) seasons, and the days since 1970-01-01 (fractional) the trend.
TIMESTAMP_PARTS = ("hour", "day_of_week", "month", "days")
_MICROS_PER_HOUR = 3_600_000_000
_MICROS_PER_DAY = 24 * _MICROS_PER_HOUR


class InvalidInputError(ValueError):
    """Raw input that the model cannot score; the message names the problem."""


def _first_fault(feature: Feature, judged: Judged) -> InvalidInputError:
    """The error naming a column's first fault: its record, the feature, the rule's words."""
    row, message = judged.first_fault()  # type: ignore[misc]  # the caller saw faults
    return InvalidInputError(f"record {row + 1}: feature {feature.name!r} {message}")


def timestamp_parts(instants: np.ndarray, out: np.ndarray) -> None:
    """Write ``TIMESTAMP_PARTS`` of UTC ``datetime64`` values into the columns of ``out``
    (rows x 4); NaN where the time is missing."""
    micros = instants.astype("datetime64[us]").astype(np.int64)
    days = np.floor_divide(micros, _MICROS_PER_DAY)
    out[:, 0] = np.floor_divide(micros, _MICROS_PER_HOUR) % 24
    out[:, 1] = (days + 3) % 7  # 1970-01-01 was a Thursday
    out[:, 2] = instants.astype("datetime64[M]").astype(np.int64) % 12 + 1
    out[:, 3] = micros / _MICROS_PER_DAY
    out[np.isnat(instants)] = np.nan


def derive(
    spec: DerivedFeature, columns: Mapping[str, np.ndarray], out: np.ndarray | None = None
) -> np.ndarray:
    """One derived feature from raw numeric columns; NaN wherever it is undefined.

    Written into ``out`` when given (a column of the caller's block: no copy). The Glue
    job (``glue/derive.py``) calls this very function for the curated zone; the
    arithmetic is ``features/derived.py``'s, which the compiled CSV pass compiles.
    """
    first = np.asarray(columns[spec.inputs[0]], dtype=np.float64)
    second = (
        np.asarray(columns[spec.inputs[1]], dtype=np.float64) if len(spec.inputs) > 1 else first
    )
    result = np.empty(first.shape) if out is None else out
    derive_values(
        OP_CODES[spec.op], first, second, np.asarray(spec.boundaries, dtype=np.float64), result
    )
    return result


@dataclass(frozen=True)
class FeatureTransform:
    """A fitted transformation: the dataset schema plus training-set medians."""

    schema_data: Mapping[str, Any]
    medians: Mapping[str, float] = field(default_factory=dict)

    @cached_property
    def schema(self) -> DatasetSchema:
        return DatasetSchema.from_dict(self.schema_data)

    @cached_property
    def output_names(self) -> list[str]:
        """Names of the encoded columns, in the order of ``encode``'s output."""
        schema = self.schema
        names = list(self._plain_names)
        for feature in schema.features:
            if feature.type is FeatureType.CATEGORICAL:
                names += [f"{feature.name}={category}" for category in feature.categories]
        names += [d.name for d in schema.derived_features]
        return names

    @classmethod
    def fit(
        cls, schema_data: Mapping[str, Any], columns: Mapping[str, np.ndarray]
    ) -> FeatureTransform:
        """Learn the imputation medians from training columns (raw features, typed)."""
        unfitted = cls(schema_data=schema_data)
        raw = unfitted._numeric_block(columns)
        medians = {}
        for index, name in enumerate(unfitted._imputed_names):
            values = raw[:, index]
            values = values[~np.isnan(values)]
            medians[name] = float(np.median(values)) if values.size else 0.0
        return cls(schema_data=schema_data, medians=medians)

    @cached_property
    def _plain_names(self) -> list[str]:
        """Columns taken from one feature each: numeric features, boolean features, then
        each timestamp feature's parts."""
        schema = self.schema
        return [
            *(f.name for f in schema.features if f.type is FeatureType.NUMERIC),
            *(f.name for f in schema.features if f.type is FeatureType.BOOLEAN),
            *(f"{name}.{part}" for name in self._timestamps for part in TIMESTAMP_PARTS),
        ]

    @cached_property
    def _judges(self) -> list[Judge]:
        """Each feature's column judge, in schema order."""
        return [feature_judge(f) for f in self.schema.features]

    @cached_property
    def _timestamps(self) -> list[str]:
        return [f.name for f in self.schema.features if f.type is FeatureType.TIMESTAMP]

    @cached_property
    def _imputed_names(self) -> list[str]:
        return [*self._plain_names, *(d.name for d in self.schema.derived_features)]

    @cached_property
    def _fill(self) -> np.ndarray:
        return np.array([self.fill_value(n) for n in self._imputed_names])

    def fill_value(self, name: str) -> float:
        """What a missing value of the numeric column ``name`` becomes: its training
        median (0 for a column training never saw)."""
        return self.medians.get(name, 0.0)

    @cached_property
    def _categories(self) -> list[tuple[str, dict[object, int]]]:
        """Per categorical feature: its name and each category's position in its list."""
        return [
            (f.name, {category: i for i, category in enumerate(f.categories)})
            for f in self.schema.features
            if f.type is FeatureType.CATEGORICAL
        ]

    @cached_property
    def _one_hot_columns(self) -> tuple[np.ndarray, np.ndarray]:
        """For each one-hot output column: its categorical feature (position in
        ``_categories``) and the category's position in that feature's list."""
        owners = [i for i, (_, codes) in enumerate(self._categories) for _ in codes]
        positions = [position for _, codes in self._categories for position in codes.values()]
        return np.array(owners, dtype=np.intp), np.array(positions, dtype=np.intp)

    @cached_property
    def _numeric_features(self) -> tuple[list[int], tuple[np.ndarray, ...]]:
        """Schema positions of the numeric features, and their rules as vectors."""
        features = self.schema.features
        positions = [i for i, f in enumerate(features) if f.type is FeatureType.NUMERIC]
        numeric = [features[i] for i in positions]
        return positions, bounds([(not f.nullable, f.minimum, f.maximum) for f in numeric])

    def _numeric_block(self, columns: Mapping[str, np.ndarray]) -> np.ndarray:
        """Plain features then derived ones, as float64 (NaN where missing)."""
        plain = self._plain_names
        rows = len(columns[self.schema.features[0].name])
        block = np.empty((rows, len(self._imputed_names)))  # no columns: categorical only
        single = len(plain) - len(TIMESTAMP_PARTS) * len(self._timestamps)
        for index, name in enumerate(plain[:single]):
            block[:, index] = columns[name]
        for index, name in enumerate(self._timestamps):
            start = single + index * len(TIMESTAMP_PARTS)
            timestamp_parts(columns[name], block[:, start : start + len(TIMESTAMP_PARTS)])
        for index, spec in enumerate(self.schema.derived_features):
            derive(spec, columns, out=block[:, len(plain) + index])
        return block

    def encode(self, columns: Mapping[str, np.ndarray]) -> np.ndarray:
        """Typed raw columns -> the model's float32 matrix (imputed, one-hot, derived)."""
        numeric = self._numeric_block(columns)
        missing = np.isnan(numeric)
        if missing.any():
            numeric = np.where(missing, self._fill, numeric)
        rows, plain = numeric.shape[0], len(self._plain_names)
        owners, positions = self._one_hot_columns
        # Each category's position per record; -1 (a missing value) matches no column.
        codes = np.array(
            [list(map(lookup.get, columns[name], repeat(-1))) for name, lookup in self._categories],
            dtype=np.intp,
        ).reshape(len(self._categories), rows)
        one_hot = positions == codes[owners].T
        return np.hstack((numeric[:, :plain], one_hot, numeric[:, plain:]), dtype=np.float32)

    def parse_rows(self, rows: Sequence[Sequence[object]]) -> Columns:
        """Rows of raw values in schema feature order (CSV, JSON lists) -> typed columns."""
        features = self.schema.features
        width = len(features)
        if rows and set(map(len, rows)) != {width}:
            number, row = next((n, r) for n, r in enumerate(rows, start=1) if len(r) != width)
            raise InvalidInputError(
                f"record {number}: expected {width} values "
                f"({', '.join(self.schema.feature_names)}), got {len(row)}"
            )
        transposed = list(zip(*rows, strict=True)) if rows else [()] * width
        numeric = self._parse_numeric_block(transposed)
        positions = self._numeric_features[0]
        block = (
            {}
            if numeric is None
            else {features[p].name: v for p, v in zip(positions, numeric, strict=True)}
        )
        # Schema order, so the first fault named is the first feature's, as it would be
        # feature by feature (the numeric block, when there is one, holds none).
        columns: Columns = {}
        for feature, judge, values in zip(features, self._judges, transposed, strict=True):
            if feature.name in block:
                columns[feature.name] = block[feature.name]
                continue
            judged = judge(values)
            if judged.faults:
                raise _first_fault(feature, judged)
            columns[feature.name] = judged.values
        return columns

    def _parse_numeric_block(self, transposed: Sequence[Sequence[object]]) -> np.ndarray | None:
        """Every numeric column at once (features x records), the common case of a
        request without faults; ``None`` when any value needs the per-feature path (a
        fault to name, or text such as " 5" that only the scalar rules accept)."""
        positions, rules = self._numeric_features
        records = len(transposed[0])
        values = number_column(list(chain.from_iterable(transposed[i] for i in positions)))
        if values is None:
            return None
        block = values.reshape(len(positions), records)
        return None if range_faults(block, *rules).any() else block

    def parse_records(self, records: Sequence[Mapping[str, object]]) -> Columns:
        """Records keyed by feature name (JSON objects) -> typed columns."""
        names = self.schema.feature_names
        known = set(names)
        for number, record in enumerate(records, start=1):
            unknown = [key for key in record if key not in known]
            if unknown:
                raise InvalidInputError(
                    f"record {number}: unknown feature(s) {unknown}; expected {names}"
                )
        return self.parse_rows([[record.get(name) for name in names] for record in records])

    def save(self, directory: Path) -> Path:
        path = directory / TRANSFORM_FILE
        path.write_text(
            json.dumps({"schema": self.schema_data, "medians": dict(self.medians)}, indent=2)
        )
        return path

    @classmethod
    def load(cls, directory: Path) -> FeatureTransform:
        data = json.loads((directory / TRANSFORM_FILE).read_text())
        return cls(schema_data=data["schema"], medians=data["medians"])


def frame_columns(schema: DatasetSchema, frame: Any) -> Columns:
    """Typed columns from a curated (pandas) frame, as ``encode`` expects them."""
    import pandas as pd  # here only: the serving path never reads a frame

    columns: Columns = {}
    for feature in schema.features:
        series = frame[feature.name]
        if feature.type is FeatureType.CATEGORICAL:
            columns[feature.name] = series.astype(object).where(series.notna(), None).to_numpy()
        elif feature.type is FeatureType.TIMESTAMP:
            columns[feature.name] = (
                pd.to_datetime(series, utc=True)
                .dt.tz_localize(None)
                .to_numpy(dtype="datetime64[us]")
            )
        else:
            columns[feature.name] = series.astype("float64").to_numpy()
    return columns
