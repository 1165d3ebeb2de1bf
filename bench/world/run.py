"""World benchmarks (specs/world.md §11): ``python -m kiln.bench world [BENCH ...] [options]``.

BENCH is one or more of movement_compare, mid_run_spawn, comparisons (C1–C5 of §11.3), ecs (§11.5);
default:
movement_compare and mid_run_spawn. Each case prints one
kiln.bench/1 record: the native backend is the subject, the pure-Python reference backend is the
peer ``reference``, both measured in the same run, per tick, with 1 warm-up and 5 measured trials
(``--quick``: 1 + 3) on a fresh store each; samples pool the measured ticks of all trials.
"""
from __future__ import annotations

import argparse
import gc
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # sibling driver modules

import numpy as np
import pyarrow.compute as pc

import kiln
import kiln.world as kw
from kiln.bench import Measurement, make_record, write_record


@kiln.component
class Position:
    x: float
    y: float


@kiln.component
class Velocity:
    dx: float
    dy: float


BACKENDS = {"native": "kiln-native", "reference": "kiln-reference"}
MOVEMENT_FULL = [(1_000, 50), (10_000, 50), (100_000, 20), (1_000_000, 10)]
MOVEMENT_QUICK = [(1_000, 3), (1_000, 50), (10_000, 50)]
MID_RUN_FULL = [(1_000, 200, 2, 5), (10_000, 2_000, 10, 50), (1_000_000, 200_000, 3, 10)]
MID_RUN_QUICK = [(1_000, 200, 2, 5)]


@dataclass
class Trial:
    setup_sec: float
    run_sec: float
    query_sec: float
    tick_secs: list
    phases: dict
    store_reads: int
    rows: int
    sum_x: float
    sum_y: float


@dataclass
class Expected:
    rows: int
    sum_x: float
    sum_y: float


def _spawn_block(w: kw.World, start: int, count: int) -> None:
    w.spawn_batch({Position: {"x": np.arange(start, start + count, dtype=np.float64), "y": 0.0},
                   Velocity: {"dx": 1.0, "dy": -0.5}},
                  entity_ids=np.arange(start + 1, start + count + 1, dtype=np.int32))


def _trial(backend: str, store: str, namespace: str, world_id: str, run_id: str, n_initial: int, ticks: int,
           late: Optional[tuple] = None) -> Trial:
    """One fresh world: setup, `ticks` steps timed one by one, then the ledger query of the last tick."""
    root = tempfile.mkdtemp(prefix="kiln-bench-")
    try:
        spec = kw.ParquetStore(root) if store == "parquet" else kw.MemoryStore()
        gc.collect()
        gc.disable()
        t0 = time.perf_counter()
        w = kw.World(spec, namespace, world_id, run_id, backend=backend)
        w.add_processor(kw.Movement(dt=1.0))
        _spawn_block(w, 0, n_initial)
        t1 = time.perf_counter()
        tick_secs = []
        phases = dict.fromkeys(("read_prior", "materialize", "process", "append", "commit", "live_snapshot",
                                "profiled_tick"), 0.0)
        reads = 0
        for t in range(ticks):
            if late is not None and t == late[2]:
                _spawn_block(w, n_initial, late[1])
            s = time.perf_counter()
            result = w.step()
            tick_secs.append(time.perf_counter() - s)
            p = result.profile
            for k in ("read_prior", "materialize", "process", "append", "commit", "live_snapshot"):
                phases[k] += getattr(p, f"{k}_sec")
            phases["profiled_tick"] += p.tick_sec
            reads += p.store_reads
        t2 = time.perf_counter()
        last = w.history(Position, ticks=[ticks - 1], active_only=True)
        sx = pc.sum(last["position__x"]).as_py() or 0.0
        sy = pc.sum(last["position__y"]).as_py() or 0.0
        t3 = time.perf_counter()
        w.close()
        gc.enable()
        return Trial(t1 - t0, t2 - t1, t3 - t2, tick_secs, phases, reads, last.num_rows, sx, sy)
    finally:
        gc.enable()
        shutil.rmtree(root, ignore_errors=True)


def _correctness(trials: list, exp: Expected) -> dict:
    last = trials[-1]
    ex = abs(last.sum_x - exp.sum_x)
    ey = abs(last.sum_y - exp.sum_y)
    rows_ok = all(t.rows == exp.rows for t in trials)
    sums_ok = all(abs(t.sum_x - exp.sum_x) < 1e-9 and abs(t.sum_y - exp.sum_y) < 1e-9 for t in trials)
    return {"expected_rows": exp.rows, "rows_match": rows_ok, "sum_position_x": last.sum_x,
            "sum_position_y": last.sum_y, "expected_sum_position_x": exp.sum_x,
            "expected_sum_position_y": exp.sum_y, "sum_position_x_abs_error": ex,
            "sum_position_y_abs_error": ey, "position_sums_match": sums_ok, "correct": rows_ok and sums_ok}


