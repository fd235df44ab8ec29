"""The word-at-a-time helpers (features/byte_words.py) against plain Python on the same
bytes, fields at the body's two ends included (where a word reaches into the margins)."""

from __future__ import annotations

import numpy as np
from features.byte_words import MARGIN, POINTS, digit_run, field_end, first_byte, padded, same_bytes
from hypothesis import example, given
from hypothesis import strategies as st

# Delimiters, digits, points and a few other bytes, so that every branch is reached.
ALPHABET = b"0123456789,\n.-e\0x"
TEXT = st.binary(max_size=40).map(lambda raw: bytes(ALPHABET[b % len(ALPHABET)] for b in raw))


@given(TEXT, st.data())
@example(b"12345678,9", None)
def test_field_end_and_first_byte_find_what_python_finds(body: bytes, data) -> None:
    buffer, size = padded(body), MARGIN + len(body)
    starts = range(len(body) + 1) if data is None else [data.draw(st.integers(0, len(body)))]
    for start in starts:
        rest = body[start:]
        ends = [i for i in (rest.find(b","), rest.find(b"\n")) if i >= 0]
        expected = start + min(ends) if ends else len(body)
        assert field_end(buffer, MARGIN + start, size) == MARGIN + expected
        point = body.find(b".", start, expected)
        found = first_byte(buffer, MARGIN + start, MARGIN + expected, POINTS)
        assert found == MARGIN + (expected if point < 0 else point)


@given(TEXT, st.data())
@example(b"1234567890123456789", None)  # 19 digits: the most a run holds
@example(b"9", None)
def test_digit_run_reads_digits_as_int_does(body: bytes, data) -> None:
    buffer = padded(body)
    if data is None:
        spans = [(0, len(body))]
    else:
        start = data.draw(st.integers(0, len(body)))
        spans = [(start, data.draw(st.integers(start, min(len(body), start + 19))))]
    for start, end in spans:
        text = body[start:end]
        ok, value = digit_run(buffer, MARGIN + start, MARGIN + end)
        if text.isdigit():
            assert ok and int(value) == int(text)
        else:
            assert ok == (text == b"") and int(value) == 0


@given(TEXT, TEXT, st.data())
def test_same_bytes_compares_as_bytes_do(left: bytes, right: bytes, data) -> None:
    a, b = padded(left), padded(right)
    start = data.draw(st.integers(0, len(left)))
    other = data.draw(st.integers(0, len(right)))
    length = data.draw(st.integers(0, min(len(left) - start, len(right) - other)))
    expected = left[start : start + length] == right[other : other + length]
    assert same_bytes(a, MARGIN + start, b, MARGIN + other, length) == expected
    assert same_bytes(a, MARGIN + start, a, MARGIN + start, length)


def test_padding_is_zero_bytes_on_both_sides() -> None:
    buffer = padded(b"1,2")
    assert buffer.dtype == np.uint8 and buffer.tobytes() == bytes(MARGIN) + b"1,2" + bytes(MARGIN)
