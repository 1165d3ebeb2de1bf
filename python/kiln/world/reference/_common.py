"""Pieces shared by the reference kernel and its two stores: base schema, name rules, schema
comparison, read filters, store-internal failure types and catalog error construction."""
from __future__ import annotations

import bisect
import hashlib
import re
from dataclasses import dataclass
from typing import Any, Iterable, List, Optional, Sequence, Tuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

INT32_MAX = 2**31 - 1
INT32_MIN = -(2**31)

BASE_FIELDS: Tuple[pa.Field, ...] = (
    pa.field("world_id", pa.string(), nullable=False),
    pa.field("run_id", pa.string(), nullable=False),
    pa.field("entity_id", pa.int32(), nullable=False),
    pa.field("tick", pa.int32(), nullable=False),
    pa.field("is_active", pa.bool_(), nullable=False),
)
BASE_NAMES: Tuple[str, ...] = tuple(f.name for f in BASE_FIELDS)
N_BASE = len(BASE_FIELDS)

_NAME_RE = re.compile(r"^[A-Za-z0-9\-][A-Za-z0-9_.\-]{0,199}$")


# --------------------------------------------------------------------------- errors


def error_for(number: int, message: str, **details: Any) -> Exception:
    """Build the catalog exception for a world ABI code (kiln.errors is imported lazily)."""
    from kiln.errors import error_for as _error_for

    return _error_for(number, message, **details)


def is_catalog_error(exc: BaseException) -> bool:
    try:
        from kiln.errors import KilnError
    except ImportError:  # pragma: no cover - kiln.errors always exists in a built package
        return False
    return isinstance(exc, KilnError)


class StoreFailure(Exception):
    """A store operation failed and nothing of it is visible (mapped to 200-206)."""

    def __init__(self, code: int, detail: str, cause: Optional[BaseException] = None) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.cause = cause

    @property
    def errno(self) -> Optional[int]:
        return getattr(self.cause, "errno", None)


class PartialPublish(Exception):
    """Publication failed after the commit point and the commit could not be withdrawn."""

    def __init__(self, committed_tables: List[str], cause: BaseException) -> None:
        super().__init__(f"publication failed after {len(committed_tables)} table(s): {cause}")
        self.committed_tables = list(committed_tables)
        self.cause = cause


# --------------------------------------------------------------------------- names and ids


def name_problem(name: object, what: str = "table") -> Optional[str]:
    """Return why ``name`` breaks the table/namespace rules of specs/world.md §7.5, or None."""
    if not isinstance(name, str):
        return f"{what} name must be a string, got {type(name).__name__}"
    if not _NAME_RE.match(name):
        return (
            f"invalid {what} name {name!r}: names are 1-200 bytes of [A-Za-z0-9_.-] "
            "and may not start with '_' or '.'"
        )
    return None


def id_problem(value: object, what: str) -> Optional[str]:
    """Return why ``value`` is not a valid world_id/run_id (§2.6), or None."""
    if not isinstance(value, str):
        return f"{what} must be a string, got {type(value).__name__}"
    try:
        raw = value.encode("utf-8")
    except UnicodeEncodeError:
        return f"{what} {value!r} is not valid UTF-8"
    if not raw:
        return f"{what} must not be empty"
    if len(raw) > 256:
        return f"{what} is {len(raw)} bytes long; at most 256 bytes are allowed"
    if "\0" in value:
        return f"{what} must not contain NUL characters"
    return None


def world_key(world_id: str, run_id: str) -> str:
    return hashlib.sha256((world_id + "\0" + run_id).encode("utf-8")).hexdigest()[:32]


# --------------------------------------------------------------------------- schemas


def _fields_equal(a: pa.Field, b: pa.Field) -> bool:
    return a.name == b.name and a.nullable == b.nullable and types_equal(a.type, b.type)


