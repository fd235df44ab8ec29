"""Decimal text to float64 in compiled code, correctly rounded, as Python's ``float``.

``read_number`` reads ``[+-]digits[.digits][(e|E)[+-]digits]`` (digits on at least one
side of the point) from a byte array, the grammar of ``float`` restricted to the number
rule's alphabet (``features/values.py``), and gives the nearest double, ties to even:

* Clinger's fast path when the significand fits 53 bits and the power of ten is exact
  (|exponent| <= 22): one IEEE multiplication or division, so one rounding;
* otherwise the Eisel-Lemire algorithm (Lemire, "Number Parsing at a Gigabyte per
  Second", 2021; the form of Go's ``strconv``) against 128-bit truncated powers of ten
  computed here with Python's exact integers.

A request's field goes to ``read_field``: its usual form, ``[-]digits[.digits]`` with at
most 19 digits, is read eight digits at a time (``features/byte_words.py``), anything
else by ``read_number_at``, which reads byte by byte and hands more than 19 digits to
``read_number``.

It declines (``DECLINED``) rather than guess: more than 19 significant digits, a result
outside the normal range, the rare products Eisel-Lemire cannot round, and any text
outside the grammar. A declined cell is left to the rules. ``tests/unit/test_number_text.py``
compares it with ``float`` on random and adversarial text.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from llvmlite import ir
from numba.core import types
from numba.cpython.unsafe.numbers import leading_zeros
from numba.extending import intrinsic

from features.byte_words import MARGIN, POINTS, digit_run, first_byte, padded
from features.compiled import compiled, inlined

DECLINED, READ = 0, 1
LOWEST_POWER, HIGHEST_POWER = -348, 347


def _truncated_power(exponent: int) -> int:
    """10**exponent's first 128 bits, rounded down (the top bit set)."""
    if exponent >= 0:
        value: int = 10**exponent
        excess = value.bit_length() - 128
        return value >> excess if excess > 0 else value << -excess
    divisor: int = 10**-exponent
    shift = 127 + divisor.bit_length()
    mantissa = (1 << shift) // divisor
    while mantissa.bit_length() > 128:
        mantissa >>= 1
    while mantissa.bit_length() < 128:
        shift += 1
        mantissa = (1 << shift) // divisor
    return mantissa


def powers_of_ten() -> np.ndarray:
    """Rows ``[low 64 bits, high 64 bits]`` of 10**e for e in [LOWEST_POWER, HIGHEST_POWER]."""
    table = np.empty((HIGHEST_POWER - LOWEST_POWER + 1, 2), dtype=np.uint64)
    for row, exponent in enumerate(range(LOWEST_POWER, HIGHEST_POWER + 1)):
        power = _truncated_power(exponent)
        table[row] = (power & (2**64 - 1), power >> 64)
    table.flags.writeable = False
    return table


POWERS = powers_of_ten()
# The powers of ten a double holds exactly, for Clinger's fast path.
_EXACT = np.array([10.0**k for k in range(23)])
_EXACT.flags.writeable = False
_TENS = np.array([10**k for k in range(20)], dtype=np.uint64)
_TENS.flags.writeable = False


@intrinsic  # type: ignore[untyped-decorator]  # numba has no stubs
def _multiply(typingctx: Any, a: Any, b: Any) -> Any:
    """The 128-bit product of two uint64: (high, low) halves, one machine multiply."""
    if a != types.uint64 or b != types.uint64:
        return None
    signature = types.UniTuple(types.uint64, 2)(types.uint64, types.uint64)

    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        wide = ir.IntType(128)
        product = builder.mul(builder.zext(args[0], wide), builder.zext(args[1], wide))
        low = builder.trunc(product, ir.IntType(64))
        high = builder.trunc(builder.lshr(product, ir.Constant(wide, 64)), ir.IntType(64))
        return context.make_tuple(builder, sig.return_type, (high, low))

    return signature, codegen