def _backend_record(backend: str, store: str, entities: int, ticks: int, trials: list, corr: dict) -> dict:
    med = lambda xs: float(np.median(xs))  # noqa: E731
    pooled = [s for t in trials for s in t.tick_secs]
    phases = {k: med([t.phases[k] for t in trials]) for k in trials[0].phases}
    phases.update(setup=med([t.setup_sec for t in trials]), run=med([t.run_sec for t in trials]),
                  query=med([t.query_sec for t in trials]),
                  total=med([t.setup_sec + t.run_sec + t.query_sec for t in trials]))
    run_sec = phases["run"]
    return {"backend": BACKENDS[backend], "store": store, "entities": entities, "ticks": ticks,
            "rows": trials[-1].rows, "setup_sec": phases["setup"], "run_sec": run_sec,
            "query_sec": phases["query"], "total_sec": phases["total"],
            "tick_sec": {"median": med(pooled), "p95": float(np.percentile(pooled, 95)),
                         "min": float(min(pooled)), "max": float(max(pooled))},
            "phases_sec": phases, "store_reads": int(sum(t.store_reads for t in trials)),
            "rows_per_sec": entities * ticks / run_sec if run_sec > 0 else None, "correctness": corr}


def _measure(backends: list, store: str, trials: int, run_trial: Callable[[str], Trial], exp: Expected,
             entities: int, ticks: int) -> tuple:
    measurements, records, correct = {}, [], True
    for backend in backends:
        run_trial(backend)  # warm-up, discarded
        done = [run_trial(backend) for _ in range(trials)]
        corr = _correctness(done, exp)
        correct = correct and corr["correct"]
        records.append(_backend_record(backend, store, entities, ticks, done, corr))
        measurements[backend] = Measurement(impl=BACKENDS[backend], samples=[s for t in done for s in t.tick_secs],
                                            correct=corr["correct"], version=kiln.__version__)
    return measurements, records, correct


def _emit(case: str, params: dict, measurements: dict, records: list, correct: bool, quick: bool,
          work: int, out: Optional[str]) -> dict:
    subject = measurements.get("native") or next(iter(measurements.values()))
    peers = {"reference": measurements["reference"]} if "reference" in measurements and "native" in measurements else {}
    corr = {"method": "closed-form sums (exact in float64)", **records[0]["correctness"],
            "backends": {r["backend"]: r["correctness"]["correct"] for r in records}}
    rec = make_record(bench="world", case=case, params=params, kiln=subject, peers=peers, correctness=corr,
                      correct=correct, quick=quick, work={"unit": "entities", "count": work},
                      extra={"backends": records}, env_peers=("duckdb", "polars", "esper"))
    write_record(rec, out_path=out)
    return rec


def movement_compare(args: argparse.Namespace, entities: int, ticks: int, store: str) -> dict:
    exp = Expected(entities, entities * (entities - 1) / 2 + entities * (ticks - 1), -0.5 * entities * (ticks - 1))
    run = lambda b: _trial(b, store, "movement_bench", "movement-world", "movement-run", entities, ticks)  # noqa: E731
    m, recs, ok = _measure(args.backends, store, args.trials, run, exp, entities, ticks)
    return _emit(f"movement_compare/{entities}x{ticks}/{store}", {"entities": entities, "ticks": ticks, "store": store},
                 m, recs, ok, args.quick, entities, args.out)


def mid_run_spawn(args: argparse.Namespace, n_e: int, n_l: int, s: int, ticks: int, store: str) -> dict:
    if not s < ticks:
        from kiln.errors import error_for

        raise error_for(8, f"--spawn-at-tick ({s}) must be < --ticks ({ticks})")
    exp = Expected(n_e + n_l,
                   n_e * (n_e - 1) / 2 + n_e * (ticks - 1) + n_l * (2 * n_e + n_l - 1) / 2 + n_l * (ticks - 1 - s),
                   -0.5 * (n_e * (ticks - 1) + n_l * (ticks - 1 - s)))
    run = lambda b: _trial(b, store, "mid_run_spawn_bench", "mid-run-world", "mid-run-run", n_e, ticks,  # noqa: E731
                           late=(n_e, n_l, s))
    m, recs, ok = _measure(args.backends, store, args.trials, run, exp, n_e + n_l, ticks)
    for r in recs:
        r.update(scenario="mid_run_spawn", initial_entities=n_e, late_entities=n_l, total_entities=n_e + n_l,
                 spawn_at_tick=s)
    return _emit(f"mid_run_spawn/{n_e}+{n_l}@{s}x{ticks}/{store}",
                 {"initial_entities": n_e, "late_entities": n_l, "spawn_at_tick": s, "ticks": ticks, "store": store},
                 m, recs, ok, args.quick, n_e + n_l, args.out)


