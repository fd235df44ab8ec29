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
    # Numbers and booleans, in the order of their output columns (the matrix's first
    # ``len(plain)`` columns; the derived features are its last ones).
    plain: tuple[str, ...]
    required: np.ndarray
    minimum: np.ndarray
    maximum: np.ndarray
    # Categories: name, its categories (pyarrow's value set), first one-hot column,
    # a value is required.
    categories: tuple[tuple[str, pa.Array, int, bool], ...]
    # What a missing value becomes, per number column: the plain ones, then the derived.
    fill: np.ndarray

    @classmethod
    def of(cls, transform: FeatureTransform) -> PlainCsv | None:
        """The reader for ``transform``'s features; ``None`` when a feature is of a type
        it does not settle (timestamps: the rules parse those)."""
        features = transform.schema.features
        if any(f.type is FeatureType.TIMESTAMP for f in features):
            return None
        outputs = {name: i for i, name in enumerate(transform.output_names)}
        plain = sorted(
            (f for f in features if f.type is not FeatureType.CATEGORICAL),
            key=lambda f: outputs[f.name],
        )
        if [outputs[f.name] for f in plain] != list(range(len(plain))):
            raise ValueError("the numbers and booleans are not the matrix's first columns")
        required, minimum, maximum = bounds([(not f.nullable, f.minimum, f.maximum) for f in plain])
        types = {
            f.name: pa.bool_() if f.type is FeatureType.BOOLEAN else pa.float64() for f in plain
        }
        types.update({f.name: pa.string() for f in features if f.type is FeatureType.CATEGORICAL})
        numbers = [f.name for f in plain] + [d.name for d in transform.schema.derived_features]
        return cls(
            transform=transform,
            # One thread (a serving worker scores on one). A block of 1 MiB holds a
            # 1000-record body whole: one batch, so each number column converts to
            # numpy without a concatenation.
            read_options=pa_csv.ReadOptions(
                column_names=[f.name for f in features], use_threads=False, block_size=1 << 20
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
            fill=np.array([transform.fill_value(name) for name in numbers]),
        )

    def read(self, body: str | bytes) -> np.ndarray | None:
        """The model's matrix for a plain CSV body, or ``None``: the rules must judge it."""
        data = body.encode() if isinstance(body, str) else bytes(body)
        # Quotes and "\r" are the csv module's to read (the rules'), as are odd line ends.
        if not data or data.startswith(b"\n") or b'"' in data or b"\r" in data:
            return None
        try:
            # The streaming reader: pyarrow's read_csv starts a thread on every call
            # (and swaps the process's signal handlers), which costs a serving worker
            # more than reading a 1000-record body.
            table = pa_csv.open_csv(
                pa.py_buffer(data),
                read_options=self.read_options,
                parse_options=self.parse_options,
                convert_options=self.convert_options,
            ).read_all()
        except (pa.ArrowInvalid, UnicodeDecodeError):
            return None  # a cell its type cannot hold, a wrong field count: the rules say which
        if table.num_rows == 0:
            return None
        return self._matrix(table)

    def _numbers(self, table: pa.Table) -> np.ndarray | None:
        """The number columns (plain, then derived; columns x records, float64, NaN where
        missing), or ``None`` when a value breaks its rules."""
        plain = len(self.plain)
        numbers = np.empty((len(self.fill), table.num_rows))
        nulls = np.empty(plain, dtype=np.int64)
        for index, name in enumerate(self.plain):
            column = table.column(name)
            # Booleans as 1.0 / 0.0; an empty cell (null) becomes NaN either way.
            if column.type != pa.float64():
                column = column.cast(pa.float64())
            numbers[index] = column.to_numpy(zero_copy_only=False)
            nulls[index] = column.null_count
        block = numbers[:plain]
        # pyarrow reads "nan" as a number: a NaN that is not an empty cell is refused.
        if not np.array_equal(np.count_nonzero(np.isnan(block), axis=1), nulls):
            return None
        if range_faults(block, self.required, self.minimum, self.maximum).any():
            return None
        columns = dict(zip(self.plain, block, strict=True))
        for index, spec in enumerate(self.transform.schema.derived_features):
            derive(spec, columns, out=numbers[plain + index])
        return numbers

    def _matrix(self, table: pa.Table) -> np.ndarray | None:
        numbers = self._numbers(table)
        if numbers is None:
            return None
        missing = np.isnan(numbers)
        if missing.any():
            numbers = np.where(missing, self.fill[:, None], numbers)
        rows, plain = table.num_rows, len(self.plain)
        derived = len(self.fill) - plain
        # Built in the model's layout (records x features, C order, float32): numbers
        # are rounded to float32 as FeatureTransform.encode rounds them.
        matrix = np.zeros((rows, len(self.transform.output_names)), dtype=np.float32)
        matrix[:, :plain] = numbers[:plain].T
        if derived:
            matrix[:, -derived:] = numbers[plain:].T
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
        return matrix