@compiled
def _eisel_lemire(significand: np.uint64, exponent: int, powers: np.ndarray) -> tuple[int, float]:
    """significand * 10**exponent rounded to the nearest double (significand > 0)."""
    if exponent < LOWEST_POWER or exponent > HIGHEST_POWER:
        return DECLINED, 0.0
    zeros = int(leading_zeros(significand))
    significand = significand << np.uint64(zeros)
    # floor(exponent * log2(10)) by the fixed-point slope 217706 / 2**16, then the bias.
    binary_exponent = ((217706 * exponent) >> 16) + 64 + 1023 - zeros
    row = exponent - LOWEST_POWER
    high, low = _multiply(significand, powers[row, 1])
    nine_bits = np.uint64(0x1FF)
    if high & nine_bits == nine_bits and low + significand < significand:
        # The truncated power's low half can still carry into the bits that decide.
        extra_high, extra_low = _multiply(significand, powers[row, 0])
        merged_high, merged_low = high, low + extra_high
        if merged_low < low:
            merged_high += np.uint64(1)
        if (
            merged_high & nine_bits == nine_bits
            and merged_low + np.uint64(1) == np.uint64(0)
            and extra_low + significand < significand
        ):
            return DECLINED, 0.0
        high, low = merged_high, merged_low
    top = high >> np.uint64(63)
    mantissa = high >> (top + np.uint64(9))
    binary_exponent -= 1 - int(top)
    if low == np.uint64(0) and high & nine_bits == np.uint64(0) and mantissa & np.uint64(3) == 1:
        return DECLINED, 0.0  # exactly between two doubles: cannot tell which is nearer
    mantissa += mantissa & np.uint64(1)
    mantissa >>= np.uint64(1)
    if mantissa >> np.uint64(53) > np.uint64(0):
        mantissa >>= np.uint64(1)
        binary_exponent += 1
    if binary_exponent <= 0 or binary_exponent >= 0x7FF:
        return DECLINED, 0.0  # subnormal or beyond the largest double
    return READ, math.ldexp(float(mantissa), binary_exponent - 1075)


@compiled
def read_number(text: np.ndarray, start: int, end: int, powers: np.ndarray) -> tuple[int, float]:
    """The double ``text[start:end]`` spells, as ``(READ, value)``; ``(DECLINED, 0.0)``
    for text outside the grammar or a value this reader does not settle."""
    i = start
    negative = False
    if i < end and (text[i] == 43 or text[i] == 45):  # "+", "-"
        negative = text[i] == 45
        i += 1
    significand = np.uint64(0)
    significant = 0
    exponent = 0
    digits = 0
    point = False
    while i < end:
        byte = text[i]
        if 48 <= byte <= 57:
            digit = np.uint64(byte - 48)
            digits += 1
            if significand != np.uint64(0) or digit != np.uint64(0):
                significant += 1
                if significant > 19:
                    return DECLINED, 0.0  # beyond 64 bits: left to the rules
                significand = significand * np.uint64(10) + digit
            if point:
                exponent -= 1
        elif byte == 46 and not point:  # "."
            point = True
        else:
            break
        i += 1
    if digits == 0:
        return DECLINED, 0.0
    status, power, i = _exponent_part(text, i, end)
    if status == DECLINED or i != end:
        return DECLINED, 0.0
    return _value(significand, exponent + power, negative, powers)


@compiled
def _exponent_part(text: np.ndarray, i: int, end: int) -> tuple[int, int, int]:
    """An optional ``(e|E)[+-]digits`` at ``text[i:end]``: its power of ten (0 when
    absent) and where it ends; DECLINED for an "e" without digits."""
    if i >= end or (text[i] != 101 and text[i] != 69):  # "e", "E"
        return READ, 0, i
    i += 1
    sign = 1
    if i < end and (text[i] == 43 or text[i] == 45):
        sign = -1 if text[i] == 45 else 1
        i += 1
    power = 0
    power_digits = 0
    while i < end and 48 <= text[i] <= 57:
        power = min(power * 10 + (text[i] - 48), 100_000)  # far past any double
        power_digits += 1
        i += 1
    return (READ if power_digits else DECLINED), sign * power, i


