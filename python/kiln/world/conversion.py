"""Turning user input into exactly typed Arrow data (specs/world.md §8.3).

The kernel checks column names, types and nulls but never converts. Everything a user may pass —
Python values, numpy arrays, pyarrow arrays, polars or DuckDB objects through the PyCapsule
interface — is converted here, with *safe* casts only: a value that would be truncated, overflow
or change kind (a string for a number) is a ``SchemaError`` (155) naming the column, the expected
and the actual type.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.types as pat

from kiln.errors import error_for
from kiln.world.components import to_plain

__all__ = [
    "as_entity_ids",
    "as_table",
    "coerce_column",
    "column_from_values",
    "broadcast_column",
    "is_array_like",
    "one_batch",
    "check_no_nulls",
    "empty_batch",
]

_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1


def _family(t: pa.DataType) -> str:
    """Coarse kind of a type; casts are allowed only inside one family (ints ↔ floats included)."""
    if pat.is_dictionary(t):
        return _family(t.value_type)
    if pat.is_integer(t) or pat.is_floating(t) or pat.is_decimal(t):
        return "number"
    if pat.is_boolean(t):
        return "bool"
    if (pat.is_string(t) or pat.is_large_string(t) or pat.is_binary(t) or pat.is_large_binary(t)
            or pat.is_string_view(t) or pat.is_binary_view(t) or pat.is_fixed_size_binary(t)):
        return "bytes"
    if pat.is_list(t) or pat.is_large_list(t) or pat.is_fixed_size_list(t) or pat.is_list_view(t) \
            or pat.is_large_list_view(t):
        return "list"
    if pat.is_struct(t):
        return "struct"
    return f"id{t.id}"


def _castable(src: pa.DataType, dst: pa.DataType) -> bool:
    if src == dst or pat.is_null(src):
        return True
    if pat.is_dictionary(src):
        return _castable(src.value_type, dst)
    fs, fd = _family(src), _family(dst)
    if fs != fd:
        return False
    if fs == "list":
        return _castable(src.value_type, dst.value_type)
    if fs == "struct":
        names = {src.field(i).name: src.field(i).type for i in range(src.num_fields)}
        for i in range(dst.num_fields):
            f = dst.field(i)
            if f.name not in names or not _castable(names[f.name], f.type):
                return False
        return src.num_fields == dst.num_fields
    return True


def _type_error(column: str, expected: pa.DataType, actual: Any, why: str = "") -> Exception:
    suffix = f": {why}" if why else ""
    return error_for(155, f"column {column}: expected {expected}, got {actual}{suffix}", column=column)


def coerce_column(array: pa.Array | pa.ChunkedArray, field: pa.Field, column: str | None = None) -> pa.Array:
    """Safely cast ``array`` to ``field.type`` (155 on a kind change, truncation or overflow)."""
    column = column or field.name
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if array.type == field.type:
        return array
    if not _castable(array.type, field.type):
        raise _type_error(column, field.type, array.type)
    try:
        return array.cast(field.type, safe=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError, ValueError) as exc:
        raise _type_error(column, field.type, array.type, str(exc)) from exc


def is_array_like(value: Any) -> bool:
    """Column data (one value per row) as opposed to a scalar to broadcast.

    numpy arrays with ``ndim >= 1``, pyarrow arrays, Python lists/tuples and PyCapsule arrays are
    column data; everything else (numbers, strings, bytes, dicts, dataclass instances, 0-d
    arrays, pyarrow scalars) is a scalar.
    """
    if isinstance(value, np.ndarray):
        return value.ndim >= 1
    if isinstance(value, (pa.Array, pa.ChunkedArray, list, tuple)):
        return True
    return hasattr(value, "__arrow_c_array__") and not isinstance(value, pa.Scalar)


def column_from_values(values: Any, field: pa.Field, column: str | None = None) -> pa.Array:
    """Column data → array of ``field.type``."""
    column = column or field.name
    try:
        if isinstance(values, (pa.Array, pa.ChunkedArray)):
            array = values
        elif isinstance(values, np.ndarray):
            if values.ndim != 1:
                raise error_for(8, f"column {column}: expected a 1-D array, got shape {values.shape}", column=column)
            array = pa.array(values) if values.dtype != object else pa.array(to_plain(list(values)))
        elif isinstance(values, (list, tuple)):
            array = pa.array(to_plain(list(values)))
        else:
            array = pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, TypeError, ValueError) as exc:
        raise _type_error(column, field.type, type(values).__name__, str(exc)) from exc
    return coerce_column(array, field, column)


def broadcast_column(value: Any, field: pa.Field, n: int, column: str | None = None) -> pa.Array:
    """A scalar repeated ``n`` times as an array of ``field.type``."""
    column = column or field.name
    if isinstance(value, pa.Scalar):
        single = pa.array([value.as_py()], type=value.type)
    else:
        try:
            single = pa.array([to_plain(value)])
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, TypeError, ValueError) as exc:
            raise _type_error(column, field.type, type(value).__name__, str(exc)) from exc
    single = coerce_column(single, field, column)
    if n == 1:
        return single
    return pa.repeat(single[0], n)


def check_no_nulls(batch: pa.RecordBatch | pa.Table, schema: pa.Schema | None = None) -> None:
    """157 for a null in a non-nullable column (checked before any kernel call so that
    operations spanning several kernel calls stay all-or-nothing)."""
    schema = schema or batch.schema
    for i, field in enumerate(schema):
        if field.nullable:
            continue
        col = batch.column(i)
        if col.null_count:
            first = int(np.flatnonzero(np.asarray(col.is_null()))[0])
            raise error_for(157, f"column {field.name}: null in a non-nullable column (first at row {first})",
                            column=field.name, row=first)


def as_entity_ids(ids: Any, *, allow_duplicates: bool = False, what: str = "ids") -> np.ndarray:
    """An int or a 1-D integer array → int32 numpy array (8 for anything else).

    Duplicates are rejected (8) unless ``allow_duplicates``: for despawn/update/add/remove a
    repeated id has no single meaning.
    """
    if isinstance(ids, (bool, np.bool_)):
        raise error_for(8, f"{what} must be an int or a 1-D integer array, got bool")
    if isinstance(ids, (int, np.integer)):
        arr = np.asarray([int(ids)], dtype=np.int64)
    else:
        if isinstance(ids, (pa.Array, pa.ChunkedArray)):
            ids = ids.to_numpy(zero_copy_only=False)
        try:
            arr = np.asarray(ids)
        except Exception as exc:  # noqa: BLE001 - reported as an invalid argument
            raise error_for(8, f"{what} must be an int or a 1-D integer array: {exc}") from exc
        if arr.ndim != 1:
            raise error_for(8, f"{what} must be an int or a 1-D integer array, got shape {arr.shape}")
        if arr.size == 0:
            return np.zeros(0, dtype=np.int32)
        if arr.dtype == object:
            if not all(isinstance(x, (int, np.integer)) and not isinstance(x, (bool, np.bool_)) for x in arr):
                raise error_for(8, f"{what} must hold integers")
            arr = arr.astype(np.int64)
        elif not np.issubdtype(arr.dtype, np.integer):
            raise error_for(8, f"{what} must hold integers, got dtype {arr.dtype}")
    if arr.size and (arr.min() < _INT32_MIN or arr.max() > _INT32_MAX):
        raise error_for(8, f"{what} must fit in Int32")
    out = arr.astype(np.int32, copy=False)
    if not allow_duplicates and out.size > 1:
        uniq, counts = np.unique(out, return_counts=True)
        if (counts > 1).any():
            dup = int(uniq[counts > 1][0])
            raise error_for(8, f"{what} contain entity {dup} more than once", entity_id=dup)
    return out


def as_table(data: Any) -> pa.Table:
    """A pyarrow Table from a RecordBatch, a Table or any PyCapsule producer (polars, DuckDB)."""
    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    if hasattr(data, "__arrow_c_stream__"):
        return pa.RecordBatchReader.from_stream(data).read_all()
    if hasattr(data, "__arrow_c_array__"):
        batch = pa.record_batch(data)
        return pa.Table.from_batches([batch])
    raise error_for(
        8, f"expected a pyarrow RecordBatch/Table or an Arrow PyCapsule producer, got {type(data).__name__}")


def empty_batch(schema: pa.Schema) -> pa.RecordBatch:
    return pa.RecordBatch.from_arrays([pa.array([], type=f.type) for f in schema], schema=schema)


def one_batch(table: pa.Table) -> pa.RecordBatch:
    """All rows of ``table`` as one RecordBatch (zero-copy when it already has one chunk)."""
    batches = table.to_batches()
    if not batches:
        return empty_batch(table.schema)
    if len(batches) == 1:
        return batches[0]
    return pa.concat_batches(batches)

