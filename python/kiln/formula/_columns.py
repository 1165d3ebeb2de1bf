"""Column evaluation (specs/formula.md A.3.5): resolve numpy / pyarrow / PyCapsule inputs into
float64 buffers (contiguous float64 is never copied), run the native batch VM with the GIL
released, and shape the output after the input (numpy, Array or ChunkedArray)."""
from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Optional

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from kiln import _kiln, _threads
from kiln.errors import make_error

_F64 = np.dtype(np.float64)


class _Col:
    """One resolved input: float64 values (or list offsets + values), null mask, chunk bounds."""

    __slots__ = ("values", "offsets", "valid", "bounds", "arrow", "source")

    def __init__(self, values, offsets=None, valid=None, bounds=None, arrow=False, source=None):
        self.values, self.offsets, self.valid, self.bounds, self.arrow = values, offsets, valid, bounds, arrow
        self.source = source       # the original float64 numpy array (aliasing checks)

    def __len__(self) -> int:
        return len(self.offsets) - 1 if self.offsets is not None else len(self.values)


def _type_error(name: str, typ: Any):
    return make_error(4305, name=name, type=str(typ))


def _check_exact_ints(name: str, ints: np.ndarray, strict: bool, valid) -> None:
    """strict mode: integers a double cannot represent exactly are refused (K4308)."""
    if not strict or ints.dtype.kind not in "iu" or ints.dtype.itemsize < 8:
        return
    big = (ints > 2 ** 53) | ((ints < -(2 ** 53)) if ints.dtype.kind == "i" else False)
    if valid is not None:
        big &= valid
    rows = [int(r) for r in np.flatnonzero(big) if int(float(ints[r])) != int(ints[r])]
    if rows:
        r = rows[0]
        raise make_error(4308, name=name, value=str(int(ints[r])), where=f" in row {r} ({len(rows)} rows failed)",
                         row=r, failed_rows=len(rows))


def _from_numpy(name: str, a: np.ndarray, is_list: bool, strict: bool) -> _Col:
    if isinstance(a, np.ma.MaskedArray):
        raise _type_error(name, "masked array")
    if a.dtype.kind not in "fiub" or a.dtype.itemsize > 8:
        raise _type_error(name, a.dtype)
    if is_list:
        if a.ndim != 2:
            raise make_error(4302, name=name, expected="a list column (2-D array rows x k)", got=f"{a.ndim}-D array")
        rows, k = a.shape
        _check_exact_ints(name, a.ravel(), strict, None)
        vals = np.ascontiguousarray(a, dtype=_F64).ravel()
        return _Col(vals, offsets=np.arange(rows + 1, dtype=np.int64) * k)
    if a.ndim != 1:
        raise make_error(4302, name=name, expected="a 1-D column", got=f"{a.ndim}-D array")
    _check_exact_ints(name, a, strict, None)
    vals = np.ascontiguousarray(a, dtype=_F64)    # no copy for contiguous float64
    return _Col(vals, source=a if vals is a else None)


def _numeric_arrow(name: str, arr: pa.Array, strict: bool, valid) -> np.ndarray:
    t = arr.type
    if pa.types.is_dictionary(t):
        arr = arr.dictionary_decode()
        t = arr.type
    if not (pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t)):
        raise _type_error(name, t)
    if pa.types.is_integer(t) and strict:
        _check_exact_ints(name, arr.fill_null(0).to_numpy(zero_copy_only=False), strict, valid)
    if pa.types.is_float64(t) and arr.null_count == 0:
        return arr.to_numpy(zero_copy_only=True)
    if arr.null_count:
        arr = arr.fill_null(False if pa.types.is_boolean(t) else 0)
    return pc.cast(arr, pa.float64(), safe=False).to_numpy(zero_copy_only=False)


