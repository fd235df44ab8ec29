"""numba's settings for the compiled request path (``number_text.py``, ``plain_csv.py``).

Compiled code is cached on disk, so that of a serving container's processes only the
first compiles (about 22 s here) and the gunicorn workers load what it wrote (about
2 s). numba would cache next to the source or in the user's cache directory, and
refuses to import at all where neither is writable; the temporary directory always is.
Its cache checks only the file of the function it holds, not the files of the
functions that one calls, so the directory is named after the source of this whole
package: any change here compiles afresh.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar, cast

import numba

CACHE = True
Function = TypeVar("Function", bound=Callable[..., Any])


def cache_directory() -> str:
    """Where this package's compiled code is cached: named after its sources."""
    sources = sorted(Path(__file__).parent.glob("*.py"))
    digest = hashlib.sha256(b"".join(path.read_bytes() for path in sources)).hexdigest()
    return os.path.join(tempfile.gettempdir(), "numba-cache", digest[:16])


if not numba.config.CACHE_DIR:  # NUMBA_CACHE_DIR, when set, is the operator's choice
    numba.config.CACHE_DIR = cache_directory()


def compiled(function: Function) -> Function:
    """``numba.njit`` for functions that compiled code calls (compiled for the types of
    their first call); typed for mypy, as numba ships no stubs."""
    return cast(Function, numba.njit(nogil=True, cache=CACHE)(function))


def inlined(function: Function) -> Function:
    """``compiled``, and inlined into each caller by numba (a small helper called per
    byte or per field: a call there costs as much as its work)."""
    return cast(Function, numba.njit(nogil=True, cache=CACHE, inline="always")(function))
