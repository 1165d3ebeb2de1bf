"""Reads: query, history, live, live_tables, scan, registry, tables (specs/world.md §8.6; item 59)."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

import kiln.world as kw
from kiln.world.tables import BASE_NAMES

from api_support import (  # noqa: F401
    Health,
    Marker,
    Position,
    Velocity,
    add_one,
    backend,
    make_world,
    rows,
    store_kind,
)


def populated(backend, tmp_path, kind="memory"):
    """Three tables over four ticks: (Position), (Position, Velocity), (Health)."""
    w = make_world(backend, tmp_path, kind)
    w.add_processor(add_one)
    w.spawn(Position(0.0, 0.0))                       # 1
    w.spawn(Position(10.0, 0.0), Velocity(1.0, 1.0))  # 2
    w.spawn(Health(3.0))                              # 3
    w.run(2)
    w.despawn(1)
    w.run(2)
    return w


def test_query_defaults_to_the_latest_tick_from_live_snapshots(backend, tmp_path, store_kind):
    with populated(backend, tmp_path, store_kind) as w:
        before = w.store_counters()["reads"]
        q = w.query(Position)
        assert w.store_counters()["reads"] == before  # served from the live snapshots
        assert q.schema.names == list(BASE_NAMES) + ["position__x", "position__y"]
        assert rows(q, "entity_id", "tick", "position__x") == [(2, 3, 13.0)]
        assert w.query(Position, active_only=False).num_rows == 1
        assert rows(w.query(Position, ticks=2, active_only=False), "entity_id", "is_active") == [
            (1, False), (2, True)]


def test_component_selection_is_a_union_projected_in_signature_order(backend, tmp_path):
    with populated(backend, tmp_path) as w:
        h = w.history(Velocity, Position)
        assert h.schema.names == list(BASE_NAMES) + ["position__x", "position__y", "velocity__dx", "velocity__dy"]
        assert set(h["entity_id"].to_pylist()) == {2}
        # Tables concatenated in name order, rows in tick order within each table.
        hp = w.history(Position)
        one = [(1, 0), (1, 1), (1, 2)]  # entity 1 (Position): tombstone at tick 2, then gone
        two = [(2, 0), (2, 1), (2, 2), (2, 3)]
        expected = one + two if w.table_name(Position) < w.table_name(Position, Velocity) else two + one
        assert rows(hp, "entity_id", "tick") == expected
        everything = w.history()
        assert everything.schema.names == list(BASE_NAMES)
        assert everything.num_rows == 3 + 4 + 4


def test_no_matching_table_gives_an_empty_projected_table(backend, tmp_path):
    with populated(backend, tmp_path) as w:
        t = w.query(Health, Velocity)
        assert t.num_rows == 0
        assert t.schema.names == list(BASE_NAMES) + ["health__hp", "velocity__dx", "velocity__dy"]
        assert w.history(Marker).num_rows == 0


def test_ticks_forms(backend, tmp_path, store_kind):
    with populated(backend, tmp_path, store_kind) as w:
        def ticks(t, **kw_):
            return sorted(set(w.history(Position, ticks=t, **kw_)["tick"].to_pylist()))

        assert ticks(1) == [1]
        assert ticks([0, 3]) == [0, 3]
        assert ticks(range(1, 3)) == [1, 2]
        assert ticks(range(0, 4, 3)) == [0, 3]
        assert ticks([]) == []
        assert ticks(range(2, 2)) == []
        assert w.history(Position, ticks=2, active_only=True)["entity_id"].to_pylist() == [2]


def test_entity_id_filters(backend, tmp_path):
    with populated(backend, tmp_path) as w:
        assert set(w.history(entity_ids=[2, 3])["entity_id"].to_pylist()) == {2, 3}
        assert w.history(entity_ids=[]).num_rows == 0
        assert w.history(entity_ids=np.array([1]))["tick"].to_pylist() == [0, 1, 2]
        assert w.live(entity_ids=3)["entity_id"].to_pylist() == [3]


def test_query_before_the_first_step_is_empty(backend):
    with make_world(backend) as w:
        w.spawn(Position(0.0, 0.0))
        assert w.query(Position).num_rows == 0
        assert w.query(Position, active_only=False).num_rows == 0
        assert w.history().num_rows == 0
        assert w.live_tables() == {}


def test_live_and_live_tables_match_the_last_tick(backend, tmp_path, store_kind):
    with populated(backend, tmp_path, store_kind) as w:
        live = w.live_tables()
        assert all(isinstance(b, pa.RecordBatch) for b in live.values())
        last = w.history(ticks=w.tick - 1, active_only=True)
        assert sum(b.num_rows for b in live.values()) == last.num_rows
        assert sorted(w.live()["entity_id"].to_pylist()) == [2, 3]
        for name, batch in live.items():
            assert batch.schema.equals(w._kernel.table_schema(name))


def test_registry_and_tables(backend, tmp_path):
    with populated(backend, tmp_path) as w:
        w.spawn(Marker())
        reg = w.registry()
        assert isinstance(reg, pa.Table)
        assert reg.schema.names == ["entity_id", "table", "staged"]
        assert reg["entity_id"].to_pylist() == [2, 3, 4]
        assert reg["staged"].to_pylist() == [False, False, True]
        tables = w.tables()
        assert tables[w.table_name(Position, Velocity)] == (Position, Velocity)
        assert tables[w.table_name(Marker)] == (Marker,)
        assert w.table_name(Velocity, Position) in tables


def test_scan_is_re_readable_by_duckdb_and_polars(backend, tmp_path, store_kind):
    duckdb = pytest.importorskip("duckdb")
    polars = pytest.importorskip("polars")
    with populated(backend, tmp_path, store_kind) as w:
        scan = w.scan(Position, ticks=range(1, 4))
        assert isinstance(scan, kw.LedgerScan)
        con = duckdb.connect()
        first = con.sql("SELECT tick, entity_id, position__x FROM scan ORDER BY ALL").fetchall()
        second = con.sql("SELECT tick, entity_id, position__x FROM scan ORDER BY ALL").fetchall()
        assert first == second and len(first) == 5  # entity 1: ticks 1, 2; entity 2: 1–3
        expected = w.history(Position, ticks=range(1, 4))
        assert scan.to_table().equals(expected)
        assert pa.Table.from_batches(scan.to_batches(), schema=scan.schema).equals(expected)
        schema = pa.schema(scan)  # __arrow_c_schema__
        assert schema.names == expected.schema.names
        df = polars.from_arrow(pa.table(scan))
        assert df.height == 5
        # Every returned pa.Table is itself a PyCapsule producer.
        assert polars.DataFrame(w.query(Position)).height == 1


def test_reads_on_a_parquet_store_match_external_readers(backend, tmp_path):
    duckdb = pytest.importorskip("duckdb")
    with populated(backend, tmp_path, "parquet") as w:
        table = w.table_name(Position)
        h = w.history(Position).select(["tick", "entity_id", "is_active", "position__x"])
        got = duckdb.sql(f"""SELECT tick, entity_id, is_active, position__x FROM
            read_parquet('{tmp_path}/store/api/{table}/*.parquet')
            WHERE world_id = 'test-world' AND run_id = 'test-run' ORDER BY tick, entity_id""").fetchall()
        mine = sorted(rows(w.history(Position, Velocity).select(["tick", "entity_id", "is_active", "position__x"]),
                           "tick", "entity_id", "is_active", "position__x"))
        assert len(got) == 3 and all(r[1] == 1 for r in got)
        assert set(got) <= set(rows(h, "tick", "entity_id", "is_active", "position__x"))
        assert not set(got) & set(mine)
