"""The native kernel: kiln._kiln.WorldKernel behind the kernel interface.

docs/dev/kernel-interface.md defines the interface; this wrapper only converts between pyarrow
objects and the PyCapsules the C++ binding speaks, so that the shared Python layer is identical for
both backends.
"""
from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np
import pyarrow as pa

from kiln import _kiln
from kiln.world.store import MemoryStore, ParquetStore

_OPEN_MODES = {"create": 0, "resume": 1, "create_or_resume": 2}
_SOURCES = {"ledger": 0, "live": 1, "staged": 2}


class _ArrayCapsules:
    """Hands a (schema, array) capsule pair to pyarrow's PyCapsule import."""

    __slots__ = ("_capsules",)

    def __init__(self, capsules: tuple) -> None:
        self._capsules = capsules

    def __arrow_c_array__(self, requested_schema: Any = None) -> tuple:
        return self._capsules


class _StreamCapsule:
    __slots__ = ("_capsule",)

    def __init__(self, capsule: Any) -> None:
        self._capsule = capsule

    def __arrow_c_stream__(self, requested_schema: Any = None) -> Any:
        return self._capsule


class _SchemaCapsule:
    __slots__ = ("_capsule",)

    def __init__(self, capsule: Any) -> None:
        self._capsule = capsule

    def __arrow_c_schema__(self) -> Any:
        return self._capsule


def _batch(capsules: tuple) -> pa.RecordBatch:
    return pa.record_batch(_ArrayCapsules(capsules))


def _ids(ids: Any) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(ids, dtype=np.int32).reshape(-1))


def _int_list(values: Optional[Sequence[int]]) -> Optional[list]:
    return None if values is None else [int(v) for v in values]


class NativeKernel:
    """The C++ kernel (kiln::world::World)."""

    def __init__(self, *, world_id: Optional[str], run_id: Optional[str], store: Any,
                 namespace: str = "default", open_mode: str = "create") -> None:
        if isinstance(store, ParquetStore):
            root, flush, durability = store.root, store.flush_every_ticks, store.durability
            compression, level, retain = store.compression, store.compression_level, -1
        elif isinstance(store, MemoryStore):
            root, flush, durability, compression, level = None, 1, "process", "zstd", 1
            retain = -1 if store.retain_ticks is None else store.retain_ticks
        else:
            from kiln.errors import error_for

            raise error_for(8, f"store must be a ParquetStore or MemoryStore, got {type(store).__name__}")
        if open_mode not in _OPEN_MODES:
            from kiln.errors import error_for

            raise error_for(8, f"open_mode must be one of {tuple(_OPEN_MODES)}, got {open_mode!r}")
        self._k = _kiln.WorldKernel(world_id, run_id, root, namespace, _OPEN_MODES[open_mode], flush,
                                    1 if durability == "fsync" else 0, compression, level, retain)

    # -- properties and diagnostics -------------------------------------------------------------
    @property
    def world_id(self) -> str:
        return self._k.world_id

    @property
    def run_id(self) -> str:
        return self._k.run_id

    def info(self) -> dict:
        return self._k.info()

    def store_counters(self) -> dict:
        return self._k.store_counters()

    def last_table_profiles(self) -> list:
        return self._k.last_table_profiles()

    # -- tables and entities --------------------------------------------------------------------
    def register_table(self, name: str, schema: pa.Schema) -> None:
        self._k.register_table(name, schema)

    def table_schema(self, name: str) -> pa.Schema:
        return pa.schema(_SchemaCapsule(self._k.table_schema(name)))

    def tables(self, which: str = "registered") -> list:
        if which not in ("registered", "active"):
            from kiln.errors import error_for

            raise error_for(8, f"which must be 'registered' or 'active', got {which!r}")
        return self._k.tables(which == "active")

    def registry(self) -> pa.RecordBatch:
        return _batch(self._k.registry())

    def spawn(self, table: str, batch: pa.RecordBatch) -> np.ndarray:
        return self._k.spawn(table, batch)

    def spawn_with_ids(self, table: str, batch: pa.RecordBatch, ids: Any) -> None:
        self._k.spawn_with_ids(table, batch, _ids(ids))

    def reserve_ids(self, n: int) -> int:
        return self._k.reserve_ids(int(n))

    def despawn(self, ids: Any) -> None:
        self._k.despawn(_ids(ids))

    def migrate(self, table: str, batch: pa.RecordBatch, ids: Any) -> None:
        self._k.migrate(table, batch, _ids(ids))

    # -- processors and stepping ----------------------------------------------------------------
    def add_movement(self, dt: float, priority: int) -> int:
        return self._k.add_movement(float(dt), int(priority))

    def add_formula(self, name: str, rules: list, params: list, priority: int, mode: str = "ieee") -> int:
        return self._k.add_formula(str(name), [(str(t), str(e)) for t, e in rules],
                                   [(str(k), float(v)) for k, v in params], int(priority), str(mode))

    def remove_processor(self, pid: int) -> None:
        self._k.remove_processor(int(pid))

    def run_processor(self, pid: int, table: str, batch: pa.RecordBatch) -> pa.RecordBatch:
        return _batch(self._k.run_processor(int(pid), table, batch))

    def step(self) -> dict:
        return self._k.step()

    def step_begin(self, table: str) -> pa.RecordBatch:
        return _batch(self._k.step_begin(table))

    def step_commit(self, table: str, batch: pa.RecordBatch) -> Optional[dict]:
        return self._k.step_commit(table, batch)

    def step_abort(self, table: str) -> None:
        self._k.step_abort(table)

    # -- reads ----------------------------------------------------------------------------------
    def query(self, table: str, source: str = "ledger", *, world_id: Optional[str] = None,
              run_id: Optional[str] = None, ticks: Optional[Sequence[int]] = None,
              tick_range: Optional[tuple] = None, entity_ids: Optional[Sequence[int]] = None,
              active_only: bool = False) -> pa.Table:
        if source not in _SOURCES:
            from kiln.errors import error_for

            raise error_for(8, f"source must be one of {tuple(_SOURCES)}, got {source!r}")
        rng = None if tick_range is None else (int(tick_range[0]), int(tick_range[1]))
        capsule = self._k.query(table, _SOURCES[source], world_id, run_id, _int_list(ticks), rng,
                                _int_list(entity_ids), bool(active_only))
        return pa.table(_StreamCapsule(capsule))

    # -- lifecycle ------------------------------------------------------------------------------
    def flush(self) -> None:
        self._k.flush()

    def close(self, discard: bool = False) -> None:
        self._k.close(bool(discard))

    def set_fault_plan(self, plan: str) -> None:
        self._k.set_fault_plan(plan)
