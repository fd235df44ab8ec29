"""The feature transformation: one implementation for training and serving.

``FeatureTransform.fit`` learns what must come from training data only (the medians
that impute missing numeric values); everything else (feature order, category sets,
derived features) comes from the dataset schema, which is embedded in the fitted
transformation so the model artifact is self-contained.

Raw values are parsed column by column with numpy (``parse_rows``/``parse_records``)
and encoded by ``encode``. Preprocessing calls ``encode`` on curated data; the inference
hooks call ``parse_*`` then ``encode`` on request data, so there is no training/serving
skew by construction. Bad raw values raise ``InvalidInputError`` with a message that names
the record and the feature.

Output columns: numeric features, boolean features (0/1), one-hot categories (an
unknown category is rejected, a missing optional one is all zeros), derived features.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from itertools import chain, repeat
from pathlib import Path
from typing import Any

import numpy as np

from config.schema import (
    FALSE_TOKENS,
    TRUE_TOKENS,
    DatasetSchema,
    DerivedFeature,
    DerivedOp,
    Feature,
    FeatureType,
)
from features.values import (
    InvalidValueError,
    is_missing,
    number_column,
    parse_boolean,
    parse_category,
    parse_number,
)

TRANSFORM_FILE = "transform.json"
Columns = dict[str, np.ndarray]
# The exact tokens the boolean fast path maps without the value rules' trimming and casing.
_BOOL_VALUES: dict[Any, float] = {
    **{t: 1.0 for t in TRUE_TOKENS},
    **{t: 0.0 for t in FALSE_TOKENS},
    True: 1.0,
    False: 0.0,
}


class InvalidInputError(ValueError):
    """Raw input that the model cannot score; the message names the problem."""


def _invalid(row: int, feature: Feature, problem: str) -> InvalidInputError:
    return InvalidInputError(f"record {row + 1}: feature {feature.name!r} {problem}")


def _parse_each(
    feature: Feature, values: Sequence[object], parse: Callable[[object], object]
) -> list[object]:
    """Apply one value rule to every value; missing -> None (or an error if required)."""
    parsed: list[object] = []
    for row, value in enumerate(values):
        if is_missing(value):
            if not feature.nullable:
                raise _invalid(row, feature, "is required")
            parsed.append(None)
            continue
        try:
            parsed.append(parse(value))
        except InvalidValueError as exc:
            raise _invalid(row, feature, str(exc)) from None
    return parsed


def _numeric_faults(
    block: np.ndarray, required: np.ndarray, minimum: np.ndarray, maximum: np.ndarray
) -> np.ndarray:
    """Where a parsed numeric block (features x records, NaN = missing) breaks its
    features' rules: a required value missing, an infinite value, or one out of range.

    ``required``, ``minimum`` and ``maximum`` hold one entry per feature (no bound: -inf
    or inf). Comparisons with NaN are False, so a missing value is never out of range.
    """
    faults: np.ndarray = (
        (np.isnan(block) & required[:, None])
        | np.isinf(block)
        | (block < minimum[:, None])
        | (block > maximum[:, None])
    )
    return faults


def _bounds(features: Sequence[Feature]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The per-feature vectors ``_numeric_faults`` checks against."""
    return (
        np.array([not f.nullable for f in features], dtype=bool),
        np.array([-np.inf if f.minimum is None else f.minimum for f in features]),
        np.array([np.inf if f.maximum is None else f.maximum for f in features]),
    )


def _fault_message(feature: Feature, value: object, number: float) -> str:
    if np.isnan(number):
        return "is required"
    if np.isinf(number):
        return f"must be a finite number, got {value!r}"
    if feature.minimum is not None and feature.maximum is not None:
        return f"= {number:g} is outside [{feature.minimum:g}, {feature.maximum:g}]"
    return f"= {number:g} is out of range"


def _parse_numeric(feature: Feature, values: Sequence[object]) -> np.ndarray:
    parsed = number_column(values)
    if parsed is None:  # some value breaks the rules: find and name it
        numbers = _parse_each(feature, values, parse_number)
        parsed = np.array([np.nan if n is None else n for n in numbers], dtype=np.float64)
    faults = _numeric_faults(parsed[None, :], *_bounds([feature]))[0]
    if faults.any():
        row = int(np.argmax(faults))
        raise _invalid(row, feature, _fault_message(feature, values[row], parsed[row]))
    return parsed


def _parse_boolean(feature: Feature, values: Sequence[object]) -> np.ndarray:
    # Fast path: every value is an exact token (the usual "true"/"false", or JSON booleans).
    try:
        mapped = list(map(_BOOL_VALUES.get, values))
    except TypeError:  # an unhashable value (a JSON list or object): take the slow path
        mapped = [None]
    if None not in mapped:
        return np.array(mapped, dtype=np.float64)
    flags = _parse_each(feature, values, parse_boolean)
    return np.array([np.nan if f is None else float(bool(f)) for f in flags], dtype=np.float64)