def run_comparisons(args: argparse.Namespace, wanted: Callable[[str], bool]) -> bool:
    """C1–C5 at the §11.1 scale points (C1 first at its seed plan 1000×50 and 10000×50)."""
    import comparisons as cmp

    movers = cmp.Movers(Position, Velocity)
    points = [(args.entities, args.ticks or 50)] if args.entities else (MOVEMENT_QUICK[1:] if args.quick else MOVEMENT_FULL)
    ok = True
    for n, t in points:
        records = []
        if wanted("comparisons/C1"):
            records += cmp.c1_native_vs_reference(movers, n, t, args.trials, args.quick)
        for store in ("memory", "parquet"):
            if wanted(f"comparisons/C2/{n}x{t}/{store}"):
                records.append(cmp.c2_split_step(movers, n, t, args.trials, args.quick, store))
        if wanted("comparisons/C3"):
            records += cmp.c3_memory_vs_numpy(movers, n, t, args.trials, args.quick)
        if wanted("comparisons/C4") or wanted("comparisons/C5"):
            records += cmp.c4_c5_parquet(movers, n, t, args.trials, args.quick)
        for r in records:
            write_record(r, out_path=args.out)
            ok = ok and r["correct"]
    return ok


def main(argv: list) -> int:
    parser = argparse.ArgumentParser(prog="python -m kiln.bench world", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("benches", nargs="*", default=[], help="movement_compare, mid_run_spawn (default: all)")
    parser.add_argument("--quick", action="store_true", help="short run: 1 warm-up + 3 trials, small scale points")
    parser.add_argument("--only", help="comma-separated case-id prefixes to run")
    parser.add_argument("--out", help="also append the records to this file")
    parser.add_argument("--store", choices=("memory", "parquet"), help="only this store (default: both)")
    parser.add_argument("--backends", default="native,reference", help="comma-separated: native,reference")
    parser.add_argument("--entities", type=int, help="movement_compare: one scale point")
    parser.add_argument("--ticks", type=int, help="movement_compare / mid_run_spawn: ticks")
    parser.add_argument("--initial-entities", type=int, help="mid_run_spawn: n_e")
    parser.add_argument("--late-entities", type=int, help="mid_run_spawn: n_l")
    parser.add_argument("--spawn-at-tick", type=int, help="mid_run_spawn: S")
    parser.add_argument("--trials", type=int, help="measured trials per backend (default 5, quick 3)")
    parser.add_argument("--n", type=int, help="ecs: entities per group (default 1000 and 10000; quick 1000)")
    parser.add_argument("--steps", type=int, default=10, help="ecs: timed steps (default 10)")
    parser.add_argument("--workloads", help="ecs: comma-separated workloads (default: all five)")
    args = parser.parse_args(argv)
    args.backends = [b for b in args.backends.split(",") if b]
    for b in args.backends:
        if b not in BACKENDS:
            parser.error(f"unknown backend {b!r}")
    args.trials = args.trials or (3 if args.quick else 5)
    benches = args.benches or ["movement_compare", "mid_run_spawn"]
    stores = [args.store] if args.store else ["memory", "parquet"]
    only = [p for p in (args.only or "").split(",") if p]
    wanted = lambda case: not only or any(case.startswith(p) for p in only)  # noqa: E731
    all_correct = True
    for bench in benches:
        if bench == "movement_compare":
            points = ([(args.entities, args.ticks or 3)] if args.entities else
                      (MOVEMENT_QUICK if args.quick else MOVEMENT_FULL))
            for n, t in points:
                for store in stores:
                    if wanted(f"movement_compare/{n}x{t}/{store}"):
                        all_correct &= movement_compare(args, n, t, store)["correct"]
        elif bench == "mid_run_spawn":
            if args.initial_entities or args.late_entities or args.spawn_at_tick is not None or args.ticks:
                points = [(args.initial_entities or 1000, args.late_entities or 200,
                           2 if args.spawn_at_tick is None else args.spawn_at_tick, args.ticks or 5)]
            else:
                points = MID_RUN_QUICK if args.quick else MID_RUN_FULL
            for n_e, n_l, s, t in points:
                for store in stores:
                    if wanted(f"mid_run_spawn/{n_e}+{n_l}@{s}x{t}/{store}"):
                        all_correct &= mid_run_spawn(args, n_e, n_l, s, t, store)["correct"]
        elif bench == "comparisons":
            all_correct &= run_comparisons(args, wanted)
        elif bench == "ecs":
            import ecs

            sizes = [args.n] if args.n else ([1000] if args.quick else [1000, 10_000])
            workloads = args.workloads.split(",") if args.workloads else list(ecs.KILN_WORKLOADS)
            for n in sizes:
                for name in workloads:
                    if wanted(f"ecs/{name}/{n}"):
                        rec = ecs.run_workload(name, n, args.steps, args.quick, args.trials)
                        write_record(rec, out_path=args.out)
                        all_correct &= rec["correct"]
        else:
            parser.error(f"unknown benchmark {bench!r} (movement_compare, mid_run_spawn, comparisons, ecs)")
    if not all_correct:
        print("kiln bench world: a case reported correct: false", file=sys.stderr)
    return 0 if all_correct else 1
