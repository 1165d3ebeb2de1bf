"""World comparisons C1–C5 (specs/world.md §11.3) with the §11.4 gates as `min_ratio` targets.

Each function measures one comparison at one scale point in this process and returns a
kiln.bench/1 record. Ratios are peer ÷ kiln (> 1: Kiln faster); a "≤ g" gate on kiln ÷ peer is
the target `min_ratio = 1/g`.
"""
from __future__ import annotations

import gc
import os
import shutil
import tempfile
import time
from typing import Callable, Optional

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

import kiln
import kiln.world as kw
from kiln.bench import Measurement, make_record

# (comparison, scale) -> (min_ratio gate, ambitious text); scale "" = every scale point.
GATES = {
    ("C1.overhead", "10000x50"): (10.0, "overhead_ratio >= 50"),
    ("C1.overhead", "1000x50"): (10.0, "overhead_ratio >= 50"),
    ("C1.speedup", "1000000x10"): (1.5, "speedup >= 3"),
    ("C2.memory", "1000x50"): (1.2, "speedup >= 2"),
    ("C2.memory", "10000x50"): (1.0, "speedup >= 1.5"),
    ("C3.tick", "1000000x10"): (1 / 4, "tick_vs_numpy <= 2"),
    ("C3.process", "1000000x10"): (1 / 2, "process_vs_numpy <= 1"),
    ("C4", "100000x20"): (1 / 1.5, "persistence ratio <= 1.2"),
    ("C4", "1000000x10"): (1 / 1.5, "persistence ratio <= 1.2"),
    ("C4", "10000x50"): (1 / 2, "persistence ratio <= 1.5"),
}


def _target(key: str, scale: str, peer: str) -> list:
    gate = GATES.get((key, scale))
    if gate is None:
        return [{"peer": peer, "min_ratio": None, "text": "report"}]
    return [{"peer": peer, "min_ratio": gate[0], "text": gate[1]}]


def _verdict(record: dict, quick: bool) -> dict:
    if quick:
        record["pass"] = None
        return record
    ok = True
    for t in record["target"]:
        if t["min_ratio"] is None:
            continue
        r = record["ratio"].get(t["peer"])
        ok = ok and r is not None and r >= t["min_ratio"]
    record["pass"] = ok
    return record


class Movers:
    """The §11.1 movement world: N entities, x = i, y = 0, dx = 1, dy = -0.5."""

    def __init__(self, position: type, velocity: type) -> None:
        self.position, self.velocity = position, velocity

    def world(self, backend: str, store, n: int) -> kw.World:
        w = kw.World(store, "comparisons", "cmp-world", "cmp-run", backend=backend)
        w.spawn_batch({self.position: {"x": np.arange(n, dtype=np.float64), "y": 0.0},
                       self.velocity: {"dx": 1.0, "dy": -0.5}},
                      entity_ids=np.arange(1, n + 1, dtype=np.int32))
        return w

    def expected(self, n: int, ticks: int) -> tuple:
        return n * (n - 1) / 2 + n * (ticks - 1), -0.5 * n * (ticks - 1)


def _check(w: kw.World, movers: Movers, n: int, ticks: int) -> dict:
    last = w.query(movers.position)
    sx, sy = movers.expected(n, ticks)
    gx = pc.sum(last["position__x"]).as_py() or 0.0
    gy = pc.sum(last["position__y"]).as_py() or 0.0
    return {"rows": last.num_rows, "expected_rows": n, "sum_position_x": gx, "expected_sum_position_x": sx,
            "sum_position_y": gy, "expected_sum_position_y": sy,
            "correct": last.num_rows == n and gx == sx and gy == sy}


def _timed_run(w: kw.World, ticks: int) -> tuple:
    """Per tick: wall seconds of w.step(), and the kernel profile's tick_sec and process_sec."""
    walls, ticks_sec, procs, persist = [], [], [], []
    gc.collect()
    gc.disable()
    try:
        for _ in range(ticks):
            t = time.perf_counter()
            r = w.step()
            walls.append(time.perf_counter() - t)
            p = r.profile
            ticks_sec.append(p.tick_sec)
            procs.append(p.process_sec)
            persist.append(p.append_sec + p.commit_sec)
    finally:
        gc.enable()
    return walls, ticks_sec, procs, persist


