"""The derived features' arithmetic: one function that numpy runs and numba compiles.

``derive_values`` is written in the part of numpy that numba compiles with the same
meaning (boolean masks, ``np.searchsorted``, ``np.log1p``, IEEE division), so there is
one statement of each operation:

* the Glue job (``glue/derive.py``), preprocessing and the rules' path run it as plain
  numpy, through ``features.transform.derive``; Glue has no numba, and this module does
  not import it;
* the compiled CSV pass (``plain_csv.py``) compiles this very function with numba, so
  a request's derived features cost one compiled call instead of some twenty numpy
  calls (0.08 ms of a 1000-row request).

Division and counting give the same bits in both. For ``log1p`` numba calls the C
library's function; numpy calls it too where it has no vector version of its own (this
machine), but on AVX-512 hosts it uses its own (SVML's, within 4 units in the last
place of the exact value, the C library's within 1). There the two can differ in the
last bits of a float64, which the model's float32 matrix almost always rounds away.
``tests/unit/test_derived.py`` compares the two builds; ``tests/unit/test_plain_csv.py``
compares the two paths' matrices.
"""

from __future__ import annotations

import numpy as np

from config.schema import DerivedOp

# The operations as small integers: what compiled code can branch on.
RATIO, LOG1P, BUCKET = 0, 1, 2
OP_CODES = {DerivedOp.RATIO: RATIO, DerivedOp.LOG1P: LOG1P, DerivedOp.BUCKET: BUCKET}


def derive_values(
    op: int, first: np.ndarray, second: np.ndarray, boundaries: np.ndarray, out: np.ndarray
) -> None:
    """Write one derived feature of the float64 columns ``first`` (and ``second``, the
    ratio's denominator; any column of the same length otherwise) into ``out``: NaN
    wherever it is undefined (a missing input, a zero denominator, a negative log1p
    argument). ``boundaries`` (strictly increasing, the schema checks) are the bucket's.
    """
    if op == BUCKET:
        # The count of boundaries <= x.
        out[:] = np.searchsorted(boundaries, first, side="right")
        out[np.isnan(first)] = np.nan
        return
    out[:] = np.nan
    # Computed only where defined: no division by zero, no log of a negative number.
    if op == RATIO:
        defined = second != 0
        out[defined] = first[defined] / second[defined]
    else:
        defined = first >= 0
        out[defined] = np.log1p(first[defined])
