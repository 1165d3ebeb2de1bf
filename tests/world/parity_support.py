"""The parity harness of specs/world.md §9.2: two worlds (native, reference) driven in lock-step.

``Lockstep`` holds one world per backend and applies every call to both. For every call it
checks:

* both succeed with equal results, or both fail with the same error (catalog number, exception
  class, and for ``ProcessorError`` the number/class of ``__cause__``) — check 4;
* afterwards both worlds agree on ``tick``, ``next_entity_id``, ``info()``, ``registry()`` and the
  registered tables; after a failure additionally on the live snapshots and the full ledger
  (check 4, "equal state after it");
* every step executed by the call (also the steps inside ``run(n)``) produced equal
  ``live_tables()``: a ``PostTick`` handler on each world records the snapshots of every completed
  tick — check 2.

``Lockstep.finish()`` compares the final state — check 3 — and the full ledgers — check 1: per
table exact schema equality (nullability and metadata included), rows sorted by (tick,
entity_id, is_active) equal value by value (floats by bit pattern, NaN = NaN), and the unsorted
row order of every (table, tick).

Scenarios are functions of a ``Worlds`` factory (``worlds.create()`` → a ``Lockstep`` over fresh
worlds with fixed world_id/run_id, ``worlds.reopen(ls)`` → resume both from their Parquet stores,
``worlds.cross_open()`` → resume each backend's store with the *other* backend).
``run_scenario(fn, kind, tmp_path)`` runs one scenario on one store kind and finishes every
lock-step pair it created.
"""
from __future__ import annotations

import contextlib
import math
import os
import struct
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Optional

import numpy as np
import pyarrow as pa
import pytest

import kiln.world as kw
from kiln.world.events import PostTick
from kiln.world.results import HookHandle, ProcessorHandle, RunResult, StepResult

BACKENDS = ("native", "reference")

#: Native-kernel bugs found by the parity gate (details, expected vs observed:
#: /tmp/kiln-notes/parity-native.md). Tests that hit one are marked
#: ``xfail(strict=True, reason="native: ...")`` via :func:`native_xfail`, and the random state
#: machine steers around the open ones. Delete an entry once the kernel is fixed: the strict
#: xfails then turn into failures that point at the marks to remove.
NATIVE_BUGS: dict[str, str] = {
}


def native_xfail(*bug_ids: str) -> list:
    """``pytest.mark.xfail(strict=True)`` marks for the given open native bugs (none if all fixed)."""
    open_bugs = [b for b in bug_ids if b in NATIVE_BUGS]
    if not open_bugs:
        return []
    reason = "; ".join(f"{b} {NATIVE_BUGS[b]}" for b in open_bugs)
    return [pytest.mark.xfail(strict=True, reason=f"native: {reason}")]
STORE_KINDS = ("memory", "parquet", "parquet_k3")
WORLD_ID = "parity-world"
RUN_ID = "parity-run"
NAMESPACE = "parity"


# -- canonical values ---------------------------------------------------------------------------

_NAN = ("NaN",)


def _canon_value(t: pa.DataType, v: Any) -> Any:
    """A hashable, exactly comparable form of one value of Arrow type ``t``.

    Floats become their IEEE bit pattern (so 0.0 != -0.0 and 1 ulp differences show), every NaN
    the same token (NaN = NaN).
    """
    if v is None:
        return None
    if pa.types.is_floating(t):
        f = float(v)
        if math.isnan(f):
            return _NAN
        return struct.pack(">d", f).hex()
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        return tuple(_canon_value(t.value_type, x) for x in v)
    if pa.types.is_struct(t):
        return tuple((t.field(i).name, _canon_value(t.field(i).type, v[t.field(i).name]))
                     for i in range(t.num_fields))
    if pa.types.is_map(t):
        return tuple((_canon_value(t.key_type, k), _canon_value(t.item_type, x)) for k, x in v)
    return v


def canon_rows(table: pa.Table | pa.RecordBatch) -> list[tuple]:
    """Rows of ``table`` in stored order, every value canonical."""
    cols = []
    for i in range(table.num_columns):
        t = table.schema.field(i).type
        values = table.column(i).to_pylist()
        if pa.types.is_floating(t) or pa.types.is_nested(t):
            values = [_canon_value(t, v) for v in values]
        cols.append(values)
    return list(zip(*cols)) if cols else [() for _ in range(table.num_rows)]


def _schema_text(schema: pa.Schema) -> str:
    return f"{schema}\nmetadata={schema.metadata}\nfield metadata={[f.metadata for f in schema]}"


