"""Resolving kiln.stats inputs to float64 chunks for the native rollups (specs/formula.md C.3).

numpy arrays of any real dtype (bool as 0/1), pyarrow Arrays and ChunkedArrays (nulls skipped and
counted; chunks without nulls are read in place when they are float64) and Python sequences of
real numbers are accepted; anything else raises STATS_UNSUPPORTED_TYPE.
"""
from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from kiln.errors import make_error

_REAL_KINDS = "biuf"


def _unsupported(x: Any, what: str | None = None):
    return make_error(6105, type=what or type(x).__name__)


def _from_numpy(a: np.ndarray, x: Any) -> np.ndarray:
    if isinstance(a, np.ma.MaskedArray):
        raise _unsupported(x, "numpy.ma.MaskedArray (fill or compress it first)")
    if a.ndim != 1:
        raise _unsupported(x, f"{a.ndim}-D numpy.ndarray")
    if a.dtype.kind not in _REAL_KINDS:
        raise _unsupported(x, f"numpy.ndarray of {a.dtype}")
    return np.ascontiguousarray(a, dtype=np.float64)


def _arrow_chunks(x: Any) -> tuple[list[np.ndarray], int] | None:
    try:
        import pyarrow as pa
    except ImportError:  # pragma: no cover - pyarrow is a dependency
        return None
    if isinstance(x, pa.ChunkedArray):
        chunks, typ = x.chunks, x.type
    elif isinstance(x, pa.Array):
        chunks, typ = [x], x.type
    else:
        return None
    if not (pa.types.is_integer(typ) or pa.types.is_floating(typ) or pa.types.is_boolean(typ)):
        raise _unsupported(x, f"pyarrow {type(x).__name__} of {typ}")
    out, nulls = [], 0
    for c in chunks:
        if c.null_count:
            nulls += c.null_count
            c = c.drop_null()
        if pa.types.is_boolean(typ) or pa.types.is_float16(typ):
            c = c.cast(pa.float64())
        out.append(np.ascontiguousarray(c.to_numpy(zero_copy_only=False), dtype=np.float64))
    return out, nulls


def as_chunks(x: Any) -> tuple[list[np.ndarray], int]:
    """(float64 chunks, null count) of a kiln.stats input."""
    if isinstance(x, np.ndarray):
        return [_from_numpy(x, x)], 0
    arrow = _arrow_chunks(x)
    if arrow is not None:
        return arrow
    if isinstance(x, (str, bytes, dict)) or not hasattr(x, "__len__") or not hasattr(x, "__iter__"):
        raise _unsupported(x)
    try:
        a = np.asarray(x)
    except (ValueError, TypeError):
        raise _unsupported(x) from None
    if a.dtype.kind == "O" and a.ndim == 1:
        if not all(isinstance(v, numbers.Real) for v in a):
            raise _unsupported(x, f"{type(x).__name__} of non-real values")
        try:
            a = np.array([float(v) for v in a], dtype=np.float64)
        except OverflowError:
            raise _unsupported(x, f"{type(x).__name__} with an integer too large for a double") from None
    if a.size == 0 and a.ndim == 1:
        return [np.empty(0, dtype=np.float64)], 0
    return [_from_numpy(a, x)], 0
