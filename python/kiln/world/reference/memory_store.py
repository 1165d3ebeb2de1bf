"""The in-memory store of the reference kernel (specs/world.md §5.8).

Committed batches are retained zero-copy per table: all ticks (``retain_ticks=None``), the last
N ticks, or none (``0``: only live snapshots exist and history reads return nothing). The
transaction protocol mirrors the Parquet store so that the fault plan means the same thing:
``stage`` keeps a table's batch, ``record`` is the commit point, ``publish`` makes one table's
batch visible (a failure of the first table withdraws the commit; of a later one leaves a
partial tick), ``done`` marks the transaction finished (a failure there is harmless).
"""
from __future__ import annotations

from typing import Dict, List, Optional, Tuple

import pyarrow as pa

from kiln.world.reference._common import PartialPublish, ReadFilter, StoreFailure, to_table
from kiln.world.reference.faults import FaultPlan

__all__ = ["MemoryWorldStore"]


class _Txn:
    __slots__ = ("batches",)

    def __init__(self) -> None:
        self.batches: List[Tuple[str, pa.RecordBatch]] = []


class MemoryWorldStore:
    kind = "memory"

    def __init__(self, retain_ticks: Optional[int], faults: FaultPlan) -> None:
        self.retain_ticks = retain_ticks
        self.faults = faults
        # table -> list of (tick, batch) in commit order
        self._history: Dict[str, List[Tuple[int, pa.RecordBatch]]] = {}
        self.counters = dict(reads=0, files_opened=0, row_groups_read=0, parts_written=0, bytes_written=0)

    # -- transactions

    def begin(self) -> _Txn:
        return _Txn()

    def stage(self, txn: _Txn, table: str, batch: pa.RecordBatch) -> None:
        faults = self.faults
        try:
            crash = faults.check("stage", table)
        except OSError as exc:
            raise StoreFailure(201, f"staging table {table} failed: {exc}", exc) from exc
        txn.batches.append((table, batch))
        faults.after(crash)

    def abort(self, txn: _Txn) -> None:
        txn.batches.clear()

    def commit(self, txn: _Txn, *, first_tick: int, last_tick: int, next_entity_id: int, live_tables: List[str]) -> None:
        faults = self.faults
        try:
            crash = faults.check("record")
        except OSError as exc:
            raise StoreFailure(201, f"writing the commit record of tick {last_tick} failed: {exc}", exc) from exc
        faults.after(crash)
        published: List[str] = []
        for table, batch in sorted(txn.batches, key=lambda tb: tb[0]):
            try:
                crash = faults.check("publish", table)
            except OSError as exc:
                if not published:
                    raise StoreFailure(201, f"publishing table {table} failed (commit withdrawn): {exc}", exc) from exc
                raise PartialPublish(published, exc) from exc
            self._publish(table, last_tick, batch)
            published.append(table)
            faults.after(crash)
        try:
            crash = faults.check("done")
        except OSError:
            crash = False  # harmless: everything is visible already
        faults.after(crash)
        self._trim(last_tick)

    def _publish(self, table: str, tick: int, batch: pa.RecordBatch) -> None:
        self.counters["parts_written"] += 1
        self.counters["bytes_written"] += batch.nbytes
        if self.retain_ticks == 0:
            return
        self._history.setdefault(table, []).append((tick, batch))

    def _trim(self, last_tick: int) -> None:
        n = self.retain_ticks
        if n is None or n == 0:
            return
        oldest = last_tick - n + 1
        for table, items in self._history.items():
            if items and items[0][0] < oldest:
                self._history[table] = [it for it in items if it[0] >= oldest]

    # -- reads

    def has_table(self, table: str) -> bool:
        return False  # a memory store holds only tables its world registered

    def read(self, table: str, flt: ReadFilter, schema: pa.Schema, *, own_world: Tuple[str, str]) -> pa.Table:
        faults = self.faults
        try:
            crash = faults.check("read")
        except OSError as exc:
            raise StoreFailure(200, f"reading table {table} failed: {exc}", exc) from exc
        self.counters["reads"] += 1
        out: List[pa.RecordBatch] = []
        if (flt.world_id, flt.run_id) == own_world and not flt.matches_nothing():
            for tick, batch in self._history.get(table, ()):
                if not flt.may_match(tick, tick, None, None):
                    continue
                out.append(flt.apply(batch, check_world=False))
        faults.after(crash)
        return to_table(out, schema)

    def close(self) -> None:
        self._history.clear()
