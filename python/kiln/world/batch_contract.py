"""What a Python processor may return (specs/world.md §6.3, §6.4) and ``kw.replace``.

Processors may change component values but neither the schema, nor the row count, nor the five
base columns: structural changes go through ``ctx`` commands [D7]. The same contract is checked
again by the kernel at ``step_commit``; checking it here, after each Python processor, lets the
error name the processor that broke it.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from kiln.errors import error_for
from kiln.world.conversion import as_table, broadcast_column, column_from_values, is_array_like, one_batch
from kiln.world.tables import BASE_NAMES

__all__ = ["replace", "as_output_batch", "check_processed"]


def replace(batch: pa.RecordBatch, **columns: Any) -> pa.RecordBatch:
    """Return ``batch`` with the given columns replaced, keeping the original schema object.

    Values may be pyarrow arrays, numpy arrays or scalars (broadcast); they are safely cast to
    the column's type (``SchemaError`` 155). Replacing a base column raises
    ``ProcessedBatchError`` (301), an unknown name ``SchemaError`` (156), a wrong length
    ``ProcessedBatchError`` (302).
    """
    if not isinstance(batch, pa.RecordBatch):
        raise error_for(8, f"replace() takes a pyarrow.RecordBatch, got {type(batch).__name__}")
    schema = batch.schema
    arrays = list(batch.columns)
    n = batch.num_rows
    for name, values in columns.items():
        if name in BASE_NAMES:
            raise error_for(301, f"replace(): {name} is a base column and cannot be changed", column=name)
        index = schema.get_field_index(name)
        if index < 0:
            raise error_for(156, f"replace(): the batch has no column {name}", column=name)
        field = schema.field(index)
        if is_array_like(values):
            array = column_from_values(values, field, name)
            if len(array) != n:
                raise error_for(302, f"replace(): column {name} has {len(array)} values, the batch has {n} rows",
                                column=name, expected=n, actual=len(array))
        else:
            array = broadcast_column(values, field, n, name)
        arrays[index] = array
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def as_output_batch(result: Any, *, processor: str, table: str, tick: int) -> pa.RecordBatch:
    """Normalise a processor's return value to one RecordBatch (300 if it is not a batch)."""
    details = {"processor": processor, "table": table, "tick": tick}
    if isinstance(result, pa.RecordBatch):
        return result
    if result is None:
        raise error_for(300, f"processor {processor!r} returned None on table {table} at tick {tick} "
                             f"(a forgotten return?)", **details)
    if isinstance(result, pa.Table) or hasattr(result, "__arrow_c_stream__") or hasattr(result, "__arrow_c_array__"):
        try:
            return one_batch(as_table(result))
        except Exception as exc:  # noqa: BLE001 - any import failure means "not a record batch"
            raise error_for(300, f"processor {processor!r} returned {type(result).__name__}, which is not "
                                 f"a record batch: {exc}", **details) from exc
    raise error_for(300, f"processor {processor!r} returned {type(result).__name__}; expected a "
                         f"pyarrow.RecordBatch", **details)


_BASE_INDICES = list(range(len(BASE_NAMES)))


def _same_buffers(a: pa.Array, b: pa.Array) -> bool:
    if a.offset != b.offset or len(a) != len(b):
        return False
    ab, bb = a.buffers(), b.buffers()
    return len(ab) == len(bb) and all(
        (x is None and y is None) or (x is not None and y is not None and x.address == y.address and x.size == y.size)
        for x, y in zip(ab, bb)
    )


def check_processed(out: pa.RecordBatch, inp: pa.RecordBatch, *, processor: str, table: str,
                    tick: int) -> pa.RecordBatch:
    """§6.4: schema (300), row count (302), base columns (301); returns ``out`` carrying the
    input's schema object (metadata restored)."""
    details = {"processor": processor, "table": table, "tick": tick}
    expected = inp.schema
    if not out.schema.equals(expected, check_metadata=False):
        raise error_for(300, f"processor {processor!r} changed the schema of table {table} at tick {tick}: "
                             f"{_schema_difference(expected, out.schema)}", **details)
    if out.num_rows != inp.num_rows:
        raise error_for(302, f"processor {processor!r} returned {out.num_rows} rows for table {table} at tick "
                             f"{tick}; the input had {inp.num_rows}", expected=inp.num_rows,
                        actual=out.num_rows, **details)
    # The five base columns lead every table schema (checked equal above): one C++ comparison
    # of them is ~4x cheaper than boxing each column in Python; diagnose only on a mismatch.
    if out.select(_BASE_INDICES).equals(inp.select(_BASE_INDICES)):
        return _with_schema(out, expected)
    for name in BASE_NAMES:
        a, b = out.column(name), inp.column(name)
        if a is b or _same_buffers(a, b):
            continue
        if not a.equals(b):
            diff = np.flatnonzero(~np.asarray(a.to_numpy(zero_copy_only=False) == b.to_numpy(zero_copy_only=False)))
            row = int(diff[0]) if diff.size else 0
            raise error_for(301, f"processor {processor!r} changed base column {name} of table {table} at tick "
                                 f"{tick} (first at row {row})", column=name, row=row, **details)
    return _with_schema(out, expected)


def _with_schema(out: pa.RecordBatch, expected: pa.Schema) -> pa.RecordBatch:
    """``out`` with the input's schema metadata (rebuilt only when the metadata differs: pyarrow
    hands out a new schema object per batch, so an identity test would always rebuild)."""
    if out.schema.equals(expected, check_metadata=True):
        return out
    return pa.RecordBatch.from_arrays(out.columns, schema=expected)


def _schema_difference(expected: pa.Schema, actual: pa.Schema) -> str:
    if len(expected) != len(actual):
        exp, act = set(expected.names), set(actual.names)
        parts = []
        if exp - act:
            parts.append("missing " + ", ".join(n for n in expected.names if n not in act))
        if act - exp:
            parts.append("unexpected " + ", ".join(n for n in actual.names if n not in exp))
        return f"{len(actual)} columns instead of {len(expected)}" + (f" ({'; '.join(parts)})" if parts else "")
    for e, a in zip(expected, actual):
        if e.name != a.name:
            return f"column {a.name} where {e.name} was expected"
        if e.type != a.type:
            return f"column {e.name} has type {a.type}, expected {e.type}"
        if e.nullable != a.nullable:
            return f"column {e.name} nullability changed to {a.nullable}"
    return "schemas differ"
