"""Value objects returned by the world API (specs/world.md §8.4, §8.5, §6.5).

``StepProfile`` mirrors ``arct_step_profile`` and ``TableProfile`` mirrors ``arct_table_profile``
(C ABI §7.5), so Python and C callers read the same numbers.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, Optional

__all__ = ["TableProfile", "StepProfile", "StepResult", "RunResult", "ProcessorHandle", "HookHandle"]

_STEP_TIMES = ("read_prior_sec", "materialize_sec", "process_sec", "append_sec", "live_snapshot_sec",
               "commit_sec", "tick_sec")
_TABLE_TIMES = ("read_prior_sec", "materialize_sec", "process_sec", "append_sec", "live_snapshot_sec",
                "table_sec")


@dataclass(frozen=True)
class TableProfile:
    """Per-table timings of one step (or sums over several steps in a ``RunResult``)."""

    table_name: str
    rows_in: int = 0
    rows_out: int = 0
    read_prior_sec: float = 0.0
    materialize_sec: float = 0.0
    process_sec: float = 0.0
    append_sec: float = 0.0
    live_snapshot_sec: float = 0.0
    table_sec: float = 0.0

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TableProfile":
        # Called once per table per step, so it avoids dataclasses.fields() per call (~3 µs) and
        # the frozen __init__'s object.__setattr__ per field: filling the instance dict in one
        # update is equivalent for this plain value type (no __post_init__, no slots).
        self = object.__new__(cls)
        self.__dict__.update({k: d.get(k, default) for k, default in _TABLE_FIELDS},
                             table_name=d.get("table_name", d.get("table", "")))
        return self

    def plus(self, other: "TableProfile") -> "TableProfile":
        return TableProfile(
            table_name=self.table_name,
            rows_in=self.rows_in + other.rows_in,
            rows_out=self.rows_out + other.rows_out,
            **{k: getattr(self, k) + getattr(other, k) for k in _TABLE_TIMES},
        )


@dataclass(frozen=True)
class StepProfile:
    """Phase timings of a step summed over its tables, plus the per-table ``tables`` list.

    In a ``RunResult`` every number is summed over the steps and ``tick`` is the last tick run.
    """

    tick: int
    n_tables: int = 0
    rows_written: int = 0
    store_reads: int = 0
    read_prior_sec: float = 0.0
    materialize_sec: float = 0.0
    process_sec: float = 0.0
    append_sec: float = 0.0
    live_snapshot_sec: float = 0.0
    commit_sec: float = 0.0
    tick_sec: float = 0.0
    tables: tuple[TableProfile, ...] = ()

    @classmethod
    def from_kernel(cls, d: dict[str, Any], tables: list[dict[str, Any]] | tuple = ()) -> "StepProfile":
        return cls(*[d[k] if default is MISSING else d.get(k, default) for k, default in _STEP_FIELDS],
                   tables=_KernelTables(tables))

    @classmethod
    def empty(cls, tick: int) -> "StepProfile":
        return cls(tick=tick)

    def plus(self, other: "StepProfile") -> "StepProfile":
        """Sum of two profiles; ``tick`` is the later one, tables are merged by name."""
        merged: dict[str, TableProfile] = {t.table_name: t for t in self.tables}
        for t in other.tables:
            merged[t.table_name] = merged[t.table_name].plus(t) if t.table_name in merged else t
        return StepProfile(
            tick=other.tick,
            n_tables=self.n_tables + other.n_tables,
            rows_written=self.rows_written + other.rows_written,
            store_reads=self.store_reads + other.store_reads,
            tables=tuple(merged[k] for k in sorted(merged)),
            **{k: getattr(self, k) + getattr(other, k) for k in _STEP_TIMES},
        )


class _KernelTables(Sequence):
    """A step's per-table profiles, converted from the kernel's dicts on first use.

    Most callers of ``World.step()`` never look at the per-table list; converting it eagerly cost
    ~1.3 µs per table per step (a third of the Python time of a 27-table step). Compares and
    hashes like the tuple it stands for.
    """

    __slots__ = ("_raw", "_items")

    def __init__(self, raw: Sequence) -> None:
        self._raw, self._items = raw, None

    def _tuple(self) -> tuple:
        if self._items is None:
            self._items = tuple(t if isinstance(t, TableProfile) else TableProfile.from_dict(t) for t in self._raw)
            self._raw = None
        return self._items

    def __getitem__(self, i):
        return self._tuple()[i]

    def __len__(self) -> int:
        return len(self._tuple())

    def __iter__(self):
        return iter(self._tuple())

    def __eq__(self, other: object) -> bool:
        return self._tuple() == (other._tuple() if isinstance(other, _KernelTables) else other)

    def __hash__(self) -> int:
        return hash(self._tuple())

    def __repr__(self) -> str:
        return repr(self._tuple())


def _positional(cls: type, skip: tuple) -> tuple:
    """(name, default) of a dataclass's fields in declaration order, without ``skip``."""
    return tuple((f.name, f.default) for f in fields(cls) if f.name not in skip)


_TABLE_FIELDS = _positional(TableProfile, ("table_name",))
_STEP_FIELDS = _positional(StepProfile, ("tables",))


@dataclass(frozen=True)
class StepResult:
    """What ``World.step`` returns: the tick executed, rows written per table, the profile."""

    tick: int
    rows_written: dict[str, int]
    profile: StepProfile


@dataclass(frozen=True)
class RunResult:
    """What ``World.run(n)`` returns: the ticks executed and the summed profile."""

    ticks: range
    profile: StepProfile


@dataclass(frozen=True, eq=False)
class ProcessorHandle:
    """One registration of a processor in one world (``World.add_processor``).

    ``processor`` is the object that was registered; ``kernel_id`` is set for processors that
    run inside the kernel (Movement).
    """

    id: int
    name: str
    priority: int
    processor: Any = field(repr=False)
    kernel_id: Optional[int] = None
    world_token: Any = field(default=None, repr=False, compare=False)

    def __repr__(self) -> str:
        return f"ProcessorHandle(id={self.id}, name={self.name!r}, priority={self.priority})"


@dataclass(frozen=True, eq=False)
class HookHandle:
    """One handler registration (``World.on``); pass it to ``World.off``."""

    id: int
    event_type: type
    handler: Any = field(repr=False)
    world_token: Any = field(default=None, repr=False, compare=False)