def assert_same_schema(a: pa.Schema, b: pa.Schema, what: str) -> None:
    """Exact equality: names, types (nested children included), nullability, schema and field
    metadata."""
    assert a.equals(b, check_metadata=True), (
        f"{what}: schemas differ\n--- native:\n{_schema_text(a)}\n--- reference:\n{_schema_text(b)}")


def _first_difference(a: list, b: list) -> str:
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return f"first difference at row {i}:\n  native:    {x}\n  reference: {y}"
    return f"row counts differ: native {len(a)}, reference {len(b)}"


def assert_same_table(a: pa.Table | pa.RecordBatch, b: pa.Table | pa.RecordBatch, what: str) -> None:
    """Same schema (exactly) and same rows in the same order, bit for bit."""
    assert_same_schema(a.schema, b.schema, what)
    ra, rb = canon_rows(a), canon_rows(b)
    assert ra == rb, f"{what}: rows differ; {_first_difference(ra, rb)}"


def assert_same_ledger_table(a: pa.Table, b: pa.Table, what: str) -> None:
    """Check 1 for one table: schema, rows sorted by (tick, entity_id, is_active), then the
    unsorted row order of every tick."""
    assert_same_schema(a.schema, b.schema, what)
    ra, rb = canon_rows(a), canon_rows(b)
    # Base columns: 0 world_id, 1 run_id, 2 entity_id, 3 tick, 4 is_active (§2.1).
    key = lambda r: (r[3], r[2], r[4])  # noqa: E731
    sa, sb = sorted(ra, key=key), sorted(rb, key=key)
    assert sa == sb, f"{what}: ledger rows differ (sorted by tick, entity_id, is_active); {_first_difference(sa, sb)}"
    by_tick_a: dict[int, list] = {}
    by_tick_b: dict[int, list] = {}
    for r in ra:
        by_tick_a.setdefault(r[3], []).append(r)
    for r in rb:
        by_tick_b.setdefault(r[3], []).append(r)
    for t in by_tick_a:
        assert by_tick_a[t] == by_tick_b[t], (
            f"{what}: row order of tick {t} differs; {_first_difference(by_tick_a[t], by_tick_b[t])}")


def ledger(world: kw.World) -> dict[str, pa.Table]:
    """The full ledger of ``world``: every table (registered or stored in its namespace) → all
    committed rows of the world's (world_id, run_id), unflushed ticks included."""
    out = {}
    for layout in sorted(world._ledger_layouts(), key=lambda lay: lay.name.encode()):
        out[layout.name] = world._kernel.query(layout.name, "ledger")
    return out


def live_snapshot(world: kw.World) -> dict[str, pa.RecordBatch]:
    return world.live_tables()


def assert_same_live(a: dict, b: dict, what: str) -> None:
    assert list(a) == list(b), f"{what}: live tables differ: native {list(a)}, reference {list(b)}"
    for name in a:
        assert_same_table(a[name], b[name], f"{what}, live table {name}")


# -- results and errors ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Both:
    """A value that differs per backend by nature (processor and hook handles). Passed back into a
    lock-step call it is unwrapped per backend."""

    native: Any
    reference: Any

    def __getitem__(self, backend: str) -> Any:
        return getattr(self, backend)


def _unwrap(value: Any, backend: str) -> Any:
    if isinstance(value, Both):
        return value[backend]
    if isinstance(value, tuple):
        return tuple(_unwrap(v, backend) for v in value)
    if isinstance(value, list):
        return [_unwrap(v, backend) for v in value]
    return value


def _comparable(result: Any) -> Any:
    """What must be equal between the backends' results of one call."""
    if isinstance(result, StepResult):
        return ("StepResult", result.tick, dict(result.rows_written), result.profile.tick,
                result.profile.n_tables, result.profile.rows_written, result.profile.store_reads)
    if isinstance(result, RunResult):
        return ("RunResult", result.ticks, result.profile.rows_written, result.profile.store_reads)
    if isinstance(result, np.ndarray):
        return ("ndarray", str(result.dtype), result.tolist())
    if isinstance(result, (pa.Table, pa.RecordBatch)):
        return ("table", _schema_text(result.schema), canon_rows(result))
    if isinstance(result, (np.integer,)):
        return int(result)
    if isinstance(result, dict):
        return {k: _comparable(v) for k, v in result.items()}
    if isinstance(result, (list, tuple)):
        return type(result)(_comparable(v) for v in result)
    return result


