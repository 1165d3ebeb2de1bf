"""kiln.world — an Arrow-native entity-component-system tick kernel with Parquet history.

Quick tour (specs/world.md §8)::

    import pyarrow.compute as pc
    import kiln, kiln.world as kw

    @kiln.component
    class Counter:
        value: int = 0

    @kw.processor(Counter)
    def increment(batch, ctx):
        return kw.replace(batch, counter__value=pc.add(batch["counter__value"], 1))

    with kw.World(store="./kiln_data", namespace="quickstart") as w:
        w.add_processor(increment)
        w.spawn(Counter())
        w.run(4)
        w.query(Counter)

``backend="native"`` (default) runs the C++ kernel and fails loudly if it is not built;
``backend="reference"`` runs the pure-Python kernel in ``kiln.world.reference``.
"""
from __future__ import annotations

from kiln.world import errors, events, testing
from kiln.world.batch_contract import replace
from kiln.world.buffer_cache import buffer_cache_stats, set_buffer_cache_limit
from kiln.world.clib import c_include_dir, c_library_path
from kiln.world.components import component
from kiln.world.context import Context
from kiln.world.ledger import list_worlds, published_tick, read_ledger, recover
from kiln.world.processors import Formula, Movement, Processor, processor
from kiln.world.reads import LedgerScan
from kiln.world.results import HookHandle, ProcessorHandle, RunResult, StepProfile, StepResult, TableProfile
from kiln.world.store import MemoryStore, ParquetStore
from kiln.world.world import World

# kw.Formula (specs/world.md §6.2) compiles kiln.formula update rules into a kernel processor.

__all__ = [
    "World",
    "Processor",
    "processor",
    "Context",
    "Formula",
    "Movement",
    "replace",
    "ParquetStore",
    "MemoryStore",
    "events",
    "errors",
    "testing",
    "read_ledger",
    "list_worlds",
    "published_tick",
    "recover",
    "c_library_path",
    "c_include_dir",
    "component",
    "LedgerScan",
    "StepResult",
    "RunResult",
    "StepProfile",
    "TableProfile",
    "ProcessorHandle",
    "HookHandle",
    "buffer_cache_stats",
    "set_buffer_cache_limit",
]
