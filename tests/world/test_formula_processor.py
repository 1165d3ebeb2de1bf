"""kw.Formula processors on both kernels (specs/world.md §6.2, formula.md A.3.5 and D.14)."""
from __future__ import annotations

import numpy as np
import pytest

import kiln.world as kw
from kiln import errors as ke

from api_support import Position, Velocity, assert_code, backend, make_world, world_state  # noqa: F401

MOVE = "position__x = position__x + velocity__dx * dt; position__y = position__y + velocity__dy * dt"


def run(backend, proc, n=200, steps=4, seed=3):
    rng = np.random.default_rng(seed)
    with make_world(backend) as w:
        w.add_processor(proc)
        for i in range(n):
            w.spawn(Position(float(rng.normal()), float(rng.normal())), Velocity(float(rng.normal()), float(rng.normal())))
        for _ in range(steps):
            w.step()
        t = w.live_tables()[w.table_name(Position, Velocity)]
        return np.asarray(t.column("position__x")), np.asarray(t.column("position__y"))


def test_formula_equals_movement_bitwise(backend):
    mx, my = run(backend, kw.Movement(dt=0.1))
    fx, fy = run(backend, kw.Formula(MOVE, params={"dt": 0.1}))
    assert mx.tobytes() == fx.tobytes() and my.tobytes() == fy.tobytes()


def test_both_kernels_agree():
    nx, ny = run("native", kw.Formula("position__x = position__x * 1.5 + sin(velocity__dx) / 3", name="f"))
    rx, ry = run("reference", kw.Formula("position__x = position__x * 1.5 + sin(velocity__dx) / 3", name="f"))
    assert nx.tobytes() == rx.tobytes() and ny.tobytes() == ry.tobytes()


def test_defaults_and_required_columns():
    f = kw.Formula(MOVE, params={"dt": 1})
    assert (f.priority, f.name, f.mode) == (0, "formula", "ieee")
    assert f.required == {"position__x", "position__y", "velocity__dx", "velocity__dy"}


def test_reserved_target_is_402_caused_by_4506():
    with pytest.raises(ke.KilnError) as ei:
        kw.Formula("tick = tick + 1")
    assert ei.value.number == 402
    assert isinstance(ei.value.__cause__, ke.FormulaTargetReservedError)


def test_compile_error_is_402_with_cause():
    with pytest.raises(ke.KilnError) as ei:
        kw.Formula("position__x = position__x +")
    assert ei.value.number == 402
    assert ei.value.__cause__.code == "K4004"


def test_kernel_reports_causes(backend):
    with make_world(backend) as w:
        with pytest.raises(ke.KilnError) as ei:
            w._kernel.add_formula("f", [("tick", "tick + 1")], [], 0)
        assert_code(ei, 402)
        assert ei.value.__cause__.number == 4506
        with pytest.raises(ke.KilnError) as ei:
            w._kernel.add_formula("f", [("position__x", "sqr(position__x)")], [], 0)
        assert_code(ei, 402)
        assert ei.value.__cause__.number == 4101


def test_strict_failure_fails_the_tick_with_400(backend):
    with make_world(backend) as w:
        w.add_processor(kw.Formula("position__x = 1 / velocity__dx", mode="strict"))
        w.spawn(Position(1.0, 1.0), Velocity(0.0, 1.0))
        w.step()
        before = world_state(w)
        with pytest.raises(ke.KilnError) as ei:
            w.step()
        assert_code(ei, 400)
        assert ei.value.__cause__.number == 4401
        assert world_state(w) == before          # nothing appended


def test_param_named_like_a_column_is_402(backend):
    with make_world(backend) as w:
        w.add_processor(kw.Formula("position__x = position__x + position__y", params={"position__y": 1.0}))
        w.spawn(Position(1.0, 1.0), Velocity(0.0, 1.0))
        w.step()
        with pytest.raises(ke.KilnError) as ei:
            w.step()
        assert_code(ei, 402)


def test_swap_is_a_simultaneous_assignment(backend):  # world §12 item 40
    with make_world(backend) as w:
        w.add_processor(kw.Formula({"position__x": "position__y", "position__y": "position__x"}, name="swap"))
        e = w.spawn(Position(1.0, 2.0))
        w.run(2)  # tick 0 raw, tick 1 swapped once
        row = w.query(Position, entity_ids=[e])
        assert (row["position__x"].to_pylist(), row["position__y"].to_pylist()) == ([2.0], [1.0])


def test_non_float64_target_column_is_155_at_step(backend):  # world §12 item 40
    import kiln

    @kiln.component
    class Ammo:
        count: int = 0

    with make_world(backend) as w:
        w.add_processor(kw.Formula({"ammo__count": "ammo__count + 1"}, name="reload"))
        w.spawn(Ammo(3))
        w.step()  # tick 0 stores the raw row; the formula first runs at tick 1
        with pytest.raises(ke.KilnError) as exc:
            w.step()
        assert exc.value.number == 155 and "ammo__count" in str(exc.value)
        assert w.tick == 1
