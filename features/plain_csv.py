"""Plain CSV requests read in one compiled pass: the fast path of ``transform_fn``.

The value rules belong to ``features/values.py`` and their judges
(``features/columns.py``); this module decides nothing they would decide differently.
It settles a body only when every cell is in a form whose meaning needs no judgement:

* a number cell in the grammar of ``float`` restricted to the number rule's alphabet
  (``[+-]digits[.digits][e[+-]digits]``), read exactly as ``float`` reads it
  (``features/number_text.py``), and within its bounds;
* a category or boolean cell equal, byte for byte, to one of the feature's categories
  or to one of the schema's lower-case boolean tokens;
* an empty cell where the feature is nullable.

Anything else (quoting, a carriage return, an empty line, a wrong field count, a
blank to trim, another casing, a value out of range, a fault of any kind) makes
``read`` return ``None``, and the caller judges the body with the rules, which accept
it or name the fault. So this path can only be faster, never different: the tests
compare the two on arbitrary bodies.

The pass writes the model's matrix itself (numbers and booleans, a missing one as its
training median; one-hot categories), at the columns ``FeatureTransform.output_names``
gives them; a second compiled call adds the derived features, with the arithmetic the
transformation itself runs (``features/derived.py``, compiled here). The scores are
formatted by compiled code too (``%.6f``, exactly as Python formats
them). numba compiles both; it ships in the SageMaker XGBoost image (its
requirements.txt pins it). Signatures are given, so compilation happens when this
module is imported (once per serving worker), never during a request.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from config.schema import FALSE_TOKENS, TRUE_TOKENS, FeatureType
from features.byte_words import MARGIN, field_end, padded, same_bytes
from features.columns import bounds
from features.compiled import CACHE, inlined
from features.derived import OP_CODES, derive_values
from features.number_text import POWERS, READ, read_field
from features.transform import FeatureTransform

NUMBER, BOOLEAN, CATEGORY = 0, 1, 2
# |value| * 10**6 below 2**52: the fraction .5 is then exact, which the rounding needs.
_LARGEST_FORMATTED = 4.0e9
_SPLITTER = 134217729.0  # 2**27 + 1: Veltkamp's split of a double into two halves

_SHARED = -2


@inlined
def _key(length: int, first: int, last: int) -> int:
    """A vocabulary cell's bucket: its length and its first and last bytes, mixed."""
    return (length * 31 + first * 7 + last) & 255


@inlined
def _equal(
    body: np.ndarray, start: int, end: int, vocabulary: np.ndarray, first: int, stop: int
) -> bool:
    return stop - first == end - start and same_bytes(body, start, vocabulary, first, end - start)


_SCAN = numba.int64(
    numba.uint8[::1],  # the request's body, byte_words.padded
    numba.int8[::1],  # each column's kind: NUMBER, BOOLEAN or CATEGORY
    numba.int64[::1],  # each column's slot among the columns of its kind
    numba.bool_[::1],  # each column: a value is required
    numba.float64[::1],  # each column's smallest allowed number (-inf: none)
    numba.float64[::1],  # each column's largest allowed number (inf: none)
    numba.int64[::1],  # each column's matrix column (categories: its first one-hot one)
    numba.float64[::1],  # each column's training median, for a missing value
    numba.int64[:, ::1],  # each column's [first, end) vocabulary entries
    numba.int32[:, ::1],  # each column: per _key, its entry (-1: none, _SHARED: several)
    numba.uint8[::1],  # the vocabulary's bytes, entry after entry
    numba.int64[:, ::1],  # each entry: [start, end) in those bytes
    numba.float64[::1],  # each entry's boolean value (booleans' entries)
    numba.types.Array(numba.uint64, 2, "C", readonly=True),  # number_text.POWERS
    numba.float64[:, ::1],  # out: raw numbers and booleans, one row per column (NaN: empty)
    numba.float32[:, ::1],  # out: the model's matrix, zeros to start with (one-hot)
)


