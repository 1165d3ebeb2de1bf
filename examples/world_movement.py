"""kiln.world movement example (specs/world.md §8.10): native Movement over many entities, then
the Parquet history read back with DuckDB.

Usage: python examples/world_movement.py [DATA_DIR] [N_ENTITIES]
DATA_DIR defaults to a fresh temporary directory, N_ENTITIES to 100_000. The backend is the
native kernel unless KILN_WORLD_BACKEND=reference selects the pure-Python one.
"""
import os
import sys
import tempfile

import duckdb
import numpy as np
import pyarrow.compute as pc

import kiln
import kiln.world as kw

BACKEND = os.environ.get("KILN_WORLD_BACKEND", "native")


@kiln.component
class Position:
    x: float
    y: float


@kiln.component
class Velocity:
    dx: float
    dy: float


def main(data_dir: str, n: int = 100_000) -> list:
    """Run the simulation under ``data_dir``; return the per-tick DuckDB rows (50 of them)."""
    ticks, dt = 50, 0.5
    with kw.World(store=data_dir, namespace="movement", backend=BACKEND) as w:
        w.add_processor(kw.Movement(dt=dt))
        w.spawn_batch({Position: {"x": np.arange(n, dtype=np.float64), "y": 0.0},
                       Velocity: {"dx": 1.0, "dy": -0.5}})
        w.run(ticks)                              # 49 movement applications
        last = w.query(Position)                  # tick 49, n rows
        assert pc.sum(last["position__x"]).as_py() == n * (n - 1) / 2 + n * (ticks - 1) * dt
        assert pc.sum(last["position__y"]).as_py() == -0.5 * n * (ticks - 1) * dt
        table, wid, rid = w.table_name(Position, Velocity), w.world_id, w.run_id

    root = data_dir.replace("'", "''")
    per_tick = duckdb.sql(f"""SELECT tick, count(*) AS n, sum(position__x) AS sx
        FROM read_parquet('{root}/movement/{table}/*.parquet')
        WHERE world_id = '{wid}' AND run_id = '{rid}' AND is_active
        GROUP BY tick ORDER BY tick""")
    print(per_tick)                               # 50 rows, one per tick
    return per_tick.fetchall()


if __name__ == "__main__":
    n_entities = int(sys.argv[2]) if len(sys.argv) > 2 else 100_000
    if len(sys.argv) > 1:
        main(sys.argv[1], n_entities)
    else:
        with tempfile.TemporaryDirectory(prefix="kiln_movement_") as tmp:
            main(tmp, n_entities)
