"""features/derived.py: each derived operation follows the schema's stated meaning,
missing inputs, zero denominators and negative log1p arguments included."""

from __future__ import annotations

import numpy as np
import pytest

from features.derived import BUCKET, LOG1P, RATIO, derive_values

BOUNDARIES = np.array([6.0, 12.0, 24.0, 48.0])


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
    out = np.empty(left.size)
    derive_values(op, left, left if second is None else np.array(second), BOUNDARIES, out)
    np.testing.assert_allclose(out, expected, rtol=1e-15)