def types_equal(a: pa.DataType, b: pa.DataType) -> bool:
    """Exact type equality, recursing into nested types including child names and
    nullability (pyarrow's own ``equals`` ignores list child names)."""
    if a.id != b.id:
        return False
    if pa.types.is_list(a) or pa.types.is_large_list(a) or pa.types.is_list_view(a) or pa.types.is_large_list_view(a):
        return _fields_equal(a.value_field, b.value_field)
    if pa.types.is_fixed_size_list(a):
        return a.list_size == b.list_size and _fields_equal(a.value_field, b.value_field)
    if pa.types.is_map(a):
        return (
            a.keys_sorted == b.keys_sorted
            and _fields_equal(a.key_field, b.key_field)
            and _fields_equal(a.item_field, b.item_field)
        )
    if pa.types.is_struct(a) or pa.types.is_union(a):
        if a.num_fields != b.num_fields:
            return False
        if pa.types.is_union(a) and (a.mode != b.mode or list(a.type_codes) != list(b.type_codes)):
            return False
        return all(_fields_equal(a.field(i), b.field(i)) for i in range(a.num_fields))
    if pa.types.is_dictionary(a):
        return a.ordered == b.ordered and types_equal(a.index_type, b.index_type) and types_equal(a.value_type, b.value_type)
    return a.equals(b)


def schemas_equal(a: pa.Schema, b: pa.Schema) -> bool:
    """Schema equality of specs/world.md §6.4: names, types, nullability, order; no metadata."""
    if len(a) != len(b):
        return False
    return all(_fields_equal(a.field(i), b.field(i)) for i in range(len(a)))


def describe_type(t: pa.DataType) -> str:
    return str(t)


def empty_batch(schema: pa.Schema) -> pa.RecordBatch:
    return pa.RecordBatch.from_arrays([pa.array([], type=f.type) for f in schema], schema=schema)


def is_string_like(t: pa.DataType) -> bool:
    return (
        pa.types.is_string(t)
        or pa.types.is_large_string(t)
        or pa.types.is_binary(t)
        or pa.types.is_large_binary(t)
        or pa.types.is_string_view(t)
        or pa.types.is_binary_view(t)
    )


def to_table(parts: Sequence[pa.RecordBatch | pa.Table], schema: pa.Schema) -> pa.Table:
    """Assemble batches/tables into one table carrying exactly ``schema`` (metadata included)."""
    batches: List[pa.RecordBatch] = []
    for p in parts:
        if isinstance(p, pa.Table):
            batches.extend(p.to_batches())
        else:
            batches.append(p)
    batches = [b for b in batches if b.num_rows]
    out = []
    for b in batches:
        if b.schema is schema or b.schema.equals(schema, check_metadata=True):
            out.append(b)
        else:
            out.append(pa.RecordBatch.from_arrays(b.columns, schema=schema))
    return pa.Table.from_batches(out, schema=schema)


# --------------------------------------------------------------------------- read filters


def _int_list(values: Optional[Iterable[int]], what: str) -> Optional[List[int]]:
    if values is None:
        return None
    if isinstance(values, (str, bytes)):
        raise TypeError(f"{what} must be a list of integers")
    if isinstance(values, np.ndarray):
        if values.ndim != 1 or not (values.size == 0 or np.issubdtype(values.dtype, np.integer)):
            raise TypeError(f"{what} must be a 1-D integer array")
        return sorted(set(int(v) for v in values.tolist()))
    out = set()
    for v in values:
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
            raise TypeError(f"{what} must contain integers, got {type(v).__name__}")
        out.add(int(v))
    return sorted(out)


