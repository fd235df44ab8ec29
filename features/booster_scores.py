"""A booster's scores for a dense float32 matrix, through xgboost's C API.

``Booster.inplace_predict`` is this same C call (``XGBoosterPredictFromDense``, public in
xgboost's ``c_api.h``) behind about 0.12 ms of Python per call: it checks the input's
type against a dozen frameworks, encodes the arguments as JSON, defines a class to read
the result, and copies it. For a 1-row request that is twice the scoring itself (0.06 ms
measured in the image, 55 trees). Here the arguments are encoded once per model and the
library is the one xgboost itself loaded (``xgboost.libpath``, the same shared object:
the booster's handle is valid in it). ``tests/unit/test_booster_scores.py`` compares the
scores with ``inplace_predict``'s, bit for bit, for every problem type.
"""

from __future__ import annotations

import ctypes
import json
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import xgboost as xgb

# What inplace_predict passes for a value prediction of every tree (xgboost 3.2).
_ARGUMENTS = json.dumps(
    {
        "type": 0,
        "training": False,
        "iteration_begin": 0,
        "iteration_end": 0,
        "missing": math.nan,
        "strict_shape": False,
        "cache_id": 0,
    }
).encode()


def _library() -> ctypes.CDLL:
    from xgboost import libpath

    library = ctypes.cdll.LoadLibrary(libpath.find_lib_path()[0])
    library.XGBGetLastError.restype = ctypes.c_char_p
    return library


@dataclass(frozen=True)
class BoosterScores:
    """Scores ``booster`` (kept alive here) for float32 C-order matrices."""

    booster: xgb.Booster
    library: ctypes.CDLL

    @classmethod
    def of(cls, booster: xgb.Booster) -> BoosterScores:
        return cls(booster=booster, library=_library())

    def __call__(self, matrix: np.ndarray) -> np.ndarray:
        """One score per record, or (multiclass) one row of class probabilities per
        record, as float64; the same values as ``inplace_predict(matrix)``."""
        if matrix.dtype != np.float32 or not matrix.flags.c_contiguous or matrix.ndim != 2:
            raise ValueError("scores are computed for a 2-D float32 matrix in C order")
        rows, columns = matrix.shape
        values = (
            f'{{"data": [{matrix.ctypes.data}, true], "shape": [{rows}, {columns}], '
            '"strides": null, "typestr": "<f4", "version": 3}'
        ).encode()
        shape = ctypes.POINTER(ctypes.c_uint64)()
        dimensions = ctypes.c_uint64()
        result = ctypes.POINTER(ctypes.c_float)()
        status = self.library.XGBoosterPredictFromDense(
            self.booster.handle,
            values,
            _ARGUMENTS,
            None,
            ctypes.byref(shape),
            ctypes.byref(dimensions),
            ctypes.byref(result),
        )
        if status != 0:
            raise RuntimeError(self.library.XGBGetLastError().decode())
        dims = tuple(shape[i] for i in range(dimensions.value))
        # The result buffer belongs to the booster until its next call: copied now.
        scores = np.ctypeslib.as_array(result, shape=(math.prod(dims),)).astype(np.float64)
        return scores.reshape(dims)
