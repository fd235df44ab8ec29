"""The compiled decimal reader (features/number_text.py) gives what Python's ``float``
gives, bit for bit, or declines; on the forms clients send it does not decline."""

from __future__ import annotations

import struct
from decimal import Decimal

import numpy as np
from features.number_text import POWERS, _truncated_power, read_text
from hypothesis import example, given
from hypothesis import strategies as st


def same_double(text: str) -> bool:
    """The reader's value for ``text`` is float's, bit for bit (sign of zero included);
    a declined text passes (the rules read it)."""
    value = read_text(text)
    return value is None or struct.pack("<d", value) == struct.pack("<d", float(text))


FINITE = st.floats(allow_nan=False, allow_infinity=False)


@given(FINITE)
@example(0.1)
@example(2.0**53 + 2)
@example(1.7976931348623157e308)
@example(2.2250738585072014e-308)
def test_every_form_python_writes_reads_back_exactly(value: float) -> None:
    for text in (repr(value), f"{value:.17e}", f"{value:.15g}", f"{value:.6f}", f"{value:E}"):
        assert same_double(text), text


def test_it_declines_almost_none_of_the_numbers_clients_send() -> None:
    # Eisel-Lemire declines when its truncated power leaves the rounding undecided (an
    # exact power of two written out in full, 5.9604644775390625e-08 = 2**-24, is one):
    # the rules then read the body. Measured on 20,000 values of the kinds requests hold.
    rng = np.random.default_rng(7)
    values = np.concatenate(
        [rng.uniform(0, 200, 5000), rng.normal(50, 30, 5000), rng.lognormal(5, 3, 5000)]
    )
    texts = [repr(float(v)) for v in values] + [f"{v:.3f}" for v in values[:5000]]
    declined = [text for text in texts if read_text(text) is None]
    assert len(declined) <= len(texts) // 1000, declined[:10]
    assert all(same_double(text) for text in texts)


@given(st.from_regex(r"[+-]?[0-9]{0,21}(\.[0-9]{0,21})?([eE][+-]?[0-9]{1,3})?", fullmatch=True))
@example("9007199254740993")  # 2**53 + 1: the tie goes to the even neighbour
@example("1e23")  # beyond the exact powers: Eisel-Lemire
@example("123456789012345678901")  # 21 digits: more than 19
@example("0.000000000000000000000000000001")
@example("-0")
@example("-0.0e-5")
@example("00000000000000000000000012.5")
@example("4.9e-324")  # subnormal: declined, the rules read it
@example("1e400")
def test_decimal_text_reads_as_float_reads_it(text: str) -> None:
    try:
        float(text)
    except ValueError:  # "", ".", "e5", "+": not numbers, and never read as one
        assert read_text(text) is None
        return
    assert same_double(text)


@st.composite
def near_halfway(draw: st.DrawFn) -> str:
    """Decimal text just below, at or above the midpoint of two neighbouring doubles:
    where a reader that rounds twice gets the last bit wrong."""
    value = draw(st.floats(1e-250, 1e250))
    above = float(np.nextafter(value, np.inf))
    middle = (Decimal(value) + Decimal(above)) / 2
    digits = draw(st.integers(15, 19))
    text = f"{middle:.{digits - 1}e}"
    nudge = draw(st.sampled_from(["", "1", "9"]))
    mantissa, exponent = text.split("e")
    return f"{mantissa}{nudge}e{exponent}"


@given(near_halfway())
def test_text_near_halfway_rounds_as_float(text: str) -> None:
    assert same_double(text), text


def test_the_powers_table_holds_the_first_128_bits_of_each_power() -> None:
    # Rows checked against published 128-bit truncations (Go's strconv table).
    assert _truncated_power(43) == 0xE596B7B0_C643C719_6D9CCD05_D0000000
    assert _truncated_power(-348) == (0xFA8FD5A0081C0288 << 64) | 0x1732C869CD60E453
    assert _truncated_power(0) == 1 << 127
    low, high = POWERS[348 - 200]  # 1e-200
    assert (int(high), int(low)) == (0xC3F490AA77BD60FC, 0xBEDBFC4411068A9C)


def test_text_outside_the_grammar_is_declined() -> None:
    for text in ("nan", "inf", "1_0", "0x10", " 5", "5 ", "1e", "--1", ".", "1.2.3", "١"):
        assert read_text(text) is None, text