def error_signature(exc: BaseException) -> tuple:
    """What must be equal between the backends' exceptions of one failing call."""
    cause = exc.__cause__
    cause_sig = None
    if getattr(exc, "number", None) == 400 and cause is not None:
        cause_sig = (type(cause).__name__, getattr(cause, "number", None))
    extra: tuple = ()
    if getattr(exc, "number", None) == 103:
        # PartialTickError.tick is the partially published tick (§3.3). committed_tables is
        # compared by the caller when both errors carry it (the poisoning call always does).
        extra = (getattr(exc, "tick", None),)
    return (type(exc).__name__, getattr(exc, "number", None), cause_sig) + extra


def _same_errors(a: BaseException, b: BaseException) -> bool:
    if error_signature(a) != error_signature(b):
        return False
    ca, cb = getattr(a, "committed_tables", None), getattr(b, "committed_tables", None)
    return ca is None or cb is None or ca == cb


@dataclass
class Caught:
    error: Optional["LockstepError"] = None


class LockstepError(Exception):
    """Both backends raised the same error; ``number`` is its catalog number."""

    def __init__(self, native: BaseException, reference: BaseException) -> None:
        super().__init__(f"both backends raised {error_signature(native)}: native {native!r}; "
                         f"reference {reference!r}")
        self.native = native
        self.reference = reference
        self.number = getattr(native, "number", None)


# -- the lock-step pair -------------------------------------------------------------------------

