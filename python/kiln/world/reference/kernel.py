"""The pure-Python reference world kernel (specs/world.md §9.1, docs/dev/kernel-interface.md).

Same contract as the native kernel, written with pyarrow.compute: despawns are ``pc.is_in`` +
``pc.if_else`` on ``is_active``, base columns are stamped with slices of cached constant
arrays, staged spawns are deduplicated through a dict keyed by entity id, spawns are appended
with ``pa.concat_batches`` only when present, and the live snapshot is ``batch.filter`` with an
all-active fast path.
"""
from __future__ import annotations

import functools
import math
import threading
import time
from contextlib import contextmanager
from typing import Dict, Iterator, List, Optional, Sequence, Set, Tuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from kiln.world._uuid7 import uuid7
from kiln.world.reference._common import (
    BASE_FIELDS,
    BASE_NAMES,
    INT32_MAX,
    INT32_MIN,
    N_BASE,
    PartialPublish,
    ReadFilter,
    StoreFailure,
    empty_batch,
    error_for,
    id_problem,
    is_catalog_error,
    name_problem,
    schemas_equal,
    to_table,
    types_equal,
)
from kiln.world.reference.faults import FaultPlan
from kiln.world.reference.memory_store import MemoryWorldStore
from kiln.world.reference.parquet_store import ParquetWorldStore
from kiln.world.store import MemoryStore, ParquetStore

__all__ = ["ReferenceKernel"]

_READY = "ready"
_EPOCH_OPEN = "epoch_open"
_POISONED_PARTIAL = "poisoned_partial_tick"
_POISONED_INTERNAL = "poisoned_internal"
_OPEN_MODES = ("create", "resume", "create_or_resume")
_SOURCES = ("ledger", "live", "staged")
_PROFILE_PHASES = ("read_prior_sec", "materialize_sec", "process_sec", "append_sec", "live_snapshot_sec")


# --------------------------------------------------------------------------- processors


class _Movement:
    """Native Movement (§6.1): x' = x + dx*dt, y' = y + dy*dt, one multiply then one add."""

    name = "movement"
    required = ("position__x", "position__y", "velocity__dx", "velocity__dy")

    def __init__(self, pid: int, dt: float, priority: int) -> None:
        self.pid = pid
        self.dt = dt
        self.priority = priority
        self._dt = pa.scalar(dt, pa.float64())

    def apply(self, batch: pa.RecordBatch, fail) -> pa.RecordBatch:
        schema = batch.schema
        idx = []
        for name in self.required:
            i = schema.get_field_index(name)
            if i < 0:
                raise fail(154, f"processor movement: batch lacks required column {name}", column=name)
            t = schema.field(i).type
            if not pa.types.is_float64(t):
                raise fail(
                    155,
                    f"processor movement: column {name} has type {t}, expected double",
                    column=name,
                    expected="double",
                    actual=str(t),
                )
            idx.append(i)
        ix, iy, idx_, idy = idx
        cols = batch.columns
        cols[ix] = pc.add(cols[ix], pc.multiply(cols[idx_], self._dt))
        cols[iy] = pc.add(cols[iy], pc.multiply(cols[idy], self._dt))
        return pa.RecordBatch.from_arrays(cols, schema=schema)


class _Formula:
    """Formula processor (§6.2, formula.md A.3.5): rules compiled at registration with the pure-
    Python formula evaluator's twin (kiln.formula, whose evaluation is bitwise the reference's);
    formula errors surface as 402/155/157/400 with the formula error as cause."""

    BASE = ("world_id", "run_id", "entity_id", "tick", "is_active")

    def __init__(self, pid: int, name: str, rules, params, priority: int, mode: str, fail) -> None:
        from kiln.errors import FormulaError, make_error
        from kiln.formula import compile_rules

        self.pid, self.name, self.priority = pid, name, priority
        self.params = dict(params)
        for p in self.params:
            if p in self.BASE:
                raise fail(402, f"formula processor {name!r}: param {p} is a base column", cause=make_error(4306, name=p))
        try:
            self.rules = compile_rules(dict(rules), mode=mode, reserved=self.BASE)
        except FormulaError as exc:
            raise fail(402, f"formula processor {name!r}: {exc.message.splitlines()[0]}", cause=exc) from exc
        req: list = []
        for target, f in self.rules:
            for c in (target, *f.variables):
                if c not in self.params and c not in req:
                    req.append(c)
        self.required = tuple(req)

    def apply(self, batch: pa.RecordBatch, fail) -> pa.RecordBatch:
        from kiln import errors as ke
        from kiln.errors import make_error

        where = f"formula processor {self.name!r}"
        for p in self.params:
            if p in batch.schema.names:
                raise fail(402, f"{where}: param {p} is also a column", cause=make_error(4306, name=p))
        try:
            return self.rules.apply(batch, threads=1, **self.params)
        except (ke.FormulaTargetTypeError, ke.FormulaColumnTypeError) as exc:
            raise fail(155, f"{where}: {exc.message}", cause=exc) from exc
        except ke.FormulaTargetNotNullableError as exc:
            raise fail(157, f"{where}: {exc.message}", cause=exc) from exc
        except ke.FormulaEvaluationError as exc:
            raise fail(400, f"{where}: {exc.message}", cause=exc) from exc
        except ke.FormulaError as exc:
            raise fail(402, f"{where}: {exc.message}", cause=exc) from exc


# --------------------------------------------------------------------------- staged spawn rows


class _StagedRows:
    """``S[T]``: staged spawn rows of one table, in first-insertion order.

    ``rows`` maps entity id -> global row position over ``chunks`` (component batches in the
    table's component schema). Python dicts keep insertion order and keep a key's position on
    reassignment, which is exactly "last write wins, first position" (§3.4). Every put takes
    a fresh position, so while every position is still referenced (``len(rows) == total``:
    nothing was replaced or removed) the staged rows are the plain concatenation of the
    chunks and materialising needs no gather."""

    __slots__ = ("rows", "chunks", "id_chunks", "total", "_cache")

    def __init__(self) -> None:
        self.rows: Dict[int, int] = {}
        self.chunks: List[pa.RecordBatch] = []
        self.id_chunks: List[np.ndarray] = []
        self.total = 0
        self._cache: Optional[Tuple[np.ndarray, pa.RecordBatch]] = None

    def __len__(self) -> int:
        return len(self.rows)

    def __contains__(self, eid: int) -> bool:
        return eid in self.rows

    def add_chunk(self, comp: pa.RecordBatch, ids: np.ndarray, *, fresh: bool) -> int:
        """Append a chunk; with ``fresh`` (ids unique and not staged here) also insert all ids.
        Returns the global position of the chunk's first row."""
        if not self.rows and self.total:
            # nothing staged references the old chunks any more: start over
            self.chunks.clear()
            self.id_chunks.clear()
            self.total = 0
        base = self.total
        self.chunks.append(comp)
        self.id_chunks.append(ids)
        self.total += comp.num_rows
        self._cache = None
        if fresh:
            self.rows.update(zip(ids.tolist(), range(base, base + comp.num_rows)))
        return base

    def put(self, eid: int, pos: int) -> None:
        self.rows[eid] = pos
        self._cache = None

    def remove(self, eid: int) -> None:
        del self.rows[eid]
        self._cache = None

    def materialize(self, comp_schema: pa.Schema) -> Tuple[np.ndarray, pa.RecordBatch]:
        if self._cache is not None:
            return self._cache
        if not self.rows:
            out = (np.empty(0, np.int32), empty_batch(comp_schema))
        elif len(self.rows) == self.total:
            ids = self.id_chunks[0] if len(self.id_chunks) == 1 else np.concatenate(self.id_chunks)
            comp = self.chunks[0] if len(self.chunks) == 1 else pa.concat_batches(self.chunks)
            out = (ids, comp)
        else:
            n = len(self.rows)
            ids = np.fromiter(self.rows.keys(), dtype=np.int32, count=n)
            pos = np.fromiter(self.rows.values(), dtype=np.int64, count=n)
            comp = self.chunks[0] if len(self.chunks) == 1 else pa.concat_batches(self.chunks)
            out = (ids, comp.take(pa.array(pos)))
        self._cache = out
        return out


