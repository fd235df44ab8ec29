"""Plain CSV requests read by pyarrow's CSV reader: the fast path of ``transform_fn``.

The value rules belong to ``features/values.py`` and their judges
(``features/columns.py``); this module decides nothing they would decide differently.
pyarrow reads the body in C, typed per column (numbers as float64, booleans from the
schema's exact lower-case tokens, categories as text), and the result is kept only when
every cell is in a form whose meaning needs no judgement:

* a number cell that pyarrow reads as a finite number (its reader rounds exactly as
  ``float`` does; it also reads ``nan`` and ``inf``, which the rules refuse, so any NaN
  that is not an empty cell, and any infinity, sends the body to the rules), within its
  bounds;
* a boolean cell equal to one of the schema's lower-case tokens;
* a category cell equal, as is, to one of the feature's categories;
* an empty cell where the feature is nullable.

Anything else (a quote, a carriage return, a wrong field count, a blank-only line,
another casing, a blank inside a category, a value out of range, any fault) makes
``read`` return ``None``, and the caller judges the body with the rules, which accept it
or name the fault. So this path can only be faster, never different:
``tests/unit/test_plain_csv.py`` compares the two on arbitrary bodies. pyarrow ships in
the SageMaker XGBoost image (22.0.0 in 3.2-0), so the path costs the container nothing
at start: there is nothing to compile.

The matrix is laid out as ``FeatureTransform.encode`` lays it out (the columns of
``output_names``, a missing value as its training median, categories one-hot, derived
features from ``features.transform.derive``, the transformation's own arithmetic).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from config.schema import FALSE_TOKENS, TRUE_TOKENS, FeatureType
from features.columns import bounds, range_faults
from features.transform import FeatureTransform, derive


@dataclass(frozen=True)
class PlainCsv:
    """A fitted transformation's CSV columns, with the reader's options built once."""

    transform: FeatureTransform
    read_options: pa_csv.ReadOptions
    parse_options: pa_csv.ParseOptions
    convert_options: pa_csv.ConvertOptions
    # Numbers and booleans: names (schema order), and each one's output column.
    plain: tuple[str, ...]
    plain_outputs: np.ndarray
    required: np.ndarray
    minimum: np.ndarray
    maximum: np.ndarray
    # Categories: name, its categories (pyarrow's value set), first one-hot column,
    # a value is required.
    categories: tuple[tuple[str, pa.Array, int, bool], ...]
    fill: np.ndarray

    @classmethod
    def of(cls, transform: FeatureTransform) -> PlainCsv | None:
        """The reader for ``transform``'s features; ``None`` when a feature is of a type
        it does not settle (timestamps: the rules parse those)."""
        features = transform.schema.features
        if any(f.type is FeatureType.TIMESTAMP for f in features):
            return None
        outputs = {name: i for i, name in enumerate(transform.output_names)}
        plain = [f for f in features if f.type is not FeatureType.CATEGORICAL]
        required, minimum, maximum = bounds([(not f.nullable, f.minimum, f.maximum) for f in plain])
        types = {
            f.name: pa.bool_() if f.type is FeatureType.BOOLEAN else pa.float64() for f in plain
        }
        types.update({f.name: pa.string() for f in features if f.type is FeatureType.CATEGORICAL})
        return cls(
            transform=transform,
            # One thread (a serving worker scores on one); blocks of 64 KiB, where the
            # default 1 MiB block made the reader's setup cost more than a small body.
            read_options=pa_csv.ReadOptions(
                column_names=[f.name for f in features], use_threads=False, block_size=1 << 16
            ),
            parse_options=pa_csv.ParseOptions(quote_char=False, double_quote=False),
            convert_options=pa_csv.ConvertOptions(
                column_types=types,
                null_values=[""],
                strings_can_be_null=True,
                true_values=sorted(TRUE_TOKENS),
                false_values=sorted(FALSE_TOKENS),
            ),
            plain=tuple(f.name for f in plain),
            plain_outputs=np.array([outputs[f.name] for f in plain], dtype=np.intp),
            required=required,
            minimum=minimum,
            maximum=maximum,
            categories=tuple(
                (
                    f.name,
                    pa.array(f.categories, type=pa.string()),
                    outputs[f"{f.name}={f.categories[0]}"],
                    not f.nullable,
                )
                for f in features
                if f.type is FeatureType.CATEGORICAL
            ),
            fill=np.array([transform.fill_value(name) for name in transform.output_names]),
        )

    def read(self, body: str | bytes) -> np.ndarray | None:
        """The model's matrix for a plain CSV body, or ``None``: the rules must judge it."""
        data = body.encode() if isinstance(body, str) else bytes(body)
        # Quotes and "\r" are the csv module's to read (the rules'), as are odd line ends.
        if not data or data.startswith(b"\n") or b'"' in data or b"\r" in data:
            return None
        try:
            table = pa_csv.read_csv(
                pa.py_buffer(data),
                read_options=self.read_options,
                parse_options=self.parse_options,
                convert_options=self.convert_options,
            )
        except (pa.ArrowInvalid, UnicodeDecodeError):
            return None  # a cell its type cannot hold, a wrong field count: the rules say which
        if table.num_rows == 0:
            return None
        return self._matrix(table)

    def _matrix(self, table: pa.Table) -> np.ndarray | None:
        rows = table.num_rows
        block = np.empty((len(self.plain), rows))
        nulls = np.empty(len(self.plain), dtype=np.int64)
        for index, name in enumerate(self.plain):
            # Booleans as 1.0 / 0.0; an empty cell (null) becomes NaN either way.
            column = table.column(name).cast(pa.float64())
            block[index] = column.to_numpy(zero_copy_only=False)
            nulls[index] = column.null_count
        # pyarrow reads "nan" as a number: a NaN that is not an empty cell is refused.
        if not np.array_equal(np.count_nonzero(np.isnan(block), axis=1), nulls):
            return None
        if range_faults(block, self.required, self.minimum, self.maximum).any():
            return None
        matrix = np.zeros((rows, len(self.fill)))
        matrix[:, self.plain_outputs] = block.T
        for name, value_set, first, required in self.categories:
            column = table.column(name)
            codes = pc.index_in(column, value_set=value_set)
            if codes.null_count != (0 if required else column.null_count):
                return None  # an unknown category, or a required one missing
            if codes.null_count:  # missing ones (nullable): no column set
                positions = codes.to_numpy(zero_copy_only=False)
                present = np.flatnonzero(~np.isnan(positions))
                matrix[present, first + positions[present].astype(np.intp)] = 1.0
            else:
                positions = codes.to_numpy(zero_copy_only=False).astype(np.intp)
                matrix[np.arange(rows), first + positions] = 1.0
        self._derive(dict(zip(self.plain, block, strict=True)), matrix)
        missing = np.isnan(matrix)
        if missing.any():
            matrix = np.where(missing, self.fill, matrix)
        return matrix.astype(np.float32)

    def _derive(self, columns: Mapping[str, np.ndarray], matrix: np.ndarray) -> None:
        derived = self.transform.schema.derived_features
        if not derived:
            return
        start = len(self.fill) - len(derived)
        for index, spec in enumerate(derived):
            matrix[:, start + index] = derive(spec, columns)
