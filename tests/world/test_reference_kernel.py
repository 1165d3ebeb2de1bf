"""The pure-Python reference kernel driven directly through the kernel interface
(docs/dev/kernel-interface.md) with pyarrow batches: tick lifecycle, ids, mutations,
split-step, faults and reads (specs/world.md §2-§4, §7.5-§7.8, acceptance items of §12)."""
from __future__ import annotations

import math
import os

import numpy as np
import pyarrow as pa
import pytest

import kiln.world.reference as ref
from kiln.world.store import MemoryStore, ParquetStore

ReferenceKernel = ref.ReferenceKernel

# --------------------------------------------------------------------------- helpers

F64 = pa.float64()
PV = pa.schema(
    [("position__x", F64), ("position__y", F64), ("velocity__dx", F64), ("velocity__dy", F64)],
    metadata={"kiln.signature": '["Position", "Velocity"]'},
)
HP = pa.schema([pa.field("health__hp", pa.int64(), nullable=False)])
T_PV = "a_pv"  # sorts before T_PV2 and T_HP
T_PV2 = "b_pv"
T_HP = "c_hp"


def pv(xs, dx=1.0, y=0.0, dy=0.0):
    n = len(xs)
    return pa.RecordBatch.from_arrays(
        [pa.array(xs, F64), pa.array([y] * n, F64), pa.array([dx] * n, F64), pa.array([dy] * n, F64)], schema=PV
    )


def hp(values):
    return pa.RecordBatch.from_arrays([pa.array(values, pa.int64())], schema=HP)


def ids(*values):
    return np.array(values, dtype=np.int32)


def code(excinfo) -> int:
    return excinfo.value.number


def rows(k, table, **kw):
    t = k.query(table, **kw)
    cols = ["tick", "entity_id", "is_active"] + (["position__x"] if "position__x" in t.column_names else [])
    return [tuple(r[c] for c in cols) for r in t.select(cols).to_pylist()]


STORES = ["memory", "parquet", "parquet_k3"]


@pytest.fixture(params=STORES)
def store_kind(request):
    return request.param


@pytest.fixture
def make(tmp_path, store_kind):
    made = []

    def factory(world_id="w", run_id="r", kind=None, open_mode="create", **kw):
        kind = kind or store_kind
        if kind == "memory":
            store = MemoryStore(**kw)
        elif kind == "parquet":
            store = ParquetStore(tmp_path / "store", **kw)
        else:
            store = ParquetStore(tmp_path / "store", flush_every_ticks=3, **kw)
        k = ReferenceKernel(world_id=world_id, run_id=run_id, store=store, namespace="ns", open_mode=open_mode)
        made.append(k)
        return k

    factory.root = str(tmp_path / "store")
    yield factory
    for k in made:
        k.close(discard=True)


def setup_pv(k, *, movement=True, tables=(T_PV,)):
    for t in tables:
        k.register_table(t, PV)
    if movement:
        k.add_movement(1.0, 0)  # AddOne on position__x for dx = 1


# --------------------------------------------------------------------------- tick lifecycle (§3)


def test_initial_conditions_contract(make):
    """Item 6: spawn rows land raw; AddOne then gives {0: 5, 1: 6, 2: 7}."""
    k = make()
    setup_pv(k)
    assert list(k.spawn(T_PV, pv([5.0]))) == [1]
    for _ in range(3):
        k.step()
    assert rows(k, T_PV) == [(0, 1, True, 5.0), (1, 1, True, 6.0), (2, 1, True, 7.0)]
    assert k.info()["tick"] == 3


def test_mid_run_spawn(make):
    """Item 7."""
    k = make()
    setup_pv(k)
    k.spawn(T_PV, pv([0.0]))
    k.step(), k.step()
    k.spawn(T_PV, pv([100.0]))
    k.step(), k.step()
    assert [r[3] for r in rows(k, T_PV, ticks=[2])] == [2.0, 100.0]
    assert [r[3] for r in rows(k, T_PV, ticks=[3])] == [3.0, 101.0]


def test_spawn_cancel_leaves_no_row(make):
    """Item 8."""
    k = make()
    setup_pv(k)
    k.spawn(T_PV, pv([1.0, 2.0]))
    k.despawn(ids(1))
    prof = k.step()
    assert prof["rows_written_by_table"] == {T_PV: 1}
    assert rows(k, T_PV) == [(0, 2, True, 2.0)]
    assert 1 not in k.registry().column("entity_id").to_pylist()


def test_spawn_order_and_duplicate_explicit_spawn(make):
    """Item 9 (S4, S5): first-insertion order, last write wins in the first position."""
    k = make()
    setup_pv(k, movement=False)
    for x in (1.0, 2.0, 3.0):
        k.spawn(T_PV, pv([x]))
    k.step()
    assert [r[1] for r in rows(k, T_PV)] == [1, 2, 3]

    k2 = make(world_id="w2")
    setup_pv(k2, movement=False)
    k2.spawn_with_ids(T_PV, pv([1.0]), ids(1))
    k2.spawn_with_ids(T_PV, pv([5.0]), ids(2))
    k2.spawn_with_ids(T_PV, pv([99.0]), ids(1))
    k2.spawn_with_ids(T_PV, pv([7.0, 8.0]), ids(3, 3))  # repeated id in one call: last wins
    k2.step()
    assert rows(k2, T_PV) == [(0, 1, True, 99.0), (0, 2, True, 5.0), (0, 3, True, 8.0)]


def test_tombstone_carries_processed_values(make):
    """Item 10: tombstone x 2.5 at tick 1; active-only read of tick 1 is empty."""
    k = make()
    setup_pv(k)
    k.spawn(T_PV, pv([1.5]))
    k.step()
    k.despawn(ids(1))
    k.step()
    assert rows(k, T_PV, ticks=[1]) == [(1, 1, False, 2.5)]
    assert k.query(T_PV, ticks=[1], active_only=True).num_rows == 0
    assert k.query(T_PV, source="live").num_rows == 0