class Lockstep:
    """A native and a reference world driven in lock-step (see the module docstring).

    Any ``World`` method is available on the pair (``ls.spawn(...)``, ``ls.run(3)``, ...): it is
    called on both worlds; the common result is returned (a ``Both`` for handles), a common error
    is raised as ``LockstepError`` — use ``with ls.fails(254): ...``.
    """

    def __init__(self, worlds: dict[str, kw.World], label: str = "") -> None:
        self.worlds = worlds
        self.label = label
        self._ticks: dict[str, list] = {b: [] for b in worlds}
        self._hooks = {b: w.on(PostTick, self._recorder(b, w)) for b, w in worlds.items()}
        self.closed = False
        self._armed = False
        self._deferred: Optional[str] = None
        self.check_light("after open")
        self._check_live_now("after open")

    @property
    def native(self) -> kw.World:
        return self.worlds["native"]

    @property
    def reference(self) -> kw.World:
        return self.worlds["reference"]

    def _recorder(self, backend: str, world: kw.World) -> Callable[[PostTick], None]:
        def record(event: PostTick) -> None:
            self._ticks[backend].append((event.tick, world.live_tables()))
        return record

    # -- calls ------------------------------------------------------------------------------------

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name.startswith("_"):
            raise AttributeError(name)
        return lambda *args, **kwargs: self.call(name, *args, **kwargs)

    def call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """Call ``World.<name>`` on both worlds and check checks 2 and 4."""
        results: dict[str, Any] = {}
        errors: dict[str, BaseException] = {}
        for b, w in self.worlds.items():
            try:
                results[b] = getattr(w, name)(*_unwrap(args, b), **{k: _unwrap(v, b) for k, v in kwargs.items()})
            except Exception as exc:  # noqa: BLE001 - compared below
                errors[b] = exc
        what = f"{self.label}{name}{_short(args, kwargs)}"
        self._check_steps(what)
        if errors:
            self._raise_common(what, errors, results)
        rn, rr = results["native"], results["reference"]
        if isinstance(rn, (ProcessorHandle, HookHandle)):
            if isinstance(rn, ProcessorHandle):
                assert (rn.name, rn.priority) == (rr.name, rr.priority), f"{what}: {rn!r} vs {rr!r}"
            out: Any = Both(rn, rr)  # handles belong to one world each
        else:
            cn, cr = _comparable(rn), _comparable(rr)
            assert cn == cr, f"{what}: different results: native {cn!r}; reference {cr!r}"
            out = rn
        self.check_light(f"after {what}")
        return out

    def _raise_common(self, what: str, errors: dict, results: dict) -> None:
        """Check 4: both failed with the same error, and the state after is the same; then raise
        the common error as ``LockstepError``."""
        if len(errors) != 2:
            failed, ok = ("native", "reference") if "native" in errors else ("reference", "native")
            raise AssertionError(f"{what}: only {failed} failed ({errors[failed]!r}); {ok} returned "
                                 f"{results[ok]!r}") from errors[failed]
        n, r = errors["native"], errors["reference"]
        assert _same_errors(n, r), (f"{what}: different errors: native {error_signature(n)} {n!r}; "
                                    f"reference {error_signature(r)} {r!r}")
        self.check_state(f"after failed {what}")
        raise LockstepError(n, r)

    @contextlib.contextmanager
    def fails(self, number: int) -> Iterator["Caught"]:
        """The block must raise the same error with catalog number ``number`` on both backends;
        ``with ls.fails(103) as caught:`` gives the ``LockstepError`` as ``caught.error``."""
        caught = Caught()
        try:
            yield caught
        except LockstepError as exc:
            assert exc.number == number, f"expected error {number} on both backends, got {exc}"
            caught.error = exc
            return
        raise AssertionError(f"expected error {number} on both backends; nothing was raised")

    def each(self, fn: Callable[[kw.World], Any]) -> Any:
        """Apply ``fn`` to both worlds (e.g. a helper that is not a World method); results must be
        equal; errors are compared like ``call``."""
        results, errors = {}, {}
        for b, w in self.worlds.items():
            try:
                results[b] = fn(w)
            except Exception as exc:  # noqa: BLE001
                errors[b] = exc
        what = f"{self.label}each({getattr(fn, '__name__', fn)})"
        self._check_steps(what)
        if errors:
            self._raise_common(what, errors, results)
        assert _comparable(results["native"]) == _comparable(results["reference"]), results
        self.check_light("after each()")
        return results["native"]

    def set_fault_plan(self, plan: str) -> None:
        for w in self.worlds.values():
            kw.testing.set_fault_plan(w, plan)

    @contextlib.contextmanager
    def fault_plan(self, plan: str) -> Iterator[None]:
        """Arm ``plan`` on both worlds for the block, then clear it. Inside, the harness does not
        read the store itself (its reads would consume ``read`` faults); the ledger check it
        would have made after a failure runs when the block ends."""
        self.set_fault_plan(plan)
        self._armed = True
        try:
            yield
        finally:
            self._armed = False
            if not self.closed:
                self.set_fault_plan("")
                if self._deferred:
                    what, self._deferred = self._deferred, None
                    self.check_ledger(what)

    # -- checks ---------------------------------------------------------------------------------

    def _check_steps(self, what: str) -> None:
        """Check 2: equal live tables after every step the call executed."""
        tn, tr = list(self._ticks["native"]), list(self._ticks["reference"])
        self._ticks["native"].clear()
        self._ticks["reference"].clear()
        assert [t for t, _ in tn] == [t for t, _ in tr], (
            f"{what}: different completed ticks: native {[t for t, _ in tn]}, reference {[t for t, _ in tr]}")
        for (t, ln), (_, lr) in zip(tn, tr):
            assert_same_live(ln, lr, f"{what}: live_tables() after tick {t}")

    def _check_live_now(self, what: str) -> None:
        assert_same_live(self.native.live_tables(), self.reference.live_tables(), what)

    def check_light(self, what: str) -> None:
        """Cheap state after every call: info, registry, registered tables."""
        n, r = self.native, self.reference
        ni, ri = n.info(), r.info()
        assert ni == ri, f"{what}: info differs: native {ni}, reference {ri}"
        assert n._kernel.tables("registered") == r._kernel.tables("registered"), what
        assert_same_table(n.registry(), r.registry(), f"{what}: registry()")

    def check_state(self, what: str) -> None:
        """Check 3 plus live snapshots and the full ledger (used after failures and at the end)."""
        n, r = self.native, self.reference
        assert (n.tick, n.next_entity_id) == (r.tick, r.next_entity_id), (
            f"{what}: tick/next_entity_id differ: native {(n.tick, n.next_entity_id)}, "
            f"reference {(r.tick, r.next_entity_id)}")
        self.check_light(what)
        self._check_live_now(f"{what}: live_tables()")
        if self._armed:
            self._deferred = self._deferred or what
            return
        self.check_ledger(what)

    def check_ledger(self, what: str = "ledger") -> None:
        la, lb = ledger(self.native), ledger(self.reference)
        assert list(la) == list(lb), f"{what}: ledger tables differ: native {list(la)}, reference {list(lb)}"
        for name in la:
            assert_same_ledger_table(la[name], lb[name], f"{what}: ledger of table {name}")

    def finish(self, close: bool = True) -> None:
        """Checks 1 and 3 at the end of a scenario; then close both worlds."""
        if self.closed:
            return
        self.check_state(f"{self.label}final state")
        if close:
            self.close()

    def close(self, discard: bool = False) -> None:
        if self.closed:
            return
        errors = {}
        for b, w in self.worlds.items():
            try:
                w.close(discard=discard)
            except Exception as exc:  # noqa: BLE001
                errors[b] = exc
        if errors:
            assert len(errors) == 2, f"close(): only {list(errors)} failed: {errors!r}"
            assert _same_errors(errors["native"], errors["reference"]), errors
            for w in self.worlds.values():
                w.close(discard=True)
            self.closed = True
            raise LockstepError(errors["native"], errors["reference"])
        self.closed = True

    # -- convenience reads (equal on both backends, so one value is returned) -----------------------

    def history(self, *components: type, **kwargs: Any) -> pa.Table:
        return self.call("history", *components, **kwargs)

    def query(self, *components: type, **kwargs: Any) -> pa.Table:
        return self.call("query", *components, **kwargs)

    @property
    def tick(self) -> int:
        n, r = self.native.tick, self.reference.tick
        assert n == r, f"tick differs: native {n}, reference {r}"
        return r

    @property
    def next_entity_id(self) -> int:
        n, r = self.native.next_entity_id, self.reference.next_entity_id
        assert n == r, f"next_entity_id differs: native {n}, reference {r}"
        return n


