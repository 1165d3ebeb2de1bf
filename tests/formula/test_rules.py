"""Update rules (specs/formula.md A.3.5)."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

import kiln.formula as kf
from kiln import errors as ke

MOVEMENT = """
position__x = position__x + velocity__dx * dt   # simultaneous update
position__y = position__y + velocity__dy * dt
"""


def batch(n=1000, seed=0):
    rng = np.random.default_rng(seed)
    return pa.record_batch({"entity_id": np.arange(n), "position__x": rng.normal(size=n),
                            "position__y": rng.normal(size=n), "velocity__dx": rng.normal(size=n),
                            "velocity__dy": rng.normal(size=n)})


def test_movement_rules_bitwise():
    b = batch()
    rs = kf.compile_rules(MOVEMENT)
    assert rs.targets == ("position__x", "position__y")
    out = rs.apply(b, dt=0.1)
    x, dx = b.column("position__x").to_numpy(), b.column("velocity__dx").to_numpy()
    assert out.column("position__x").to_numpy().tobytes() == (x + dx * 0.1).tobytes()
    assert out.column("entity_id") is not None
    # untouched columns are shared, not copied
    assert out.column("velocity__dx").buffers()[1].address == b.column("velocity__dx").buffers()[1].address


def test_simultaneous_update_and_order_independence():
    b = pa.record_batch({"x": [1.0], "y": [10.0]})
    r1 = kf.compile_rules("x = y; y = x").apply(b)
    r2 = kf.compile_rules("y = x\nx = y").apply(b)
    assert r1.to_pydict() == r2.to_pydict() == {"x": [10.0], "y": [1.0]}
    r3 = kf.compile_rules({"x": "x + y"}).apply(pa.table({"x": [1.0], "y": [2.0]}))
    assert r3.column("x").to_pylist() == [3.0]


def test_rule_errors():
    with pytest.raises(ke.FormulaRuleSyntaxError) as ei:
        kf.compile_rules("x = 1\nx + 1")
    assert ei.value.details["index"] == 2
    with pytest.raises(ke.FormulaDuplicateTargetError):
        kf.compile_rules("x = 1; x = 2")
    with pytest.raises(ke.FormulaTargetReservedError):
        kf.compile_rules("tick = tick + 1", reserved=["tick", "entity_id"])
    with pytest.raises(ke.FormulaTargetMissingError):
        kf.compile_rules("z = 1").apply(pa.record_batch({"x": [1.0]}))
    with pytest.raises(ke.FormulaTargetTypeError):
        kf.compile_rules("x = 1").apply(pa.record_batch({"x": pa.array([1], pa.int64())}))
    text = "x = 1\ny = 2 +* 3"
    with pytest.raises(ke.FormulaSyntaxError) as ei:
        kf.compile_rules(text)
    assert text[ei.value.position] == "*"
    assert kf.compile_rules("{a b} = {a b} * 2; c = 1 == 1").targets == ("a b", "c")
