"""step / run results and profiles, empty ticks, poisoning through the API
(specs/world.md §3.3, §3.8, §8.5; §12 items 20, 21, 23)."""
from __future__ import annotations

import dataclasses

import pytest

import kiln.world as kw

from api_support import (  # noqa: F401
    Counter,
    Health,
    Position,
    Velocity,
    add_one,
    assert_code,
    backend,
    make_world,
    store_kind,
)


@pytest.mark.parametrize("python_chain", [False, True])
def test_step_result_and_profile(backend, tmp_path, store_kind, python_chain):
    with make_world(backend, tmp_path, store_kind) as w:
        w.add_processor(kw.Movement(dt=1.0))
        if python_chain:
            w.add_processor(add_one)
        w.spawn(Position(0.0, 0.0), Velocity(1.0, 1.0))
        w.spawn(Health())
        r = w.step()
        assert isinstance(r, kw.StepResult) and r.tick == 0
        tpv, th = w.table_name(Position, Velocity), w.table_name(Health)
        assert r.rows_written == {tpv: 1, th: 1}
        p = r.profile
        assert isinstance(p, kw.StepProfile)
        assert (p.tick, p.n_tables, p.rows_written, p.store_reads) == (0, 2, 2, 0)
        assert [t.table_name for t in p.tables] == sorted([tpv, th])
        assert all(isinstance(t, kw.TableProfile) and t.rows_out == 1 for t in p.tables)
        # The per-table list behaves as the tuple of TableProfiles it stands for.
        as_tuple = tuple(p.tables)
        assert len(p.tables) == 2 and p.tables == as_tuple and as_tuple == p.tables and p.tables[1] == as_tuple[1]
        assert hash(p) == hash(dataclasses.replace(p, tables=as_tuple)) and repr(as_tuple) in repr(p)
        r = w.step()
        p = r.profile
        assert p.store_reads == 0
        assert p.tick_sec >= sum(t.table_sec for t in p.tables) + p.commit_sec - 1e-6
        assert all(t.table_sec >= t.process_sec - 1e-9 for t in p.tables)
        expected_x = 1.0 + (1.0 if python_chain else 0.0)
        assert w.query(Position)["position__x"].to_pylist() == [expected_x]


def test_run_result_sums_the_steps(backend):
    with make_world(backend) as w:
        w.spawn(Counter(0))
        w.spawn(Health())
        r = w.run(3)
        assert isinstance(r, kw.RunResult) and r.ticks == range(0, 3)
        assert r.profile.tick == 2 and r.profile.rows_written == 6 and r.profile.n_tables == 6
        assert {t.table_name: t.rows_out for t in r.profile.tables} == {
            w.table_name(Counter): 3, w.table_name(Health): 3}
        empty = w.run(0)
        assert empty.ticks == range(3, 3) and empty.profile.rows_written == 0
        assert w.tick == 3
        with pytest.raises(kw.errors.InvalidArgumentError) as exc:
            w.run(-1)
        assert_code(exc, 8)


def test_run_stops_at_the_first_error(backend):
    @kw.processor(Counter)
    def fail_at_two(batch, ctx):
        if ctx.tick == 2:
            raise RuntimeError("tick two")
        return batch

    with make_world(backend) as w:
        w.add_processor(fail_at_two)
        w.spawn(Counter(0))
        with pytest.raises(kw.errors.ProcessorError) as exc:
            w.run(5)
        assert w.tick == 2
        assert exc.value.details.get("ticks_completed") == 2


def test_a_step_without_active_tables_advances_the_tick(backend, tmp_path):
    with make_world(backend, tmp_path, "parquet") as w:
        w.add_processor(add_one)  # a Python chain, but nothing to process
        r = w.step()
        assert (r.tick, r.rows_written, w.tick) == (0, {}, 1)
        w.remove_processor(add_one)
        assert w.step().tick == 1
    assert kw.published_tick(str(tmp_path / "store"), "api", "test-world", "test-run") == 1


def test_table_processed_once_more_after_its_last_entity_left(backend):
    with make_world(backend) as w:
        e = w.spawn(Position(0.0, 0.0))
        w.step()
        w.despawn(e)
        assert w.step().rows_written == {w.table_name(Position): 1}
        assert w.step().rows_written == {}


def test_partial_tick_poisons_the_world(backend, tmp_path):
    with make_world(backend, tmp_path, "parquet") as w:
        w.spawn(Position(0.0, 0.0))
        w.spawn(Health())
        w.step()
        second = sorted([w.table_name(Position), w.table_name(Health)])[1]
        kw.testing.set_fault_plan(w, f"fail:publish:{second}")
        with pytest.raises(kw.errors.PartialTickError) as exc:
            w.step()
        assert_code(exc, 103)
        for call in (w.step, lambda: w.run(1), lambda: w.spawn(Counter(1)), lambda: w.reserve_ids(1),
                     lambda: w.add_processor(add_one), lambda: w.add_processor(kw.Movement()),
                     lambda: w.despawn(1)):
            with pytest.raises(kw.errors.PartialTickError):
                call()
        assert w.query(Position).num_rows == 1  # reads still work
        assert w.registry().num_rows == 2
        w.close(discard=True)
    w2 = kw.World.open(str(tmp_path / "store"), "api", world_id="test-world", run_id="test-run", backend=backend)
    try:
        assert w2.tick == 2  # the tick was rolled forward by recovery
        assert w2.history(ticks=1).num_rows == 2
    finally:
        w2.close()