def _parse_categorical(feature: Feature, values: Sequence[object]) -> np.ndarray:
    allowed = frozenset(feature.categories)
    parsed = np.empty(len(values), dtype=object)
    try:
        # Fast paths: every value is a known category as is (or, for an optional feature,
        # an empty field or a JSON null, which stand for "missing").
        if allowed.issuperset(values):
            parsed[:] = values
            return parsed
        if feature.nullable and allowed.union(("", None)).issuperset(values):
            parsed[:] = [value or None for value in values]
            return parsed
    except TypeError:  # an unhashable value (a JSON list or object): take the slow path
        pass
    parsed[:] = _parse_each(feature, values, lambda value: parse_category(value, allowed))
    return parsed


_PARSERS = {
    FeatureType.NUMERIC: _parse_numeric,
    FeatureType.BOOLEAN: _parse_boolean,
    FeatureType.CATEGORICAL: _parse_categorical,
}


def derive(
    spec: DerivedFeature, columns: Mapping[str, np.ndarray], out: np.ndarray | None = None
) -> np.ndarray:
    """One derived feature from raw numeric columns; NaN wherever it is undefined.

    Written into ``out`` when given (a column of the caller's block: no copy). The Glue
    job (``glue/derive.py``) calls this very function for the curated zone.
    """
    first = np.asarray(columns[spec.inputs[0]], dtype=np.float64)
    result = np.empty(first.shape) if out is None else out
    if spec.op is DerivedOp.BUCKET:
        # Boundaries are strictly increasing (the schema checks): the count of those <= x.
        result[...] = np.searchsorted(spec.boundaries, first, side="right")
        result[np.isnan(first)] = np.nan
        return result
    result.fill(np.nan)
    # `where=` computes only where the result is defined: no warnings to silence.
    if spec.op is DerivedOp.RATIO:
        denominator = np.asarray(columns[spec.inputs[1]], dtype=np.float64)
        np.divide(first, denominator, out=result, where=denominator != 0)
    else:
        np.log1p(first, out=result, where=first >= 0)
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
        names = [f.name for f in schema.features if f.type is FeatureType.NUMERIC]
        names += [f.name for f in schema.features if f.type is FeatureType.BOOLEAN]
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
        """Features encoded as one column each: numeric ones, then boolean ones."""
        schema = self.schema
        return [
            *(f.name for f in schema.features if f.type is FeatureType.NUMERIC),
            *(f.name for f in schema.features if f.type is FeatureType.BOOLEAN),
        ]

    @cached_property
    def _imputed_names(self) -> list[str]:
        return [*self._plain_names, *(d.name for d in self.schema.derived_features)]

    @cached_property
    def _fill(self) -> np.ndarray:
        return np.array([self.medians.get(n, 0.0) for n in self._imputed_names])

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
        return positions, _bounds([features[i] for i in positions])

    def _numeric_block(self, columns: Mapping[str, np.ndarray]) -> np.ndarray:
        """Plain features then derived ones, as float64 (NaN where missing)."""
        plain = self._plain_names
        rows = len(columns[self.schema.features[0].name])
        block = np.empty((rows, len(self._imputed_names)))  # no columns: categorical only
        for index, name in enumerate(plain):
            block[:, index] = columns[name]
        for index, spec in enumerate(self.schema.derived_features, start=len(plain)):
            derive(spec, columns, out=block[:, index])
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
        return {
            f.name: block[f.name] if f.name in block else _PARSERS[f.type](f, values)
            for f, values in zip(features, transposed, strict=True)
        }

    def _parse_numeric_block(self, transposed: Sequence[Sequence[object]]) -> np.ndarray | None:
        """Every numeric column at once (features x records), the common case of a
        request without faults; ``None`` when any value needs the per-feature path (a
        fault to name, or text such as " 5" that only the scalar rules accept)."""
        positions, bounds = self._numeric_features
        records = len(transposed[0])
        values = number_column(list(chain.from_iterable(transposed[i] for i in positions)))
        if values is None:
            return None
        block = values.reshape(len(positions), records)
        return None if _numeric_faults(block, *bounds).any() else block

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
    columns: Columns = {}
    for feature in schema.features:
        series = frame[feature.name]
        if feature.type is FeatureType.CATEGORICAL:
            columns[feature.name] = series.astype(object).where(series.notna(), None).to_numpy()
        else:
            columns[feature.name] = series.astype("float64").to_numpy()
    return columns