def test_every_row_is_stamped(make):
    """Item 11."""
    k = make(world_id="world-x", run_id="run-y")
    setup_pv(k)
    k.spawn(T_PV, pv([0.0, 1.0]))
    for _ in range(3):
        k.step()
    t = k.query(T_PV)
    assert t.num_rows == 6
    assert set(t.column("world_id").to_pylist()) == {"world-x"}
    assert set(t.column("run_id").to_pylist()) == {"run-y"}
    assert t.column("tick").to_pylist() == [0, 0, 1, 1, 2, 2]
    assert t.schema.equals(k.table_schema(T_PV), check_metadata=True)


def test_migration_writes_tombstone_and_raw_row(make):
    """Item 13 (S10-S12)."""
    k = make()
    setup_pv(k, tables=(T_PV, T_PV2))
    k.spawn(T_PV, pv([1.0]))
    k.step()
    k.migrate(T_PV2, pv([50.0]), ids(1))
    prof = k.step()
    assert list(prof["rows_written_by_table"]) == [T_PV, T_PV2]  # table-name order
    assert rows(k, T_PV, ticks=[1]) == [(1, 1, False, 2.0)]  # processed tombstone
    assert rows(k, T_PV2, ticks=[1]) == [(1, 1, True, 50.0)]  # raw in the new table
    assert k.registry().to_pylist() == [{"entity_id": 1, "table": T_PV2, "staged": False}]

    # spawn then migrate before a step: only the new table is written
    k.spawn(T_PV, pv([7.0]))
    k.migrate(T_PV2, pv([8.0]), ids(2))
    prof = k.step()
    assert rows(k, T_PV, ticks=[2]) == []
    assert rows(k, T_PV2, ticks=[2]) == [(2, 1, True, 51.0), (2, 2, True, 8.0)]

    # rejected migration (0-row batch for 1 id -> 254) leaves the pending spawn unchanged
    (new,) = k.spawn(T_PV, pv([3.0]))
    with pytest.raises(Exception) as e:
        k.migrate(T_PV2, pv([]), ids(new))
    assert code(e) == 254 and "expected 1" in str(e.value)
    assert k.registry().to_pylist()[-1] == {"entity_id": new, "table": T_PV, "staged": True}
    k.step()
    assert rows(k, T_PV, ticks=[3]) == [(3, new, True, 3.0)]


def test_update_is_same_table_migration(make):
    """Update = migrate into the same table: tombstone of the processed prior + raw overlay."""
    k = make()
    setup_pv(k)
    k.spawn(T_PV, pv([1.0]))
    k.step()
    k.migrate(T_PV, pv([10.0]), ids(1))
    k.migrate(T_PV, pv([20.0]), ids(1))  # second update replaces the staged row
    k.step()
    assert rows(k, T_PV, ticks=[1]) == [(1, 1, False, 2.0), (1, 1, True, 20.0)]
    k.despawn(ids(1))
    k.step()
    assert rows(k, T_PV, ticks=[2]) == [(2, 1, False, 21.0)]


def test_despawn_after_update_writes_only_tombstone(make):
    k = make()
    setup_pv(k)
    k.spawn(T_PV, pv([1.0]))
    k.step()
    k.migrate(T_PV, pv([10.0]), ids(1))
    k.despawn(ids(1))
    k.step()
    assert rows(k, T_PV, ticks=[1]) == [(1, 1, False, 2.0)]


def test_emptied_table_processed_once_more(make):
    """Item 15."""
    k = make()
    setup_pv(k)
    k.spawn(T_PV, pv([1.0, 2.0]))
    k.step()
    k.despawn(ids(1, 2))
    assert k.tables("active") == [T_PV]
    prof = k.step()
    assert prof["rows_written_by_table"] == {T_PV: 2}
    assert k.tables("active") == []
    prof = k.step()
    assert prof["n_tables"] == 0 and prof["rows_written"] == 0
    assert rows(k, T_PV, ticks=[2]) == []


def test_step_without_active_tables(make, store_kind):
    """Item 21: the tick advances and only a commit record is written."""
    k = make()
    setup_pv(k)
    prof = k.step()
    assert prof["tick"] == 0 and prof["n_tables"] == 0
    k.flush()
    info = k.info()
    assert info["tick"] == 1
    if store_kind != "memory":
        assert info["last_committed_tick"] == 0
        assert ref.published_tick(make.root, "ns", "w", "r") == 0
        assert not os.path.exists(os.path.join(make.root, "ns", T_PV))


def test_fresh_world_never_reads_the_store(make):
    """Item 23."""
    k = make()
    setup_pv(k, tables=(T_PV, T_PV2))
    k.spawn(T_PV, pv([1.0, 2.0]))
    for i in range(6):
        if i == 2:
            k.spawn(T_PV2, pv([5.0]))
        if i == 4:
            k.despawn(ids(1))
        assert k.step()["store_reads"] == 0
    assert k.store_counters()["reads"] == 0


def test_live_equals_last_tick_of_ledger(make):
    """Item 24 at kernel level, through spawns, updates, migrations and despawns."""
    k = make()
    setup_pv(k, tables=(T_PV, T_PV2))
    k.spawn(T_PV, pv([0.0, 1.0, 2.0, 3.0]))
    script = {1: lambda: k.despawn(ids(2)), 2: lambda: k.migrate(T_PV2, pv([9.0]), ids(3)),
              3: lambda: k.migrate(T_PV, pv([4.0]), ids(1)), 4: lambda: k.spawn(T_PV2, pv([7.0]))}
    for t in range(6):
        script.get(t, lambda: None)()
        k.step()
        for table in (T_PV, T_PV2):
            live = k.query(table, source="live")
            last = k.query(table, ticks=[t], active_only=True)
            assert live.equals(last), (t, table)


