"""Shared components, fixtures and scenario helpers of the world API tests.

Every scenario takes the backend as a parameter (the ``backend`` fixture), so the parity suite can
run the same scenarios on ``"native"`` by extending ``BACKENDS``. Components are defined once here:
component names are process-wide (specs/world.md §2.2), so two test modules defining ``Position``
differently would conflict (501).

Import fixtures into a test module with ``from api_support import backend, store_kind  # noqa``.
"""
from __future__ import annotations

import os
from typing import Any, Optional

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

import kiln
import kiln.world as kw

#: Backends every API scenario runs on.
BACKENDS = ["native", "reference"]
#: Store settings of the scenarios: memory, Parquet one part per tick, Parquet three ticks per part.
STORE_KINDS = ["memory", "parquet", "parquet_k3"]


@kiln.component
class Position:
    x: float
    y: float


@kiln.component
class Velocity:
    dx: float
    dy: float


@kiln.component
class Counter:
    value: int = 0


@kiln.component
class Health:
    hp: float = 100.0


@kiln.component
class Marker:
    """A tag component (no fields)."""


@kiln.component
class Label:
    text: str = ""


@pytest.fixture(params=BACKENDS)
def backend(request: Any) -> str:
    return request.param


@pytest.fixture(params=STORE_KINDS)
def store_kind(request: Any) -> str:
    return request.param


def make_store(kind: str, tmp_path: Any) -> Any:
    if kind == "memory":
        return kw.MemoryStore()
    if kind == "parquet":
        return kw.ParquetStore(os.fspath(tmp_path / "store"))
    if kind == "parquet_k3":
        return kw.ParquetStore(os.fspath(tmp_path / "store"), flush_every_ticks=3)
    raise ValueError(kind)


def make_world(backend: str, tmp_path: Any = None, kind: str = "memory", **kwargs: Any) -> kw.World:
    """A world with fixed ids (deterministic ledgers) on the given backend and store kind."""
    store = make_store(kind, tmp_path)
    kwargs.setdefault("world_id", "test-world")
    kwargs.setdefault("run_id", "test-run")
    kwargs.setdefault("namespace", "api")
    return kw.World(store=store, backend=backend, **kwargs)


@kw.processor(Position)
def add_one(batch: pa.RecordBatch, ctx: kw.Context) -> pa.RecordBatch:
    """AddOne of the parity scenarios: ``position__x += 1``."""
    return kw.replace(batch, position__x=pc.add(batch["position__x"], 1.0))


def rows(table: pa.Table, *columns: str) -> list[tuple]:
    """Rows of ``table`` as tuples of the given columns, in stored order."""
    data = [table.column(c).to_pylist() for c in columns]
    return list(zip(*data))


def ledger_by_tick(world: kw.World, *components: type, column: str = "position__x") -> dict[int, list]:
    """{tick: [(entity_id, is_active, value), ...]} over the whole ledger."""
    h = world.history(*components)
    out: dict[int, list] = {}
    for t, e, a, v in rows(h, "tick", "entity_id", "is_active", column):
        out.setdefault(t, []).append((e, a, v))
    return out


def error_number(exc_info: Any) -> Optional[int]:
    return getattr(exc_info.value, "number", None)


def assert_code(exc_info: Any, number: int) -> None:
    """The raised error carries the catalog number ``number``."""
    got = error_number(exc_info)
    assert got == number, f"expected error {number}, got {got}: {exc_info.value!r}"


def world_state(world: kw.World) -> dict:
    """Everything a failed call must leave unchanged."""
    return {
        "tick": world.tick,
        "next_entity_id": world.next_entity_id,
        "registry": world.registry().to_pylist(),
        "live": {k: v.to_pylist() for k, v in world.live_tables().items()},
        "history": world.history().to_pylist(),
    }


__all__ = [
    "BACKENDS",
    "Counter",
    "Health",
    "Label",
    "Marker",
    "Position",
    "Velocity",
    "add_one",
    "assert_code",
    "backend",
    "ledger_by_tick",
    "make_store",
    "make_world",
    "np",
    "rows",
    "store_kind",
    "world_state",
]