@dataclass
class ReadFilter:
    """A normalised §5.6 filter: every present predicate is ANDed; an empty list matches
    nothing; ``max_tick`` is the visibility watermark (None = no limit)."""

    world_id: str
    run_id: str
    ticks: Optional[List[int]] = None
    tick_range: Optional[Tuple[int, int]] = None
    entity_ids: Optional[List[int]] = None
    active_only: bool = False
    max_tick: Optional[int] = None

    @classmethod
    def build(
        cls,
        world_id: str,
        run_id: str,
        ticks: Optional[Iterable[int]] = None,
        tick_range: Optional[Tuple[int, int]] = None,
        entity_ids: Optional[Iterable[int]] = None,
        active_only: bool = False,
        max_tick: Optional[int] = None,
    ) -> "ReadFilter":
        """Normalise arguments; raises TypeError/ValueError on malformed input (callers map
        these to code 8)."""
        rng = None
        if tick_range is not None:
            if len(tick_range) != 2:
                raise ValueError("tick_range must be an inclusive (lo, hi) pair")
            lo, hi = tick_range
            if isinstance(lo, bool) or isinstance(hi, bool) or not isinstance(lo, (int, np.integer)) or not isinstance(hi, (int, np.integer)):
                raise TypeError("tick_range bounds must be integers")
            rng = (int(lo), int(hi))
        return cls(
            world_id=world_id,
            run_id=run_id,
            ticks=_int_list(ticks, "ticks"),
            tick_range=rng,
            entity_ids=_int_list(entity_ids, "entity_ids"),
            active_only=bool(active_only),
            max_tick=max_tick,
        )

    def matches_nothing(self) -> bool:
        if self.ticks is not None and not self.ticks:
            return True
        if self.entity_ids is not None and not self.entity_ids:
            return True
        if self.tick_range is not None and self.tick_range[0] > self.tick_range[1]:
            return True
        return False

    # -- pruning by statistics (min/max ranges; None = unknown, cannot prune)

    @staticmethod
    def _list_hits(values: List[int], lo: Optional[int], hi: Optional[int]) -> bool:
        if lo is None or hi is None:
            return True
        i = bisect.bisect_left(values, lo)
        return i < len(values) and values[i] <= hi

    def may_match(
        self,
        tick_min: Optional[int],
        tick_max: Optional[int],
        eid_min: Optional[int],
        eid_max: Optional[int],
        any_active: Optional[bool] = None,
    ) -> bool:
        if self.ticks is not None and not self._list_hits(self.ticks, tick_min, tick_max):
            return False
        if self.tick_range is not None and tick_min is not None and tick_max is not None:
            lo, hi = self.tick_range
            if tick_max < lo or tick_min > hi:
                return False
        if self.max_tick is not None and tick_min is not None and tick_min > self.max_tick:
            return False
        if self.entity_ids is not None and not self._list_hits(self.entity_ids, eid_min, eid_max):
            return False
        if self.active_only and any_active is False:
            return False
        return True

    # -- exact filtering

    def mask(self, data: pa.Table | pa.RecordBatch, *, check_world: bool = True) -> Optional[pa.Array]:
        """Boolean mask of the rows that pass, or None when every row passes."""
        conds = []
        if check_world:
            conds.append(pc.equal(data.column("world_id"), pa.scalar(self.world_id, pa.string())))
            conds.append(pc.equal(data.column("run_id"), pa.scalar(self.run_id, pa.string())))
        tick = data.column("tick")
        if self.ticks is not None:
            vals = [t for t in self.ticks if INT32_MIN <= t <= INT32_MAX]
            conds.append(pc.is_in(tick, value_set=pa.array(vals, pa.int32())))
        if self.tick_range is not None:
            lo, hi = self.tick_range
            conds.append(pc.greater_equal(tick, pa.scalar(max(lo, INT32_MIN), pa.int64())))
            conds.append(pc.less_equal(tick, pa.scalar(min(hi, INT32_MAX), pa.int64())))
        if self.max_tick is not None:
            conds.append(pc.less_equal(tick, pa.scalar(self.max_tick, pa.int64())))
        if self.entity_ids is not None:
            vals = [e for e in self.entity_ids if INT32_MIN <= e <= INT32_MAX]
            conds.append(pc.is_in(data.column("entity_id"), value_set=pa.array(vals, pa.int32())))
        if self.active_only:
            conds.append(data.column("is_active"))
        if not conds:
            return None
        m = conds[0]
        for c in conds[1:]:
            m = pc.and_(m, c)
        return m

    def apply(self, data, *, check_world: bool = True):
        if self.matches_nothing():
            return data.slice(0, 0)
        m = self.mask(data, check_world=check_world)
        if m is None:
            return data
        chunks = m.chunks if isinstance(m, pa.ChunkedArray) else [m]
        hits = sum(c.true_count for c in chunks)
        if hits == len(data):
            return data  # zero copy when every row passes (e.g. one tick, all active)
        if hits == 0:
            return data.slice(0, 0)
        return data.filter(m)
