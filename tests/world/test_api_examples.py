"""The quickstart and the movement example (specs/world.md §8.9, §8.10; §12 items 56, 57)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pytest

import kiln.world as kw

from api_support import Counter, Position, Velocity, backend  # noqa: F401

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"


@kw.processor(Counter)
def increment(batch, ctx):
    return kw.replace(batch, counter__value=pc.add(batch["counter__value"], 1))


def quickstart(backend: str, data_dir: str) -> list:
    """§8.9 as a scenario; returns what the program prints, line by line."""
    out = []
    with kw.World(store=data_dir, namespace="quickstart", backend=backend) as w:
        wid, rid = w.world_id, w.run_id
        w.add_processor(increment)
        e = w.spawn(Counter())
        w.run(4)
        out.append(w.query(Counter)["counter__value"].to_pylist())
        h = w.history(Counter, entity_ids=[e])
        out.append((h["tick"].to_pylist(), h["counter__value"].to_pylist()))
    w2 = kw.World.open(data_dir, "quickstart", world_id=wid, run_id=rid, backend=backend)
    w2.add_processor(increment)
    w2.run(1)
    out.append((w2.tick, w2.query(Counter)["counter__value"].to_pylist()))
    w2.close()
    return out


def test_quickstart(backend, tmp_path):
    assert quickstart(backend, str(tmp_path)) == [[3], ([0, 1, 2, 3], [0, 1, 2, 3]), (5, [4])]


def test_movement_example(backend, tmp_path):
    duckdb = pytest.importorskip("duckdb")
    n, ticks, dt = 2_000, 50, 0.5
    root = str(tmp_path)
    with kw.World(store=root, namespace="movement", backend=backend) as w:
        w.add_processor(kw.Movement(dt=dt))
        w.spawn_batch({Position: {"x": np.arange(n, dtype=np.float64), "y": 0.0},
                       Velocity: {"dx": 1.0, "dy": -0.5}})
        w.run(ticks)
        last = w.query(Position)
        assert last.num_rows == n and set(last["tick"].to_pylist()) == {49}
        assert pc.sum(last["position__x"]).as_py() == n * (n - 1) / 2 + n * (ticks - 1) * dt
        assert pc.sum(last["position__y"]).as_py() == -0.5 * n * (ticks - 1) * dt
        table, wid, rid = w.table_name(Position, Velocity), w.world_id, w.run_id
    per_tick = duckdb.sql(f"""SELECT tick, count(*) AS n, sum(position__x) AS sx
        FROM read_parquet('{root}/movement/{table}/*.parquet')
        WHERE world_id = '{wid}' AND run_id = '{rid}' AND is_active
        GROUP BY tick ORDER BY tick""").fetchall()
    assert len(per_tick) == 50
    assert [r[0] for r in per_tick] == list(range(50)) and all(r[1] == n for r in per_tick)


def _run_example(name: str, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, KILN_WORLD_BACKEND="reference",
               PYTHONPATH=os.pathsep.join([str(REPO / "python"), os.environ.get("PYTHONPATH", "")]))
    return subprocess.run([sys.executable, str(EXAMPLES / name), *args], env=env, capture_output=True, text=True,
                          timeout=300)


def test_quickstart_example_program_prints_the_documented_lines(tmp_path):
    proc = _run_example("world_quickstart.py", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["[3]", "[0, 1, 2, 3] [0, 1, 2, 3]", "5 [4]"]


def test_movement_example_program_runs(tmp_path):
    proc = _run_example("world_movement.py", str(tmp_path), "1000")
    assert proc.returncode == 0, proc.stderr
    assert "49" in proc.stdout
