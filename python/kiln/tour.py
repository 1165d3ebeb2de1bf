"""``kiln tour``: every engine that exists, on local defaults (what ``make run`` shows).

For now that is ``kiln.world``: the movement example of specs/world.md §8.10 into a Parquet
history under ``./kiln-data``, checked against its closed-form sums and read back with DuckDB.
"""
from __future__ import annotations

import argparse
import os
import time


def register(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    parser = subparsers.add_parser(
        "tour", help="run a short tour of every engine on local defaults",
        description="Runs each engine's showcase on local defaults and prints a summary with timings.")
    parser.add_argument("--root", default="./kiln-data", help="local store directory (default ./kiln-data)")
    parser.add_argument("--entities", type=int, default=100_000, help="world: entities (default 100000)")
    parser.add_argument("--ticks", type=int, default=50, help="world: ticks (default 50)")
    parser.add_argument("--backend", choices=("native", "reference"), default="native")
    parser.set_defaults(handler=run)


def _world_movement(root: str, n: int, ticks: int, backend: str) -> bool:
    import numpy as np
    import pyarrow.compute as pc

    import kiln
    import kiln.world as kw

    @kiln.component
    class Position:
        x: float
        y: float

    @kiln.component
    class Velocity:
        dx: float
        dy: float

    dt = 0.5
    print(f"== kiln.world: movement ({n:,} entities x {ticks} ticks, dt={dt}, backend={backend}) ==")
    t0 = time.perf_counter()
    with kw.World(store=root, namespace="tour", backend=backend) as w:
        w.add_processor(kw.Movement(dt=dt))
        w.spawn_batch({Position: {"x": np.arange(n, dtype=np.float64), "y": 0.0},
                       Velocity: {"dx": 1.0, "dy": -0.5}})
        t1 = time.perf_counter()
        result = w.run(ticks)
        t2 = time.perf_counter()
        last = w.query(Position)
        t3 = time.perf_counter()
        table, wid, rid = w.table_name(Position, Velocity), w.world_id, w.run_id
    sx = pc.sum(last["position__x"]).as_py()
    sy = pc.sum(last["position__y"]).as_py()
    want_x = n * (n - 1) / 2 + n * (ticks - 1) * dt
    want_y = -0.5 * n * (ticks - 1) * dt
    ok = last.num_rows == n and sx == want_x and sy == want_y
    run_s = t2 - t1
    p = result.profile
    print(f"  world {wid}  run {rid}")
    print(f"  setup {t1 - t0:.3f} s | run {run_s:.3f} s ({1000 * run_s / max(ticks, 1):.2f} ms/tick, "
          f"{n * ticks / run_s / 1e6:.1f} M rows/s written) | query {1000 * (t3 - t2):.1f} ms")
    print(f"  per-tick phases: process {1000 * p.process_sec / max(ticks, 1):.2f} ms, "
          f"append {1000 * p.append_sec / max(ticks, 1):.2f} ms, commit {1000 * p.commit_sec / max(ticks, 1):.2f} ms")
    print(f"  check at tick {ticks - 1}: rows {last.num_rows:,}, sum x {sx:,.1f} (expected {want_x:,.1f}), "
          f"sum y {sy:,.1f} (expected {want_y:,.1f}) -> {'ok' if ok else 'MISMATCH'}")
    glob = os.path.join(root, "tour", table, "*.parquet")
    try:
        import duckdb
    except ImportError:
        print("  (duckdb not installed: skipping the SQL read of the history)")
        return ok
    t4 = time.perf_counter()
    rows = duckdb.sql(
        f"SELECT count(DISTINCT tick) AS ticks, count(*) AS rows FROM read_parquet('{glob}') "
        f"WHERE world_id = '{wid}' AND run_id = '{rid}' AND is_active").fetchall()[0]
    t5 = time.perf_counter()
    print(f"  DuckDB over {glob}: {rows[0]} ticks, {rows[1]:,} active rows ({1000 * (t5 - t4):.0f} ms)")
    ok = ok and rows[0] == ticks and rows[1] == n * ticks
    return ok


def _formula_columns(n: int = 1_000_000) -> bool:
    import numpy as np

    import kiln.formula as kf

    text = "sqrt(x**2 + y**2) * k + if(x > y, 1, 0)"
    print(f"== kiln.formula: compile once, evaluate many ({text}) ==")
    t0 = time.perf_counter()
    f = kf.compile(text)
    t1 = time.perf_counter()
    scalar = f.evaluate(x=3.0, y=4.0, k=2.0)
    rng = np.random.default_rng(7)
    x, y = rng.normal(size=n), rng.normal(size=n)
    t2 = time.perf_counter()
    out = f.evaluate_columns({"x": x, "y": y}, k=0.5)
    t3 = time.perf_counter()
    want = np.sqrt(x * x + y * y) * 0.5 + np.where(x > y, 1.0, 0.0)
    t4 = time.perf_counter()
    ok = scalar == 10.0 and np.array_equal(np.asarray(out), want)
    print(f"  compile {1e6 * (t1 - t0):.0f} us | f.evaluate(x=3, y=4, k=2) = {scalar} | {n:,} rows in {1000 * (t3 - t2):.1f} ms "
          f"(numpy, same formula: {1000 * (t4 - t3):.1f} ms) -> {'bit-identical' if ok else 'MISMATCH'}")
    return ok


def _popgen_threshold() -> bool:
    """A fast Nunney (2003) threshold at K = 500 (M = 1, n = 1; fixed horizon 2000 to stay quick)."""
    import time

    from kiln import popgen

    print("== kiln.popgen: nunney2003 threshold, K=500, n=1, M=1, R=10, horizon 2000 ==")
    t0 = time.perf_counter()
    m = popgen.Nunney2003(popgen.Params(K=500, n=1, M=1, R=10.0))
    est = popgen.estimate_threshold(m, method="nunney2003", seed=7, horizon=2000)
    print(f"  C = {est.C:.2f} generations per allele unit (T_lo {est.T_lo:.2f}, {est.runs} runs, "
          f"{len(est.tests)} tests, {time.perf_counter() - t0:.1f} s); published ~20 at H(T) = max(20T, 5000)")
    return est.status == "ok"


def run(args: argparse.Namespace) -> int:
    os.makedirs(args.root, exist_ok=True)
    ok = _world_movement(args.root, args.entities, args.ticks, args.backend)
    ok = _formula_columns() and ok
    ok = _popgen_threshold() and ok
    print(f"history kept under {os.path.abspath(args.root)} (delete it freely)")
    return 0 if ok else 1