# --------------------------------------------------------------------------- ids (§2.5)


def test_entity_ids(make):
    k = make()
    setup_pv(k, movement=False)
    k.spawn_with_ids(T_PV, pv([0.0]), ids(7))
    assert list(k.spawn(T_PV, pv([0.0]))) == [8]
    assert k.reserve_ids(3) == 9
    assert list(k.spawn(T_PV, pv([0.0, 0.0]))) == [12, 13]
    for bad in (0, -5):
        with pytest.raises(Exception) as e:
            k.reserve_ids(bad)
        assert code(e) == 8 and "n >= 1" in str(e.value)
    for bad in (0, -1):
        with pytest.raises(Exception) as e:
            k.spawn_with_ids(T_PV, pv([0.0]), ids(bad))
        assert code(e) == 253
    assert k.info()["next_entity_id"] == 14 and k.info()["registered_entities"] == 4
    k.step()
    with pytest.raises(Exception) as e:
        k.spawn_with_ids(T_PV, pv([0.0]), ids(7))
    assert code(e) == 252 and "7" in str(e.value)
    # an explicit spawn of a staged id elsewhere moves it (no error)
    (e_new,) = k.spawn(T_PV, pv([1.0]))
    k.register_table(T_PV2, PV)
    k.spawn_with_ids(T_PV2, pv([2.0]), ids(e_new))
    reg = {r["entity_id"]: r for r in k.registry().to_pylist()}
    assert reg[e_new] == {"entity_id": e_new, "table": T_PV2, "staged": True}
    k.step()
    assert [r[1] for r in rows(k, T_PV2)] == [e_new]
    assert e_new not in [r[1] for r in rows(k, T_PV, ticks=[1])]


def test_interleaved_reservations_never_repeat_ids(make):
    """Item 5 (100 rounds of reserve / spawn / batch spawn)."""
    k = make(kind="memory")
    setup_pv(k, movement=False)
    seen = []
    rng = np.random.default_rng(1)
    for i in range(100):
        r = i % 3
        if r == 0:
            n = int(rng.integers(1, 4))
            s = k.reserve_ids(n)
            seen.extend(range(s, s + n))
        elif r == 1:
            seen.extend(k.spawn(T_PV, pv([0.0])).tolist())
        else:
            seen.extend(k.spawn(T_PV, pv([0.0] * 3)).tolist())
    assert len(seen) == len(set(seen)) and min(seen) == 1


def test_id_exhaustion(make):
    k = make(kind="memory")
    setup_pv(k, movement=False)
    k.spawn_with_ids(T_PV, pv([0.0]), ids(2**31 - 3))
    with pytest.raises(Exception) as e:
        k.spawn(T_PV, pv([0.0] * 3))
    assert code(e) == 255
    assert k.info()["registered_entities"] == 1
    with pytest.raises(Exception) as e:
        k.reserve_ids(3)
    assert code(e) == 255
    assert k.reserve_ids(2) == 2**31 - 2


# --------------------------------------------------------------------------- validation (§3.4, §7.5, §10)


def test_spawn_batch_validation(make):
    k = make(kind="memory")
    setup_pv(k, movement=False)
    good = pv([1.0])
    cases = [
        (good.drop_columns(["velocity__dy"]), 154, "velocity__dy"),
        (good.append_column("extra__x", pa.array([1.0])), 156, "extra__x"),
        (good.append_column("entity_id", pa.array([1], pa.int32())), 156, "entity_id"),
        (good.set_column(0, "position__x", pa.array([1], pa.int64())), 155, "position__x"),
    ]
    for batch, num, col in cases:
        with pytest.raises(Exception) as e:
            k.spawn(T_PV, batch)
        assert code(e) == num and col in str(e.value), (num, str(e.value))
    k.register_table(T_HP, HP)
    with pytest.raises(Exception) as e:
        k.spawn(T_HP, pa.RecordBatch.from_arrays([pa.array([1, None], pa.int64())], names=["health__hp"]))
    assert code(e) == 157 and "health__hp" in str(e.value) and "row 1" in str(e.value)
    with pytest.raises(Exception) as e:
        k.spawn("nope", good)
    assert code(e) == 150
    assert k.info()["registered_entities"] == 0 and k.info()["next_entity_id"] == 1
    # columns are matched by name, not position
    swapped = good.select(["velocity__dy", "velocity__dx", "position__y", "position__x"])
    assert list(k.spawn(T_PV, swapped)) == [1]


def test_register_table_rules(make):
    """§7.5 register_table; item 38 (152)."""
    k = make(kind="memory")
    k.register_table(T_PV, PV)
    full = k.table_schema(T_PV)
    assert full.names[:5] == ["world_id", "run_id", "entity_id", "tick", "is_active"]
    assert all(not f.nullable for f in list(full)[:5])
    assert full.metadata == PV.metadata
    k.register_table(T_PV, full)  # full schema, equal -> idempotent
    k.register_table(T_PV, PV.remove_metadata())  # metadata is ignored in comparison
    assert k.table_schema(T_PV).metadata == PV.metadata  # ... and kept as first given
    with pytest.raises(Exception) as e:
        k.register_table(T_PV, HP)
    assert code(e) == 152
    base = list(full)[:5]
    bad = [
        pa.schema(base[:2] + base[3:4] + base[2:3] + base[4:]),  # misordered
        pa.schema([base[0].with_nullable(True)] + base[1:]),  # nullable base
        pa.schema(base[:3] + [pa.field("tick", pa.int64(), False)] + base[4:]),  # mistyped
        pa.schema([("a__x", F64), ("a__x", F64)]),  # duplicate names
        pa.schema([("a__x", F64), ("tick", pa.int32())]),  # base column out of place
    ]
    for i, s in enumerate(bad):
        with pytest.raises(Exception) as e:
            k.register_table(f"t{i}", s)
        assert code(e) == 153, i
    for name in ("", "_x", ".x", "a/b", "a b", "x" * 201, "ü"):
        with pytest.raises(Exception) as e:
            k.register_table(name, PV)
        assert code(e) == 158, name
    k.register_table("x" * 200, pa.schema([]))  # the empty signature: base columns only
    assert k.tables() == [T_PV, "x" * 200]
    # nested child names and nullability are compared (§6.4)
    k.register_table("lists", pa.schema([("l__v", pa.list_(pa.field("item", F64)))]))
    with pytest.raises(Exception) as e:
        k.register_table("lists", pa.schema([("l__v", pa.list_(pa.field("element", F64)))]))
    assert code(e) == 152


