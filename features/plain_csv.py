"""Plain CSV requests read in one compiled pass: the fast path of ``transform_fn``.

The value rules belong to ``features/values.py`` and their judges
(``features/columns.py``); this module decides nothing they would decide differently.
It settles a body only when every cell is in a form whose meaning needs no judgement:

* a number cell made only of ``[0-9+-.eE]`` (converted by Arrow's correctly rounded
  parser, which reads that alphabet exactly as Python's ``float``; a property test
  shows it), finite and within its bounds;
* a category or boolean cell equal, byte for byte, to one of the feature's categories
  or to one of the schema's lower-case boolean tokens;
* an empty cell where the feature is nullable.

Anything else (quoting, a carriage return, an empty line, a wrong field count, a
blank to trim, another casing, a value out of range, a fault of any kind) makes
``read`` return ``None``, and the caller judges the body with the rules, which accept
it or name the fault. So this path can only be faster, never different: the tests
compare the two on arbitrary bodies.

The scan is compiled by numba and the scores are formatted by it too (``%.6f``, exactly
as Python formats them); both ship in the SageMaker XGBoost image (its requirements.txt
pins numba and pyarrow). Signatures are given, so compilation happens when this module
is imported (once per serving worker), never during a request.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from config.schema import FALSE_TOKENS, TRUE_TOKENS, FeatureType
from features.columns import range_faults
from features.transform import FeatureTransform

NUMBER, VOCABULARY = 0, 1
# |value| * 10**6 below 2**52: the fraction .5 is then exact, which the rounding needs.
_LARGEST_FORMATTED = 4.0e9
_SPLITTER = 134217729.0  # 2**27 + 1: Veltkamp's split of a double into two halves
_NUMBER_BYTES = np.zeros(256, dtype=np.bool_)
_NUMBER_BYTES[np.frombuffer(b"0123456789+-.eE", dtype=np.uint8)] = True
_NUMBER_BYTES.flags.writeable = False  # module state, so never to change
_NAN = np.frombuffer(b"nan", dtype=np.uint8)

_SCAN = numba.int64(
    numba.types.Array(numba.uint8, 1, "C", readonly=True),  # the body (the request's bytes)
    numba.int8[::1],  # each column's kind: NUMBER or VOCABULARY
    numba.int64[::1],  # each column's slot among the columns of its kind
    numba.bool_[::1],  # each column: a value is required
    numba.int64[:, ::1],  # each vocabulary column: its [first, end) entries
    numba.uint8[::1],  # the vocabulary's bytes, entry after entry
    numba.int64[:, ::1],  # each entry: [start, end) in those bytes
    numba.types.Array(numba.bool_, 1, "C", readonly=True),  # the bytes numbers hold
    numba.uint8[::1],  # out: the number cells' text, "nan" for an empty one
    numba.int32[::1],  # out: where each number cell's text ends (Arrow's offsets)
    numba.int64[:, ::1],  # out: per record and vocabulary column, the entry (-1: empty)
)


@numba.njit(_SCAN, nogil=True, cache=False)  # type: ignore[untyped-decorator]  # numba has no stubs
def _scan(  # numba compiles it to the signature above; the annotations are for readers
    body: np.ndarray,
    kinds: np.ndarray,
    slots: np.ndarray,
    required: np.ndarray,
    column_entries: np.ndarray,
    vocabulary: np.ndarray,
    entries: np.ndarray,
    number_bytes: np.ndarray,
    number_text: np.ndarray,
    number_ends: np.ndarray,
    codes: np.ndarray,
) -> int:
    """The records in ``body``, or -1 when a cell is not in a settled form. The caller
    has checked that the body holds no quote and no carriage return."""
    size = body.size
    width = kinds.size
    record = 0
    written = 0
    cell = 0
    start = 0
    while start < size:
        for column in range(width):
            last = column == width - 1
            slot = slots[column]
            end = start
            if kinds[column] == NUMBER:
                # The cell's text, copied while it is made of number bytes only.
                while end < size and number_bytes[body[end]]:
                    number_text[written] = body[end]
                    written += 1
                    end += 1
                if end == start:
                    if required[column]:
                        return -1
                    for j in range(3):
                        number_text[written + j] = _NAN[j]
                    written += 3
                cell += 1
                number_ends[cell] = written
            else:
                while end < size and body[end] != 44 and body[end] != 10:
                    end += 1
                length = end - start
                found = -1
                if length == 0:
                    if required[column]:
                        return -1
                else:
                    for entry in range(column_entries[slot, 0], column_entries[slot, 1]):
                        first = entries[entry, 0]
                        if entries[entry, 1] - first != length:
                            continue
                        same = True
                        for j in range(length):
                            if vocabulary[first + j] != body[start + j]:
                                same = False
                                break
                        if same:
                            found = entry - column_entries[slot, 0]
                            break
                    if found < 0:
                        return -1
                codes[record, slot] = found
            # The cell must end where its field does: a comma, or the record's end on
            # the last field (a newline, or the body's end).
            if end == size:
                if not last:
                    return -1
            elif body[end] != (10 if last else 44):
                return -1
            start = end + 1
        record += 1
        if start < size and body[start] == 10:
            return -1  # an empty line, which the rules skip
    return record


_FORMAT = numba.int64(numba.float64[::1], numba.bool_, numba.uint8[::1])


@numba.njit(_FORMAT, nogil=True, cache=False)  # type: ignore[untyped-decorator]  # numba has no stubs
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


@dataclass(frozen=True)
class PlainCsv:
    """A fitted transformation's CSV columns, laid out for the compiled scan."""

    transform: FeatureTransform
    kinds: np.ndarray
    slots: np.ndarray
    required: np.ndarray
    column_entries: np.ndarray
    vocabulary: np.ndarray
    entries: np.ndarray
    numbers: list[str]
    booleans: list[tuple[str, int, np.ndarray]]
    categories: list[int]

    @classmethod
    def of(cls, transform: FeatureTransform) -> PlainCsv | None:
        """The layout for ``transform``'s features; ``None`` when a feature is of a type
        the scan does not settle (timestamps: the rules parse those)."""
        features = transform.schema.features
        if any(f.type is FeatureType.TIMESTAMP for f in features):
            return None
        kinds: list[int] = []
        slots: list[int] = []
        spans: list[tuple[int, int]] = []
        words: list[bytes] = []
        numbers: list[str] = []
        booleans: list[tuple[str, int, np.ndarray]] = []
        categories: list[int] = []
        vocabulary_columns = 0
        for feature in features:
            if feature.type is FeatureType.NUMERIC:
                kinds.append(NUMBER)
                slots.append(len(numbers))
                numbers.append(feature.name)
                continue
            if feature.type is FeatureType.BOOLEAN:
                # Exact lower-case tokens only: other casings and blanks go to the rules.
                tokens = sorted(TRUE_TOKENS | FALSE_TOKENS)
                truth = [1.0 if t in TRUE_TOKENS else 0.0 for t in tokens] + [np.nan]
                booleans.append((feature.name, vocabulary_columns, np.array(truth)))
            else:
                # A category with blanks around it can never equal a trimmed value.
                tokens = [c if c == c.strip() else "" for c in feature.categories]
                categories.append(vocabulary_columns)
            kinds.append(VOCABULARY)
            slots.append(vocabulary_columns)
            vocabulary_columns += 1
            spans.append((len(words), len(words) + len(tokens)))
            words += [t.encode() for t in tokens]
        ends = np.cumsum([len(w) for w in words], dtype=np.int64)
        return cls(
            transform=transform,
            kinds=np.array(kinds, dtype=np.int8),
            slots=np.array(slots, dtype=np.int64),
            required=np.array([not f.nullable for f in features], dtype=np.bool_),
            column_entries=np.array(spans, dtype=np.int64).reshape(-1, 2),
            vocabulary=np.frombuffer(b"".join(words) or b"\0", dtype=np.uint8).copy(),
            entries=np.column_stack([ends - [len(w) for w in words], ends]).astype(np.int64)
            if words
            else np.zeros((0, 2), dtype=np.int64),
            numbers=numbers,
            booleans=booleans,
            categories=categories,
        )

    def read(self, body: bytes) -> np.ndarray | None:
        """The model's matrix for a plain CSV body, or ``None``: the rules must judge it."""
        if not body or b'"' in body or b"\r" in body or body.startswith(b"\n"):
            return None  # quoting and "\r" are the csv module's to read; empty lines skipped
        capacity = body.count(b"\n") + 1
        numbers = len(self.numbers)
        number_text = np.empty(len(body) + 3 * capacity * numbers, dtype=np.uint8)
        number_ends = np.zeros(capacity * numbers + 1, dtype=np.int32)
        codes = np.empty((capacity, max(len(self.booleans) + len(self.categories), 1)), np.int64)
        records = _scan(
            np.frombuffer(body, dtype=np.uint8), self.kinds, self.slots, self.required,
            self.column_entries, self.vocabulary, self.entries, _NUMBER_BYTES,
            number_text, number_ends, codes,
        )  # fmt: skip
        if records <= 0:
            return None
        cells = records * numbers
        text = pa.StringArray.from_buffers(
            cells,
            pa.py_buffer(number_ends[: cells + 1]),
            pa.py_buffer(number_text[: number_ends[cells]]),
        )
        try:
            parsed = pc.cast(text, pa.float64()).to_numpy()
        except pa.ArrowInvalid:  # "1.2.3", "--1", a lone "e": the rules name it
            return None
        block = parsed.reshape(records, numbers).T
        if range_faults(block, *self.transform.number_rules).any():
            return None
        columns = dict(zip(self.numbers, block, strict=True))
        codes = codes[:records]
        for name, slot, truth in self.booleans:
            columns[name] = truth[codes[:, slot]]  # -1 (empty) takes the last: NaN
        return self.transform.encode_with_codes(columns, codes[:, self.categories].T)
