"""Request bytes eight at a time, in compiled code: field ends and runs of digits.

A byte-at-a-time loop pays for a mispredicted branch at every field's end and for
every digit in turn; reading a 64-bit word and testing its eight bytes together
(SIMD within a register) pays once per word. Used by the compiled CSV pass
(``plain_csv.py``) and its number reader (``number_text.read_field``).

**Padding.** ``word_at(buffer, i)`` reads ``buffer[i : i + 8]`` with one unaligned load
and no bounds check (a check per load cost this pass a quarter of its time). So these
functions run on a ``padded`` copy of the body, with ``MARGIN`` zero bytes before and
after it: they read at most 7 bytes before a field and 7 after the body's last byte,
both inside the copy. A zero byte is neither a delimiter nor a digit, so the margins
are never mistaken for text.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from llvmlite import ir
from numba.core import types
from numba.cpython.unsafe.numbers import trailing_zeros
from numba.extending import intrinsic

from features.compiled import inlined

MARGIN = 8
_ONES = np.uint64(0x0101010101010101)
_HIGH_BITS = np.uint64(0x8080808080808080)
_COMMAS = np.uint64(0x2C2C2C2C2C2C2C2C)
_NEWLINES = np.uint64(0x0A0A0A0A0A0A0A0A)
POINTS = np.uint64(0x2E2E2E2E2E2E2E2E)
_ZEROS = np.uint64(0x3030303030303030)  # "0" in every byte
_HIGH_NIBBLES = np.uint64(0xF0F0F0F0F0F0F0F0)
_SIXES = np.uint64(0x0606060606060606)
_THREES = np.uint64(0x3333333333333333)
_ALL = np.uint64(0xFFFFFFFFFFFFFFFF)
_PAIRS = np.uint64(0x000000FF000000FF)


def padded(body: bytes) -> np.ndarray:
    """``body`` between two ``MARGIN``s of zero bytes: its positions shift by ``MARGIN``."""
    buffer = np.zeros(len(body) + 2 * MARGIN, dtype=np.uint8)
    buffer[MARGIN : MARGIN + len(body)] = np.frombuffer(body, dtype=np.uint8)
    return buffer


@intrinsic  # type: ignore[untyped-decorator]  # numba has no stubs
def _load_word(typingctx: Any, array: Any, index: Any) -> Any:
    """``array[index : index + 8]`` as one uint64 in the machine's byte order (little-endian
    on the x86 and Graviton hosts SageMaker runs on): an unaligned load, unchecked."""
    signature = types.uint64(array, index)

    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        data = context.make_array(sig.args[0])(context, builder, args[0]).data
        word = builder.bitcast(builder.gep(data, [args[1]]), ir.IntType(64).as_pointer())
        return builder.load(word, align=1)

    return signature, codegen


@inlined
def word_at(buffer: np.ndarray, i: int) -> np.uint64:
    """``buffer[i : i + 8]`` as a little-endian uint64; ``buffer`` is ``padded``."""
    return _load_word(buffer, i)  # type: ignore[no-any-return]


@inlined
def zero_bytes(word: np.uint64) -> np.uint64:
    """The high bit of each zero byte of ``word``; its lowest set bit is exact (a borrow
    can only mark bytes above a true zero byte)."""
    return (word - _ONES) & ~word & _HIGH_BITS


@inlined
def first_byte(buffer: np.ndarray, start: int, end: int, pattern: np.uint64) -> int:
    """The first position in ``[start, end)`` holding ``pattern``'s byte, else ``end``."""
    i = start
    while i < end:
        found = zero_bytes(word_at(buffer, i) ^ pattern)
        if found != np.uint64(0):
            return min(i + int(trailing_zeros(found) >> 3), end)
        i += 8
    return end


@inlined
def field_end(buffer: np.ndarray, start: int, size: int) -> int:
    """Where the field at ``start`` ends: the next "," or newline, or ``size``."""
    i = start
    while i < size:
        word = word_at(buffer, i)
        found = zero_bytes(word ^ _COMMAS) | zero_bytes(word ^ _NEWLINES)
        if found != np.uint64(0):
            return min(i + int(trailing_zeros(found) >> 3), size)
        i += 8
    return size


@inlined
def _eight_digits(word: np.uint64, count: int) -> int:
    """The number spelled by the last ``count`` (1-8) bytes of ``word`` (the bytes of
    the text that end there, in order), or -1 if one of them is not a digit."""
    keep = _ALL << np.uint64(8 * (8 - count))
    text = (word & keep) | (_ZEROS & ~keep)  # leading "0"s where other text was
    # Each byte in "0".."9": high nibble 3, and adding 6 does not carry out of the nibble.
    if (text & _HIGH_NIBBLES) | (((text + _SIXES) & _HIGH_NIBBLES) >> np.uint64(4)) != _THREES:
        return -1
    # Lemire's reduction: pairs of digits, then fours, then all eight, in 3 multiplies.
    value = text - _ZEROS
    value = value * np.uint64(10) + (value >> np.uint64(8))
    value = (
        (value & _PAIRS) * np.uint64(100 + (1000000 << 32))
        + ((value >> np.uint64(16)) & _PAIRS) * np.uint64(1 + (10000 << 32))
    ) >> np.uint64(32)
    return int(value & np.uint64(0xFFFFFFFF))


@inlined
def digit_run(buffer: np.ndarray, start: int, end: int) -> tuple[bool, np.uint64]:
    """``buffer[start:end]`` (at most 19 bytes) read as a decimal integer: (False, 0)
    if a byte is not a digit; an empty run is (True, 0)."""
    count = end - start
    if count <= 0:
        return True, np.uint64(0)
    head = count - 8 * ((count - 1) // 8)  # the first 1-8 digits, then eights
    digits = _eight_digits(word_at(buffer, start + head - 8), head)
    if digits < 0:
        return False, np.uint64(0)
    value = np.uint64(digits)
    i = start + head
    while i < end:
        digits = _eight_digits(word_at(buffer, i), 8)
        if digits < 0:
            return False, np.uint64(0)
        value = value * np.uint64(100_000_000) + np.uint64(digits)
        i += 8
    return True, value


@inlined
def same_bytes(left: np.ndarray, start: int, right: np.ndarray, other: int, length: int) -> bool:
    """``left[start : start + length] == right[other : other + length]``, a word at a
    time (both arrays padded by at least 8 bytes after those ranges)."""
    i = 0
    while i < length:
        difference = word_at(left, start + i) ^ word_at(right, other + i)
        if length - i < 8:  # the last, partial word: only its first bytes count
            difference &= _ALL >> np.uint64(8 * (8 - (length - i)))
        if difference != np.uint64(0):
            return False
        i += 8
    return True
