"""Store acceptance items of specs/world.md §12 on both backends: 22, 23, 26, 28, 32, 34, 36, 37."""
from __future__ import annotations

import glob
import os
import shutil

import numpy as np
import pyarrow.dataset as ds
import pytest

import kiln.world as kw
from api_support import Position, Velocity, backend  # noqa: F401  (fixture)

duckdb = pytest.importorskip("duckdb")
polars = pytest.importorskip("polars")


def _movement_run(root, backend, ticks=5, n=4, flush_every=1, world_id="w", run_id="r"):
    store = kw.ParquetStore(root, flush_every_ticks=flush_every)
    w = kw.World(store, "ns", world_id, run_id, backend=backend)
    w.add_processor(kw.Movement(dt=0.5))
    w.spawn_batch({Position: {"x": np.arange(n, dtype=np.float64), "y": 1.0}, Velocity: {"dx": 1.0, "dy": 2.0}})
    w.spawn_batch({Position: {"x": np.arange(n, dtype=np.float64), "y": -1.0}})
    profiles = [w.step().profile for _ in range(ticks)]
    return w, profiles


def _part_files(root):
    return sorted(glob.glob(os.path.join(root, "ns", "*", "part-*.parquet")))


def test_same_script_twice_gives_byte_identical_parts(backend, tmp_path):  # item 22
    contents = []
    for run in ("a", "b"):
        w, _ = _movement_run(str(tmp_path / run), backend)
        w.close()
        # Part names carry UUIDv7s (write order); compare the contents in table/name order.
        contents.append([open(p, "rb").read() for p in _part_files(str(tmp_path / run))])
    assert len(contents[0]) == 2 * 5
    assert contents[0] == contents[1]


def test_fresh_world_never_reads_the_store_while_stepping(backend, tmp_path):  # item 23
    w, profiles = _movement_run(str(tmp_path), backend)
    assert [p.store_reads for p in profiles] == [0] * 5
    w.close()


def test_resume_opens_only_the_parts_of_the_last_record(backend, tmp_path):  # item 26
    w, _ = _movement_run(str(tmp_path), backend, ticks=7)
    w.close()
    r = kw.World.open(str(tmp_path), "ns", "w", "r", backend=backend)
    assert r._kernel.store_counters()["files_opened"] == 2  # one part per live table at the last tick
    assert r.tick == 7
    r.close()


def test_part_names_and_invisible_staging(backend, tmp_path):  # item 28
    w, _ = _movement_run(str(tmp_path), backend, ticks=2)
    for p in _part_files(str(tmp_path)):
        name = os.path.basename(p)
        assert name.startswith("part-") and len(name) == len("part-") + 36 + len(".parquet")
    # A staged file left behind by a crash is matched by neither the glob nor dataset discovery.
    table_dir = os.path.dirname(_part_files(str(tmp_path))[0])
    staged = os.path.join(table_dir, "_tmp-0123-4567.parquet.tmp")
    shutil.copy(_part_files(str(tmp_path))[0], staged)
    assert staged not in glob.glob(os.path.join(table_dir, "*.parquet"))
    assert staged not in ds.dataset(table_dir, format="parquet").files
    os.remove(staged)
    w.close()


def test_history_of_one_tick_reads_one_row_group(backend, tmp_path):  # item 32
    w, _ = _movement_run(str(tmp_path), backend, ticks=50, n=2)
    w.close()
    r = kw.World.open(str(tmp_path), "ns", "w", "r", backend=backend)
    before = r._kernel.store_counters()["row_groups_read"]
    h = r.history(Position, Velocity, ticks=[10])
    assert h.num_rows == 2 and set(h["tick"].to_pylist()) == {10}
    assert r._kernel.store_counters()["row_groups_read"] - before == 1
    r.close()


def test_flush_every_three_ticks(backend, tmp_path):  # item 34
    k1, _ = _movement_run(str(tmp_path / "k1"), backend, ticks=10)
    k3, _ = _movement_run(str(tmp_path / "k3"), backend, ticks=10, flush_every=3)
    assert k3.history(Position).equals(k1.history(Position))  # unflushed tick 9 is visible
    k1.close()
    k3.close()
    per_table = {}
    for p in _part_files(str(tmp_path / "k3")):
        per_table[os.path.basename(os.path.dirname(p))] = per_table.get(os.path.basename(os.path.dirname(p)), 0) + 1
    assert sorted(per_table.values()) == [4, 4]


def test_duckdb_and_polars_read_the_same_rows_as_history(backend, tmp_path):  # item 36
    w, _ = _movement_run(str(tmp_path), backend, ticks=4)
    table = w.table_name(Position, Velocity)
    mine = w.history(Position, Velocity).sort_by([("tick", "ascending"), ("entity_id", "ascending")])
    pattern = os.path.join(str(tmp_path), "ns", table, "*.parquet")
    duck = duckdb.sql(f"SELECT * FROM read_parquet('{pattern}') ORDER BY tick, entity_id").arrow()
    pl = polars.scan_parquet(pattern).sort(["tick", "entity_id"]).collect().to_arrow()
    for other in (duck, pl):
        other = other.read_all() if hasattr(other, "read_all") else other
        assert other.num_rows == mine.num_rows
        for col in mine.column_names:
            assert other[col].to_pylist() == mine[col].to_pylist(), col
    w.close()


def test_readers_hide_a_partially_published_tick_until_recovery(backend, tmp_path):  # item 37
    root = str(tmp_path)
    w, _ = _movement_run(root, backend, ticks=2)
    second = sorted(w.tables())[1]
    kw.testing.set_fault_plan(w, f"fail:publish:{second}")
    with pytest.raises(kw.errors.PartialTickError):
        w.step()
    assert kw.published_tick(root, "ns", "w", "r") == 1
    for name in w.tables():
        ledger = kw.read_ledger(root, "ns", table=name, world_id="w", run_id="r")
        assert set(ledger["tick"].to_pylist()) == {0, 1}
    w.close(discard=True)
    kw.recover(root, "ns")
    assert kw.published_tick(root, "ns", "w", "r") == 2
    r = kw.World.open(root, "ns", "w", "r", backend=backend)
    assert r.tick == 3
    r.close()