def test_unknown_entities_reject_the_whole_call(make):
    k = make(kind="memory")
    setup_pv(k, movement=False)
    k.spawn(T_PV, pv([0.0, 1.0]))
    with pytest.raises(Exception) as e:
        k.despawn(ids(1, 99))
    assert code(e) == 251 and "99" in str(e.value)
    with pytest.raises(Exception) as e:
        k.migrate(T_PV, pv([0.0, 0.0]), ids(2, 98))
    assert code(e) == 251
    with pytest.raises(Exception) as e:
        k.migrate(T_PV, pv([0.0, 0.0]), ids(2, 2))
    assert code(e) == 8
    assert k.registry().to_pylist() == [
        {"entity_id": 1, "table": T_PV, "staged": True},
        {"entity_id": 2, "table": T_PV, "staged": True},
    ]
    k.despawn(ids(1, 1))  # duplicates collapse
    k.step()
    assert [r[1] for r in rows(k, T_PV)] == [2]


def test_identity_and_open_validation(tmp_path):
    k = ReferenceKernel(world_id=None, run_id=None, store=MemoryStore())
    assert len(k.world_id) == 36 and k.world_id[14] == "7" and len(k.run_id) == 36
    for wid in ("", "a\0b", "x" * 257):
        with pytest.raises(Exception) as e:
            ReferenceKernel(world_id=wid, run_id="r", store=MemoryStore())
        assert code(e) == 158
    with pytest.raises(Exception) as e:
        ReferenceKernel(world_id="w", run_id="r", store=MemoryStore(), namespace="_bad")
    assert code(e) == 158
    with pytest.raises(Exception) as e:
        ReferenceKernel(world_id="w", run_id="r", store=MemoryStore(), open_mode="resume")
    assert code(e) == 8
    with pytest.raises(Exception) as e:
        ReferenceKernel(world_id="w", run_id="r", store=MemoryStore(), open_mode="bogus")
    assert code(e) == 8
    (tmp_path / "file").write_text("x")
    with pytest.raises(Exception) as e:
        ReferenceKernel(world_id="w", run_id="r", store=ParquetStore(tmp_path / "file"))
    assert code(e) == 202 and "file" in str(e.value)


# --------------------------------------------------------------------------- processors (§6.1)


def test_movement_values_and_errors(make):
    k = make(kind="memory")
    k.register_table(T_PV, PV)
    pid = k.add_movement(1.0, 0)
    batch = pa.RecordBatch.from_pydict(
        {"position__x": [0.0, 10.0], "position__y": [1.0, 2.0], "velocity__dx": [2.0, 3.0], "velocity__dy": [-0.5, 1.5]},
        schema=PV,
    )
    out = k.run_processor(pid, T_PV, batch)
    assert out.column("position__x").to_pylist() == [2.0, 13.0]
    assert out.column("position__y").to_pylist() == [0.5, 3.5]
    assert out.schema.equals(batch.schema, check_metadata=True)
    assert out.column("velocity__dx").equals(batch.column("velocity__dx"))
    rng = np.random.default_rng(7)
    x, dx = rng.normal(size=1000) * 1e3, rng.normal(size=1000)
    k2pid = k.add_movement(0.37, 0)
    b = pv(list(x)).set_column(2, "velocity__dx", pa.array(dx))
    got = k.run_processor(k2pid, T_PV, b).column("position__x").to_numpy()
    assert np.array_equal(got.view(np.int64), (x + dx * 0.37).view(np.int64))
    for dt in (math.nan, math.inf, -math.inf):
        with pytest.raises(Exception) as e:
            k.add_movement(dt, 0)
        assert code(e) == 402
    with pytest.raises(Exception) as e:
        k.run_processor(999, T_PV, batch)
    assert code(e) == 401
    with pytest.raises(Exception) as e:
        k.remove_processor(999)
    assert code(e) == 401
    k.remove_processor(k2pid)
    assert k.info()["n_processors"] == 1
    # a mistyped movement column is 155 at step, not a skip; nothing is written
    k.register_table("f32", pa.schema([(c, pa.float32() if c == "position__x" else F64) for c in PV.names]))
    comp = pa.schema(list(k.table_schema("f32"))[5:])
    k.spawn("f32", pa.RecordBatch.from_arrays([pa.array([1.0], pa.float32())] + [pa.array([1.0])] * 3, schema=comp))
    k.step()  # tick 0: raw, chain skipped (no prior rows)
    with pytest.raises(Exception) as e:
        k.step()
    assert code(e) == 155 and "position__x" in str(e.value)
    assert k.info()["tick"] == 1


def test_processor_priority_order(make):
    """Chain = required columns present, ascending priority, ties in registration order;
    two Movements with dt 1 and 2 give x + 3 either way, but each sees the other's output
    (non-associative rounding is avoided by exact values)."""
    k = make(kind="memory")
    setup_pv(k, movement=False)
    k.register_table(T_HP, HP)
    a = k.add_movement(1.0, 5)
    b = k.add_movement(2.0, -5)
    assert [p.pid for p in k._chain(k.table_schema(T_PV))] == [b, a]
    assert k._chain(k.table_schema(T_HP)) == []
    k.spawn(T_PV, pv([0.0]))
    k.spawn(T_HP, hp([1]))
    k.step(), k.step()
    assert rows(k, T_PV, ticks=[1]) == [(1, 1, True, 3.0)]


