"""``kiln.world.World``: the Python world API (specs/world.md §8), shared by both backends.

A ``World`` owns one kernel object (native or reference, docs/dev/kernel-interface.md) and adds
what the kernel does not know about: component classes and table naming, hooks, Python
processors and their deferred commands, and component-selected reads. The kernel stays the single
source of truth for state (registry, staged rows, live snapshots, ticks); this layer keeps only
caches that can be rebuilt from it.

Re-entrancy rules (§6.3, §6.5, §8.7): while a processor runs, world mutations raise 104; a hook
handler may mutate (a ``PreTick`` handler's mutations join the tick about to run) but may not
step; while a step runs on one thread (``astep``), mutations from any other thread raise 104.
"""
from __future__ import annotations

import asyncio
import itertools
import threading
from dataclasses import replace as dc_replace
from typing import Any, Mapping, Optional, Sequence

import numpy as np
import pyarrow as pa

from kiln.errors import error_for
from kiln.world.context import DeferredCommands
from kiln.world.conversion import as_entity_ids, one_batch
from kiln.world.events import PostTick, PreTick
from kiln.world.hooks import HookRegistry
from kiln.world.mutations import Mutations
from kiln.world.processors import (
    Formula,
    Movement,
    Processor,
    processor_name,
    processor_priority,
    required_columns,
)
from kiln.world.reads import LedgerScan, ReadRequest, normalize_entity_ids, normalize_ticks, store_table_layouts
from kiln.world.results import HookHandle, ProcessorHandle, RunResult, StepProfile, StepResult
from kiln.world.stepping import Registration, chain_order, execute_tick
from kiln.world.store import MemoryStore, ParquetStore, resolve_store
from kiln.world.tables import TableLayout, layout_for

__all__ = ["World"]

_BACKENDS = ("native", "reference")


def kernel_class(backend: Any) -> type:
    """The kernel implementation of a backend name; no silent fallback between them [D16]."""
    if backend == "reference":
        from kiln.world.reference import ReferenceKernel

        return ReferenceKernel
    if backend == "native":
        try:
            from kiln.world._native import NativeKernel
        except (ImportError, OSError) as exc:
            raise error_for(
                7,
                f"backend='native' is unavailable: the compiled kiln extension could not be loaded ({exc}); "
                f"rebuild/reinstall kiln, or pass backend='reference' for the pure-Python kernel",
            ) from exc
        return NativeKernel
    raise error_for(8, f"backend must be one of {_BACKENDS}, got {backend!r}")


