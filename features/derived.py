"""The derived features' arithmetic, one function for every consumer.

``derive_values`` states each operation once (boolean masks, ``np.searchsorted``,
``np.log1p``, IEEE division): the Glue job (``glue/derive.py``), preprocessing, the
rules' path and the CSV fast path (``plain_csv.py``) all run it through
``features.transform.derive``, so a derived feature means the same in the lake, in
training and at the endpoint. ``tests/unit/test_derived.py`` pins each operation's
meaning.
"""

from __future__ import annotations

import numpy as np

from config.schema import DerivedOp

# The operations as small integers (the schema's names stay in config/).
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