def test_processor_failure_keeps_everything(make):
    """Item 18 analogue: a failing kernel processor leaves no trace; retry works."""
    k = make()
    k.register_table("bad", pa.schema([(c, pa.int64() if c == "velocity__dx" else F64) for c in PV.names]))
    setup_pv(k)
    k.spawn(T_PV, pv([1.0]))
    k.spawn("bad", pa.RecordBatch.from_arrays([pa.array([1.0]), pa.array([0.0]), pa.array([1], pa.int64()), pa.array([0.0])],
                                              names=PV.names))
    k.step()
    k.spawn(T_PV, pv([5.0]))
    k.despawn(ids(1))
    with pytest.raises(Exception) as e:
        k.step()
    assert code(e) == 155
    assert k.info()["tick"] == 1
    assert k.query(T_PV, ticks=[1]).num_rows == 0
    k.despawn(ids(2))  # remove the offender's only entity: its table is processed with tombstones...
    with pytest.raises(Exception):
        k.step()  # ... which still run the chain (the prior has rows), so it fails again
    assert k.info()["tick"] == 1
    for pid in [1]:
        k.remove_processor(pid)
    k.step()
    assert rows(k, T_PV, ticks=[1]) == [(1, 1, False, 1.0), (1, 3, True, 5.0)]


# --------------------------------------------------------------------------- split-step (§7.6, §6.4)


def _split_step(k, pids=(1,)):
    """What the Python layer does with Python processors registered: per active table
    begin -> the chain through run_processor -> commit."""
    prof = None
    for t in k.tables("active"):
        b = k.step_begin(t)
        if b.num_rows:
            for pid in pids:
                b = k.run_processor(pid, t, b)
        prof = k.step_commit(t, b)
    return prof


def test_split_step_matches_step(make):
    """Item 49 at kernel level: begin -> run_processor -> commit gives the step() ledger."""
    a, b = make(world_id="x"), make(world_id="y")
    for k in (a, b):
        setup_pv(k, tables=(T_PV, T_PV2))
        k.spawn(T_PV, pv([0.0, 1.0, 2.0]))
    for t in range(5):
        for k in (a, b):
            if t == 1:
                k.despawn(ids(2))
                k.spawn(T_PV2, pv([10.0]))
            if t == 3:
                k.migrate(T_PV2, pv([7.0]), ids(1))
        prof_a = a.step()
        prof_b = _split_step(b)
        assert prof_b["tick"] == prof_a["tick"] == t
        assert prof_b["rows_written_by_table"] == prof_a["rows_written_by_table"]
    for table in (T_PV, T_PV2):
        ta, tb = a.query(table), b.query(table)
        assert ta.drop_columns(["world_id"]).equals(tb.drop_columns(["world_id"]))
    assert a.info()["tick"] == b.info()["tick"] == 5


def test_split_step_state_errors(make):
    """Item 48 at kernel level, and item 50 (abort after one committed table)."""
    k = make()
    setup_pv(k, tables=(T_PV, T_PV2, T_HP))
    k.spawn(T_PV, pv([1.0]))
    k.spawn(T_PV2, pv([2.0]))
    with pytest.raises(Exception) as e:
        k.step_commit(T_PV, pv([1.0]))
    assert code(e) == 101
    with pytest.raises(Exception) as e:
        k.step_abort(T_PV)
    assert code(e) == 101
    with pytest.raises(Exception) as e:
        k.step_begin("nope")
    assert code(e) == 150
    with pytest.raises(Exception) as e:
        k.step_begin(T_HP)
    assert code(e) == 151
    assert k.info()["state"] == "ready"
    b = k.step_begin(T_PV)
    assert k.info()["state"] == "epoch_open"
    assert b.num_rows == 0 and b.schema.equals(k.table_schema(T_PV))
    with pytest.raises(Exception) as e:
        k.step_begin(T_PV)
    assert code(e) == 100
    with pytest.raises(Exception) as e:
        k.step_commit(T_PV2, b)
    assert code(e) == 102
    with pytest.raises(Exception) as e:
        k.step_abort(T_HP)
    assert code(e) == 102
    for call in (lambda: k.spawn(T_PV, pv([0.0])), lambda: k.despawn(ids(1)), lambda: k.add_movement(1.0, 0),
                 lambda: k.register_table("new", PV)):
        with pytest.raises(Exception) as e:
            call()
        assert code(e) == 104
    with pytest.raises(Exception) as e:
        k.step()
    assert code(e) == 100
    assert k.reserve_ids(2) == 3  # counter only: allowed
    assert k.tables("active") == [T_PV, T_PV2]
    assert k.query(T_PV, source="staged").column("tick").to_pylist() == [0]
    assert k.step_commit(T_PV, b) is None
    k.step_abort(T_PV2)  # aborts the whole epoch, though T_PV was committed
    assert k.info()["state"] == "ready" and k.info()["tick"] == 0
    k.flush()
    assert k.query(T_PV).num_rows == 0
    prof = _split_step(k)
    assert prof["tick"] == 0 and prof["rows_written_by_table"] == {T_PV: 1, T_PV2: 1}
    assert k.info()["tick"] == 1 and k.info()["next_entity_id"] == 5