class World:
    """An entity-component-system world with an append-only history.

    ``World(store=None, namespace="default", world_id=None, run_id=None, *, backend="native",
    resources=None)`` creates a new (world_id, run_id) — fresh UUIDv7 ids when not given —
    and raises ``StoreError`` (205) if the store already has commits for the pair;
    ``World.open(...)`` resumes one. ``store`` is ``None``/``":memory:"`` (memory store), a path
    (Parquet store) or a ``ParquetStore``/``MemoryStore`` instance.
    """

    def __init__(self, store: Any = None, namespace: str = "default", world_id: Optional[str] = None,
                 run_id: Optional[str] = None, *, backend: str = "native",
                 resources: Optional[dict] = None) -> None:
        self._setup(store, namespace, world_id, run_id, backend, resources, open_mode="create")

    @classmethod
    def open(cls, store: Any, namespace: str = "default", world_id: Optional[str] = None,
             run_id: Optional[str] = None, *, backend: str = "native") -> "World":
        """Resume ``world_id`` (and ``run_id``, or its only run) from a Parquet store (§4)."""
        if world_id is None:
            raise error_for(8, "World.open() needs the world_id of the world to resume")
        self = cls.__new__(cls)
        self._setup(store, namespace, world_id, run_id, backend, None, open_mode="resume")
        return self

    def _setup(self, store: Any, namespace: str, world_id: Optional[str], run_id: Optional[str], backend: str,
               resources: Optional[dict], *, open_mode: str) -> None:
        self._closed = True  # until the kernel exists
        if resources is None:
            resources = {}
        elif not isinstance(resources, dict):
            raise error_for(8, f"resources must be a dict, got {type(resources).__name__}")
        kernel_cls = kernel_class(backend)
        spec = resolve_store(store)
        self._kernel = kernel_cls(world_id=world_id, run_id=run_id, store=spec, namespace=namespace,
                                  open_mode=open_mode)
        self._backend = backend
        self._store = spec
        self._namespace = namespace
        self._resources = resources
        self._world_id = self._kernel.world_id
        self._run_id = self._kernel.run_id
        self._token = object()
        self._hooks = HookRegistry(self._token)
        self._mutations = Mutations(self._kernel, self._hooks, self._world_id)
        self._registrations: list[Registration] = []
        self._handle_ids = itertools.count(1)
        self._store_layouts: dict[str, TableLayout] = {}
        # Step ownership: the thread running a step (or an async step/run), and the phase of the
        # step on that thread ("pre" = PreTick handlers, "chain" = processors, "post" = deferred
        # commands and PostTick).
        self._busy_thread: Optional[int] = None
        self._busy_async = False
        self._phase: Optional[str] = None
        self._closed = False

    # -- lifecycle ----------------------------------------------------------------------------

    def close(self, discard: bool = False) -> None:
        """Flush unflushed ticks and release the store lock (idempotent).

        On a flush failure ``StoreError`` is raised and the world stays open, unless
        ``discard=True`` drops the unflushed ticks.
        """
        if self._closed:
            return
        if self._busy_thread is not None or self._busy_async:
            raise error_for(351, "close() while a step is running", **self._ids())
        self._kernel.close(discard=discard)
        self._closed = True

    def flush(self) -> None:
        """Write pending ticks (``flush_every_ticks > 1``) now."""
        self._check_mutable("flush()")
        self._kernel.flush()

    def __enter__(self) -> "World":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    async def __aenter__(self) -> "World":
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"tick={self.tick}"
        return (f"World(world_id={self._world_id!r}, run_id={self._run_id!r}, backend={self._backend!r}, "
                f"{state})")

    # -- properties ---------------------------------------------------------------------------

    @property
    def world_id(self) -> str:
        return self._world_id

    @property
    def run_id(self) -> str:
        return self._run_id

    @property
    def tick(self) -> int:
        """The next tick to execute (0 for a new world)."""
        return int(self._live_kernel().info()["tick"])

    @property
    def next_entity_id(self) -> int:
        return int(self._live_kernel().info()["next_entity_id"])

    @property
    def backend(self) -> str:
        return self._backend

    @property
    def store(self) -> ParquetStore | MemoryStore:
        return self._store

    @property
    def namespace(self) -> str:
        return self._namespace

    @property
    def resources(self) -> dict:
        """A plain dict handed to processors as ``ctx.resources``."""
        return self._resources

    @property
    def processors(self) -> tuple[Any, ...]:
        """Registered processors in execution order (ascending priority, then registration)."""
        return tuple(r.processor for r in chain_order(self._registrations))

    def info(self) -> dict[str, Any]:
        """Kernel diagnostics: tick, next_entity_id, last_committed_tick, state, counts."""
        return dict(self._live_kernel().info())

    def store_counters(self) -> dict[str, int]:
        """Cumulative store counters: reads, files_opened, row_groups_read, parts_written, bytes_written."""
        return dict(self._live_kernel().store_counters())

    # -- guards -------------------------------------------------------------------------------

    def _ids(self) -> dict[str, Any]:
        return {"world_id": self._world_id, "run_id": self._run_id}

    def _live_kernel(self) -> Any:
        if self._closed:
            raise error_for(6, "the world is closed", **self._ids())
        return self._kernel

    def _check_mutable(self, what: str) -> None:
        """104 for a mutation from a processor, or from another thread while a step runs."""
        self._live_kernel()
        me = threading.get_ident()
        if (self._busy_async or self._busy_thread is not None) and self._busy_thread != me:
            raise error_for(104, f"{what} while a step is running on another thread", **self._ids())
        if self._busy_thread == me and self._phase == "chain":
            raise error_for(104, f"{what} from inside a processor; use the ctx commands (ctx.spawn, "
                                 f"ctx.despawn, ...) instead", **self._ids())

    def _check_can_step(self, what: str, *, from_async: bool = False) -> None:
        self._live_kernel()
        me = threading.get_ident()
        if self._hooks.depth > 0:
            raise error_for(104, f"{what} from a hook handler (steps do not nest)", **self._ids())
        if self._busy_thread == me and self._phase is not None:
            raise error_for(104, f"{what} from inside a step (steps do not nest)", **self._ids())
        if self._busy_thread not in (None, me) or (self._busy_async and not from_async):
            raise error_for(104, f"{what} while a step is running on another thread", **self._ids())

    def _check_not_poisoned(self, what: str) -> None:
        """Python processors never reach the kernel, so their changes check poisoning here (§3.8)."""
        info = self._kernel.info()
        if info["state"] == "poisoned_partial_tick":
            # PartialTickError.tick is the partially published tick (§3.3), i.e. the last committed
            # one; with flush_every_ticks > 1 the world's own tick is already past it.
            raise error_for(103, f"{what}: the world is poisoned by a partially published tick; reopen it "
                                 f"to resume", tick=int(info["last_committed_tick"]), **self._ids())
        if info["state"] == "poisoned_internal":
            raise error_for(105, f"{what}: the world is poisoned by an earlier internal error",
                            tick=int(info["tick"]), **self._ids())

    # -- hooks --------------------------------------------------------------------------------

    def on(self, event_type: type, handler: Any) -> HookHandle:
        """Register ``handler(event)`` for one of the classes of ``kiln.world.events``."""
        self._live_kernel()
        return self._hooks.on(event_type, handler)

    def off(self, handle: HookHandle) -> None:
        """Remove a handler registration (twice is a no-op; another world's handle raises 8)."""
        self._hooks.off(handle)

    # -- mutations ----------------------------------------------------------------------------

    def spawn(self, *components: Any) -> int:
        """Stage one entity with the given component instances; returns its id."""
        self._check_mutable("spawn()")
        plan = self._mutations.plan_spawn(components)
        return int(self._mutations.execute_spawn(plan)[0])

    def spawn_batch(self, data: Any, /, *, components: Optional[Sequence[type]] = None,
                    entity_ids: Any = None) -> np.ndarray:
        """Stage many entities of one signature; returns their ids (int32 array).

        ``spawn_batch({Position: {"x": xs, "y": 0.0}, Velocity: {...}})`` takes arrays or scalars
        (broadcast) per field; ``spawn_batch(data, components=[Position, Velocity])`` takes a
        pyarrow RecordBatch/Table or any Arrow PyCapsule producer (polars, DuckDB) with prefixed
        column names. ``entity_ids`` gives explicit ids.
        """
        self._check_mutable("spawn_batch()")
        plan = self._mutations.plan_spawn_batch(data, components, entity_ids)
        return self._mutations.execute_spawn(plan)

    def reserve_ids(self, n: int) -> range:
        """Reserve ``n`` consecutive ids without spawning (unused ones become gaps)."""
        self._live_kernel()
        me = threading.get_ident()
        if (self._busy_async or self._busy_thread is not None) and self._busy_thread != me:
            raise error_for(104, "reserve_ids() while a step is running on another thread", **self._ids())
        return self._mutations.reserve_ids(n)

    def spawn_reserved(self, entity_id: int, *components: Any) -> int:
        """Spawn a (reserved) id explicitly; returns ``entity_id``."""
        self._check_mutable("spawn_reserved()")
        if isinstance(entity_id, bool) or not isinstance(entity_id, (int, np.integer)):
            raise error_for(8, f"spawn_reserved() needs an int entity id, got {entity_id!r}")
        plan = self._mutations.plan_spawn(components)
        plan = dc_replace(plan, entity_ids=as_entity_ids(int(entity_id), what="entity_id"))
        self._mutations.execute_spawn(plan)
        return int(entity_id)

    def despawn(self, ids: Any) -> None:
        """Despawn entities (an int or a 1-D integer array; unknown id → 251, nothing changes)."""
        self._check_mutable("despawn()")
        self._mutations.despawn(ids)

    def update(self, ids: Any, *components: Any) -> None:
        """Overlay component values: at the next tick a tombstone and a raw row, same table [D4]."""
        self._check_mutable("update()")
        self._mutations.update(ids, components)

    def add_components(self, ids: Any, *components: Any) -> None:
        """Add components (present ones get the new values [D15]); the entity changes table."""
        self._check_mutable("add_components()")
        self._mutations.add_components(ids, components)

    def remove_components(self, ids: Any, *component_types: type) -> None:
        """Remove components (each must be present: 502); the entity changes table."""
        self._check_mutable("remove_components()")
        self._mutations.remove_components(ids, component_types)

    # -- processors ---------------------------------------------------------------------------

    def add_processor(self, p: Any) -> ProcessorHandle:
        """Register a ``Movement``, a ``@processor`` function or a ``Processor`` instance."""
        self._check_mutable("add_processor()")
        if isinstance(p, type):
            raise error_for(402, f"add_processor() takes an instance; got the class {p.__name__}")
        if not isinstance(p, (Processor, Movement, Formula)):
            raise error_for(402, f"add_processor() takes kw.Movement, a @kw.processor function or a "
                                 f"kw.Processor instance; got {type(p).__name__}")
        name = processor_name(p)
        priority = processor_priority(p)
        required = required_columns(p)
        kernel_id = None
        if isinstance(p, Movement):
            kernel_id = int(self._kernel.add_movement(p.dt, priority))
        elif isinstance(p, Formula):
            kernel_id = int(self._kernel.add_formula(p.name, p.rules, list(p.params.items()), priority, p.mode))
        else:
            self._check_not_poisoned("add_processor()")
        handle = ProcessorHandle(id=next(self._handle_ids), name=name, priority=priority, processor=p,
                                 kernel_id=kernel_id, world_token=self._token)
        self._registrations.append(Registration(handle=handle, processor=p, name=name, priority=priority,
                                                required=required, kernel_id=kernel_id))
        return handle

    def remove_processor(self, x: Any) -> None:
        """Remove a registration (handle), every registration of an instance, or of a class."""
        self._check_mutable("remove_processor()")
        if isinstance(x, ProcessorHandle):
            matched = [r for r in self._registrations if r.handle is x]
        elif isinstance(x, type):
            matched = [r for r in self._registrations if isinstance(r.processor, x)]
        else:
            matched = [r for r in self._registrations if r.processor is x]
        if not matched:
            raise error_for(401, f"no registered processor matches {x!r}", **self._ids())
        if not any(r.in_kernel for r in matched):
            self._check_not_poisoned("remove_processor()")
        for r in matched:
            if r.in_kernel:
                self._kernel.remove_processor(r.kernel_id)
            self._registrations.remove(r)

    # -- stepping -----------------------------------------------------------------------------

    def step(self, **params: Any) -> StepResult:
        """Execute tick ``self.tick``; ``params`` reach processors as ``ctx.params``."""
        return self._step(params, from_async=False)

    def run(self, n: int, **params: Any) -> RunResult:
        """Execute ``n`` ticks (n ≥ 0), stopping at the first error; the profile sums the steps."""
        return self._run(n, params, from_async=False)

    def _run(self, n: Any, params: Mapping[str, Any], *, from_async: bool) -> RunResult:
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
            raise error_for(8, f"run(n) needs an integer n >= 0, got {n!r}", **self._ids())
        self._check_can_step("run()", from_async=from_async)
        start = self.tick
        total = StepProfile.empty(start - 1)
        for k in range(int(n)):
            try:
                result = self._step(params, from_async=from_async)
            except Exception as exc:
                exc.add_note(f"run({n}) completed {k} of {n} ticks (ticks {start}..{start + k - 1})")
                details = getattr(exc, "details", None)
                if isinstance(details, dict):
                    details.setdefault("ticks_completed", k)
                raise
            total = total.plus(result.profile) if k else result.profile
        return RunResult(ticks=range(start, start + int(n)), profile=total)

    def _step(self, params: Mapping[str, Any], *, from_async: bool) -> StepResult:
        self._check_can_step("step()", from_async=from_async)
        me = threading.get_ident()
        owned = self._busy_thread is None
        if owned:
            self._busy_thread = me
        try:
            info = self._kernel.info()
            if info["state"] != "ready":
                self._kernel.step()  # poisoned (103 / 105) or an open epoch (100): the kernel raises
                raise error_for(2, f"kernel stepped in state {info['state']!r}", **self._ids())
            tick = int(info["tick"])
            self._phase = "pre"
            self._hooks.fire(PreTick(self._world_id, tick))
            self._phase = "chain"
            commands = DeferredCommands(self)
            profile, written = execute_tick(
                self._kernel, self._registrations, tick=tick, world_id=self._world_id, run_id=self._run_id,
                params=dict(params), resources=self._resources, commands=commands)
            self._phase = "post"
            hook_error = commands.apply()
            result = StepResult(tick=tick, rows_written=written, profile=profile)
            try:
                self._hooks.fire(PostTick(self._world_id, tick, dict(written)))
            except Exception as exc:  # noqa: BLE001 - a HookError; the first one wins
                hook_error = hook_error or exc
            if hook_error is not None:
                raise hook_error
            return result
        finally:
            self._phase = None
            if owned:
                self._busy_thread = None

    # -- reads --------------------------------------------------------------------------------

    def _registered_layouts(self) -> list[TableLayout]:
        return [self._mutations.layout(n) for n in self._live_kernel().tables("registered")]

    def _ledger_layouts(self) -> list[TableLayout]:
        """Registered tables plus, for a Parquet store, every table stored in the namespace
        (a resumed world registers only the tables live at its last tick)."""
        layouts = {lay.name: lay for lay in self._registered_layouts()}
        if isinstance(self._store, ParquetStore):
            for lay in store_table_layouts(self._store.root, self._namespace, self._store_layouts):
                layouts.setdefault(lay.name, lay)
        return list(layouts.values())

    def _reader(self, source: str):
        kernel = self._live_kernel()

        def read(layout: TableLayout, **filters: Any) -> pa.Table:
            return kernel.query(layout.name, source, **filters)

        return read

    def query(self, *components: type, ticks: Any = None, entity_ids: Any = None,
              active_only: bool = True) -> pa.Table:
        """State at a tick: by default the latest completed tick (``tick - 1``), served from the
        live snapshots when ``active_only`` (no store read)."""
        request = ReadRequest(components)
        eids = normalize_entity_ids(entity_ids)
        if ticks is None:
            if active_only:
                return request.read_all(self._registered_layouts(), self._reader("live"), entity_ids=eids)
            last = self.tick - 1
            if last < 0:
                return request.empty()
            ticks = [last]
        return request.read_all(self._ledger_layouts(), self._reader("ledger"), entity_ids=eids,
                                active_only=bool(active_only), **normalize_ticks(ticks))

    def history(self, *components: type, ticks: Any = None, entity_ids: Any = None,
                active_only: bool = False) -> pa.Table:
        """Ledger rows (all ticks by default, tombstones included unless ``active_only``)."""
        request = ReadRequest(components)
        return request.read_all(self._ledger_layouts(), self._reader("ledger"),
                                entity_ids=normalize_entity_ids(entity_ids), active_only=bool(active_only),
                                **normalize_ticks(ticks))

    def live(self, *components: type, entity_ids: Any = None) -> pa.Table:
        """The live snapshots (active rows of the last completed tick)."""
        request = ReadRequest(components)
        return request.read_all(self._registered_layouts(), self._reader("live"),
                                entity_ids=normalize_entity_ids(entity_ids))

    def live_tables(self) -> dict[str, pa.RecordBatch]:
        """Every live snapshot, by table name (tables without active rows are absent)."""
        out = {}
        for name in self._live_kernel().tables("registered"):
            table = self._kernel.query(name, "live")
            if table.num_rows:
                out[name] = one_batch(table)
        return out

    def scan(self, *components: type, ticks: Any = None, entity_ids: Any = None,
             active_only: bool = False) -> LedgerScan:
        """A lazy, re-readable ledger read (Arrow PyCapsule stream producer)."""
        request = ReadRequest(components)
        filters = dict(entity_ids=normalize_entity_ids(entity_ids), active_only=bool(active_only),
                       **normalize_ticks(ticks))
        self._live_kernel()
        return LedgerScan(request, self._ledger_layouts, self._reader("ledger"), filters)

    def registry(self) -> pa.Table:
        """Every registered entity: ``entity_id``, ``table``, ``staged`` (sorted by id)."""
        batch = self._live_kernel().registry()
        return pa.Table.from_batches([batch]) if isinstance(batch, pa.RecordBatch) else batch

    def tables(self) -> dict[str, tuple[Any, ...]]:
        """Registered table names → component classes (an undefined class appears as its name)."""
        return {lay.name: lay.classes_or_names() for lay in self._registered_layouts()}

    def table_name(self, *components: type) -> str:
        """The table name of a signature (``a_{N}c_s{H}``, §2.4); nothing is registered."""
        return layout_for(components).name

    # -- async twins (§8.7) ---------------------------------------------------------------------

    @classmethod
    async def aopen(cls, *args: Any, **kwargs: Any) -> "World":
        return await asyncio.to_thread(cls.open, *args, **kwargs)

    async def astep(self, **params: Any) -> StepResult:
        return await self._in_worker(lambda: self._step(params, from_async=True), "astep()")

    async def arun(self, n: int, **params: Any) -> RunResult:
        return await self._in_worker(lambda: self._run(n, params, from_async=True), "arun()")

    async def aquery(self, *components: type, **kwargs: Any) -> pa.Table:
        return await asyncio.to_thread(self.query, *components, **kwargs)

    async def ahistory(self, *components: type, **kwargs: Any) -> pa.Table:
        return await asyncio.to_thread(self.history, *components, **kwargs)

    async def aflush(self) -> None:
        await asyncio.to_thread(self.flush)

    async def aclose(self, discard: bool = False) -> None:
        await asyncio.to_thread(self.close, discard)

    async def _in_worker(self, fn: Any, what: str) -> Any:
        # Claim the world before leaving the event-loop thread, so that a mutation issued while
        # the step is queued or running raises 104 at once instead of racing with it.
        self._check_can_step(what)
        self._busy_async = True

        def body() -> Any:
            self._busy_thread = threading.get_ident()
            try:
                return fn()
            finally:
                self._busy_thread = None

        try:
            return await asyncio.to_thread(body)
        finally:
            self._busy_async = False