def c1_native_vs_reference(movers: Movers, n: int, ticks: int, trials: int, quick: bool) -> list:
    per = {}
    correct = True
    for backend in ("native", "reference"):
        walls, overheads, kernel_ticks = [], [], []
        for trial in range(trials + 1):
            w = movers.world(backend, kw.MemoryStore(), n)
            w.add_processor(kw.Movement(dt=1.0))
            wall, tick_s, proc_s, _ = _timed_run(w, ticks)
            correct = correct and _check(w, movers, n, ticks)["correct"]
            w.close()
            if trial == 0:
                continue  # warm-up
            walls += wall
            kernel_ticks += tick_s
            overheads += [t - p for t, p in zip(tick_s, proc_s)]
        per[backend] = (walls, kernel_ticks, overheads)
    scale = f"{n}x{ticks}"
    med = lambda xs: float(np.median(xs))  # noqa: E731
    nat_wall, ref_wall = med(per["native"][0]), med(per["reference"][0])
    metrics = {"delta_ms_per_tick": 1000 * (ref_wall - nat_wall), "speedup": ref_wall / nat_wall,
               "overhead_ratio": med(per["reference"][2]) / med(per["native"][2]),
               "native_overhead_us": 1e6 * med(per["native"][2]),
               "reference_overhead_us": 1e6 * med(per["reference"][2]),
               "native_kernel_tick_us": 1e6 * med(per["native"][1])}
    records = []
    for key, idx, what in (("C1.speedup", 0, "wall time per tick"), ("C1.overhead", 2, "tick_sec - process_sec")):
        rec = make_record(
            bench="world", case=f"comparisons/{key}/{scale}/memory", params={"entities": n, "ticks": ticks,
                                                                            "store": "memory", "metric": what},
            kiln=Measurement("kiln-native", per["native"][idx], correct=correct, version=kiln.__version__),
            peers={"reference": Measurement("kiln-reference", per["reference"][idx], correct=correct)},
            correctness={"method": "closed-form sums", "correct": correct}, correct=correct, quick=quick,
            work={"unit": "entities", "count": n}, target=_target(key, scale, "reference"),
            extra={"comparisons": metrics})
        records.append(_verdict(rec, quick))
    return records


def _python_movement() -> Callable:
    @kw.processor(columns=("position__x", "position__y", "velocity__dx", "velocity__dy"), name="py_movement")
    def py_movement(batch, ctx):
        return kw.replace(batch, position__x=pc.add(batch["position__x"], pc.multiply(batch["velocity__dx"], 1.0)),
                          position__y=pc.add(batch["position__y"], pc.multiply(batch["velocity__dy"], 1.0)))

    return py_movement


def c2_split_step(movers: Movers, n: int, ticks: int, trials: int, quick: bool, store_kind: str) -> dict:
    proc = _python_movement()
    samples, correct = {}, True
    for backend in ("native", "reference"):
        walls = []
        for trial in range(trials + 1):
            root = tempfile.mkdtemp(prefix="kiln-bench-")
            try:
                store = kw.MemoryStore() if store_kind == "memory" else kw.ParquetStore(root)
                w = movers.world(backend, store, n)
                w.add_processor(proc)
                wall, _, _, _ = _timed_run(w, ticks)
                correct = correct and _check(w, movers, n, ticks)["correct"]
                w.close()
            finally:
                shutil.rmtree(root, ignore_errors=True)
            if trial:
                walls += wall
        samples[backend] = walls
    scale = f"{n}x{ticks}"
    nat, ref = float(np.median(samples["native"])), float(np.median(samples["reference"]))
    rec = make_record(
        bench="world", case=f"comparisons/C2/{scale}/{store_kind}",
        params={"entities": n, "ticks": ticks, "store": store_kind, "processor": "python movement"},
        kiln=Measurement("kiln-native", samples["native"], correct=correct),
        peers={"reference": Measurement("kiln-reference", samples["reference"], correct=correct)},
        correctness={"method": "closed-form sums", "correct": correct}, correct=correct, quick=quick,
        work={"unit": "entities", "count": n},
        target=_target("C2.memory" if store_kind == "memory" else "C2.parquet", scale, "reference"),
        extra={"comparisons": {"delta_ms_per_tick": 1000 * (ref - nat), "speedup": ref / nat,
                               "rows_per_sec": {"native": n / nat, "reference": n / ref}}})
    return _verdict(rec, quick)


def c3_memory_vs_numpy(movers: Movers, n: int, ticks: int, trials: int, quick: bool) -> list:
    tick_samples, proc_samples, numpy_samples, correct = [], [], [], True
    for trial in range(trials + 1):
        w = movers.world("native", kw.MemoryStore(retain_ticks=0), n)
        w.add_processor(kw.Movement(dt=1.0))
        _, tick_s, proc_s, _ = _timed_run(w, ticks)
        correct = correct and _check(w, movers, n, ticks)["correct"]
        w.close()
        x, y = np.arange(n, dtype=np.float64), np.zeros(n)
        dx, dy = np.ones(n), np.full(n, -0.5)
        its = []
        for _ in range(ticks):
            t = time.perf_counter()
            x += dx * 1.0
            y += dy * 1.0
            its.append(time.perf_counter() - t)
        if trial:
            tick_samples += tick_s[1:]  # tick 0 only stores the raw spawn: no movement work
            proc_samples += proc_s[1:]
            numpy_samples += its
    scale = f"{n}x{ticks}"
    med = lambda xs: float(np.median(xs))  # noqa: E731
    metrics = {"tick_vs_numpy": med(tick_samples) / med(numpy_samples),
               "process_vs_numpy": med(proc_samples) / med(numpy_samples),
               "process_ns_per_entity": 1e9 * med(proc_samples) / n,
               "anchors_ns_per_entity": {"flecs": 0.596, "entt_owning_group": 0.620}}
    out = []
    for key, samples in (("C3.tick", tick_samples), ("C3.process", proc_samples)):
        rec = make_record(
            bench="world", case=f"comparisons/{key}/{scale}/memory",
            params={"entities": n, "ticks": ticks, "store": "memory", "retain_ticks": 0},
            kiln=Measurement("kiln-native", samples, correct=correct),
            peers={"numpy": Measurement("numpy", numpy_samples, correct=True, version=np.__version__)},
            correctness={"method": "closed-form sums", "correct": correct}, correct=correct, quick=quick,
            work={"unit": "entities", "count": n}, target=_target(key, scale, "numpy"), extra={"comparisons": metrics})
        out.append(_verdict(rec, quick))
    return out