def test_processed_batch_contract(make):
    """§6.4: 300 / 301 / 302 fail the epoch; the tick does not advance; retry works."""
    k = make()
    setup_pv(k)
    k.spawn(T_PV, pv([1.0, 2.0]))
    k.step()

    def bad_outputs(b):
        yield None, 300
        yield b.drop_columns(["position__y"]), 300
        yield pa.RecordBatch.from_arrays(b.columns, schema=pa.schema([f.with_nullable(True) if f.name == "tick" else f for f in b.schema])), 300
        yield b.slice(0, 1), 302
        yield b.set_column(2, b.schema.field(2), pa.array([2, 1], pa.int32())), 301
        yield b.set_column(4, b.schema.field(4), pa.array([True, False])), 301

    b0 = k.step_begin(T_PV)
    cases = list(bad_outputs(b0))
    k.step_abort(T_PV)
    for out, num in cases:
        b = k.step_begin(T_PV)
        with pytest.raises(Exception) as e:
            k.step_commit(T_PV, out)
        assert code(e) == num
        assert k.info()["state"] == "ready" and k.info()["tick"] == 1
    # a processed batch with a new schema object but equal fields (metadata dropped) is fine;
    # the stamped batch carries the registered schema
    b = k.step_begin(T_PV)
    out = pa.RecordBatch.from_arrays(b.columns, schema=b.schema.remove_metadata())
    assert k.step_commit(T_PV, out)["tick"] == 1
    assert k.query(T_PV, source="live").schema.metadata == PV.metadata
    assert rows(k, T_PV, ticks=[1]) == [(1, 1, True, 1.0), (1, 2, True, 2.0)]


# --------------------------------------------------------------------------- faults (§3.8, §7.8)


def test_fail_stage_and_first_publish_are_retryable(make, store_kind):
    """Item 19: 201, nothing visible, tick unchanged; retry commits including the despawns."""
    k3 = store_kind == "parquet_k3"
    tf = 2 if k3 else 3  # the failing tick; with k = 3 the step of tick 2 flushes ticks 0-2
    for plan in ["fail:stage", f"fail:publish:{T_PV}", "fail:record"]:
        k = make(world_id=f"w-{plan}")
        setup_pv(k, tables=(T_PV, T_PV2))
        k.spawn(T_PV, pv([1.0, 2.0]))
        k.spawn(T_PV2, pv([3.0]))
        for _ in range(tf):
            k.step()
        k.despawn(ids(1))
        k.set_fault_plan(plan)
        with pytest.raises(Exception) as e:
            k.step()
        assert code(e) == 201, plan
        if k3:
            # the tick completed into the pending buffer; its flush failed and stays pending
            assert k.info()["tick"] == (tf + 1 if k3 else tf)
            assert rows(k, T_PV, ticks=[tf]) == [(tf, 1, False, 1.0 + tf), (tf, 2, True, 2.0 + tf)]
            assert ref.published_tick(make.root, "ns", k.world_id, "r") is None
        else:
            assert k.info()["tick"] == tf and k.info()["state"] == "ready"
            assert k.query(T_PV, ticks=[tf]).num_rows == 0 and k.query(T_PV2, ticks=[tf]).num_rows == 0
            assert k.registry().column("entity_id").to_pylist() == [2, 3]
        if store_kind != "memory":
            dirs = [os.path.join(make.root, "ns", d) for d in (T_PV, T_PV2)]
            leftovers = [f for d in dirs if os.path.isdir(d) for f in os.listdir(d) if f.startswith("_")]
            assert leftovers == []
        k.step()  # retry (k = 3: the pending flush runs first, then the next tick)
        k.flush()
        assert rows(k, T_PV, ticks=[tf]) == [(tf, 1, False, 1.0 + tf), (tf, 2, True, 2.0 + tf)]
        assert rows(k, T_PV2, ticks=[tf]) == [(tf, 3, True, 3.0 + tf)]
        if store_kind != "memory":
            assert ref.published_tick(make.root, "ns", k.world_id, "r") == (tf + 1 if k3 else tf)


def test_fail_publish_of_second_table_poisons(make, store_kind):
    """Item 20: 103 with committed_tables = 1; only reads keep working; reopen completes."""
    k = make()
    setup_pv(k, tables=(T_PV, T_PV2))
    k.spawn(T_PV, pv([1.0]))
    k.spawn(T_PV2, pv([2.0]))
    k.step(), k.step()
    k.set_fault_plan(f"fail:publish:{T_PV2}")
    if store_kind == "parquet_k3":
        with pytest.raises(Exception) as e:
            k.step()  # tick 2 completes, then the flush of ticks 0-2 fails half-way
        assert code(e) == 103
        assert e.value.details["committed_tables"] == 1
    else:
        with pytest.raises(Exception) as e:
            k.step()
        assert code(e) == 103 and e.value.details["committed_tables"] == 1
        assert e.value.details["tick"] == 2
    state = k.info()
    assert state["state"] == "poisoned_partial_tick"
    tick = state["tick"]
    for call in (k.step, lambda: k.spawn(T_PV, pv([0.0])), lambda: k.despawn(ids(1)), lambda: k.reserve_ids(1),
                 lambda: k.add_movement(1.0, 0), lambda: k.remove_processor(1), lambda: k.step_begin(T_PV),
                 lambda: k.migrate(T_PV, pv([0.0]), ids(1))):
        with pytest.raises(Exception) as e:
            call()
        assert code(e) == 103
    assert k.info()["tick"] == tick
    k.query(T_PV), k.query(T_PV2, source="live"), k.registry(), k.info()  # reads work
    # Never a partial tick, not even for the poisoned world itself (§5.5): with k = 1 tick 2 did
    # not complete and its published part stays hidden; with k = 3 ticks 0-2 had completed and are
    # read, complete, from memory.
    assert rows(k, T_PV, ticks=[2]) == ([(2, 1, True, 3.0)] if store_kind == "parquet_k3" else [])
    assert rows(k, T_PV2, ticks=[2]) == ([(2, 2, True, 4.0)] if store_kind == "parquet_k3" else [])
    if store_kind == "memory":
        return
    k.close()
    k2 = make(open_mode="resume")
    assert k2.info()["tick"] == 3 and k2.info()["state"] == "ready"
    assert rows(k2, T_PV2, ticks=[2]) == [(2, 2, True, 4.0)]
    assert [r[3] for r in rows(k2, T_PV, source="live")] == [3.0]