def _from_arrow_array(name: str, arr: pa.Array, is_list: bool, strict: bool) -> _Col:
    t = arr.type
    if pa.types.is_dictionary(t):
        arr = arr.dictionary_decode()
        t = arr.type
    valid = None
    if arr.null_count:
        valid = arr.is_valid().to_numpy(zero_copy_only=False)
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        if not is_list:
            raise make_error(4302, name=name, expected="a numeric column", got=f"a list column ({t})")
        if pa.types.is_fixed_size_list(t):
            k = t.list_size
            offsets = (arr.offset + np.arange(len(arr) + 1, dtype=np.int64)) * k
        else:
            offsets = arr.offsets.to_numpy(zero_copy_only=False).astype(np.int64, copy=False)
        child = arr.values
        child_valid = None
        if child.null_count:
            child_valid = child.is_valid().to_numpy(zero_copy_only=False)
        values = _numeric_arrow(name, child, strict, child_valid)
        if child_valid is not None:
            # a null element inside a list makes its row null
            bad = np.concatenate(([0], np.cumsum(~child_valid, dtype=np.int64)))
            row_ok = (bad[offsets[1:]] - bad[offsets[:-1]]) == 0
            valid = row_ok if valid is None else (valid & row_ok)
        return _Col(np.ascontiguousarray(values, dtype=_F64), offsets=np.ascontiguousarray(offsets), valid=valid,
                    arrow=True)
    if is_list:
        raise make_error(4302, name=name, expected="a list column", got=f"a {t} column")
    return _Col(np.ascontiguousarray(_numeric_arrow(name, arr, strict, valid), dtype=_F64), valid=valid, arrow=True)


def _from_arrow(name: str, col: Any, is_list: bool, strict: bool) -> _Col:
    if isinstance(col, pa.ChunkedArray):
        lengths = [len(c) for c in col.chunks]
        bounds = np.cumsum([0] + lengths)
        arr = col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
        if col.num_chunks == 0:
            arr = pa.array([], type=col.type)
        c = _from_arrow_array(name, arr, is_list, strict)
        c.bounds = bounds
        return c
    return _from_arrow_array(name, col, is_list, strict)


def _resolve(name: str, col: Any, is_list: bool, strict: bool) -> _Col:
    if isinstance(col, np.ndarray):
        return _from_numpy(name, col, is_list, strict)
    if isinstance(col, (pa.Array, pa.ChunkedArray)):
        return _from_arrow(name, col, is_list, strict)
    if hasattr(col, "__arrow_c_stream__"):
        return _from_arrow(name, pa.chunked_array(col), is_list, strict)
    if hasattr(col, "__arrow_c_array__"):
        return _from_arrow(name, pa.array(col), is_list, strict)
    if isinstance(col, (list, tuple)):
        try:
            a = np.asarray(col, dtype=_F64)
        except (TypeError, ValueError):
            raise _type_error(name, type(col).__name__) from None
        return _from_numpy(name, a, is_list, strict)
    raise _type_error(name, type(col).__name__)


def _source(data: Any):
    """(lookup, chunked_output) for the accepted containers."""
    if data is None:
        return {}, False
    if isinstance(data, Mapping):
        return data, False
    if isinstance(data, pa.Table):
        return {n: data.column(n) for n in data.column_names}, True
    if isinstance(data, pa.RecordBatch):
        return {n: data.column(i) for i, n in enumerate(data.schema.names)}, False
    if hasattr(data, "__arrow_c_stream__"):
        t = pa.table(data)
        return {n: t.column(n) for n in t.column_names}, True
    if hasattr(data, "__arrow_c_array__"):
        rb = pa.record_batch(data)
        return {n: rb.column(i) for i, n in enumerate(rb.schema.names)}, False
    raise make_error(4305, name="data", type=type(data).__name__)


def _scalar(name: str, v: Any) -> float:
    if isinstance(v, (str, bytes, complex)) or v is None or isinstance(v, (list, tuple, dict, np.ndarray)):
        raise make_error(4302, name=name, expected="a real number", got=type(v).__name__)
    try:
        return float(v)
    except OverflowError:
        raise make_error(4303, name=name, value=repr(v)[:40]) from None
    except (TypeError, ValueError):
        raise make_error(4302, name=name, expected="a real number", got=type(v).__name__) from None


def _plain_inputs(f, data: Any, scalars: dict) -> Optional[tuple]:
    """(args, rows) when every variable is a contiguous 1-D float64 numpy array of one length in a
    dict, or a float in `scalars` (not both), with no list variables; else None. The common call
    skips the general resolution below: at 10^3 rows that took half the call."""
    if type(data) is not dict or f.list_variables:
        return None
    args, rows = [], -1
    for name in f.variables:
        a = data.get(name)
        if a is None:
            v = scalars.get(name)
            if type(v) is not float:
                return None
            args.append(v)
            continue
        if (type(a) is not np.ndarray or a.dtype != _F64 or a.ndim != 1
                or not a.flags.c_contiguous or name in scalars or rows not in (-1, len(a))):
            return None
        rows = len(a)
        args.append(a)
    return (args, rows) if rows >= 0 else None