def _short(args: tuple, kwargs: dict) -> str:
    text = ", ".join([repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()])
    return f"({text[:120]}{'…' if len(text) > 120 else ''})"


# -- world factories ------------------------------------------------------------------------------

def make_store(kind: str, root: Optional[str]) -> Any:
    if kind == "memory":
        return kw.MemoryStore()
    if kind == "parquet":
        return kw.ParquetStore(root)
    if kind == "parquet_k3":
        return kw.ParquetStore(root, flush_every_ticks=3)
    raise ValueError(kind)


@dataclass
class Worlds:
    """Creates lock-step pairs of one store kind; each backend writes under its own root."""

    kind: str
    tmp_path: Any
    pairs: list[Lockstep] = field(default_factory=list)
    _serial: int = 0

    @property
    def parquet(self) -> bool:
        return self.kind != "memory"

    def root(self, backend: str, tag: str = "") -> str:
        return os.fspath(self.tmp_path / f"{self.kind}-{backend}{tag}")

    def create(self, *, tag: str = "", world_id: str = WORLD_ID, run_id: str = RUN_ID, **kwargs: Any) -> Lockstep:
        """A new pair of worlds with fixed ids (``tag`` selects separate store roots)."""
        worlds = {b: kw.World(store=make_store(self.kind, self.root(b, tag)), namespace=NAMESPACE,
                              world_id=world_id, run_id=run_id, backend=b, **kwargs) for b in BACKENDS}
        ls = Lockstep(worlds, label=f"[{self.kind}{tag}] ")
        self.pairs.append(ls)
        return ls

    def _open(self, roots: dict[str, str], label: str, world_id: str, run_id: str) -> Lockstep:
        assert self.parquet, "resume needs a Parquet store"
        worlds = {}
        for b in BACKENDS:
            worlds[b] = kw.World.open(make_store(self.kind, roots[b]), NAMESPACE, world_id, run_id, backend=b)
        ls = Lockstep(worlds, label=label)
        self.pairs.append(ls)
        return ls

    def reopen(self, ls: Lockstep, *, tag: str = "", world_id: str = WORLD_ID, run_id: str = RUN_ID,
               discard: bool = False) -> Lockstep:
        """Close ``ls`` (unless closed) and resume each backend from its own store."""
        if not ls.closed:
            ls.close(discard=discard)
        return self._open({b: self.root(b, tag) for b in BACKENDS}, f"[{self.kind}{tag} resumed] ",
                          world_id, run_id)

    def cross_open(self, *, tag: str = "", world_id: str = WORLD_ID, run_id: str = RUN_ID) -> Lockstep:
        """Resume the store written by the native backend with the reference backend and vice versa
        (item 65). In the returned pair, ``native`` is the native world on the reference's store."""
        return self._open({"native": self.root("reference", tag), "reference": self.root("native", tag)},
                          f"[{self.kind}{tag} cross-resumed] ", world_id, run_id)

    def finish(self) -> None:
        for ls in self.pairs:
            ls.finish()


def run_scenario(scenario: Callable[[Worlds], Any], kind: str, tmp_path: Any) -> None:
    """Run ``scenario`` on native and reference with store ``kind``; finish every pair."""
    worlds = Worlds(kind, tmp_path)
    try:
        scenario(worlds)
        worlds.finish()
    finally:
        for ls in worlds.pairs:
            for w in ls.worlds.values():
                with contextlib.suppress(Exception):
                    w.close(discard=True)


__all__ = [
    "BACKENDS",
    "NATIVE_BUGS",
    "native_xfail",
    "Both",
    "Lockstep",
    "LockstepError",
    "STORE_KINDS",
    "Worlds",
    "assert_same_ledger_table",
    "assert_same_table",
    "canon_rows",
    "ledger",
    "run_scenario",
]
