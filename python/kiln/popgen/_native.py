"""The native backend: kiln._kiln's popgen functions behind the backend protocol (run_many)."""
from __future__ import annotations

import time

import pyarrow as pa


class _Stream:
    __slots__ = ("_capsule",)

    def __init__(self, capsule) -> None:
        self._capsule = capsule

    def __arrow_c_stream__(self, requested_schema=None):
        return self._capsule


def _table(capsule) -> pa.Table | None:
    if capsule is None:
        return None
    # Zero-copy: pyarrow adopts the kernel's buffers through the C stream interface.
    return pa.RecordBatchReader.from_stream(_Stream(capsule)).read_all()


def run_many(specs, *, record, record_every, final_population, stop, max_memory_bytes, max_record_bytes,
             workers, stop_group_on_extinction=False, cancel=None):
    from kiln import _kiln

    native_specs = [{"params": s["params"], "seed": s["seed"], "replicate": s["replicate"],
                     "horizon": s["horizon"], "group": s.get("group", -1)} for s in specs]
    t0 = time.perf_counter()
    runs, gens, pops, _messages, signal_exc = _kiln.popgen_run_many(
        native_specs, record, record_every, final_population,
        None if stop is None else stop.min_N, None if stop is None else stop.max_msd,
        int(max_memory_bytes), int(max_record_bytes), int(workers), bool(stop_group_on_extinction),
        None if cancel is None else cancel._source)
    wall = (time.perf_counter() - t0) / max(1, len(specs))
    out = _table(runs), [_table(g) for g in gens], [_table(p) for p in pops], [wall] * len(specs)
    if signal_exc is not None:  # Ctrl-C (or another signal handler) stopped the batch: keep what finished
        from kiln.popgen.cancel import Interrupted

        raise Interrupted(signal_exc, out)
    return out