# --------------------------------------------------------------------------- epochs and pending ticks


class _Prepared:
    __slots__ = ("table", "stamped", "candidate", "profile")

    def __init__(self, table: str, stamped: pa.RecordBatch, candidate: pa.RecordBatch, profile: dict) -> None:
        self.table = table
        self.stamped = stamped
        self.candidate = candidate
        self.profile = profile


class _Epoch:
    __slots__ = ("tick", "tables", "inputs", "done", "txn", "t_start", "prior_sec")

    def __init__(self, tick: int, tables: List[str], txn) -> None:
        self.tick = tick
        self.tables = tables
        self.inputs: Dict[str, pa.RecordBatch] = {}
        self.done: Dict[str, _Prepared] = {}
        self.txn = txn
        self.t_start = time.perf_counter()
        self.prior_sec: Dict[str, float] = {}


class _PendingTick:
    __slots__ = ("tick", "batches", "live_tables", "next_entity_id")

    def __init__(self, tick: int, batches: Dict[str, pa.RecordBatch], live_tables: List[str], next_entity_id: int) -> None:
        self.tick = tick
        self.batches = batches
        self.live_tables = live_tables
        self.next_entity_id = next_entity_id


def _same_buffers(a: pa.Array, b: pa.Array) -> bool:
    if a is b:
        return True
    if len(a) != len(b) or a.offset != b.offset:
        return False
    ba, bb = a.buffers(), b.buffers()
    if len(ba) != len(bb):
        return False
    for x, y in zip(ba, bb):
        if (x is None) != (y is None):
            return False
        if x is not None and (x.address != y.address or x.size != y.size):
            return False
    return True


# --------------------------------------------------------------------------- the kernel


