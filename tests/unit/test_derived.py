"""features/derived.py: the arithmetic numpy runs (Glue, training, the rules' path) and
the compiled CSV pass's numba build of the same function agree on every kind of float64
input (bit for bit, but for log1p on hosts where numpy has a vector log1p of its own),
and follow the schema's stated meaning of each operation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from features.derived import BUCKET, LOG1P, RATIO, derive_values
from features.plain_csv import _derive_values

ANY_DOUBLE = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, -1.0, -1e-300, 5e-324, 6.0, 12.0, 24.0, 48.0]),
)
BOUNDARIES = np.array([6.0, 12.0, 24.0, 48.0])


def _both(op: int, first: np.ndarray, second: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    plain, compiled = np.empty(first.size), np.empty(first.size)
    derive_values(op, first, second, BOUNDARIES, plain)
    _derive_values(op, first, second, BOUNDARIES, compiled)
    return plain, compiled


@given(
    st.sampled_from([RATIO, LOG1P, BUCKET]),
    st.integers(0, 40).flatmap(
        lambda n: st.tuples(
            arrays(np.float64, n, elements=ANY_DOUBLE), arrays(np.float64, n, elements=ANY_DOUBLE)
        )
    ),
)
def test_numpy_and_the_compiled_build_agree(
    op: int, columns: tuple[np.ndarray, np.ndarray]
) -> None:
    plain, compiled = _both(op, *columns)
    if op != LOG1P:  # division and counting are exact in both
        assert plain.view(np.uint64).tolist() == compiled.view(np.uint64).tolist()
        return
    # numba calls the C library's log1p (within 1 unit in the last place). numpy does
    # too here, but on AVX-512 hosts it uses its own vector log1p (SVML's, within 4).
    assert np.array_equal(np.isnan(plain), np.isnan(compiled))
    finite = np.isfinite(plain)
    assert np.array_equal(plain[~finite & ~np.isnan(plain)], compiled[~finite & ~np.isnan(plain)])
    np.testing.assert_array_max_ulp(plain[finite], compiled[finite], maxulp=8)


@pytest.mark.parametrize(
    ("op", "first", "second", "expected"),
    [
        (RATIO, [10.0, 1.0, 1.0, np.nan, 3.0], [4.0, 0.0, -0.0, 2.0, np.nan],
         [2.5, np.nan, np.nan, np.nan, np.nan]),
        (LOG1P, [0.0, np.e - 1, -0.5, np.nan, np.inf], None,
         [0.0, 1.0, np.nan, np.nan, np.inf]),
        # The count of boundaries <= x: 6 itself is in the second band.
        (BUCKET, [-1.0, 6.0, 11.9, 48.0, 1e9, np.nan], None,
         [0.0, 1.0, 1.0, 4.0, 4.0, np.nan]),
    ],
)  # fmt: skip
def test_each_operation_means_what_the_schema_says(
    op: int, first: list[float], second: list[float] | None, expected: list[float]
) -> None:
    left = np.array(first)
    plain, compiled = _both(op, left, left if second is None else np.array(second))
    np.testing.assert_allclose(plain, expected, rtol=1e-15)
    np.testing.assert_array_equal(compiled, plain)