@numba.njit(_SCAN, nogil=True, cache=CACHE)  # type: ignore[untyped-decorator]  # numba has no stubs
def _scan(  # numba compiles it to the signature above; the annotations are for readers
    body: np.ndarray,
    kinds: np.ndarray,
    slots: np.ndarray,
    required: np.ndarray,
    minimum: np.ndarray,
    maximum: np.ndarray,
    targets: np.ndarray,
    medians: np.ndarray,
    column_entries: np.ndarray,
    lookup: np.ndarray,
    vocabulary: np.ndarray,
    entries: np.ndarray,
    truth: np.ndarray,
    powers: np.ndarray,
    raw: np.ndarray,
    matrix: np.ndarray,
) -> int:
    """The records in ``body`` (padded) written into ``matrix`` (and ``raw``), or -1
    when a cell is not in a settled form. The caller has checked that the body holds no
    quote and no carriage return."""
    size = body.size - MARGIN  # where the request's bytes end
    width = kinds.size
    record = 0
    start = MARGIN
    while start < size:
        for column in range(width):
            kind = kinds[column]
            target = targets[column]
            end = field_end(body, start, size)
            if end == start:  # an empty field: missing
                if required[column]:
                    return -1
                if kind != CATEGORY:  # a missing category is no one-hot column at all
                    raw[slots[column], record] = np.nan
                    matrix[record, target] = medians[column]
            elif kind == NUMBER:
                status, value = read_field(body, start, end, powers)
                if status != READ or not (minimum[column] <= value <= maximum[column]):
                    return -1
                raw[slots[column], record] = value
                matrix[record, target] = value
            else:
                found = lookup[column, _key(end - start, body[start], body[end - 1])]
                if found == _SHARED:  # two entries share the key: try each
                    for entry in range(column_entries[column, 0], column_entries[column, 1]):
                        if _equal(
                            body, start, end, vocabulary, entries[entry, 0], entries[entry, 1]
                        ):
                            found = entry
                            break
                    else:
                        return -1
                elif found < 0 or not _equal(
                    body, start, end, vocabulary, entries[found, 0], entries[found, 1]
                ):
                    return -1
                if kind == BOOLEAN:
                    raw[slots[column], record] = truth[found]
                    matrix[record, target] = truth[found]
                else:
                    matrix[record, target + found - column_entries[column, 0]] = 1.0
            # The field must end where the record does exactly on the last column.
            if end == size or body[end] == 10:
                if column != width - 1:
                    return -1
            elif column == width - 1:
                return -1
            start = end + 1
        record += 1
        if start < size and body[start] == 10:
            return -1  # an empty line, which the rules skip
    return record


_derive_values = numba.njit(nogil=True, cache=CACHE)(derive_values)

_DERIVE = numba.void(
    numba.int64,  # the records read
    numba.int64[::1],  # each derived feature's operation (features/derived.py)
    numba.int64[:, ::1],  # each: its inputs' rows in raw (one-input operations: twice)
    numba.float64[::1],  # the buckets' boundaries, one feature's after another's
    numba.int64[:, ::1],  # each: [start, end) of its boundaries
    numba.float64[::1],  # each: its training median, for an undefined value
    numba.float64[:, ::1],  # raw numbers and booleans, one row per column (_scan's)
    numba.float32[:, ::1],  # out: the model's matrix, the derived features its last columns
)


@numba.njit(_DERIVE, nogil=True, cache=CACHE)  # type: ignore[untyped-decorator]  # numba has no stubs
def _derive(  # numba compiles it to the signature above; the annotations are for readers
    records: int,
    ops: np.ndarray,
    inputs: np.ndarray,
    boundaries: np.ndarray,
    spans: np.ndarray,
    fill: np.ndarray,
    raw: np.ndarray,
    matrix: np.ndarray,
) -> None:
    """The derived features of the first ``records`` records into ``matrix``'s last
    columns, an undefined one as its training median (``FeatureTransform.encode``)."""
    first_column = matrix.shape[1] - ops.size
    values = np.empty(records)
    for k in range(ops.size):
        _derive_values(
            ops[k],
            raw[inputs[k, 0], :records],
            raw[inputs[k, 1], :records],
            boundaries[spans[k, 0] : spans[k, 1]],
            values,
        )
        for record in range(records):
            value = values[record]
            matrix[record, first_column + k] = fill[k] if np.isnan(value) else value


