"""Hooks (specs/world.md §6.5; §12 item 43)."""
from __future__ import annotations

import dataclasses

import pytest

import kiln.world as kw
from kiln.world import events

from api_support import Health, Marker, Position, Velocity, assert_code, backend, make_world, world_state  # noqa: F401


def test_pre_and_post_tick_order_and_fields(backend):
    log: list = []
    with make_world(backend) as w:
        w.on(events.PreTick, lambda e: log.append(("pre", e.tick, e.world_id)))
        w.on(events.PostTick, lambda e: log.append(("post", e.tick, e.rows_written)))
        w.spawn(Position(0.0, 0.0))
        w.run(2)
        table = w.table_name(Position)
        assert log == [("pre", 0, "test-world"), ("post", 0, {table: 1}), ("pre", 1, "test-world"),
                       ("post", 1, {table: 1})]


def test_entity_events_carry_their_fields(backend):
    log: list = []
    with make_world(backend) as w:
        for t in (events.OnSpawn, events.OnDespawn, events.OnComponentAdded, events.OnComponentRemoved):
            w.on(t, log.append)
        e = w.spawn(Velocity(1.0, 1.0), Position(0.0, 0.0))
        ids = w.spawn_batch({Health: {"hp": [1.0, 2.0]}})
        w.add_components(e, Marker(), Position(9.0, 9.0))  # Position is present: only Marker is new
        w.update(e, Position(1.0, 1.0))  # no hook
        w.remove_components(e, Marker, Velocity)
        w.despawn(ids)
        assert log == [
            events.OnSpawn("test-world", e, (Position, Velocity)),
            events.OnSpawn("test-world", int(ids[0]), (Health,)),
            events.OnSpawn("test-world", int(ids[1]), (Health,)),
            events.OnComponentAdded("test-world", e, (Marker,)),
            events.OnComponentRemoved("test-world", e, (Marker, Velocity)),
            events.OnDespawn("test-world", int(ids[0])),
            events.OnDespawn("test-world", int(ids[1])),
        ]
        for ev in log:
            assert dataclasses.is_dataclass(ev)
            with pytest.raises(dataclasses.FrozenInstanceError):
                ev.world_id = "x"


def test_add_components_of_present_components_fires_nothing(backend):
    log: list = []
    with make_world(backend) as w:
        w.on(events.OnComponentAdded, log.append)
        e = w.spawn(Position(0.0, 0.0))
        w.add_components(e, Position(1.0, 1.0))
        assert log == []


def test_raising_pre_tick_handler_prevents_the_step(backend):
    def bad(event):
        raise ValueError("no")

    with make_world(backend) as w:
        w.spawn(Position(0.0, 0.0))
        h = w.on(events.PreTick, bad)
        post: list = []
        w.on(events.PostTick, post.append)
        before = world_state(w)
        with pytest.raises(kw.errors.HookError) as exc:
            w.step()
        assert_code(exc, 504)
        assert exc.value.details.get("operation_completed") is False
        assert isinstance(exc.value.__cause__, ValueError)
        assert world_state(w) == before and post == []
        w.off(h)
        w.step()
        assert w.tick == 1


def test_raising_handler_after_the_operation_completed(backend):
    calls: list = []

    def bad(event):
        calls.append("bad")
        raise KeyError("handler bug")

    with make_world(backend) as w:
        w.on(events.OnSpawn, bad)
        w.on(events.OnSpawn, lambda e: calls.append("second"))
        with pytest.raises(kw.errors.HookError) as exc:
            w.spawn(Position(0.0, 0.0))
        assert_code(exc, 504)
        assert exc.value.details.get("operation_completed") is True
        assert isinstance(exc.value.__cause__, KeyError)
        assert calls == ["bad", "second"]  # the remaining handlers still ran
        assert w.registry()["entity_id"].to_pylist() == [1]  # the spawn took effect

        w2_post: list = []

        def bad_post(event):
            raise RuntimeError("post")

        w.on(events.PostTick, bad_post)
        w.on(events.PostTick, w2_post.append)
        with pytest.raises(kw.errors.HookError):
            w.step()
        assert w.tick == 1 and len(w2_post) == 1


def test_failed_step_fires_no_post_tick(backend):
    @kw.processor(Position)
    def boom(batch, ctx):
        raise RuntimeError("x")

    post: list = []
    with make_world(backend) as w:
        w.on(events.PostTick, post.append)
        w.add_processor(boom)
        w.spawn(Position(0.0, 0.0))
        w.step()
        with pytest.raises(kw.errors.ProcessorError):
            w.step()
        assert [e.tick for e in post] == [0]


def test_pre_tick_mutations_join_the_tick_and_handlers_cannot_step(backend):
    with make_world(backend) as w:
        def spawn_one(event):
            if event.tick == 0:
                w.spawn(Health(5.0))

        w.on(events.PreTick, spawn_one)
        w.step()
        assert w.history(Health, ticks=0)["health__hp"].to_pylist() == [5.0]

        def stepper(event):
            w.step()

        h = w.on(events.PostTick, stepper)
        with pytest.raises(kw.errors.HookError) as exc:
            w.step()
        assert getattr(exc.value.__cause__, "number", None) == 104
        w.off(h)
        w.on(events.OnSpawn, lambda e: w.run(1))
        with pytest.raises(kw.errors.HookError) as exc:
            w.spawn(Position(0.0, 0.0))
        assert getattr(exc.value.__cause__, "number", None) == 104


def test_post_hooks_may_mutate_for_the_next_tick(backend):
    with make_world(backend) as w:
        w.on(events.OnSpawn, lambda e: w.add_components(e.entity_id, Marker()) if Position in e.components else None)
        e = w.spawn(Position(0.0, 0.0))
        w.step()
        assert w.query(Marker)["entity_id"].to_pylist() == [e]


def test_off_twice_is_a_no_op_and_foreign_handles_are_rejected(backend):
    with make_world(backend) as w, make_world(backend, world_id="other") as other:
        h = w.on(events.PreTick, lambda e: None)
        w.off(h)
        w.off(h)
        with pytest.raises(kw.errors.InvalidArgumentError) as exc:
            other.off(other.on(events.PreTick, print) and h)
        assert_code(exc, 8)
        with pytest.raises(kw.errors.InvalidArgumentError):
            w.on(int, print)


def test_handlers_run_in_registration_order(backend):
    order: list = []
    with make_world(backend) as w:
        for i in range(3):
            w.on(events.OnDespawn, lambda e, i=i: order.append(i))
        e = w.spawn(Position(0.0, 0.0))
        w.despawn(e)
        assert order == [0, 1, 2]
