"""Processor definitions (specs/world.md §6.1, §6.3, §8.4).

Three kinds share one chain, ordered by ascending priority with ties in registration order
(default priority 0 everywhere [D1]):

* ``Movement(dt, priority)``: the native built-in, executed inside the kernel;
* ``Processor`` subclasses with a ``process(batch, ctx)`` method;
* functions decorated with ``@processor(...)``.

A processor matches a table iff every required column exists in it [D2]; component classes are
translated to their prefixed columns (a tag to its ``__tag`` column). ``Context`` and
``replace`` are re-exported here because processors are where they are used.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import pyarrow as pa

from kiln.errors import error_for
from kiln.world.batch_contract import replace
from kiln.world.components import component_spec, is_component
from kiln.world.context import Context

__all__ = ["Processor", "processor", "Movement", "Formula", "Context", "replace", "required_columns", "processor_name",
           "processor_priority"]

_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1


class Processor:
    """Base class of Python processors.

    Subclasses set ``components`` (component classes) and/or ``columns`` (column names) to say
    which tables they act on, optionally ``priority`` and ``name``, and implement ``process``::

        class Gravity(kw.Processor):
            components = (Velocity,)
            priority = -1
            def process(self, batch, ctx):
                return kw.replace(batch, velocity__dy=pc.subtract(batch["velocity__dy"], 9.81 * ctx.params["dt"]))

    ``process`` receives one ``pyarrow.RecordBatch`` per matching table (full schema, tombstone
    rows included) and returns a batch with the same schema, rows and base columns.
    """

    components: tuple[type, ...] = ()
    columns: tuple[str, ...] = ()
    priority: int = 0
    name: Optional[str] = None

    def process(self, batch: pa.RecordBatch, ctx: Context) -> pa.RecordBatch:  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__}.process(batch, ctx) is not implemented")


class FunctionProcessor(Processor):
    """What ``@processor(...)`` returns: a Processor calling the decorated function.

    It stays callable like the original function, so it can be tested directly.
    """

    def __init__(self, fn: Callable[[pa.RecordBatch, Context], Any], components: tuple[type, ...],
                 columns: tuple[str, ...], priority: int, name: Optional[str]) -> None:
        self.fn = fn
        self.components = components
        self.columns = columns
        self.priority = priority
        self.name = name or getattr(fn, "__name__", "processor")
        self.__doc__ = getattr(fn, "__doc__", None)
        self.__wrapped__ = fn

    def process(self, batch: pa.RecordBatch, ctx: Context) -> Any:
        return self.fn(batch, ctx)

    def __call__(self, batch: pa.RecordBatch, ctx: Context) -> Any:
        return self.fn(batch, ctx)

    def __repr__(self) -> str:
        return f"<processor {self.name!r} priority={self.priority}>"


def processor(*components: Any, priority: int = 0, columns: tuple[str, ...] | list[str] = (),
              name: Optional[str] = None):
    """Decorator turning ``fn(batch, ctx) -> batch`` into a processor.

    ``@processor(Position, Velocity, priority=0, columns=(), name=None)``; ``@processor`` without
    arguments matches every table.
    """
    if len(components) == 1 and callable(components[0]) and not isinstance(components[0], type):
        return processor()(components[0])  # used bare: @processor
    comps = tuple(components)
    cols = tuple(columns)

    def wrap(fn: Callable[[pa.RecordBatch, Context], Any]) -> FunctionProcessor:
        if not callable(fn):
            raise error_for(402, f"@processor decorates functions, got {type(fn).__name__}")
        p = FunctionProcessor(fn, comps, cols, priority, name)
        required_columns(p)  # validate now: a bad definition fails at decoration time
        processor_priority(p)
        return p

    return wrap


@dataclass(frozen=True)
class Movement:
    """Native movement: ``x += dx * dt``, ``y += dy * dt`` on tables with Position and Velocity.

    Requires ``position__x, position__y, velocity__dx, velocity__dy`` (all Float64, else 155 at
    step); ``dt`` must be finite (402). Runs inside the kernel (no Python per step).
    """

    dt: float = 1.0
    priority: int = 0
    name: str = field(default="movement", init=False)

    REQUIRED = ("position__x", "position__y", "velocity__dx", "velocity__dy")

    def __post_init__(self) -> None:
        try:
            dt = float(self.dt)
        except (TypeError, ValueError) as exc:
            raise error_for(402, f"Movement dt must be a finite number, got {self.dt!r}") from exc
        if not math.isfinite(dt):
            raise error_for(402, f"Movement dt must be finite, got {dt}")
        object.__setattr__(self, "dt", dt)
        _check_priority(self.priority, "movement")


@dataclass(frozen=True, eq=False)
class Formula:
    """A formula processor (§6.2): update rules ``target = expression`` run natively inside the
    tick, every right-hand side reading the input batch. ``assign`` is rule text (newline or ';'
    separated) or a mapping target -> expression; ``params`` are scalars bound by name.

    Compile errors, base-column targets and params named like columns are 402
    (ARCT_ERR_PROCESSOR_CONFIG), a non-Float64 target 155, nulls into a non-nullable target 157
    and a strict evaluation error 400, each with the formula error as ``__cause__``."""

    assign: Any
    params: Any = field(default_factory=dict)
    priority: int = 0
    name: str = "formula"
    mode: str = "ieee"

    BASE = ("world_id", "run_id", "entity_id", "tick", "is_active")

    def __post_init__(self) -> None:
        from kiln.errors import FormulaError
        from kiln.formula import compile_rules

        if self.mode not in ("ieee", "strict"):
            raise error_for(402, f"formula processor {self.name!r}: mode must be 'ieee' or 'strict', got {self.mode!r}",
                            processor=self.name)
        try:
            params = {str(k): float(v) for k, v in dict(self.params or {}).items()}
        except (TypeError, ValueError) as exc:
            raise error_for(402, f"formula processor {self.name!r}: params must map names to numbers ({exc})",
                            processor=self.name) from None
        object.__setattr__(self, "params", params)
        _check_priority(self.priority, self.name)
        try:
            rules = compile_rules(self.assign, mode=self.mode, reserved=self.BASE)
        except FormulaError as exc:
            raise error_for(402, f"formula processor {self.name!r}: {exc.message.splitlines()[0]}", processor=self.name,
                            cause=exc) from exc
        object.__setattr__(self, "_rules", rules)

    @property
    def rules(self) -> list[tuple[str, str]]:
        """(target, expression text) in rule order, as compiled by the kernels."""
        return [(t, f.text) for t, f in self._rules]

    @property
    def required(self) -> frozenset[str]:
        cols = set()
        for t, f in self._rules:
            cols.add(t)
            cols.update(v for v in f.variables if v not in self.params)
        return frozenset(cols)


def _check_priority(priority: Any, name: str) -> int:
    if isinstance(priority, bool) or not isinstance(priority, int) or not _INT32_MIN <= priority <= _INT32_MAX:
        raise error_for(402, f"processor {name!r}: priority must be an Int32 integer, got {priority!r}",
                        processor=name)
    return priority


def processor_name(p: Any) -> str:
    if isinstance(p, Movement):
        return "movement"
    if isinstance(p, Formula):
        return p.name
    return getattr(p, "name", None) or type(p).__name__


def processor_priority(p: Any) -> int:
    return _check_priority(getattr(p, "priority", 0), processor_name(p))


def required_columns(p: Any) -> frozenset[str]:
    """Columns a table must have for ``p`` to run on it (402 for a bad declaration)."""
    if isinstance(p, Movement):
        return frozenset(Movement.REQUIRED)
    if isinstance(p, Formula):
        return p.required
    name = processor_name(p)
    comps = getattr(p, "components", ()) or ()
    cols = getattr(p, "columns", ()) or ()
    if isinstance(comps, type) or isinstance(cols, str):
        raise error_for(402, f"processor {name!r}: components and columns must be sequences", processor=name)
    out: set[str] = set()
    for c in comps:
        if not (isinstance(c, type) and is_component(c)):
            raise error_for(402, f"processor {name!r}: {c!r} is not a @kiln.component class", processor=name)
        out.update(component_spec(c).column_names)
    for col in cols:
        if not isinstance(col, str) or not col:
            raise error_for(402, f"processor {name!r}: column names must be non-empty strings, got {col!r}",
                            processor=name)
        out.add(col)
    return frozenset(out)
