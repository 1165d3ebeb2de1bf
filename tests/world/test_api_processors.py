"""Processors, the chain, the processed-batch contract and ctx commands
(specs/world.md §3.7, §6.1, §6.3, §6.4, §8.4; §12 items 16–18, 41, 42)."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
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


def recorder(log: list, tag: str, *components: type, priority: int = 0, columns=()):
    @kw.processor(*components, priority=priority, columns=columns, name=tag)
    def proc(batch, ctx):
        log.append((tag, ctx.table, ctx.tick, batch.num_rows))
        return batch

    return proc


# -- scheduling (items 16, 17) --------------------------------------------------------------------


def test_initial_conditions_contract(backend):
    with make_world(backend) as w:
        w.add_processor(add_one)
        w.spawn(Position(5.0, 0.0))
        w.run(3)
        assert {t: [v for _, _, v in r] for t, r in ledger_by_tick(w, Position).items()} == {
            0: [5.0], 1: [6.0], 2: [7.0]}


def test_priority_order_ties_in_registration_order_default_zero(backend):
    log: list = []
    with make_world(backend) as w:
        w.add_processor(recorder(log, "b0", Position))
        w.add_processor(recorder(log, "late", Position, priority=5))
        w.add_processor(recorder(log, "early", Position, priority=-3))
        w.add_processor(recorder(log, "b1", Position))
        w.spawn(Position(0.0, 0.0))
        w.run(2)
        assert [tag for tag, *_ in log] == ["early", "b0", "b1", "late"]
        assert [p.priority for p in w.processors] == [-3, 0, 0, 5]
        assert kw.Movement().priority == 0
        assert recorder([], "x").priority == 0


def test_processors_property_is_in_execution_order(backend):
    with make_world(backend) as w:
        a = recorder([], "a", priority=1)
        b = recorder([], "b", priority=-1)
        m = kw.Movement(dt=1.0)
        w.add_processor(a)
        w.add_processor(b)
        w.add_processor(m)
        assert w.processors == (b, m, a)


def test_matching_by_required_columns_and_zero_row_skip(backend):
    log: list = []
    with make_world(backend) as w:
        w.add_processor(recorder(log, "pos", Position))
        w.add_processor(recorder(log, "vel", Velocity))
        w.add_processor(recorder(log, "all"))
        w.add_processor(recorder(log, "col", columns=("health__hp",)))
        w.add_processor(recorder(log, "tag", Marker))
        p = w.spawn(Position(0.0, 0.0))
        w.spawn(Position(0.0, 0.0), Velocity(1.0, 1.0))
        w.spawn(Health(), Marker())
        w.step()  # tick 0: spawns land raw, every table has 0 processor rows
        assert log == []
        w.step()
        calls = {(tag, table) for tag, table, _, _ in log}
        tp, tpv, thm = w.table_name(Position), w.table_name(Position, Velocity), w.table_name(Health, Marker)
        assert calls == {("pos", tp), ("pos", tpv), ("vel", tpv), ("all", tp), ("all", tpv), ("all", thm),
                         ("col", thm), ("tag", thm)}
        log.clear()
        w.despawn(p)
        w.step()  # the (Position) table is processed once more with its tombstone row
        assert ("pos", tp, 2, 1) in log
        log.clear()
        w.step()  # ... and then it is inactive: nobody is called with 0 rows
        assert all(table != tp for _, table, _, _ in log)
        assert all(n > 0 for *_, n in log)


def test_python_processor_sees_table_schema_and_tombstones(backend):
    seen: list = []

    @kw.processor(Position)
    def spy(batch, ctx):
        seen.append((batch.schema, batch["is_active"].to_pylist(), ctx.tick))
        return batch

    with make_world(backend) as w:
        w.add_processor(spy)
        a = w.spawn(Position(1.0, 0.0))
        w.spawn(Position(2.0, 0.0))
        w.step()
        w.despawn(a)
        w.step()
        schema, active, tick = seen[-1]
        assert isinstance(schema, pa.Schema)
        assert schema.equals(layout_for((Position,)).schema)
        assert (active, tick) == ([False, True], 1)


def test_movement_native_and_in_a_python_chain(backend):
    for with_python in (False, True):
        with make_world(backend) as w:
            w.add_processor(kw.Movement(dt=1.0))
            if with_python:
                w.add_processor(recorder([], "noop", priority=10))
            w.spawn_batch({Position: {"x": [0.0, 10.0], "y": [1.0, 2.0]}, Velocity: {"dx": [2.0, 3.0],
                                                                                     "dy": [-0.5, 1.5]}})
            w.run(2)
            q = w.query(Position)
            assert q["position__x"].to_pylist() == [2.0, 13.0]
            assert q["position__y"].to_pylist() == [0.5, 3.5]


def test_movement_rejects_non_finite_dt():
    for dt in (float("nan"), float("inf")):
        with pytest.raises(kw.errors.ProcessorConfigError) as exc:
            kw.Movement(dt=dt)
        assert_code(exc, 402)


def test_params_and_resources_reach_ctx(backend):
    got = []

    @kw.processor(Counter)
    def scale(batch, ctx):
        got.append((ctx.params, ctx.resources["k"], ctx.world_id, ctx.run_id, ctx.table))
        return kw.replace(batch, counter__value=pc.multiply(batch["counter__value"], ctx.params["factor"]))

    with make_world(backend, resources={"k": 42}) as w:
        w.add_processor(scale)
        w.spawn(Counter(1))
        w.run(3, factor=2)
        assert w.query(Counter)["counter__value"].to_pylist() == [4]
        assert got[0] == ({"factor": 2}, 42, "test-world", "test-run", w.table_name(Counter))


def test_processor_class_and_removal(backend):
    class Doubler(kw.Processor):
        components = (Counter,)

        def process(self, batch, ctx):
            return kw.replace(batch, counter__value=pc.multiply(batch["counter__value"], 2))

    with make_world(backend) as w:
        d1, d2 = Doubler(), Doubler()
        h1 = w.add_processor(d1)
        w.add_processor(d2)
        w.add_processor(add_one)
        w.spawn(Counter(1))
        w.run(2)
        assert w.query(Counter)["counter__value"].to_pylist() == [4]
        w.remove_processor(h1)
        w.step()
        assert w.query(Counter)["counter__value"].to_pylist() == [8]
        w.remove_processor(Doubler)  # a class removes all its instances
        w.step()
        assert w.query(Counter)["counter__value"].to_pylist() == [8]
        w.remove_processor(add_one)
        assert w.processors == ()
        with pytest.raises(kw.errors.UnknownProcessorError) as exc:
            w.remove_processor(add_one)
        assert_code(exc, 401)
        with pytest.raises(kw.errors.UnknownProcessorError):
            w.remove_processor(h1)


# -- processed-batch contract (item 41) -----------------------------------------------------------


def _failing_world(backend, fn):
    w = make_world(backend)
    w.add_processor(kw.processor(Position, name="bad")(fn))
    w.spawn(Position(1.0, 0.0))
    w.step()
    return w


@pytest.mark.parametrize("fn, number", [
    (lambda b, c: None, 300),
    (lambda b, c: b.drop_columns(["position__y"]), 300),
    (lambda b, c: b.set_column(5, "position__x", pa.array([1], pa.int64())), 300),
    (lambda b, c: b.set_column(2, b.schema.field(2), pa.array([99], pa.int32())), 301),
    (lambda b, c: pa.concat_batches([b, b]), 302),
    (lambda b, c: "not a batch", 300),
])
def test_contract_violations_fail_the_tick(backend, fn, number):
    with _failing_world(backend, fn) as w:
        before = world_state(w)
        with pytest.raises(kw.errors.ProcessedBatchError) as exc:
            w.step()
        assert_code(exc, number)
        assert "bad" in str(exc.value)
        assert world_state(w) == before
        w.remove_processor(w.processors[0])
        w.step()  # retry works
        assert w.tick == 2


def test_base_columns_copied_with_equal_values_are_accepted(backend):
    def copy_bases(b, c):
        cols = [pa.array(col.to_pylist(), col.type) if i < 5 else col for i, col in enumerate(b.columns)]
        return pa.RecordBatch.from_arrays(cols, schema=b.schema)

    with _failing_world(backend, copy_bases) as w:
        w.step()
        assert w.tick == 2


@pytest.mark.parametrize("column", ["world_id", "is_active"])
def test_a_changed_base_column_is_named(backend, column):
    def change(b, c):
        i = b.schema.get_field_index(column)
        value = "other-world" if column == "world_id" else False
        return b.set_column(i, b.schema.field(i), pa.array([value], b.schema.field(i).type))

    with _failing_world(backend, change) as w, pytest.raises(kw.errors.ProcessedBatchError) as exc:
        w.step()
    assert_code(exc, 301)
    assert column in str(exc.value) and "bad" in str(exc.value)


def test_table_and_capsule_outputs_are_accepted(backend):
    with _failing_world(backend, lambda b, c: pa.Table.from_batches([b])) as w:
        w.step()
        assert w.tick == 2


def test_processor_exception_is_400_with_cause_and_nothing_changes(backend):
    def boom(batch, ctx):
        raise ZeroDivisionError("nope")

    with _failing_world(backend, boom) as w:
        w.spawn(Position(2.0, 0.0))
        w.despawn(1)
        before = world_state(w)
        with pytest.raises(kw.errors.ProcessorError) as exc:
            w.step()
        assert_code(exc, 400)
        assert isinstance(exc.value.__cause__, ZeroDivisionError)
        assert "bad" in str(exc.value) and "tick 1" in str(exc.value)
        assert world_state(w) == before
        w.remove_processor(w.processors[0])
        w.step()
        assert rows(w.history(Position, ticks=1), "entity_id", "is_active") == [(1, False), (2, True)]


def test_replace_errors():
    schema = layout_for((Position,)).schema
    batch = pa.RecordBatch.from_pylist(
        [{"world_id": "w", "run_id": "r", "entity_id": 1, "tick": 0, "is_active": True, "position__x": 1.0,
          "position__y": 2.0}], schema=schema)
    out = kw.replace(batch, position__x=np.array([5.0]), position__y=3)
    assert out.schema is batch.schema or out.schema.equals(batch.schema, check_metadata=True)
    assert out.to_pylist()[0]["position__x"] == 5.0 and out.to_pylist()[0]["position__y"] == 3.0
    for kwargs, number in [({"entity_id": [2]}, 301), ({"nope": [1.0]}, 156),
                           ({"position__x": [1.0, 2.0]}, 302), ({"position__x": ["a"]}, 155)]:
        with pytest.raises(kw.errors.WorldError) as exc:
            kw.replace(batch, **kwargs)
        assert_code(exc, number)


def test_world_mutation_from_a_processor_is_104(backend):
    box: dict = {}

    @kw.processor(Position)
    def mutate(batch, ctx):
        box["world"].spawn(Position(0.0, 0.0))
        return batch

    with make_world(backend) as w:
        box["world"] = w
        w.add_processor(mutate)
        w.spawn(Position(1.0, 0.0))
        w.step()
        before = world_state(w)
        with pytest.raises(kw.errors.ProcessorError) as exc:
            w.step()
        assert getattr(exc.value.__cause__, "number", None) == 104
        assert world_state(w) == before

    @kw.processor(Position)
    def nested_step(batch, ctx):
        box["world"].step()
        return batch

    with make_world(backend) as w:
        box["world"] = w
        w.add_processor(nested_step)
        w.spawn(Position(1.0, 0.0))
        w.step()
        with pytest.raises(kw.errors.ProcessorError) as exc:
            w.step()
        assert getattr(exc.value.__cause__, "number", None) == 104


# -- ctx commands (item 42) -----------------------------------------------------------------------


def test_ctx_commands_apply_after_the_tick_with_immediate_ids(backend):
    made: list = []

    @kw.processor(Position)
    def spawner(batch, ctx):
        if ctx.tick == 1:
            made.append(ctx.spawn(Health(1.0)))
            made.extend(ctx.spawn_batch({Health: {"hp": [2.0, 3.0]}}).tolist())
            ctx.despawn(batch["entity_id"].to_pylist()[0])
            ctx.add_components(batch["entity_id"].to_pylist()[1], Marker())
        return batch

    with make_world(backend) as w:
        w.add_processor(spawner)
        a, b = w.spawn(Position(0.0, 0.0)), w.spawn(Position(1.0, 0.0))
        w.step()
        w.step()
        assert made == [3, 4, 5]
        # Not in tick 1: commands apply after it, as if issued before tick 2.
        assert w.history(Health).num_rows == 0
        assert sorted(w.registry()["entity_id"].to_pylist()) == [b, 3, 4, 5]
        w.step()
        assert w.query(Health)["health__hp"].to_pylist() == [1.0, 2.0, 3.0]
        assert w.query(Marker)["entity_id"].to_pylist() == [b]
        assert rows(w.history(Position, ticks=2, entity_ids=[a]), "is_active") == [(False,)]


def test_invalid_ctx_command_fails_the_tick_and_failed_ticks_discard_commands(backend):
    state = {"mode": "unknown"}

    @kw.processor(Position)
    def proc(batch, ctx):
        if state["mode"] == "unknown":
            ctx.despawn(12345)
        elif state["mode"] == "twice":
            e = batch["entity_id"].to_pylist()[0]
            ctx.despawn(e)
            ctx.update(e, Position(0.0, 0.0))  # despawned earlier in this tick
        elif state["mode"] == "discard":
            ctx.spawn(Health(1.0))
            raise RuntimeError("fail after a command")
        return batch

    with make_world(backend) as w:
        w.add_processor(proc)
        w.spawn(Position(1.0, 0.0))
        w.step()
        before = world_state(w)
        with pytest.raises(kw.errors.ProcessorError) as exc:
            w.step()
        assert getattr(exc.value.__cause__, "number", None) == 251
        state["mode"] = "twice"
        with pytest.raises(kw.errors.ProcessorError) as exc:
            w.step()
        assert getattr(exc.value.__cause__, "number", None) == 251
        state["mode"] = "discard"
        with pytest.raises(kw.errors.ProcessorError):
            w.step()
        after = world_state(w)
        assert after["tick"] == before["tick"] and after["registry"] == before["registry"]
        assert after["next_entity_id"] > before["next_entity_id"]  # the reserved id became a gap
        state["mode"] = "ok"
        w.step()
        assert w.history(Health).num_rows == 0


def test_ctx_add_remove_workload(backend):
    """The add_remove shape of the ECS benchmark (§11.5): every entity in exactly one table."""

    @kw.processor(Counter)
    def add_marker(batch, ctx):
        if ctx.table == ctx.resources["plain"]:
            ids = batch.filter(batch["is_active"])["entity_id"]
            if len(ids):
                ctx.add_components(ids.to_numpy(), Marker())
        return batch

    @kw.processor(Counter, Marker)
    def remove_marker(batch, ctx):
        ids = batch.filter(batch["is_active"])["entity_id"]
        if len(ids):
            ctx.remove_components(ids.to_numpy(), Marker)
        return batch

    n = 20
    with make_world(backend) as w:
        w.resources["plain"] = w.table_name(Counter)
        w.add_processor(add_marker)
        w.add_processor(remove_marker)
        w.spawn_batch({Counter: {"value": np.arange(n)}})
        for _ in range(6):
            w.step()
            live = w.live_tables()
            assert sum(b.num_rows for b in live.values()) == n
            ids = np.concatenate([b["entity_id"].to_numpy() for b in live.values()])
            assert len(np.unique(ids)) == n