_FORMAT = numba.int64(numba.float64[::1], numba.bool_, numba.uint8[::1])


@numba.njit(_FORMAT, nogil=True, cache=CACHE)  # type: ignore[untyped-decorator]  # numba has no stubs
def _format(scores: np.ndarray, with_label: bool, out: np.ndarray) -> int:
    """``"%.6f\\n"`` (or ``"%.6f,%d\\n"`` with the 0/1 label at 0.5) per score into
    ``out``; the bytes written, or -1 for a score this formatting does not cover."""
    written = 0
    for value in scores:
        if not np.isfinite(value) or abs(value) >= _LARGEST_FORMATTED:
            return -1
        magnitude = abs(value)
        # value * 10**6 rounded half to even, as the exact decimal would be: the product
        # is rounded once, so only a product ending in exactly .5 can be on the wrong
        # side, and the exact error of the product (Dekker) says which side it is on.
        product = magnitude * 1e6
        scaled = magnitude * _SPLITTER
        high = scaled - (scaled - magnitude)
        low = magnitude - high
        error = (high * 1e6 - product) + low * 1e6
        floor = np.floor(product)
        if product - floor == 0.5 and error != 0.0:
            units = np.int64(floor) + (1 if error > 0.0 else 0)
        else:
            units = np.int64(np.rint(product))
        if np.signbit(value):
            out[written] = 45  # "-", "-0.000000" included, as Python writes it
            written += 1
        whole = units // 1_000_000
        digits = 1
        while whole >= 10**digits:
            digits += 1
        for j in range(digits - 1, -1, -1):
            out[written + j] = 48 + whole % 10
            whole //= 10
        written += digits
        out[written] = 46  # "."
        fraction = units % 1_000_000
        for j in range(6, 0, -1):
            out[written + j] = 48 + fraction % 10
            fraction //= 10
        written += 7
        if with_label:
            out[written] = 44
            out[written + 1] = 49 if value >= 0.5 else 48
            written += 2
        out[written] = 10
        written += 1
    return written


def format_scores(scores: np.ndarray, with_label: bool) -> bytes | None:
    """One ``%.6f`` line per score (``,<0/1 label>`` appended with ``with_label``),
    byte for byte what Python's ``%`` formatting gives; ``None`` when a score is not
    finite or too large (``|score| >= 4e9``) for this formatting."""
    values = np.ascontiguousarray(scores, dtype=np.float64)
    out = np.empty(values.size * 32, dtype=np.uint8)  # 10 whole digits at most: ample
    written = _format(values, with_label, out)
    return None if written < 0 else out[:written].tobytes()


def _spans(lengths: list[int]) -> np.ndarray:
    """``[start, end)`` of each of consecutive runs of these lengths, one row per run."""
    sizes = np.array(lengths, dtype=np.int64)
    ends = np.cumsum(sizes)
    return np.column_stack([ends - sizes, ends]).reshape(-1, 2)


