"""Executing one tick: the processor chain (specs/world.md §3.3, §3.7, §6.3).

With no Python processor registered the whole tick runs inside the kernel (``kernel.step()``).
Otherwise the tick goes through the split-step path, per active table in name order:
``step_begin`` → the chain → ``step_commit``, where kernel processors run on the batch through
``run_processor`` and Python processors are called directly and checked against the
processed-batch contract (§6.4) right after they return. Any failure aborts the whole epoch
(``step_abort``), so the tick is unchanged and stepping again is safe.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, replace as dc_replace
from typing import Any, Mapping, Optional, Sequence

import pyarrow as pa

from kiln.errors import error_for
from kiln.world.batch_contract import as_output_batch, check_processed
from kiln.world.context import Context, DeferredCommands
from kiln.world.results import StepProfile

__all__ = ["Registration", "execute_tick"]


@dataclass
class Registration:
    """One processor registered in one world."""

    handle: Any  # ProcessorHandle
    processor: Any
    name: str
    priority: int
    required: frozenset[str]
    kernel_id: Optional[int] = None

    @property
    def in_kernel(self) -> bool:
        return self.kernel_id is not None


def chain_order(registrations: Sequence[Registration]) -> list[Registration]:
    """Ascending priority; ``sorted`` is stable, so ties keep registration order."""
    return sorted(registrations, key=lambda r: r.priority)


def execute_tick(kernel: Any, registrations: Sequence[Registration], *, tick: int, world_id: str, run_id: str,
                 params: Mapping[str, Any], resources: dict,
                 commands: DeferredCommands) -> tuple[StepProfile, dict[str, int]]:
    """Run tick ``tick``; return its profile and the rows written per table.

    Kernel errors and processor errors propagate after the epoch was aborted.
    """
    if not any(not r.in_kernel for r in registrations):
        return _kernel_profile(kernel.step(), kernel)
    active = list(kernel.tables("active"))
    if not active:
        return _kernel_profile(kernel.step(), kernel)

    ordered = chain_order(registrations)
    python_sec: dict[str, float] = {}
    started = time.perf_counter()
    current = active[0]
    final: Optional[dict] = None
    try:
        for table in active:
            current = table
            batch = kernel.step_begin(table)
            t0 = time.perf_counter()
            if batch.num_rows:
                batch = _run_chain(kernel, ordered, table, batch, tick=tick, world_id=world_id, run_id=run_id,
                                   params=params, resources=resources, commands=commands)
            python_sec[table] = time.perf_counter() - t0
            final = kernel.step_commit(table, batch)
    except BaseException as exc:
        _abort(kernel, current, exc)
        raise
    wall = time.perf_counter() - started
    if final is None:
        raise error_for(2, f"step_commit of the last active table ({current}) did not complete the tick")
    profile, written = _kernel_profile(final, kernel)
    return _merge_python_time(profile, python_sec, wall), written


def _run_chain(kernel: Any, ordered: Sequence[Registration], table: str, batch: pa.RecordBatch, *, tick: int,
               world_id: str, run_id: str, params: Mapping[str, Any], resources: dict,
               commands: DeferredCommands) -> pa.RecordBatch:
    columns = set(batch.schema.names)
    ctx: Optional[Context] = None
    for reg in ordered:
        if not reg.required <= columns:
            continue
        if reg.in_kernel:
            batch = kernel.run_processor(reg.kernel_id, table, batch)
            continue
        if ctx is None:
            ctx = Context(world_id=world_id, run_id=run_id, tick=tick, table=table, params=params,
                          resources=resources, commands=commands)
        try:
            result = reg.processor.process(batch, ctx)
        except Exception as exc:  # noqa: BLE001 - every processor failure becomes ProcessorError
            err = error_for(
                400,
                f"processor {reg.name!r} failed on table {table} at tick {tick}: {type(exc).__name__}: {exc}",
                processor=reg.name, table=table, tick=tick,
            )
            raise err from exc
        out = as_output_batch(result, processor=reg.name, table=table, tick=tick)
        batch = check_processed(out, batch, processor=reg.name, table=table, tick=tick)
    return batch


def _abort(kernel: Any, table: str, cause: BaseException) -> None:
    """Abort the epoch if it is still open (a failed commit has already discarded it)."""
    try:
        if kernel.info()["state"] == "epoch_open":
            kernel.step_abort(table)
    except Exception as abort_error:  # noqa: BLE001 - the original failure is what the caller sees
        cause.add_note(f"step_abort({table!r}) also failed: {abort_error!r}")


def _kernel_profile(profile: dict, kernel: Any) -> tuple[StepProfile, dict[str, int]]:
    written = {k: int(v) for k, v in profile.get("rows_written_by_table", {}).items()}
    # The native kernel's step profile carries its tables; the reference kernel's does not.
    tables = profile.get("tables") or kernel.last_table_profiles()
    return StepProfile.from_kernel(profile, tables), written


def _merge_python_time(profile: StepProfile, python_sec: dict[str, float], wall: float) -> StepProfile:
    """Add the time spent in the Python chain (outside the kernel) to the kernel's profile."""
    tables = []
    total = 0.0
    for t in profile.tables:
        extra = python_sec.get(t.table_name, 0.0)
        total += extra
        tables.append(dc_replace(t, process_sec=t.process_sec + extra, table_sec=t.table_sec + extra))
    return dc_replace(profile, process_sec=profile.process_sec + total,
                      tick_sec=max(profile.tick_sec + total, wall), tables=tuple(tables))