def test_fail_done_is_harmless(make, store_kind):
    k = make()
    setup_pv(k)
    k.spawn(T_PV, pv([1.0]))
    k.set_fault_plan("fail:done")
    for _ in range(3):
        k.step()
    k.flush()
    assert k.info()["state"] == "ready" and k.info()["last_committed_tick"] == 2
    if store_kind == "parquet":
        # tick 0's record stayed ".commit"; the next commit renamed it and kept one ".done"
        logs = os.listdir(os.path.join(make.root, "ns", "_kiln", "log"))
        (key,) = logs
        assert sorted(os.listdir(os.path.join(make.root, "ns", "_kiln", "log", key))) == ["0000000002.done"]


def test_internal_fault_poisons_with_105(make):
    k = make()
    setup_pv(k)
    k.spawn(T_PV, pv([1.0]))
    k.step()
    k.set_fault_plan("fail:internal")
    with pytest.raises(Exception) as e:
        k.step()
    assert code(e) == 2
    assert k.info()["state"] == "poisoned_internal"
    for call in (k.step, lambda: k.spawn(T_PV, pv([0.0])), lambda: k.reserve_ids(1), lambda: k.add_movement(1.0, 0)):
        with pytest.raises(Exception) as e:
            call()
        assert code(e) == 105
    assert k.query(T_PV, source="live").num_rows == 1 and k.info()["tick"] == 1


def test_fault_plan_syntax(make):
    k = make(kind="memory")
    for plan in ("explode:stage", "fail:nowhere", "fail:record:tbl", "fail:stage@0", "fail", "fail:stage@x"):
        with pytest.raises(Exception) as e:
            k.set_fault_plan(plan)
        assert code(e) == 8, plan
    k.set_fault_plan("fail:stage:a_pv@2, crash:done@3")
    k.set_fault_plan("")


def test_fault_fires_on_nth_occurrence_once(make):
    k = make(kind="memory")
    setup_pv(k)
    k.spawn(T_PV, pv([1.0]))
    k.set_fault_plan("fail:stage@3")
    k.step(), k.step()
    with pytest.raises(Exception) as e:
        k.step()
    assert code(e) == 201
    k.step(), k.step()
    assert k.info()["tick"] == 4


# --------------------------------------------------------------------------- reads (§5.6, §5.8)


def test_read_filters(make):
    """Item 31: absent vs empty lists, inclusive ranges, ANDed predicates, sources."""
    k = make()
    setup_pv(k)
    k.spawn(T_PV, pv([0.0, 10.0, 20.0]))
    for t in range(5):
        if t == 2:
            k.despawn(ids(2))
        k.step()
    q = lambda **kw: rows(k, T_PV, **kw)  # noqa: E731
    assert len(q()) == 3 + 3 + 3 + 2 + 2
    assert q(ticks=[]) == [] and q(entity_ids=[]) == []
    assert [r[0] for r in q(tick_range=(1, 2))] == [1, 1, 1, 2, 2, 2]
    assert q(tick_range=(3, 1)) == []
    assert q(ticks=[4, 0], entity_ids=[3]) == [(0, 3, True, 20.0), (4, 3, True, 24.0)]
    assert q(ticks=[2], active_only=True) == [(2, 1, True, 2.0), (2, 3, True, 22.0)]
    assert q(ticks=[2], tick_range=(0, 1)) == []
    assert q(entity_ids=[2], active_only=False)[-1] == (2, 2, False, 12.0)
    assert q(world_id="other") == [] and q(run_id="other") == []
    assert q(ticks=[2**40]) == []
    assert [r[1] for r in rows(k, T_PV, source="live")] == [1, 3]
    assert rows(k, T_PV, source="live", entity_ids=[3]) == [(4, 3, True, 24.0)]
    assert k.query(T_PV, source="staged").num_rows == 0
    k.spawn(T_PV, pv([5.0]))
    st = k.query(T_PV, source="staged")
    assert st.column("tick").to_pylist() == [5] and st.column("entity_id").to_pylist() == [4]
    assert st.schema.equals(k.table_schema(T_PV), check_metadata=True)
    with pytest.raises(Exception) as e:
        k.query("missing")
    assert code(e) == 150
    with pytest.raises(Exception) as e:
        k.query(T_PV, source="bogus")
    assert code(e) == 8
    empty = k.query(T_PV, ticks=[99])
    assert empty.num_rows == 0 and empty.schema.equals(k.table_schema(T_PV), check_metadata=True)


def test_memory_retention():
    """Item 35."""
    k0 = ReferenceKernel(world_id="w", run_id="r", store=MemoryStore(retain_ticks=0))
    k2 = ReferenceKernel(world_id="w", run_id="r", store=MemoryStore(retain_ticks=2))
    for k in (k0, k2):
        setup_pv(k)
        k.spawn(T_PV, pv([0.0]))
        for _ in range(5):
            k.step()
        assert rows(k, T_PV, source="live") == [(4, 1, True, 4.0)]
    assert k0.query(T_PV).num_rows == 0
    assert [r[0] for r in rows(k2, T_PV)] == [3, 4]