@inlined
def _value(
    significand: np.uint64, exponent: int, negative: bool, powers: np.ndarray
) -> tuple[int, float]:
    """The double nearest to (-)significand * 10**exponent, or DECLINED."""
    if significand == np.uint64(0):
        return READ, -0.0 if negative else 0.0
    if significand <= np.uint64(2**53) and -22 <= exponent <= 22:
        value = float(significand)
        value = value * _EXACT[exponent] if exponent >= 0 else value / _EXACT[-exponent]
    else:
        status, value = _eisel_lemire(significand, exponent, powers)
        if status == DECLINED:
            return DECLINED, 0.0
    return READ, -value if negative else value


@compiled
def read_number_at(text: np.ndarray, start: int, powers: np.ndarray) -> tuple[int, float, int]:
    """``read_number`` on the longest run of number text at ``start``: the status, the
    value and where the run ends (the caller checks what follows it). Digits are
    accumulated without the checks ``read_number`` makes; a run of more than 19 digits
    is handed to it, which counts significant digits only."""
    size = text.size
    i = start
    negative = False
    if i < size and (text[i] == 43 or text[i] == 45):
        negative = text[i] == 45
        i += 1
    significand = np.uint64(0)
    digits = 0
    while i < size and np.uint8(text[i] - 48) < 10:
        significand = significand * np.uint64(10) + np.uint64(text[i] - 48)
        digits += 1
        i += 1
    fraction = 0
    if i < size and text[i] == 46:
        i += 1
        while i < size and np.uint8(text[i] - 48) < 10:
            significand = significand * np.uint64(10) + np.uint64(text[i] - 48)
            fraction += 1
            i += 1
    digits += fraction
    status, power, i = _exponent_part(text, i, size)
    if status == DECLINED:
        return DECLINED, 0.0, i
    exponent = power - fraction
    if digits == 0:
        return DECLINED, 0.0, i
    if digits > 19:  # the significand may have wrapped: read it again, carefully
        status, value = read_number(text, start, i, powers)
        return status, value, i
    status, value = _value(significand, exponent, negative, powers)
    return status, value, i


@inlined
def read_field(buffer: np.ndarray, start: int, end: int, powers: np.ndarray) -> tuple[int, float]:
    """The double the whole field ``buffer[start:end]`` spells (``byte_words.padded``,
    ``end > start``), as ``read_number_at`` reads it. The common form,
    ``[-]digits[.digits]`` with at most 19 digits, is read eight digits at a time;
    any other text goes to ``read_number_at``, which also says whether it fills the field.
    """
    negative = buffer[start] == 45  # "-"
    first = start + 1 if negative else start
    point = first_byte(buffer, first, end, POINTS)
    fraction = end - point - 1 if point < end else 0
    digits = point - first + fraction
    if 0 < digits <= 19:  # below 10**19: the significand fits 64 bits
        whole_ok, whole = digit_run(buffer, first, point)
        fraction_ok, part = digit_run(buffer, point + 1, end)
        if whole_ok and fraction_ok:
            return _value(whole * _TENS[fraction] + part, -fraction, negative, powers)
    status, value, stop = read_number_at(buffer, start, powers)
    return (status, value) if stop == end else (DECLINED, 0.0)


def read_text(text: str) -> float | None:
    """The reading a request's field gets (``read_field``) on a Python string (tests and
    tools): the value, or None if declined."""
    if not text:
        return None
    data = text.encode()
    status, value = read_field(padded(data), MARGIN, MARGIN + len(data), POWERS)
    return value if status == READ else None
