"""kill -9 at every fault point of a multi-table tick (specs/world.md §7.8, §12 items 29 and 66).

A child process runs a two-table world, arms a `crash:` fault plan for the fourth step and is
SIGKILLed by it. The parent then reopens the world: the ledger must hold exactly the ticks that
reached their commit point, DuckDB reading the part files must see only whole ticks, and finishing
the run must give the uninterrupted ledger.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

import kiln.world as kw

duckdb = pytest.importorskip("duckdb")

CHILD = textwrap.dedent(
    """
    import sys
    import numpy as np
    import kiln, kiln.world as kw
    from kiln.world.testing import set_fault_plan

    @kiln.component
    class Position:
        x: float
        y: float

    @kiln.component
    class Velocity:
        dx: float
        dy: float

    root, backend, plan, ticks, crash_at, mode = sys.argv[1:7]
    ticks, crash_at = int(ticks), int(crash_at)
    if mode == "resume":
        w = kw.World.open(root, "crash", "crash-world", "crash-run", backend=backend)
    else:
        w = kw.World(root, "crash", "crash-world", "crash-run", backend=backend)
        w.spawn_batch({Position: {"x": np.arange(5, dtype=np.float64), "y": 1.0}})
        w.spawn_batch({Position: {"x": np.arange(7, dtype=np.float64), "y": 0.0},
                       Velocity: {"dx": 1.0, "dy": -0.5}})
    w.add_processor(kw.Movement(dt=1.0))
    while w.tick < ticks:
        if w.tick == crash_at and plan:
            set_fault_plan(w, plan)
        w.step()
    w.close()
    """
)

# point -> last tick visible after the crash at tick 3 (stage: before the commit point).
CRASH_POINTS = {"crash:stage": 2, "crash:record": 3, "crash:publish": 3, "crash:done": 3}


def _child(root, backend, plan, ticks=6, crash_at=3, mode="create"):
    return subprocess.run([sys.executable, "-c", CHILD, str(root), backend, plan, str(ticks), str(crash_at), mode],
                          capture_output=True, text=True, timeout=120)


def _table_rows(root, backend):
    """Every table's full ledger (read without the component classes, which live in the child)."""
    w = kw.World.open(root, "crash", "crash-world", "crash-run", backend=backend)
    tick = w.tick
    w.close()
    tables = sorted(d for d in os.listdir(root / "crash") if not d.startswith("_"))
    return {name: kw.read_ledger(root, "crash", table=name, world_id="crash-world", run_id="crash-run")
            for name in tables}, tick


@pytest.mark.parametrize("backend", ["native", "reference"])
@pytest.mark.parametrize("plan", sorted(CRASH_POINTS))
def test_kill_at_fault_point_leaves_whole_ticks(tmp_path, backend, plan):
    clean_root, crash_root = tmp_path / "clean", tmp_path / "crash"
    done = _child(clean_root, backend, "")
    assert done.returncode == 0, done.stderr
    killed = _child(crash_root, backend, plan)
    assert killed.returncode == -signal.SIGKILL, (killed.returncode, killed.stderr)

    # Recovery runs on open; the world resumes right after the last committed tick.
    last = CRASH_POINTS[plan]
    w = kw.World.open(crash_root, "crash", "crash-world", "crash-run", backend=backend)
    assert w.tick == last + 1
    w.close()

    # DuckDB over the part files: every tick present is complete in every table.
    for table in os.listdir(crash_root / "crash"):
        if table.startswith("_"):
            continue
        counts = duckdb.sql(
            f"SELECT tick, count(*) FROM read_parquet('{crash_root}/crash/{table}/*.parquet') GROUP BY tick ORDER BY tick"
        ).fetchall()
        assert [t for t, _ in counts] == list(range(last + 1)), (table, counts)
        assert len({c for _, c in counts}) == 1, (table, counts)
    leftovers = [f for d, _, files in os.walk(crash_root) for f in files if f.endswith(".tmp")]
    assert leftovers == []

    # Finishing the run gives the uninterrupted ledger.
    resumed = _child(crash_root, backend, "", crash_at=-1, mode="resume")
    assert resumed.returncode == 0, resumed.stderr
    crashed, tick_c = _table_rows(crash_root, backend)
    clean, tick_u = _table_rows(clean_root, backend)
    assert tick_c == tick_u == 6
    assert crashed.keys() == clean.keys()
    for name in clean:
        assert crashed[name].equals(clean[name]), name