def c4_c5_parquet(movers: Movers, n: int, ticks: int, trials: int, quick: bool) -> list:
    kiln_persist, arrow_write, kiln_read, duck_read, correct = [], [], [], [], True
    try:
        import duckdb
    except ImportError:
        duckdb = None
    for trial in range(trials + 1):
        root = tempfile.mkdtemp(prefix="kiln-bench-")
        try:
            w = movers.world("native", kw.ParquetStore(root), n)
            w.add_processor(kw.Movement(dt=1.0))
            _, _, _, persist = _timed_run(w, ticks)
            correct = correct and _check(w, movers, n, ticks)["correct"]
            table = w.table_name(movers.position, movers.velocity)
            batches = [w.history(movers.position, movers.velocity, ticks=[t]) for t in range(ticks)]
            full = w._kernel.table_schema(table)
            writes = []
            for t, b in enumerate(batches):
                tbl = pa.Table.from_batches(b.cast(full).to_batches(), schema=full) if b.num_rows else None
                if tbl is None:
                    continue
                path = os.path.join(root, f"peer-{t}.parquet")
                s = time.perf_counter()
                pq.write_table(tbl, path, compression="zstd", compression_level=1, use_dictionary=["world_id", "run_id"],
                               write_statistics=True, store_schema=True, write_page_index=False,
                               row_group_size=1 << 20)
                writes.append(time.perf_counter() - s)
            s = time.perf_counter()
            h = w.history(ticks=[ticks - 1])
            kr = time.perf_counter() - s
            rows_kiln = h.num_rows
            dr, rows_duck = None, None
            if duckdb is not None:
                pattern = os.path.join(root, "comparisons", table, "*.parquet")
                s = time.perf_counter()
                con = duckdb.connect()
                rows_duck = con.execute(
                    f"SELECT count(*) FROM read_parquet('{pattern}') WHERE world_id = 'cmp-world' "
                    f"AND run_id = 'cmp-run' AND tick = {ticks - 1}").fetchall()[0][0]
                dr = time.perf_counter() - s
                con.close()
                correct = correct and rows_duck == rows_kiln == n
            w.close()
            if trial:
                kiln_persist += persist
                arrow_write += writes
                kiln_read.append(kr)
                if dr is not None:
                    duck_read.append(dr)
        finally:
            shutil.rmtree(root, ignore_errors=True)
    scale = f"{n}x{ticks}"
    c4 = make_record(
        bench="world", case=f"comparisons/C4/{scale}/parquet",
        params={"entities": n, "ticks": ticks, "store": "parquet", "durability": "process"},
        kiln=Measurement("kiln-native", kiln_persist, correct=correct),
        peers={"pyarrow": Measurement("pyarrow.parquet.write_table", arrow_write, correct=True, version=pa.__version__)},
        correctness={"method": "closed-form sums", "correct": correct}, correct=correct, quick=quick,
        work={"unit": "rows", "count": n}, target=_target("C4", scale, "pyarrow"),
        extra={"comparisons": {"persistence_ratio": float(np.median(kiln_persist)) / float(np.median(arrow_write))}})
    peer = (Measurement("duckdb", duck_read, correct=True) if duck_read else Measurement.unavailable("duckdb"))
    c5 = make_record(
        bench="world", case=f"comparisons/C5/{scale}/parquet",
        params={"entities": n, "ticks": ticks, "store": "parquet", "query": "history(ticks=[T-1])"},
        kiln=Measurement("kiln-native", kiln_read, correct=correct), peers={"duckdb": peer},
        correctness={"method": "row counts equal", "correct": correct}, correct=correct, quick=quick,
        per="query", work={"unit": "rows", "count": n}, target=_target("C5", scale, "duckdb"),
        extra={"comparisons": {"kiln_over_duckdb": (float(np.median(kiln_read)) / float(np.median(duck_read)))
                               if duck_read else None}})
    return [_verdict(c4, quick), _verdict(c5, quick)]