@dataclass(frozen=True)
class PlainCsv:
    """A fitted transformation's CSV columns, laid out for the compiled scan."""

    transform: FeatureTransform
    kinds: np.ndarray
    slots: np.ndarray
    required: np.ndarray
    minimum: np.ndarray
    maximum: np.ndarray
    targets: np.ndarray
    medians: np.ndarray
    column_entries: np.ndarray
    lookup: np.ndarray
    vocabulary: np.ndarray
    entries: np.ndarray
    truth: np.ndarray
    raw_names: list[str]
    derived_ops: np.ndarray
    derived_inputs: np.ndarray
    boundaries: np.ndarray
    boundary_spans: np.ndarray
    derived_fill: np.ndarray

    @classmethod
    def of(cls, transform: FeatureTransform) -> PlainCsv | None:
        """The layout for ``transform``'s features; ``None`` when a feature is of a type
        the scan does not settle (timestamps: the rules parse those)."""
        features = transform.schema.features
        if any(f.type is FeatureType.TIMESTAMP for f in features):
            return None
        outputs = {name: i for i, name in enumerate(transform.output_names)}
        kinds: list[int] = []
        raw_names: list[str] = []
        slots: list[int] = []
        targets: list[int] = []
        spans: list[tuple[int, int]] = []
        words: list[bytes] = []
        truth: list[float] = []
        for feature in features:
            tokens: list[str] = []
            if feature.type is FeatureType.CATEGORICAL:
                # A category with blanks around it can never equal a trimmed value.
                tokens = [c if c == c.strip() else "" for c in feature.categories]
                kinds.append(CATEGORY)
                slots.append(-1)
                targets.append(outputs[f"{feature.name}={feature.categories[0]}"])
            else:
                if feature.type is FeatureType.BOOLEAN:
                    # Exact lower-case tokens only: other casings and blanks go to the rules.
                    tokens = sorted(TRUE_TOKENS | FALSE_TOKENS)
                kinds.append(BOOLEAN if tokens else NUMBER)
                slots.append(len(raw_names))
                raw_names.append(feature.name)
                targets.append(outputs[feature.name])
            spans.append((len(words), len(words) + len(tokens)))
            words += [t.encode() for t in tokens]
            truth += [1.0 if t in TRUE_TOKENS else 0.0 for t in tokens]
        lookup = np.full((len(features), 256), -1, dtype=np.int32)
        for column, (first, end) in enumerate(spans):
            for entry in range(first, end):
                word = words[entry]
                if word:  # an empty word (a blank-padded category) matches no cell
                    key = _key(len(word), word[0], word[-1])
                    lookup[column, key] = entry if lookup[column, key] == -1 else _SHARED
        derived = transform.schema.derived_features
        required, minimum, maximum = bounds(
            [(not f.nullable, f.minimum, f.maximum) for f in features]
        )
        return cls(
            transform=transform,
            kinds=np.array(kinds, dtype=np.int8),
            slots=np.array(slots, dtype=np.int64),
            required=required,
            minimum=minimum,
            maximum=maximum,
            targets=np.array(targets, dtype=np.int64),
            medians=np.array([transform.fill_value(f.name) for f in features]),
            column_entries=np.array(spans, dtype=np.int64).reshape(-1, 2),
            lookup=lookup,
            vocabulary=padded(b"".join(words))[MARGIN:],  # same_bytes reads whole words
            entries=_spans([len(w) for w in words]),
            truth=np.array(truth, dtype=np.float64),
            raw_names=raw_names,
            derived_ops=np.array([OP_CODES[d.op] for d in derived], dtype=np.int64),
            derived_inputs=np.array(
                [[raw_names.index(d.inputs[0]), raw_names.index(d.inputs[-1])] for d in derived],
                dtype=np.int64,
            ).reshape(-1, 2),
            boundaries=np.array([b for d in derived for b in d.boundaries], dtype=np.float64),
            boundary_spans=_spans([len(d.boundaries) for d in derived]),
            derived_fill=np.array([transform.fill_value(d.name) for d in derived]),
        )

    def read(self, body: bytes) -> np.ndarray | None:
        """The model's matrix for a plain CSV body, or ``None``: the rules must judge it."""
        if not body or b'"' in body or b"\r" in body or body.startswith(b"\n"):
            return None  # quoting and "\r" are the csv module's to read; empty lines skipped
        buffer = padded(body)
        capacity = np.count_nonzero(buffer == 10) + 1  # vectorised: bytes.count is not
        raw = np.empty((len(self.raw_names), capacity))
        matrix = np.zeros((capacity, len(self.transform.output_names)), dtype=np.float32)
        records = _scan(
            buffer, self.kinds, self.slots, self.required,
            self.minimum, self.maximum, self.targets, self.medians, self.column_entries,
            self.lookup, self.vocabulary, self.entries, self.truth, POWERS, raw, matrix,
        )  # fmt: skip
        if records <= 0:
            return None
        if self.derived_ops.size:
            _derive(
                records, self.derived_ops, self.derived_inputs, self.boundaries,
                self.boundary_spans, self.derived_fill, raw, matrix,
            )  # fmt: skip
        return matrix[:records]
