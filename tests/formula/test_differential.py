"""Differential property tests (specs/formula.md A.6 properties (1), (2), (4), (5), (6); D.8, D.9,
D.15): the native engine against the pure-Python reference on random trees."""
from __future__ import annotations

import math
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import kiln.formula as kf
from kiln.errors import FormulaError
from kiln.formula import reference as R

from .trees import bindings, render, trees, whitespace

SETTINGS = settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def same(a: float, b: float) -> bool:
    """Bitwise equality with all NaNs identified."""
    if math.isnan(a) and math.isnan(b):
        return True
    return struct.pack("<d", a) == struct.pack("<d", b)


def text_of(data, tree) -> str:
    ws = data.draw(st.lists(whitespace, min_size=64, max_size=64))
    it = iter(ws * 64)
    power = data.draw(st.sampled_from(("**", "^")))
    return render(tree, lambda: next(it), power)


def bind(f, vals):
    return {k: vals[k] for k in f.variables}


@SETTINGS
@given(trees, bindings, st.data())
def test_native_equals_reference(tree, vals, data):
    text = text_of(data, tree)
    f = kf.Formula(text)
    expected = R.evaluate_tree(tree, vals)
    assert same(f.evaluate(bind(f, vals)), expected), text
    # (6) the reference compiler gives byte-identical items and pool
    c = R.compile(text)
    assert c.items == f.program.items_bytes() and c.pool == f.program.pool_bytes(), text
    # (5) fold on/off agree bitwise
    g = kf.Formula(text, fold=False)
    assert same(g.evaluate(bind(g, vals)), expected), text
    c2 = R.compile(text, fold=False)
    assert c2.items == g.program.items_bytes() and c2.pool == g.program.pool_bytes(), text


@SETTINGS
@given(trees, st.data())
def test_parse_render_roundtrip(tree, data):
    # (2) parse(render(t)) == t
    assert R.parse(text_of(data, tree)) == tree


@SETTINGS
@given(trees, bindings, st.data())
def test_strict_raises_eval_code_or_equals_ieee(tree, vals, data):
    text = text_of(data, tree)
    try:
        s = kf.Formula(text, mode="strict")
    except FormulaError as e:       # inf/nan constants are compile errors in strict mode
        assert e.code == "K4105"
        return
    f = kf.Formula(text)
    try:
        r = s.evaluate(bind(s, vals))
    except FormulaError as e:
        assert 4401 <= e.number <= 4405, e
        assert e.position is not None and 0 <= e.position <= len(text)
        return
    assert same(r, f.evaluate(bind(f, vals)))
    assert math.isfinite(r)


def test_strict_short_circuit_d8():
    f = kf.compile("if(x > 0, x, 1/0)", mode="strict")
    assert f.evaluate(x=1) == 1.0
    with pytest.raises(ZeroDivisionError) as ei:
        f.evaluate(x=-1)
    assert ei.value.code == "K4401"
    assert f.text[ei.value.position] == "/"


@pytest.mark.parametrize("text, vals, code, char", [
    ("1/0", {}, "K4401", "/"), ("x % 0", {"x": 1}, "K4401", "%"), ("x // 0", {"x": 1}, "K4401", "/"),
    ("1e308 * 10", {}, "K4403", "*"), ("exp(1000)", {}, "K4403", "e"), ("10 ** 400", {}, "K4403", "*"),
    ("sqrt(-1)", {}, "K4402", "s"), ("log(-1)", {}, "K4402", "l"), ("(-8) ** (1/3)", {}, "K4402", "*"),
    ("log(0)", {}, "K4401", "l"), ("0 ** -1", {}, "K4401", "*"), ("x + 1", {"x": math.nan}, "K4404", "x"),
    ("x - x", {"x": math.inf}, "K4404", "x"), ("clamp(1, 3, 2)", {}, "K4402", "c"), ("atanh(1)", {}, "K4401", "a"),
    ("fmod(1, 0)", {}, "K4401", "f"), ("x and 1/0", {"x": 0}, None, None), ("x or 1/0", {"x": 1}, None, None),
    ("asin(2)", {}, "K4402", "a"),
])
def test_strict_edge_table(text, vals, code, char):
    f = kf.compile(text, mode="strict")
    if code is None:
        assert math.isfinite(f.evaluate(vals))
        return
    with pytest.raises(FormulaError) as ei:
        f.evaluate(vals)
    assert ei.value.code == code
    assert text[ei.value.position] == char


def test_fold_identities_not_applied():
    # x + 0, x * 0, x - x are never simplified (A.3.3)
    for text in ("x + 0", "x * 0", "x - x", "x / x", "x ** 0.5"):
        ops = kf.compile(text).program.ops()
        assert len(ops) == 3, (text, ops)
    assert kf.compile("x * 1").program.ops() == ["VAR"]
    assert kf.compile("1 * x").program.ops() == ["VAR"]
    assert kf.compile("-(-x)").program.ops() == ["VAR"]
    assert kf.compile("x ** 2").program.ops() == ["VAR", "SQR"]
    assert kf.compile("x ** (1 + 1)", fold=False).program.ops() == ["VAR", "SQR"]
    assert kf.compile("x ** 0").program.ops() == ["LIT"]
    assert kf.compile("x + -0.0").program.ops() == ["VAR"]
    assert bits_of(kf.compile("x + 0")(-0.0)) == bits_of(0.0)


def bits_of(v):
    return struct.pack("<d", v)


def test_square_vs_pow_d7():
    # glibc pow(v, 2) differs from v*v on some inputs: x**2 squares, x**y (y = 2) calls pow.
    import random

    rng = random.Random(7)
    sq, pw = kf.compile("x**2"), kf.compile("x**y")
    found = 0
    for _ in range(200000):
        v = rng.uniform(-1e3, 1e3)
        if math.pow(v, 2) != v * v:
            found += 1
            assert bits_of(sq(v)) == bits_of(v * v)
            assert bits_of(pw(v, 2.0)) == bits_of(math.pow(v, 2))
    assert found > 0 or math.pow(1.1, 2) == 1.1 * 1.1   # a libm that squares exactly has nothing to show


def test_no_fma_contraction_d9():
    # a*b + c where the fused result differs: the unfused value is returned.
    a, b, c = 0.1, 10.0, -1.0
    unfused = a * b + c
    assert kf.compile("a*b + c")(a, b, c) == unfused
    import numpy as np

    out = kf.compile("a*b + c").evaluate_columns({"a": np.full(1000, a), "b": np.full(1000, b), "c": np.full(1000, c)})
    assert (out == unfused).all()