def test_registry_and_info(make):
    k = make(kind="memory")
    setup_pv(k, tables=(T_PV, T_PV2))
    k.spawn(T_PV, pv([0.0, 1.0]))
    k.step()
    k.spawn(T_PV2, pv([0.0]))
    k.migrate(T_PV2, pv([3.0]), ids(1))
    assert k.registry().to_pylist() == [
        {"entity_id": 1, "table": T_PV2, "staged": True},
        {"entity_id": 2, "table": T_PV, "staged": False},
        {"entity_id": 3, "table": T_PV2, "staged": True},
    ]
    info = k.info()
    assert info == dict(tick=1, next_entity_id=4, last_committed_tick=0, state="ready", registered_entities=3,
                        live_rows=2, n_tables=2, n_processors=1)
    assert k.tables("active") == [T_PV, T_PV2]
    prof = k.step()
    assert set(prof) >= {"tick", "n_tables", "rows_written", "store_reads", "read_prior_sec", "materialize_sec",
                         "process_sec", "append_sec", "live_snapshot_sec", "commit_sec", "tick_sec",
                         "rows_written_by_table"}
    assert prof["rows_written"] == 4 and prof["tick_sec"] >= prof["commit_sec"]
    tp = k.last_table_profiles()
    assert [p["table_name"] for p in tp] == [T_PV, T_PV2]
    assert tp[0]["rows_in"] == 2 and tp[0]["rows_out"] == 2 and tp[1]["rows_out"] == 2
    assert all(p["table_sec"] >= p["process_sec"] for p in tp)
    k.close()
    k.close()  # idempotent


# --------------------------------------------------------------------------- randomised agreement of the three stores


def _random_op(rng, k, tables):
    """One random mutation (may legitimately fail); returns a description for error messages."""
    reg = k.registry().to_pylist()
    live_ids = [r["entity_id"] for r in reg]
    op = rng.integers(0, 8)
    t = tables[int(rng.integers(0, len(tables)))]
    if op == 0:
        return ("spawn", t, k.spawn(t, pv(list(rng.integers(0, 100, int(rng.integers(0, 4))).astype(float)))).tolist())
    if op == 1 and live_ids:
        pick = rng.choice(live_ids, size=int(rng.integers(1, min(3, len(live_ids)) + 1)), replace=False)
        k.despawn(pick.astype(np.int32))
        return ("despawn", sorted(pick.tolist()))
    if op == 2 and live_ids:
        e = int(rng.choice(live_ids))
        k.migrate(t, pv([float(rng.integers(0, 100))]), ids(e))
        return ("migrate", t, e)
    if op == 3:
        e = int(rng.integers(1, 30))
        k.spawn_with_ids(t, pv([float(e)]), ids(e))
        return ("spawn_with_ids", t, e)
    if op == 4:
        return ("reserve", k.reserve_ids(int(rng.integers(1, 3))))
    return ("step", k.step()["tick"])


@pytest.mark.parametrize("seed", range(12))
def test_random_sequences_agree_across_stores(tmp_path, seed):
    """Memory, Parquet k = 1 and Parquet k = 3 give identical ledgers, live snapshots after
    every step, registries and error codes (the §9.2 checks within the reference)."""
    kernels = [
        ReferenceKernel(world_id="w", run_id="r", store=MemoryStore(), namespace="ns"),
        ReferenceKernel(world_id="w", run_id="r", store=ParquetStore(tmp_path / "k1"), namespace="ns"),
        ReferenceKernel(world_id="w", run_id="r", store=ParquetStore(tmp_path / "k3", flush_every_ticks=3), namespace="ns"),
    ]
    tables = [T_PV, T_PV2]
    for k in kernels:
        setup_pv(k, tables=tables)
    rngs = [np.random.default_rng(seed) for _ in kernels]
    for step in range(30):
        outcomes = []
        for k, rng in zip(kernels, rngs):
            try:
                outcomes.append(_random_op(rng, k, tables))
            except Exception as exc:  # noqa: BLE001 - the error code must agree
                outcomes.append(("error", exc.number))
        assert outcomes[0] == outcomes[1] == outcomes[2], (step, outcomes)
        regs = [k.registry() for k in kernels]
        assert regs[0].equals(regs[1]) and regs[0].equals(regs[2])
        if outcomes[0][0] == "step":
            for table in tables:
                lives = [k.query(table, source="live") for k in kernels]
                assert lives[0].equals(lives[1]) and lives[0].equals(lives[2])
                last = kernels[1].query(table, ticks=[outcomes[0][1]], active_only=True)
                assert last.equals(lives[0])
    for table in tables:
        ledgers = [k.query(table) for k in kernels]
        assert ledgers[0].equals(ledgers[1]) and ledgers[0].equals(ledgers[2])
    infos = [k.info() for k in kernels]
    assert all(i["tick"] == infos[0]["tick"] and i["next_entity_id"] == infos[0]["next_entity_id"] for i in infos)
    for k in kernels:
        k.close()


def test_bad_arguments_are_catalog_errors_not_internal(make):
    """Malformed arguments give 8 / 158 and never poison the world."""
    k = make(kind="memory")
    setup_pv(k, movement=False)
    cases = [
        (lambda: k.spawn(["not", "a", "name"], pv([1.0])), 158),
        (lambda: k.spawn(T_PV, {"position__x": [1.0]}), 8),
        (lambda: k.despawn([[1, 2], [3, 4]]), 8),
        (lambda: k.despawn(["a"]), 8),
        (lambda: k.despawn([2**70]), 8),
        (lambda: k.despawn(np.array([2**40], dtype=np.uint64)), 251),
        (lambda: k.spawn_with_ids(T_PV, pv([1.0]), np.array([2**33])), 253),
        (lambda: k.step_begin(None), 158),
        (lambda: k.table_schema({}), 158),
        (lambda: k.query(T_PV, ticks=["x"]), 8),
        (lambda: k.query(T_PV, tick_range=(1,)), 8),
        (lambda: k.tables("bogus"), 8),
        (lambda: k.add_movement("fast", 0), 402),
        (lambda: k.add_movement(1.0, 2**40), 8),
        (lambda: k.reserve_ids(1.5), 8),
    ]
    for call, num in cases:
        with pytest.raises(Exception) as e:
            call()
        assert code(e) == num, (num, e.value)
    assert k.info()["state"] == "ready"
    k.step()
