"""Spawns, ids, despawn, update and migrations through the Python API
(specs/world.md §2.5, §3.4–§3.6, §8.3; §12 items 5, 8, 12–14, 58; §10 bad-input rows)."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

import kiln.world as kw
from kiln.world.tables import layout_for

from api_support import (  # noqa: F401
    Counter,
    Health,
    Marker,
    Position,
    Velocity,
    add_one,
    assert_code,
    backend,
    ledger_by_tick,
    make_world,
    rows,
    world_state,
)


# -- ids (§2.5, item 5) ---------------------------------------------------------------------------


def test_auto_ids_start_at_one_and_are_consecutive(backend):
    with make_world(backend) as w:
        assert [w.spawn(Position(0.0, 0.0)) for _ in range(3)] == [1, 2, 3]
        ids = w.spawn_batch({Position: {"x": np.zeros(4), "y": 0.0}})
        assert ids.dtype == np.int32 and ids.tolist() == [4, 5, 6, 7]
        assert w.next_entity_id == 8


def test_reserve_ids_is_a_contiguous_range(backend):
    with make_world(backend) as w:
        r = w.reserve_ids(5)
        assert r == range(1, 6)
        assert w.spawn(Position(0.0, 0.0)) == 6
        assert w.spawn_reserved(3, Position(1.0, 1.0)) == 3
        w.step()
        assert sorted(w.query(Position)["entity_id"].to_pylist()) == [3, 6]


def test_interleaved_reserve_spawn_and_batches_never_repeat_an_id(backend):
    rng = np.random.default_rng(5)
    seen: list[int] = []
    with make_world(backend) as w:
        for _ in range(100):
            choice = rng.integers(3)
            if choice == 0:
                seen.extend(w.reserve_ids(int(rng.integers(1, 4))))
            elif choice == 1:
                seen.append(w.spawn(Position(0.0, 0.0)))
            else:
                seen.extend(w.spawn_batch({Position: {"x": np.zeros(int(rng.integers(1, 4))), "y": 0.0}}).tolist())
    assert len(seen) == len(set(seen))
    assert sorted(seen) == seen  # consecutive ranges in call order


def test_explicit_id_seven_then_auto_gives_eight(backend):
    with make_world(backend) as w:
        assert w.spawn_batch({Position: {"x": [1.0], "y": [0.0]}}, entity_ids=[7]).tolist() == [7]
        assert w.spawn(Position(0.0, 0.0)) == 8


@pytest.mark.parametrize("bad", [0, -1])
def test_ids_at_or_below_zero_are_253(backend, bad):
    with make_world(backend) as w:
        with pytest.raises(kw.errors.InvalidArgumentError) as exc:
            w.spawn_reserved(bad, Position(0.0, 0.0))
        assert_code(exc, 253)
        with pytest.raises(kw.errors.InvalidArgumentError) as exc:
            w.spawn_batch({Position: {"x": [1.0], "y": [0.0]}}, entity_ids=[bad])
        assert_code(exc, 253)
        assert w.registry().num_rows == 0


@pytest.mark.parametrize("n", [0, -5])
def test_reserve_ids_needs_n_at_least_one(backend, n):
    with make_world(backend) as w:
        with pytest.raises(kw.errors.InvalidArgumentError) as exc:
            w.reserve_ids(n)
        assert_code(exc, 8)
        assert "n >= 1" in str(exc.value)
        assert w.next_entity_id == 1


def test_explicit_spawn_of_a_live_id_is_252(backend):
    with make_world(backend) as w:
        e = w.spawn(Position(0.0, 0.0))
        w.step()
        before = world_state(w)
        with pytest.raises(kw.errors.EntityExistsError) as exc:
            w.spawn_reserved(e, Position(5.0, 5.0))
        assert_code(exc, 252)
        assert world_state(w) == before


def test_duplicate_explicit_spawn_keeps_last_values_in_first_position(backend):
    with make_world(backend) as w:
        w.add_processor(add_one)
        w.spawn_reserved(1, Position(1.0, 0.0))
        w.spawn_reserved(2, Position(2.0, 0.0))
        w.spawn_reserved(1, Position(99.0, 0.0))
        w.step()
        assert rows(w.history(Position), "entity_id", "position__x") == [(1, 99.0), (2, 2.0)]


# -- spawn_batch (§8.3, item 58) ------------------------------------------------------------------


def test_spawn_batch_numpy_dict_with_scalars_and_defaults(backend):
    with make_world(backend) as w:
        ids = w.spawn_batch({Position: {"x": np.arange(3, dtype=np.float64), "y": 0.5}, Health: {}})
        assert isinstance(ids, np.ndarray) and ids.dtype == np.int32 and ids.tolist() == [1, 2, 3]
        w.step()
        q = w.query(Position, Health)
        assert q["position__x"].to_pylist() == [0.0, 1.0, 2.0]
        assert q["position__y"].to_pylist() == [0.5] * 3
        assert q["health__hp"].to_pylist() == [100.0] * 3


def test_spawn_batch_casts_safely(backend):
    with make_world(backend) as w:
        w.spawn_batch({Position: {"x": np.arange(3), "y": [1, 2, 3]}})  # ints → float64 exactly
        w.spawn_batch({Counter: {"value": np.array([1, 2], dtype=np.int8)}})
        w.step()
        assert w.query(Position)["position__y"].to_pylist() == [1.0, 2.0, 3.0]
        with pytest.raises(kw.errors.SchemaError) as exc:
            w.spawn_batch({Counter: {"value": [1.5]}})  # would truncate
        assert_code(exc, 155)
        assert "counter__value" in str(exc.value)
        with pytest.raises(kw.errors.SchemaError) as exc:
            w.spawn_batch({Position: {"x": ["a"], "y": 0.0}})
        assert_code(exc, 155)
        assert "position__x" in str(exc.value) and "double" in str(exc.value)


def test_spawn_batch_from_pyarrow_polars_and_duckdb(backend):
    polars = pytest.importorskip("polars")
    duckdb = pytest.importorskip("duckdb")
    with make_world(backend) as w:
        t = pa.table({"position__x": [1.0, 2.0], "position__y": [0.0, 0.0]})
        a = w.spawn_batch(t, components=[Position])
        b = w.spawn_batch(t.to_batches()[0], components=[Position])
        c = w.spawn_batch(polars.DataFrame({"position__x": [3.0], "position__y": [0.0]}), components=[Position])
        d = w.spawn_batch(duckdb.sql("SELECT 4.0::DOUBLE AS position__x, 0.0::DOUBLE AS position__y"),
                          components=[Position])
        for ids in (a, b, c, d):
            assert isinstance(ids, np.ndarray) and ids.dtype == np.int32
        assert np.concatenate([a, b, c, d]).tolist() == [1, 2, 3, 4, 5, 6]
        w.step()
        assert w.query(Position)["position__x"].to_pylist() == [1.0, 2.0, 1.0, 2.0, 3.0, 4.0]


def test_spawn_batch_form_two_fills_tags_and_defaults(backend):
    with make_world(backend) as w:
        w.spawn_batch(pa.table({"position__x": [1.0], "position__y": [2.0]}), components=[Position, Marker, Health])
        w.step()
        row = w.query(Position, Marker, Health).to_pylist()[0]
        assert (row["marker__tag"], row["health__hp"]) == (True, 100.0)


def test_spawn_batch_bad_inputs(backend):
    with make_world(backend) as w:
        before = world_state(w)
        with pytest.raises(kw.errors.SchemaError) as exc:
            w.spawn_batch({Position: {"x": [1.0]}})  # y has no default
        assert_code(exc, 154)
        assert "position__y" in str(exc.value)
        with pytest.raises(kw.errors.SchemaError) as exc:
            w.spawn_batch({Position: {"x": [1.0], "y": [1.0], "z": [1.0]}})
        assert_code(exc, 156)
        assert "position__z" in str(exc.value)
        with pytest.raises(kw.errors.SchemaError) as exc:
            w.spawn_batch(pa.table({"position__x": [1.0], "position__y": [1.0], "tick": [1]}), components=[Position])
        assert_code(exc, 156)
        with pytest.raises(kw.errors.SchemaError) as exc:
            w.spawn_batch(pa.table({"position__x": [1.0]}), components=[Position])
        assert_code(exc, 154)
        with pytest.raises(kw.errors.RowCountError) as exc:
            w.spawn_batch({Position: {"x": [1.0, 2.0], "y": [1.0]}})
        assert_code(exc, 254)
        with pytest.raises(kw.errors.RowCountError) as exc:
            w.spawn_batch({Position: {"x": [1.0, 2.0], "y": 0.0}}, entity_ids=[10])
        assert_code(exc, 254)
        with pytest.raises(kw.errors.SchemaError) as exc:
            w.spawn_batch({Position: {"x": [1.0, None], "y": 0.0}})
        assert_code(exc, 157)
        assert "position__x" in str(exc.value) and "1" in str(exc.value)
        with pytest.raises(kw.errors.InvalidArgumentError):
            w.spawn_batch({Position: {"x": 1.0, "y": 0.0}})  # no array: the count is unknown
        assert world_state(w) == before


# -- despawn (§3.5, item 8) -----------------------------------------------------------------------


def test_spawn_then_despawn_before_a_step_leaves_no_row(backend):
    with make_world(backend) as w:
        a = w.spawn(Position(1.0, 0.0))
        b = w.spawn(Position(2.0, 0.0))
        w.despawn(a)
        w.step()
        h = w.history(Position)
        assert rows(h, "entity_id", "is_active") == [(b, True)]


def test_despawn_accepts_arrays_and_rejects_duplicates_and_unknown_ids(backend):
    with make_world(backend) as w:
        ids = w.spawn_batch({Position: {"x": np.arange(4.0), "y": 0.0}})
        w.step()
        before = world_state(w)
        with pytest.raises(kw.errors.InvalidArgumentError) as exc:
            w.despawn(np.array([1, 1]))
        assert_code(exc, 8)
        with pytest.raises(kw.errors.UnknownEntityError) as exc:
            w.despawn([1, 99])
        assert_code(exc, 251)
        assert world_state(w) == before
        w.despawn(ids[:2])
        w.despawn(int(ids[2]))
        w.step()
        assert w.query(Position)["entity_id"].to_pylist() == [4]
        assert sorted(rows(w.history(Position, ticks=1, active_only=False), "entity_id", "is_active")) == [
            (1, False), (2, False), (3, False), (4, True)]


# -- update and migration (items 12–14) -----------------------------------------------------------


def test_update_writes_tombstone_of_processed_row_and_raw_overlay_in_same_table(backend):
    with make_world(backend) as w:
        w.add_processor(add_one)
        e = w.spawn(Position(1.5, 0.0))
        w.step()
        w.update(e, Position(10.0, 3.0))
        w.step()
        table = w.table_name(Position)
        assert set(w.tables()) == {table}
        assert ledger_by_tick(w, Position)[1] == [(e, False, 2.5), (e, True, 10.0)]
        w.step()
        assert w.query(Position)["position__x"].to_pylist() == [11.0]


def test_migration_writes_old_tombstone_and_new_raw_row_in_table_name_order(backend):
    with make_world(backend) as w:
        w.add_processor(add_one)
        e = w.spawn(Position(1.0, 0.0))
        w.step()
        w.add_components(e, Velocity(2.0, 3.0))
        w.step()
        old, new = w.table_name(Position), w.table_name(Position, Velocity)
        tombstone, moved = (e, False, 2.0), (e, True, 1.0)  # processed tombstone, raw new row
        assert rows(w.history(Position, Velocity, ticks=1), "entity_id", "is_active", "position__x") == [moved]
        expected = [tombstone, moved] if old < new else [moved, tombstone]
        assert rows(w.history(Position, ticks=1), "entity_id", "is_active", "position__x") == expected
        assert w.registry().to_pylist() == [{"entity_id": e, "table": new, "staged": False}]
        assert w.query(Velocity).to_pylist()[0]["velocity__dx"] == 2.0


def test_spawn_then_migrate_before_a_step_writes_only_the_new_table(backend):
    with make_world(backend) as w:
        e = w.spawn(Position(1.0, 0.0))
        w.add_components(e, Velocity(0.0, 0.0))
        w.step()
        assert w.history().num_rows == 1
        assert list(w.live_tables()) == [w.table_name(Position, Velocity)]


def test_rejected_migration_leaves_the_pending_spawn_unchanged(backend):
    with make_world(backend) as w:
        e = w.spawn(Position(1.0, 0.0))
        before = world_state(w)
        target = w.table_name(Position, Velocity)
        w._kernel.register_table(target, layout_for((Position, Velocity)).schema)
        empty = pa.RecordBatch.from_pydict(
            {"position__x": pa.array([], pa.float64()), "position__y": pa.array([], pa.float64()),
             "velocity__dx": pa.array([], pa.float64()), "velocity__dy": pa.array([], pa.float64())})
        with pytest.raises(kw.errors.RowCountError) as exc:
            w._kernel.migrate(target, empty, np.array([e], dtype=np.int32))
        assert_code(exc, 254)
        assert world_state(w) == before
        w.step()
        assert rows(w.query(Position), "entity_id", "position__x") == [(e, 1.0)]


def test_update_then_add_components_keeps_the_update(backend):
    with make_world(backend) as w:
        e = w.spawn(Position(1.0, 0.0))
        w.step()
        w.update(e, Position(5.0, 0.0))
        w.add_components(e, Velocity(1.0, 1.0))
        w.step()
        active = w.history(ticks=1, active_only=True)
        assert active.num_rows == 1
        assert w.query(Position, Velocity).to_pylist()[0]["position__x"] == 5.0


def test_two_updates_of_different_components_keep_both(backend):
    with make_world(backend) as w:
        e = w.spawn(Position(1.0, 0.0), Velocity(0.0, 0.0))
        w.step()
        w.update(e, Position(5.0, 0.0))
        w.update(e, Velocity(2.0, 2.0))
        w.step()
        assert w.history(ticks=1, active_only=True).num_rows == 1
        row = w.query(Position, Velocity).to_pylist()[0]
        assert (row["position__x"], row["velocity__dx"]) == (5.0, 2.0)
        assert w.history(ticks=1).num_rows == 2  # plus the tombstone


def test_spawn_then_add_components_before_first_step_writes_one_row(backend):
    with make_world(backend) as w:
        e = w.spawn(Position(1.0, 0.0))
        w.add_components(e, Health(5.0))
        w.step()
        assert rows(w.history(), "entity_id", "is_active") == [(e, True)]
        assert w.query(Health)["health__hp"].to_pylist() == [5.0]


def test_empty_spawn_then_add_components_writes_one_row_in_new_table(backend):
    with make_world(backend) as w:
        e = w.spawn()
        w.add_components(e, Position(3.0, 4.0))
        w.step()
        assert w.history().num_rows == 1
        assert list(w.live_tables()) == [w.table_name(Position)]


def test_despawn_after_update_leaves_only_the_tombstone(backend):
    with make_world(backend) as w:
        w.add_processor(add_one)
        e = w.spawn(Position(1.0, 0.0))
        w.step()
        w.update(e, Position(50.0, 0.0))
        w.despawn(e)
        w.step()
        assert ledger_by_tick(w, Position)[1] == [(e, False, 2.0)]


def test_add_components_of_a_present_component_replaces_its_values(backend):
    with make_world(backend) as w:
        e = w.spawn(Position(1.0, 0.0), Health(1.0))
        w.step()
        w.add_components(e, Health(7.0))
        w.step()
        assert w.query(Health)["health__hp"].to_pylist() == [7.0]
        assert list(w.live_tables()) == [w.table_name(Position, Health)]


def test_remove_components(backend):
    with make_world(backend) as w:
        e = w.spawn(Position(1.0, 2.0), Velocity(0.0, 0.0))
        w.step()
        before = world_state(w)
        with pytest.raises(kw.errors.ComponentNotPresentError) as exc:
            w.remove_components(e, Health)
        assert_code(exc, 502)
        assert world_state(w) == before
        w.remove_components(e, Velocity)
        w.step()
        assert list(w.live_tables()) == [w.table_name(Position)]
        assert w.query(Position).to_pylist()[0]["position__y"] == 2.0


def test_update_of_a_missing_component_is_502(backend):
    with make_world(backend) as w:
        e = w.spawn(Position(1.0, 2.0))
        with pytest.raises(kw.errors.ComponentNotPresentError) as exc:
            w.update(e, Velocity(1.0, 1.0))
        assert_code(exc, 502)


def test_array_ids_broadcast_and_mixed_tables_are_all_or_nothing(backend):
    with make_world(backend) as w:
        a = w.spawn(Position(1.0, 0.0))
        b = w.spawn(Position(2.0, 0.0), Velocity(0.0, 0.0))
        c = w.spawn(Position(3.0, 0.0))
        w.step()
        before = world_state(w)
        with pytest.raises(kw.errors.UnknownEntityError) as exc:
            w.add_components([a, b, 77], Health(1.0))
        assert_code(exc, 251)
        with pytest.raises(kw.errors.InvalidArgumentError) as exc:
            w.update(np.array([a, a]), Position(0.0, 0.0))
        assert_code(exc, 8)
        with pytest.raises(kw.errors.ComponentNotPresentError):
            w.remove_components([a, b], Velocity)  # a has no Velocity: b must not move either
        assert world_state(w) == before
        w.add_components(np.array([c, b, a]), Health(9.0))
        w.step()
        q = w.query(Health)
        assert sorted(q["entity_id"].to_pylist()) == [a, b, c]
        assert q["health__hp"].to_pylist() == [9.0, 9.0, 9.0]
        # a and c share a target table: one migrate call, rows in call order (c before a).
        order = w.history(Position, Health, ticks=1, active_only=True)["entity_id"].to_pylist()
        assert order.index(c) < order.index(a)


def test_unknown_entity_update_is_251(backend):
    with make_world(backend) as w:
        with pytest.raises(kw.errors.UnknownEntityError) as exc:
            w.update(5, Position(0.0, 0.0))
        assert_code(exc, 251)
        assert "5" in str(exc.value)