class ReferenceKernel:
    """Pure-Python world kernel with the interface of docs/dev/kernel-interface.md."""

    backend = "reference"

    def __init__(
        self,
        *,
        world_id: Optional[str] = None,
        run_id: Optional[str] = None,
        store,
        namespace: str = "default",
        open_mode: str = "create",
    ) -> None:
        self._world_id = world_id if world_id is not None else uuid7()
        self._run_id = run_id if run_id is not None else None
        self._tick = 0
        self._next_id = 1
        self._last_committed = -1
        self._state = _READY
        self._closed = False
        self._stepping = False
        self._tables: Dict[str, pa.Schema] = {}
        self._comp_schemas: Dict[str, pa.Schema] = {}
        self._empties: Dict[str, pa.RecordBatch] = {}
        self._registry: Dict[int, str] = {}
        self._counts: Dict[str, int] = {}
        self._staged: Dict[str, _StagedRows] = {}
        self._despawns: Dict[str, Set[int]] = {}
        self._live: Dict[str, pa.RecordBatch] = {}
        self._procs: List[_Movement] = []
        self._next_pid = 1
        self._epoch: Optional[_Epoch] = None
        self._pending: List[_PendingTick] = []
        # A flush of the pending ticks failed (201) and must be retried before anything else by
        # the next step, first step_begin, flush() or close(), even when fewer than k ticks are
        # pending (an explicit flush() of a partial group failed) — §5.7, kernel-interface.md.
        self._flush_failed = False
        self._profiles: List[dict] = []
        self._poison_info: dict = {}
        self._const: Dict[str, pa.Array] = {}
        self._tick_cache: Tuple[int, Optional[pa.Array]] = (-1, None)
        self._store = None
        self._lock = threading.RLock()

        if open_mode not in _OPEN_MODES:
            raise self._err(8, f"open_mode must be one of {_OPEN_MODES}, got {open_mode!r}")
        for what, value in (("world_id", world_id), ("run_id", run_id)):
            if value is not None:
                problem = id_problem(value, what)
                if problem:
                    raise self._err(158, problem)
        problem = name_problem(namespace, "namespace")
        if problem:
            raise self._err(158, problem)
        self._namespace = namespace
        self._flush_every = 1
        faults = FaultPlan()
        if isinstance(store, MemoryStore):
            if open_mode == "resume":
                raise self._err(8, "resume needs a Parquet store; a memory store keeps nothing across processes")
            if self._run_id is None:
                self._run_id = uuid7()
            self._store = MemoryWorldStore(store.retain_ticks, faults)
        elif isinstance(store, ParquetStore):
            self._flush_every = store.flush_every_ticks
            self._store = ParquetWorldStore(store, namespace, faults)
            self._open_parquet(open_mode)
        else:
            raise self._err(8, f"store must be a ParquetStore or MemoryStore, got {type(store).__name__}")

    # ------------------------------------------------------------------ identity and errors

    @property
    def world_id(self) -> str:
        return self._world_id

    @property
    def run_id(self) -> str:
        return self._run_id if self._run_id is not None else ""

    @property
    def tick(self) -> int:
        return self._tick

    @property
    def next_entity_id(self) -> int:
        return self._next_id

    def _err(self, number: int, detail: str, *, table: Optional[str] = None, entity_id: Optional[int] = None, **extra) -> Exception:
        ctx = f"world_id={self._world_id}, run_id={self.run_id}, tick={self._tick}"
        details = dict(world_id=self._world_id, run_id=self.run_id, tick=self._tick)
        if table is not None:
            ctx += f", table={table}"
            details["table"] = table
        if entity_id is not None:
            ctx += f", entity_id={entity_id}"
            details["entity_id"] = entity_id
        if number in (103, 105) or extra.pop("_with_state", False):
            ctx += f", state={self._state}"
        details.update(extra)
        return error_for(number, f"{detail} ({ctx})", **details)

    def _store_err(self, f: StoreFailure, *, table: Optional[str] = None) -> Exception:
        extra = {}
        if f.errno is not None:
            extra["errno"] = f.errno
        return self._err(f.code, f.detail, table=table, **extra)

    # ------------------------------------------------------------------ state guards

    def _require_open(self) -> None:
        if self._closed:
            raise self._err(6, "the world is closed")

    def _require_not_poisoned(self) -> None:
        if self._state == _POISONED_PARTIAL:
            info = self._poison_info
            raise self._err(
                103,
                f"the world is poisoned by the partially published tick {info.get('tick')}; reopen it to recover",
                # PartialTickError.tick is the partially published tick (§3.3, §8.8), which with
                # flush_every_ticks > 1 is behind the world's tick.
                tick=info.get("tick"),
                committed_tables=info.get("committed_tables"),
                cause=info.get("cause"),
            )
        if self._state == _POISONED_INTERNAL:
            raise self._err(105, f"the world is poisoned by an earlier internal error: {self._poison_info.get('cause')}")

    def _require_mutable(self, what: str) -> None:
        self._require_open()
        self._require_not_poisoned()
        if self._epoch is not None:
            raise self._err(104, f"{what} is not allowed while a split-step epoch is open")
        if self._stepping:
            raise self._err(104, f"{what} is not allowed while a step runs")

    @contextmanager
    def _boundary(self) -> Iterator[None]:
        """Every state-changing call runs inside: catalog errors pass through; anything else
        is an internal error (code 2) that poisons the world (105)."""
        try:
            yield
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:
            if is_catalog_error(exc):
                raise
            if isinstance(exc, MemoryError):
                raise self._err(10, f"out of memory: {exc}") from exc
            self._poison_internal(exc)
            raise self._err(2, f"internal error: {type(exc).__name__}: {exc}") from exc

    def _checkpoint(self) -> None:
        crash = self._store.faults.check("internal")
        FaultPlan.after(crash)

    def _poison_internal(self, exc: BaseException) -> None:
        self._discard_epoch()
        self._state = _POISONED_INTERNAL
        self._poison_info = {"cause": f"{type(exc).__name__}: {exc}"}

    def _poison_partial(self, tick: int, p: PartialPublish, *, first_tick: Optional[int] = None,
                        completed: Sequence[_PendingTick] = ()) -> Exception:
        """Poison after a partial publication of the flush ``first_tick..tick``.

        Kiln's own readers never see a partial tick, not even before recovery (§5.5), so the
        world's ledger reads skip every stored row of that flush from now on. Ticks of it that
        had completed in memory (``completed``: the pending ticks of a k > 1 flush) stay readable
        from memory, like unflushed ticks before (read-your-writes, §5.7); with k = 1 the tick
        never completed, so it is simply absent until a reopen rolls it forward.
        """
        self._discard_epoch(abort_txn=False)
        self._state = _POISONED_PARTIAL
        self._last_committed = max(self._last_committed, tick)
        self._poison_info = {
            "tick": tick,
            "committed_tables": len(p.committed_tables),
            "cause": str(p.cause),
            "hidden": (tick if first_tick is None else first_tick, tick),
            "completed": list(completed),
        }
        return self._err(
            103,
            f"tick {tick} is committed but only {len(p.committed_tables)} table(s) "
            f"({', '.join(p.committed_tables) or 'none'}) became visible before publication failed: {p.cause}; "
            "reopen the world to roll it forward",
            tick=tick,  # the partially published tick (§3.3: 103 with {tick, committed_tables, cause})
            committed_tables=len(p.committed_tables),
            published_tables=list(p.committed_tables),
            cause=str(p.cause),
        )

    # ------------------------------------------------------------------ opening a Parquet store

    def _open_parquet(self, open_mode: str) -> None:
        store: ParquetWorldStore = self._store
        try:
            store.open_namespace()
            if self._run_id is None:
                if open_mode == "resume":
                    runs = store.runs_of(self._world_id)
                    if len(runs) != 1:
                        found = ", ".join(runs) if runs else "none"
                        raise self._err(
                            206,
                            f"resume without run_id needs exactly one run of world {self._world_id} in namespace "
                            f"{self._namespace}; found {len(runs)}: {found}",
                            runs=runs,
                        )
                    self._run_id = runs[0]
                else:
                    self._run_id = uuid7()
            store.lock(self._world_id, self._run_id)
        except StoreFailure as f:
            store.close()
            raise self._store_err(f) from f.cause
        try:
            store.recover()
            rec = store.last_record()
            if rec is not None and open_mode == "create":
                raise self._err(
                    205,
                    f"the store already has commits for this world (last tick {rec['last_tick']}); "
                    "open it with resume or choose another run_id",
                )
            if rec is None and open_mode == "resume":
                raise self._err(206, f"no commits for this world in namespace {self._namespace} of {store.root}")
            if rec is not None:
                self._resume_from(rec)
        except StoreFailure as f:
            store.close()
            raise self._store_err(f) from f.cause
        except BaseException:
            store.close()
            raise

    def _resume_from(self, rec: dict) -> None:
        last_tick = int(rec["last_tick"])
        for table, schema, data in self._store.load_live(rec):
            self._install_table(table, schema)
            if data.num_rows == 0:
                continue
            batches = data.to_batches()
            batch = batches[0] if len(batches) == 1 else pa.concat_batches(batches)
            batch = pa.RecordBatch.from_arrays(batch.columns, schema=self._tables[table])
            ids = batch.column(2).to_numpy(zero_copy_only=False).tolist()
            before = len(self._registry)
            self._registry.update(dict.fromkeys(ids, table))
            if len(self._registry) != before + len(ids):
                raise StoreFailure(204, f"live rows of tick {last_tick} repeat entity ids (table {table})")
            self._counts[table] = len(ids)
            self._live[table] = batch
        self._tick = last_tick + 1
        self._next_id = int(rec["next_entity_id"])
        self._last_committed = last_tick

    # ------------------------------------------------------------------ diagnostics

    def info(self) -> dict:
        state = _EPOCH_OPEN if (self._epoch is not None and self._state == _READY) else self._state
        return dict(
            tick=self._tick,
            next_entity_id=self._next_id,
            last_committed_tick=self._last_committed,
            state=state,
            registered_entities=len(self._registry),
            live_rows=sum(b.num_rows for b in self._live.values()),
            n_tables=len(self._tables),
            n_processors=len(self._procs),
        )

    def store_counters(self) -> dict:
        return dict(self._store.counters)

    def last_table_profiles(self) -> List[dict]:
        return [dict(p) for p in self._profiles]

    def set_fault_plan(self, plan: str) -> None:
        self._require_open()
        try:
            self._store.faults = FaultPlan(plan)
        except ValueError as exc:
            raise self._err(8, str(exc)) from exc

    # ------------------------------------------------------------------ tables

    def _install_table(self, name: str, schema: pa.Schema) -> None:
        self._tables[name] = schema
        self._comp_schemas[name] = pa.schema(list(schema)[N_BASE:])
        self._empties[name] = empty_batch(schema)

    def _full_schema(self, name: str, schema: pa.Schema) -> pa.Schema:
        names = schema.names
        seen = set()
        for n in names:
            if n in seen:
                raise self._err(153, f"schema of table {name} has the duplicate field name {n}", table=name, column=n)
            seen.add(n)
        if not any(n in BASE_NAMES for n in names):
            return pa.schema(list(BASE_FIELDS) + list(schema), metadata=schema.metadata)
        for i, base in enumerate(BASE_FIELDS):
            if i >= len(schema) or schema.field(i).name != base.name:
                got = schema.field(i).name if i < len(schema) else "nothing"
                raise self._err(
                    153,
                    f"schema of table {name} must start with the base columns world_id, run_id, entity_id, tick, "
                    f"is_active; field {i} is {got}, expected {base.name}",
                    table=name,
                    column=base.name,
                )
            f = schema.field(i)
            if not f.type.equals(base.type):
                raise self._err(
                    153, f"base column {base.name} of table {name} has type {f.type}, expected {base.type}", table=name, column=base.name
                )
            if f.nullable:
                raise self._err(153, f"base column {base.name} of table {name} must be non-nullable", table=name, column=base.name)
        return schema

    def register_table(self, name: str, schema: pa.Schema) -> None:
        self._require_mutable("register_table")
        with self._boundary():
            self._checkpoint()
            problem = name_problem(name, "table")
            if problem:
                raise self._err(158, problem, table=name if isinstance(name, str) else None)
            if not isinstance(schema, pa.Schema):
                raise self._err(153, f"schema of table {name} must be a pyarrow.Schema, got {type(schema).__name__}", table=name)
            full = self._full_schema(name, schema)
            existing = self._tables.get(name)
            if existing is not None:
                if schemas_equal(existing, full):
                    return
                raise self._err(152, f"table {name} is already registered with a different schema", table=name)
            if self._store.kind == "parquet" and self._store.has_table(name):
                try:
                    disk = self._store.dir_schema(name)
                except OSError as exc:
                    raise self._err(200, f"cannot read the schema of the stored parts of table {name}: {exc}", table=name) from exc
                if disk is not None and not schemas_equal(disk, full):
                    raise self._err(
                        152, f"table {name} has stored parts with a different schema in namespace {self._namespace}", table=name
                    )
            self._install_table(name, full)

    def _table_arg(self, name) -> str:
        if not isinstance(name, str):
            raise self._err(158, f"table name must be a string, got {type(name).__name__}")
        return name

    def table_schema(self, name: str) -> pa.Schema:
        self._require_open()
        schema = self._tables.get(self._table_arg(name))
        if schema is None:
            raise self._err(150, f"unknown table {name}", table=name if isinstance(name, str) else None)
        return schema

    def _schema_or_150(self, name: str) -> pa.Schema:
        schema = self._tables.get(self._table_arg(name))
        if schema is None:
            problem = name_problem(name, "table")
            if problem:
                raise self._err(158, problem)
            raise self._err(150, f"unknown table {name}: register it first", table=name)
        return schema

    def _active_tables(self) -> List[str]:
        active = {t for t, c in self._counts.items() if c > 0}
        active.update(t for t, s in self._staged.items() if len(s))
        active.update(t for t, d in self._despawns.items() if d)
        return sorted(active)

    def tables(self, which: str = "registered") -> List[str]:
        self._require_open()
        if which == "registered":
            return sorted(self._tables)
        if which == "active":
            if self._epoch is not None:
                return list(self._epoch.tables)
            return self._active_tables()
        raise self._err(8, f"tables(which=...) must be 'registered' or 'active', got {which!r}")

    def registry(self) -> pa.RecordBatch:
        self._require_open()
        n = len(self._registry)
        # Non-nullable like the native kernel's registry (§7.5 leaves nullability open; the
        # columns never hold nulls, and parity compares schemas exactly).
        schema = pa.schema(
            [
                pa.field("entity_id", pa.int32(), nullable=False),
                pa.field("table", pa.string(), nullable=False),
                pa.field("staged", pa.bool_(), nullable=False),
            ]
        )
        if n == 0:
            return empty_batch(schema)
        names = sorted(self._tables)
        code = {t: i for i, t in enumerate(names)}
        ids = np.fromiter(self._registry.keys(), dtype=np.int32, count=n)
        codes = np.fromiter((code[t] for t in self._registry.values()), dtype=np.int32, count=n)
        order = np.argsort(ids, kind="stable")
        ids = ids[order]
        codes = codes[order]
        staged = np.zeros(n, dtype=bool)
        for s in self._staged.values():
            if len(s):
                keys = np.fromiter(s.rows.keys(), dtype=np.int32, count=len(s))
                staged[np.searchsorted(ids, keys)] = True
        table_col = pa.DictionaryArray.from_arrays(pa.array(codes), pa.array(names, pa.string())).cast(pa.string())
        return pa.RecordBatch.from_arrays([pa.array(ids), table_col, pa.array(staged)], schema=schema)

    # ------------------------------------------------------------------ input validation

    def _component_batch(self, table: str, schema: pa.Schema, batch) -> pa.RecordBatch:
        """§3.4 column checks by name; returns the batch in the table's component schema."""
        if isinstance(batch, pa.Table):
            batch = batch.combine_chunks()
            batch = pa.concat_batches(batch.to_batches()) if batch.num_rows else empty_batch(batch.schema)
        if not isinstance(batch, pa.RecordBatch):
            raise self._err(8, f"expected a pyarrow.RecordBatch for table {table}, got {type(batch).__name__}", table=table)
        in_schema = batch.schema
        in_names = in_schema.names
        for n in in_names:
            if n in BASE_NAMES:
                raise self._err(156, f"column {n} is a base column; only the kernel writes it", table=table, column=n)
        if len(set(in_names)) != len(in_names):
            dup = next(n for i, n in enumerate(in_names) if n in in_names[:i])
            raise self._err(156, f"column {dup} appears twice in the batch", table=table, column=dup)
        comp_fields = list(schema)[N_BASE:]
        wanted = {f.name for f in comp_fields}
        for f in comp_fields:
            if f.name not in in_names:
                raise self._err(154, f"batch lacks column {f.name} of table {table}", table=table, column=f.name)
        for n in in_names:
            if n not in wanted:
                raise self._err(156, f"batch has column {n}, which table {table} does not have", table=table, column=n)
        cols = []
        for f in comp_fields:
            i = in_schema.get_field_index(f.name)
            actual = in_schema.field(i).type
            if not types_equal(actual, f.type):
                raise self._err(
                    155,
                    f"column {f.name} has type {actual}, expected {f.type}",
                    table=table,
                    column=f.name,
                    expected=str(f.type),
                    actual=str(actual),
                )
            cols.append(batch.column(i))
        for f, col in zip(comp_fields, cols):
            if not f.nullable and col.null_count > 0:
                row = pc.index(pc.is_null(col), True).as_py()
                raise self._err(157, f"column {f.name} is not nullable but row {row} is null", table=table, column=f.name, row=row)
        if not cols:  # the empty signature: no columns, but the row count still matters
            return batch.select([])
        return pa.RecordBatch.from_arrays(cols, schema=self._comp_schemas[table])

    def _ids_arg(self, ids) -> np.ndarray:
        try:
            arr = np.asarray(ids)
        except (OverflowError, ValueError, TypeError) as exc:
            raise self._err(8, f"entity ids must be a 1-D integer array: {exc}") from exc
        if arr.ndim == 0:
            arr = arr.reshape(1)
        if arr.ndim != 1:
            raise self._err(8, f"entity ids must be a 1-D integer array, got {arr.ndim} dimensions")
        if arr.size == 0:
            return np.empty(0, np.int64)
        if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.integer):
            raise self._err(8, f"entity ids must be integers, got dtype {arr.dtype}")
        if np.issubdtype(arr.dtype, np.unsignedinteger):
            arr = np.minimum(arr, 2**40)  # anything above Int32 is invalid anyway; avoid wrapping
        return arr.astype(np.int64, copy=False)

    # ------------------------------------------------------------------ spawns, despawns, migration

    def _staged_rows(self, table: str) -> _StagedRows:
        s = self._staged.get(table)
        if s is None:
            s = self._staged[table] = _StagedRows()
        return s

    def _stage_fresh(self, table: str, comp: pa.RecordBatch, ids: np.ndarray) -> None:
        """Stage rows for ids that are unique and not registered (no dedupe needed)."""
        ids32 = ids.astype(np.int32, copy=False)
        self._staged_rows(table).add_chunk(comp, ids32, fresh=True)
        self._registry.update(dict.fromkeys(ids32.tolist(), table))
        self._counts[table] = self._counts.get(table, 0) + len(ids32)

    def spawn(self, table: str, batch: pa.RecordBatch) -> np.ndarray:
        self._require_mutable("spawn")
        with self._boundary():
            self._checkpoint()
            schema = self._schema_or_150(table)
            comp = self._component_batch(table, schema, batch)
            n = comp.num_rows
            if n == 0:
                return np.empty(0, np.int32)
            start = self._next_id
            if start + n - 1 > INT32_MAX:
                raise self._err(
                    255,
                    f"spawning {n} entities would pass the largest entity id {INT32_MAX} (next id {start})",
                    table=table,
                )
            ids = np.arange(start, start + n, dtype=np.int32)
            self._stage_fresh(table, comp, ids)
            self._next_id = start + n
            return ids

    def spawn_with_ids(self, table: str, batch: pa.RecordBatch, ids) -> None:
        self._require_mutable("spawn_with_ids")
        with self._boundary():
            self._checkpoint()
            schema = self._schema_or_150(table)
            comp = self._component_batch(table, schema, batch)
            arr = self._ids_arg(ids)
            if len(arr) != comp.num_rows:
                raise self._err(
                    254,
                    f"batch has {comp.num_rows} rows but {len(arr)} entity ids were given (expected {len(arr)}, actual {comp.num_rows})",
                    table=table,
                    expected=len(arr),
                    actual=comp.num_rows,
                )
            if len(arr) == 0:
                return
            bad = np.flatnonzero((arr <= 0) | (arr > INT32_MAX))
            if bad.size:
                eid = int(arr[bad[0]])
                raise self._err(253, f"entity id {eid} cannot be spawned: ids must be in [1, {INT32_MAX}]", table=table, entity_id=eid)
            id_list = arr.tolist()
            for eid in id_list:
                owner = self._registry.get(eid)
                if owner is not None and eid not in self._staged.get(owner, ()):
                    raise self._err(
                        252,
                        f"entity {eid} is live in table {owner}; use update or migrate instead of spawning it again",
                        table=table,
                        entity_id=eid,
                    )
            if len(set(id_list)) == len(id_list) and self._registry.keys().isdisjoint(id_list):
                self._stage_fresh(table, comp, arr)
            else:
                target = self._staged_rows(table)
                base = target.add_chunk(comp, arr.astype(np.int32), fresh=False)
                for i, eid in enumerate(id_list):
                    owner = self._registry.get(eid)
                    if owner is not None and owner != table:
                        self._staged[owner].remove(eid)
                        self._counts[owner] -= 1
                        owner = None
                    if owner is None:
                        self._registry[eid] = table
                        self._counts[table] = self._counts.get(table, 0) + 1
                    target.put(eid, base + i)
            self._next_id = max(self._next_id, int(arr.max()) + 1)

    def reserve_ids(self, n: int) -> int:
        self._require_open()
        self._require_not_poisoned()
        with self._boundary():
            self._checkpoint()
            if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
                raise self._err(8, f"reserve_ids needs n >= 1, got {n!r}", n=n if isinstance(n, int) else None)
            n = int(n)
            start = self._next_id
            if start + n - 1 > INT32_MAX:
                raise self._err(255, f"reserving {n} ids would pass the largest entity id {INT32_MAX} (next id {start})")
            self._next_id = start + n
            return start

    def despawn(self, ids) -> None:
        self._require_mutable("despawn")
        with self._boundary():
            self._checkpoint()
            arr = self._ids_arg(ids)
            id_list = list(dict.fromkeys(arr.tolist()))
            for eid in id_list:
                if eid not in self._registry:
                    raise self._err(251, f"entity {eid} is not registered; nothing was despawned", entity_id=eid)
            for eid in id_list:
                table = self._registry.pop(eid)
                self._counts[table] -= 1
                s = self._staged.get(table)
                if s is not None and eid in s:
                    s.remove(eid)  # spawn-cancel: no tombstone
                else:
                    self._despawns.setdefault(table, set()).add(eid)

    def migrate(self, table: str, batch: pa.RecordBatch, ids) -> None:
        self._require_mutable("migrate")
        with self._boundary():
            self._checkpoint()
            schema = self._schema_or_150(table)
            comp = self._component_batch(table, schema, batch)
            arr = self._ids_arg(ids)
            if len(arr) != comp.num_rows:
                raise self._err(
                    254,
                    f"batch has {comp.num_rows} rows but {len(arr)} entity ids were given (expected {len(arr)}, actual {comp.num_rows})",
                    table=table,
                    expected=len(arr),
                    actual=comp.num_rows,
                )
            id_list = arr.tolist()
            for eid in id_list:
                if eid not in self._registry:
                    raise self._err(251, f"entity {eid} is not registered; nothing was migrated", table=table, entity_id=eid)
            if len(set(id_list)) != len(id_list):
                seen = set()
                dup = next(e for e in id_list if e in seen or seen.add(e))
                raise self._err(8, f"entity {dup} appears twice in one migrate call", table=table, entity_id=dup)
            if not id_list:
                return
            target = self._staged_rows(table)
            base = target.add_chunk(comp, arr.astype(np.int32), fresh=False)
            for i, eid in enumerate(id_list):
                old = self._registry[eid]
                s = self._staged.get(old)
                if s is not None and eid in s:
                    s.remove(eid)
                else:
                    self._despawns.setdefault(old, set()).add(eid)
                self._counts[old] -= 1
                self._registry[eid] = table
                self._counts[table] = self._counts.get(table, 0) + 1
                target.put(eid, base + i)

    # ------------------------------------------------------------------ processors

    def add_movement(self, dt: float, priority: int = 0) -> int:
        self._require_mutable("add_movement")
        with self._boundary():
            self._checkpoint()
            if isinstance(dt, bool) or not isinstance(dt, (int, float, np.integer, np.floating)) or not math.isfinite(dt):
                raise self._err(402, f"Movement dt must be a finite number, got {dt!r}", processor="movement")
            if isinstance(priority, bool) or not isinstance(priority, (int, np.integer)) or not INT32_MIN <= priority <= INT32_MAX:
                raise self._err(8, f"priority must be an Int32, got {priority!r}")
            pid = self._next_pid
            self._next_pid += 1
            self._procs.append(_Movement(pid, float(dt), int(priority)))
            return pid

    def add_formula(self, name: str, rules, params, priority: int = 0, mode: str = "ieee") -> int:
        self._require_mutable("add_formula")
        with self._boundary():
            self._checkpoint()
            if isinstance(priority, bool) or not isinstance(priority, (int, np.integer)) or not INT32_MIN <= priority <= INT32_MAX:
                raise self._err(8, f"priority must be an Int32, got {priority!r}")

            def fail(number: int, detail: str, **extra) -> Exception:
                return self._err(number, detail, processor=name, **extra)

            proc = _Formula(self._next_pid, str(name), list(rules), list(params), int(priority), mode, fail)
            self._next_pid += 1
            self._procs.append(proc)
            return proc.pid

    def remove_processor(self, pid: int) -> None:
        self._require_mutable("remove_processor")
        with self._boundary():
            self._checkpoint()
            for i, p in enumerate(self._procs):
                if p.pid == pid:
                    del self._procs[i]
                    return
            raise self._err(401, f"no processor with id {pid} is registered", processor_id=pid)

    def _proc_fail(self, table: str):
        def fail(number: int, detail: str, **extra) -> Exception:
            return self._err(number, detail, table=table, **extra)

        return fail

    def run_processor(self, pid: int, table: str, batch: pa.RecordBatch) -> pa.RecordBatch:
        self._require_open()
        proc = next((p for p in self._procs if p.pid == pid), None)
        if proc is None:
            raise self._err(401, f"no processor with id {pid} is registered", table=table, processor_id=pid)
        if isinstance(batch, pa.Table):
            batch = pa.concat_batches(batch.to_batches()) if batch.num_rows else empty_batch(batch.schema)
        if not isinstance(batch, pa.RecordBatch):
            raise self._err(8, f"run_processor needs a pyarrow.RecordBatch, got {type(batch).__name__}", table=table)
        return proc.apply(batch, self._proc_fail(table))

    def _chain(self, schema: pa.Schema) -> List[_Movement]:
        names = set(schema.names)
        procs = [p for p in self._procs if all(c in names for c in p.required)]
        procs.sort(key=lambda p: p.priority)  # stable: ties keep registration order
        return procs

    # ------------------------------------------------------------------ stamping helpers

    def _const_str(self, key: str, value: str, n: int) -> pa.Array:
        arr = self._const.get(key)
        if arr is None or len(arr) < n:
            cap = max(n, 1024, 2 * (len(arr) if arr is not None else 0))
            arr = self._const[key] = pa.repeat(pa.scalar(value, pa.string()), cap)
        return arr.slice(0, n)

    def _true(self, n: int) -> pa.Array:
        arr = self._const.get("true")
        if arr is None or len(arr) < n:
            cap = max(n, 1024, 2 * (len(arr) if arr is not None else 0))
            arr = self._const["true"] = pa.array(np.ones(cap, dtype=bool))
        return arr.slice(0, n)

    def _tick_array(self, t: int, n: int) -> pa.Array:
        cached_t, arr = self._tick_cache
        if cached_t != t or arr is None or len(arr) < n:
            cap = max(n, len(arr) if (arr is not None and cached_t == t) else 0)
            arr = pa.array(np.full(cap, t, dtype=np.int32))
            self._tick_cache = (t, arr)
        return arr.slice(0, n)

    def _stamp(self, schema: pa.Schema, batch: pa.RecordBatch, t: int) -> pa.RecordBatch:
        n = batch.num_rows
        cols = batch.columns
        cols[0] = self._const_str("world_id", self._world_id, n)
        cols[1] = self._const_str("run_id", self._run_id, n)
        cols[3] = self._tick_array(t, n)
        return pa.RecordBatch.from_arrays(cols, schema=schema)

    def _spawn_batch(self, table: str, t: int) -> Optional[pa.RecordBatch]:
        s = self._staged.get(table)
        if s is None or not len(s):
            return None
        ids, comp = s.materialize(self._comp_schemas[table])
        m = len(ids)
        cols = [
            self._const_str("world_id", self._world_id, m),
            self._const_str("run_id", self._run_id, m),
            pa.array(ids, pa.int32()),
            self._tick_array(t, m),
            self._true(m),
        ]
        cols.extend(comp.columns)
        return pa.RecordBatch.from_arrays(cols, schema=self._tables[table])

    # ------------------------------------------------------------------ one table of a tick

    def _processor_input(self, table: str) -> pa.RecordBatch:
        """Prior (live snapshot or empty) with staged despawns applied (§3.3 step 3.2-3.3)."""
        prior = self._live.get(table)
        if prior is None:
            prior = self._empties[table]
        dead = self._despawns.get(table)
        if not dead or prior.num_rows == 0:
            return prior
        mask = pc.is_in(prior.column(2), value_set=pa.array(sorted(dead), pa.int32()))
        cols = prior.columns
        cols[4] = pc.if_else(mask, False, cols[4])
        return pa.RecordBatch.from_arrays(cols, schema=prior.schema)

    def _finish_table(self, table: str, processed: pa.RecordBatch, t: int, prof: dict) -> _Prepared:
        """Append staged spawns, stamp, build the snapshot candidate (§3.3 steps 3.5-3.7)."""
        schema = self._tables[table]
        t0 = time.perf_counter()
        if processed.schema is not schema:
            processed = pa.RecordBatch.from_arrays(processed.columns, schema=schema)
        spawns = self._spawn_batch(table, t)
        if spawns is None:
            combined = processed
        elif processed.num_rows == 0:
            combined = spawns
        else:
            combined = pa.concat_batches([processed, spawns])
        stamped = self._stamp(schema, combined, t)
        t1 = time.perf_counter()
        if not self._despawns.get(table):
            candidate = stamped  # all-active fast path: only despawns create tombstones
        else:
            candidate = stamped.filter(stamped.column(4))
        t2 = time.perf_counter()
        prof["materialize_sec"] += t1 - t0
        prof["live_snapshot_sec"] += t2 - t1
        prof["rows_out"] = stamped.num_rows
        return _Prepared(table, stamped, candidate, prof)

    @staticmethod
    def _new_profile(table: str, rows_in: int) -> dict:
        p = dict(table_name=table, rows_in=rows_in, rows_out=0)
        for k in _PROFILE_PHASES:
            p[k] = 0.0
        p["table_sec"] = 0.0
        return p

    # ------------------------------------------------------------------ committing a tick

    def _stage(self, txn, prep: _Prepared) -> None:
        """Stage one prepared table into the store transaction (or nothing when batching)."""
        if prep.stamped.num_rows == 0 or self._flush_every > 1:
            return
        t0 = time.perf_counter()
        self._store.stage(txn, prep.table, prep.stamped)
        prep.profile["append_sec"] += time.perf_counter() - t0

    def _commit_tick(self, t: int, txn, prepared: Sequence[_Prepared]) -> float:
        """Commit the staged tick (k = 1) or append it to the pending buffer (k > 1).
        Raises 201 (nothing visible, state untouched) or 103 (poisoned)."""
        t0 = time.perf_counter()
        live_tables = [p.table for p in prepared if p.candidate.num_rows]
        if self._flush_every > 1:
            self._pending.append(
                _PendingTick(t, {p.table: p.stamped for p in prepared if p.stamped.num_rows}, live_tables, self._next_id)
            )
            return time.perf_counter() - t0
        try:
            self._store.commit(txn, first_tick=t, last_tick=t, next_entity_id=self._next_id, live_tables=live_tables)
        except StoreFailure as f:
            self._store.abort(txn)
            raise self._store_err(f) from f.cause
        except PartialPublish as p:
            raise self._poison_partial(t, p) from p.cause
        self._last_committed = t
        return time.perf_counter() - t0

    def _flush_pending(self) -> None:
        if not self._pending:
            return
        pending = self._pending
        tables = sorted({t for p in pending for t in p.batches})
        txn = self._store.begin()
        try:
            for table in tables:
                parts = [p.batches[table] for p in pending if table in p.batches]
                batch = parts[0] if len(parts) == 1 else pa.concat_batches(parts)
                self._store.stage(txn, table, batch)
            last = pending[-1]
            self._store.commit(
                txn,
                first_tick=pending[0].tick,
                last_tick=last.tick,
                next_entity_id=last.next_entity_id,
                live_tables=last.live_tables,
            )
        except StoreFailure as f:
            self._store.abort(txn)
            self._flush_failed = True
            raise self._store_err(f) from f.cause
        except PartialPublish as p:
            self._pending = []
            self._flush_failed = False
            raise self._poison_partial(pending[-1].tick, p, first_tick=pending[0].tick, completed=pending) from p.cause
        self._pending = []
        self._flush_failed = False
        self._last_committed = last.tick

    def _flush_due(self) -> None:
        if self._flush_every > 1 and self._pending and (self._flush_failed or len(self._pending) >= self._flush_every):
            self._flush_pending()

    def _finalize(self, prepared: Sequence[_Prepared]) -> None:
        for p in prepared:
            if p.candidate.num_rows:
                self._live[p.table] = p.candidate
            else:
                self._live.pop(p.table, None)
            self._staged.pop(p.table, None)
            self._despawns.pop(p.table, None)

    def _profile(self, t: int, prepared: Sequence[_Prepared], commit_sec: float, tick_sec: float, reads: int) -> dict:
        prof = dict(tick=t, n_tables=len(prepared), rows_written=sum(p.stamped.num_rows for p in prepared), store_reads=reads)
        for k in _PROFILE_PHASES:
            prof[k] = sum(p.profile[k] for p in prepared)
        prof["commit_sec"] = commit_sec
        prof["tick_sec"] = tick_sec
        prof["rows_written_by_table"] = {p.table: p.stamped.num_rows for p in prepared}
        self._profiles = [p.profile for p in prepared]
        return prof

    # ------------------------------------------------------------------ step

    def step(self) -> dict:
        self._require_open()
        self._require_not_poisoned()
        if self._epoch is not None:
            raise self._err(100, "step is not allowed while a split-step epoch is open")
        if self._stepping:
            raise self._err(104, "step called while a step of this world runs")
        self._stepping = True
        try:
            with self._boundary():
                return self._step()
        finally:
            self._stepping = False

    def _step(self) -> dict:
        t_start = time.perf_counter()
        reads0 = self._store.counters["reads"]
        self._checkpoint()
        self._flush_due()
        t = self._tick
        prepared: List[_Prepared] = []
        for table in self._active_tables():
            schema = self._tables.get(table)
            if schema is None:
                raise self._err(250, f"table {table} has staged state but is not registered", table=table)
            ts = time.perf_counter()
            prior_in = self._processor_input(table)
            t1 = time.perf_counter()
            prof = self._new_profile(table, prior_in.num_rows)
            prof["read_prior_sec"] = t1 - ts
            out = prior_in
            if out.num_rows:
                fail = self._proc_fail(table)
                for proc in self._chain(schema):
                    out = proc.apply(out, fail)
            prof["process_sec"] = time.perf_counter() - t1
            prepared.append(self._finish_table(table, out, t, prof))
            prof["table_sec"] = time.perf_counter() - ts
        txn = self._store.begin() if self._flush_every == 1 else None
        try:
            for prep in prepared:
                self._stage(txn, prep)
        except StoreFailure as f:
            self._store.abort(txn)
            raise self._store_err(f, table=None) from f.cause
        for prep in prepared:
            prep.profile["table_sec"] += prep.profile["append_sec"]
        commit_sec = self._commit_tick(t, txn, prepared)
        self._finalize(prepared)
        self._tick = t + 1
        profile = self._profile(t, prepared, commit_sec, time.perf_counter() - t_start, self._store.counters["reads"] - reads0)
        self._flush_due()  # k > 1: a failure here keeps the completed ticks pending (201)
        return profile

    # ------------------------------------------------------------------ split-step

    def _discard_epoch(self, abort_txn: bool = True) -> None:
        ep = self._epoch
        self._epoch = None
        if ep is not None and ep.txn is not None and abort_txn:
            try:
                self._store.abort(ep.txn)
            except OSError:
                pass

    def step_begin(self, table: str) -> pa.RecordBatch:
        self._require_open()
        self._require_not_poisoned()
        if self._stepping:
            raise self._err(104, "step_begin called while a step of this world runs", table=table)
        with self._boundary():
            self._checkpoint()
            if self._table_arg(table) not in self._tables:
                problem = name_problem(table, "table")
                if problem:
                    raise self._err(158, problem)
                raise self._err(150, f"unknown table {table}", table=table)
            ep = self._epoch
            if ep is None:
                active = self._active_tables()
                if table not in active:
                    raise self._err(151, f"table {table} is not active in this tick", table=table)
                self._flush_due()
                txn = self._store.begin() if self._flush_every == 1 else None
                ep = self._epoch = _Epoch(self._tick, active, txn)
            elif table not in ep.tables:
                raise self._err(151, f"table {table} is not in the active set frozen by this epoch", table=table)
            elif table in ep.inputs:
                raise self._err(100, f"table {table} was already begun in this epoch", table=table)
            t0 = time.perf_counter()
            batch = self._processor_input(table)
            ep.prior_sec[table] = time.perf_counter() - t0
            ep.inputs[table] = batch
            return batch

    def _check_processed(self, table: str, inp: pa.RecordBatch, out) -> pa.RecordBatch:
        """The processed-batch contract (§6.4): 300 schema, 302 row count, 301 base columns."""
        schema = self._tables[table]
        if isinstance(out, pa.Table):
            out = pa.concat_batches(out.to_batches()) if out.num_rows else empty_batch(out.schema)
        if not isinstance(out, pa.RecordBatch):
            raise self._err(300, f"processed batch must be a pyarrow.RecordBatch, got {type(out).__name__}", table=table)
        if not schemas_equal(out.schema, schema):
            detail = f"processed batch schema differs from the table schema ({len(out.schema)} vs {len(schema)} fields)"
            for i in range(min(len(out.schema), len(schema))):
                a, b = out.schema.field(i), schema.field(i)
                if not (a.name == b.name and a.nullable == b.nullable and types_equal(a.type, b.type)):
                    detail = f"processed batch field {i} is {a} but the table has {b}"
                    break
            raise self._err(300, detail, table=table)
        if out.num_rows != inp.num_rows:
            raise self._err(
                302,
                f"processed batch has {out.num_rows} rows, the input had {inp.num_rows}",
                table=table,
                expected=inp.num_rows,
                actual=out.num_rows,
            )
        for i, name in enumerate(BASE_NAMES):
            a, b = out.column(i), inp.column(i)
            if not _same_buffers(a, b) and not a.equals(b):
                raise self._err(301, f"processed batch changed the base column {name}", table=table, column=name)
        return out

    def step_commit(self, table: str, batch: pa.RecordBatch) -> Optional[dict]:
        self._require_open()
        self._require_not_poisoned()
        self._table_arg(table)
        ep = self._epoch
        if ep is None:
            raise self._err(101, "step_commit without an open epoch", table=table)
        if table not in ep.inputs or table in ep.done:
            raise self._err(102, f"table {table} is not in flight in this epoch", table=table)
        with self._boundary():
            try:
                self._checkpoint()
                inp = ep.inputs[table]
                t0 = time.perf_counter()
                out = self._check_processed(table, inp, batch)
                prof = self._new_profile(table, inp.num_rows)
                prof["read_prior_sec"] = ep.prior_sec.get(table, 0.0)
                prep = self._finish_table(table, out, ep.tick, prof)
                try:
                    self._stage(ep.txn, prep)
                except StoreFailure as f:
                    raise self._store_err(f, table=table) from f.cause
                prof["table_sec"] = prof["read_prior_sec"] + (time.perf_counter() - t0)
            except BaseException:
                if self._epoch is ep:
                    self._discard_epoch()
                raise
            ep.done[table] = prep
            if len(ep.done) < len(ep.tables):
                return None
            prepared = [ep.done[t] for t in ep.tables]
            try:
                commit_sec = self._commit_tick(ep.tick, ep.txn, prepared)
            except BaseException:
                if self._epoch is ep:
                    self._discard_epoch(abort_txn=False)
                raise
            self._epoch = None
            self._finalize(prepared)
            self._tick = ep.tick + 1
            profile = self._profile(ep.tick, prepared, commit_sec, time.perf_counter() - ep.t_start, 0)
            self._flush_due()
            return profile

    def step_abort(self, table: str) -> None:
        self._require_open()
        self._table_arg(table)
        ep = self._epoch
        if ep is None:
            raise self._err(101, "step_abort without an open epoch", table=table)
        if table not in ep.tables:
            raise self._err(102, f"table {table} is not in the active set of this epoch", table=table)
        self._discard_epoch()

    # ------------------------------------------------------------------ reads

    def query(
        self,
        table: str,
        source: str = "ledger",
        *,
        world_id: Optional[str] = None,
        run_id: Optional[str] = None,
        ticks=None,
        tick_range=None,
        entity_ids=None,
        active_only: bool = False,
    ) -> pa.Table:
        self._require_open()
        if source not in _SOURCES:
            raise self._err(8, f"source must be one of {_SOURCES}, got {source!r}")
        problem = name_problem(table, "table")
        if problem:
            raise self._err(158, problem)
        for what, value in (("world_id", world_id), ("run_id", run_id)):
            if value is not None:
                problem = id_problem(value, what)
                if problem:
                    raise self._err(158, problem, table=table)
        wid = self._world_id if world_id is None else world_id
        rid = self._run_id if run_id is None else run_id
        try:
            flt = ReadFilter.build(wid, rid, ticks, tick_range, entity_ids, active_only)
        except (TypeError, ValueError) as exc:
            raise self._err(8, f"invalid read filter: {exc}", table=table) from exc
        own = (wid, rid) == (self._world_id, self._run_id)
        schema = self._tables.get(table)
        try:
            if schema is None:
                if self._store.kind == "parquet" and self._store.has_table(table):
                    schema = self._store.dir_schema(table) or pa.schema(list(BASE_FIELDS))
                else:
                    raise self._err(150, f"unknown table {table}: not registered and not in the store", table=table)
            if source == "live":
                live = self._live.get(table)
                if not own or live is None:
                    return schema.empty_table()
                return to_table([flt.apply(live, check_world=False)], schema)
            if source == "staged":
                if not own or table not in self._tables:
                    return schema.empty_table()
                spawns = self._spawn_batch(table, self._tick)
                return to_table([flt.apply(spawns, check_world=False)] if spawns is not None else [], schema)
            stored = self._store.read(table, flt, schema, own_world=(self._world_id, self._run_id))
            pending = self._pending
            if own and self._state == _POISONED_PARTIAL:
                # Never a partial tick (§5.5): drop the stored rows of the partially published
                # flush; its completed ticks are read from memory instead (see _poison_partial).
                lo, hi = self._poison_info["hidden"]
                ticks_col = stored.column("tick")
                keep = pc.or_(pc.less(ticks_col, lo), pc.greater(ticks_col, hi))
                stored = stored.filter(keep)
                pending = list(self._poison_info["completed"]) + list(pending)
            parts = [stored]
            if own and pending:
                for p in pending:
                    b = p.batches.get(table)
                    if b is not None and flt.may_match(p.tick, p.tick, None, None):
                        parts.append(flt.apply(b, check_world=False))
            return to_table(parts, schema)
        except StoreFailure as f:
            raise self._store_err(f, table=table) from f.cause
        except OSError as exc:
            raise self._err(200, f"reading table {table} failed: {exc}", table=table, errno=exc.errno) from exc

    # ------------------------------------------------------------------ lifecycle

    def flush(self) -> None:
        self._require_open()
        if self._flush_every > 1 and self._pending and self._state != _POISONED_PARTIAL:
            with self._boundary():
                self._flush_pending()

    def close(self, discard: bool = False) -> None:
        if self._closed:
            return
        if self._epoch is not None and not discard:
            raise self._err(351, "close while a split-step epoch is open; commit or abort it first")
        self._discard_epoch()
        if not discard and self._pending and self._state != _POISONED_PARTIAL:
            with self._boundary():
                self._flush_pending()
        self._pending = []
        self._closed = True
        if self._store is not None:
            self._store.close()

    def __enter__(self) -> "ReferenceKernel":
        return self

    def __exit__(self, *exc) -> None:
        self.close(discard=exc[0] is not None)

    def __del__(self) -> None:  # release the writer lock of an abandoned world
        try:
            if not getattr(self, "_closed", True) and self._store is not None:
                self._store.close()
        except Exception:
            pass

    def __repr__(self) -> str:
        return (
            f"ReferenceKernel(world_id={self._world_id!r}, run_id={self.run_id!r}, tick={self._tick}, "
            f"store={getattr(self._store, 'kind', None)!r}, state={self.info()['state'] if not self._closed else 'closed'!r})"
        )


# --------------------------------------------------------------------------- serialisation (§7.7)


def _serialized(fn, *, mutation: bool):
    """Calls on one world are serialised by its lock; a mutation while a step runs on another
    thread fails at once with 104 instead of waiting (reserve_ids waits and succeeds)."""

    @functools.wraps(fn)
    def wrapper(self, *args, **kwargs):
        if mutation and self._stepping:
            raise self._err(104, f"{fn.__name__} is not allowed while a step runs")
        with self._lock:
            return fn(self, *args, **kwargs)

    return wrapper


for _name in ("register_table", "spawn", "spawn_with_ids", "despawn", "migrate", "add_movement", "remove_processor"):
    setattr(ReferenceKernel, _name, _serialized(getattr(ReferenceKernel, _name), mutation=True))
for _name in ("info", "store_counters", "last_table_profiles", "set_fault_plan", "table_schema", "tables", "registry",
              "reserve_ids", "run_processor", "step", "step_begin", "step_commit", "step_abort", "query", "flush", "close"):
    setattr(ReferenceKernel, _name, _serialized(getattr(ReferenceKernel, _name), mutation=False))
del _name