def evaluate_columns(f, data: Any, *, out: Any = None, threads: Optional[int] = None, scalars: dict) -> Any:
    plain = _plain_inputs(f, data, scalars) if out is None else None
    if plain is not None:
        args, rows = plain
        result = _new_output(rows)
        f._evaluate_columns(args, rows, result, _threads.resolve(threads), None)
        return result
    strict = f.mode == "strict"
    lookup, chunked = _source(data)
    lists = set(f.list_variables)
    inputs: list = []
    cols: dict[str, _Col] = {}
    missing = []
    for name in f.variables:
        in_data = name in lookup
        if in_data and name in scalars:
            raise make_error(4306, name=name)
        if in_data:
            c = _resolve(name, lookup[name], name in lists, strict)
            cols[name] = c
            chunked = chunked or c.bounds is not None
        elif name in scalars:
            if name in lists:
                vals = np.asarray(scalars[name], dtype=_F64).ravel()
                cols[name] = _Col(vals, offsets=None)        # broadcast list: offsets filled below
                cols[name].offsets = "broadcast"
            else:
                inputs.append(None)
                cols[name] = None
        else:
            missing.append(name)
    if missing:
        raise make_error(4301, count=len(missing), names=", ".join(missing), suggestion="")
    sized = {n: len(c) for n, c in cols.items() if c is not None and not isinstance(c.offsets, str)}
    if len(set(sized.values())) > 1:
        raise make_error(4304, lengths=", ".join(f"{n}: {k}" for n, k in sized.items()))
    if sized:
        rows = next(iter(sized.values()))
    elif out is not None:
        rows = len(out)
    else:
        rows = 1
    valid = None
    bounds: set = set()
    arrow_any = False
    args = []
    for name in f.variables:
        c = cols[name]
        if c is None:
            args.append(_scalar(name, scalars[name]))
            continue
        if isinstance(c.offsets, str):      # a list given once: the same list in every row
            k = len(c.values)
            c.values = np.tile(c.values, rows)
            c.offsets = np.arange(rows + 1, dtype=np.int64) * k
        arrow_any = arrow_any or c.arrow
        if c.valid is not None:
            valid = c.valid.copy() if valid is None else (valid & c.valid)
        if c.bounds is not None:
            bounds.update(int(b) for b in c.bounds)
        args.append((c.offsets, c.values) if c.offsets is not None else c.values)
    result = _prepare_out(out, rows, [c for c in cols.values() if c is not None])
    v8 = None if valid is None else np.ascontiguousarray(valid, dtype=np.uint8)
    f._evaluate_columns(args, rows, result, _threads.resolve(threads), v8)
    if out is not None:
        if valid is not None:
            result[~valid] = math.nan
        return result
    if not arrow_any and not chunked:
        return result
    mask = None if valid is None else ~valid
    if chunked:
        bounds.update((0, rows))
        edges = sorted(bounds)
        chunks = [pa.array(result[a:b], mask=None if mask is None else mask[a:b], type=pa.float64())
                  for a, b in zip(edges, edges[1:])]
        return pa.chunked_array(chunks, type=pa.float64())
    return pa.array(result, mask=mask, type=pa.float64())


# Outputs of at least the column pool's smallest cached size come from that pool (see _pooled_f64).
_POOLED_ROWS = (1 << 20) // 8


def _new_output(rows: int) -> np.ndarray:
    return _kiln._pooled_f64(rows) if rows >= _POOLED_ROWS else np.empty(rows, dtype=_F64)


def _prepare_out(out: Any, rows: int, cols: list) -> np.ndarray:
    if out is None:
        return _new_output(rows)
    if not isinstance(out, np.ndarray):
        raise make_error(4307, reason=f"must be a numpy array, got {type(out).__name__}")
    if out.dtype != _F64:
        raise make_error(4307, reason=f"must have dtype float64, got {out.dtype}")
    if out.ndim != 1 or not out.flags.c_contiguous:
        raise make_error(4307, reason="must be a contiguous 1-D array")
    if not out.flags.writeable:
        raise make_error(4307, reason="is read-only")
    if len(out) != rows:
        raise make_error(4307, reason=f"has {len(out)} rows, the inputs have {rows}")
    ptr = out.__array_interface__["data"][0]
    for c in cols:
        for a in (c.values,):
            if a is None or not np.shares_memory(out, a):
                continue
            if a.__array_interface__["data"][0] == ptr and a.strides == out.strides and len(a) == len(out):
                continue    # exactly an input's buffer: each chunk is read before it is written
            raise make_error(4307, reason="partially overlaps an input buffer")
    return out
