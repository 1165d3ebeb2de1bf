"""kiln.formula.compat against the PyAgent FormulaEngineCore tests and quirks (specs/formula.md
A.5; D.16, D.17, D.19)."""
from __future__ import annotations

import logging
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kiln.formula.compat import FormulaEngineCore

core = FormulaEngineCore()


# -- unit tests of the source ------------------------------------------------------------------
@settings(max_examples=200, deadline=None)
@given(st.floats(-1e3, 1e3), st.floats(-1e3, 1e3), st.sampled_from(["+", "-", "*"]))
def test_binary_ops(a, b, op):
    r = core.calculate_logic(f"{{a}}{op}{{b}}", {"a": a, "b": b})
    expected = {"+": a + b, "-": a - b, "*": a * b}[op]
    assert math.isclose(r, expected, rel_tol=1e-9, abs_tol=1e-9)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=10))
def test_avg(values):
    assert math.isclose(core.calculate_logic("AVG({values})", {"values": values}), sum(values) / len(values),
                        rel_tol=1e-9, abs_tol=1e-9)


def test_validate_invalid_and_valid():
    r = core.validate_logic("1 + *** 2")
    assert r["is_valid"] is False and "error" in r
    assert core.validate_logic("{a}+{b}*2") == {"is_valid": True, "error": None}


# -- integration tests of the source -----------------------------------------------------------
def test_integration():
    assert core.calculate_logic("{x} * {y} + {z}", {"x": 2, "y": 3, "z": 4}) == 10.0
    assert core.calculate_logic("({a} + {b}) * {c}", {"a": 2, "b": 3, "c": 5}) == 25.0
    assert core.calculate_logic("{x} * {y}", {"x": -5, "y": 3}) == -15.0
    f = "{base} * (1 + {rate})"
    assert core.validate_logic(f)["is_valid"]
    assert core.calculate_logic(f, {"base": 100, "rate": 0.05}) == 100 * (1 + 0.05)
    assert core.calculate_logic("{x} ** 2", {"x": 5}) == 25.0
    assert core.calculate_logic("-{a} + {b}", {"a": 5, "b": 10}) == 5.0
    for t in ["{x} + {y}", "{x} * {y} - {z}", "({x} + {y})", "{x} ** 2"]:
        assert isinstance(core.validate_logic(t), dict)
    assert abs(core.calculate_logic("{x} * {y}", {"x": 0.001, "y": 0.002}) - 2e-6) < 1e-10
    assert core.calculate_logic("{x} * {y}", {"x": 1e10, "y": 1e10}) == 1e20
    assert abs(core.calculate_logic("{x} / {y}", {"x": 1e-10, "y": 2.0}) - 5e-11) < 1e-20


# -- the measured edge table and the quirks ------------------------------------------------------
@pytest.mark.parametrize("formula, variables, expected", [
    ("1+2*3", {}, 7.0), ("(1+2)*3", {}, 9.0), ("2**10", {}, 1024.0), ("7/2", {}, 3.5), ("-3", {}, -3.0),
    ("+3", {}, 3.0), ("1 -- 2", {}, 3.0), ("{x} ** 2", {"x": -5.0}, -25.0), ("{a}-{b}", {"a": 1.0, "b": -2}, 3.0),
    ("{a}{b}", {"a": 1, "b": 2}, 12.0), ("2^3", {}, 0.0), ("{x} ^ 2", {"x": 3}, 0.0), ("7 % 2", {}, 0.0),
    ("7 // 2", {}, 0.0), ("abs(-1)", {}, 0.0), ("x", {}, 0.0), ("1 < 2", {}, 0.0), ("1 and 2", {}, 0.0),
    ("[1]", {}, 0.0), ("'a'", {}, 0.0), ("1j", {}, 0.0), ("True + 1", {}, 2.0), ("{s}", {"s": "2+3"}, 5.0),
    ("{y} + 1", {}, 0.0), ("{x} + 1", {"x": float("nan")}, 0.0), ("{x} + 1", {"x": float("inf")}, 0.0),
    ("{x} + 1", {"x": 10 ** 400}, 0.0), ("1/0", {}, 0.0), ("0**-1", {}, 0.0), ("10.0**400", {}, 0.0),
    ("1e308*10", {}, math.inf), ("1e400", {}, math.inf), (" 1+2", {}, 0.0), ("\t1+2", {}, 0.0),
    ("\n1+2", {}, 3.0), ("(-8)**(1/3)", {}, 0.0), ("AVG({v}) + 100", {"v": [1, 2, 3]}, 2.0),
    ("AVG({v})", {"v": (1, 2, 3)}, 0.0), ("AVG({v})", {"v": []}, 0.0), ("AVG(x)", {}, 0.0),
    ("007", {}, 0.0), ("00", {}, 0.0), ("01.5", {}, 1.5), ("{x}*2", {"x": 0.1}, 0.2), ("", {}, 0.0),
    ("(" * 200 + "1" + ")" * 200, {}, 1.0), ("(" * 201 + "1" + ")" * 201, {}, 0.0),
    ("(" * 300 + "1" + ")" * 300, {}, 0.0), ("+".join(["1"] * 5000), {}, 0.0),
    ("9999999999999999999999999999999999999999" * 10, {}, 0.0),
])
def test_edge_table(formula, variables, expected):
    r = core.calculate_logic(formula, variables)
    assert type(r) is float
    assert r == expected


def test_validate_quirks():
    assert core.validate_logic("") == {"is_valid": False, "error": "invalid syntax (<unknown>, line 0)"}
    assert core.validate_logic(" 1") == {"is_valid": False, "error": "unexpected indent (<unknown>, line 1)"}
    for ok in ["2^3", "foo(1)", "{a}{b}", "1 -- 2"]:
        assert core.validate_logic(ok)["is_valid"], ok
    assert not core.validate_logic("1 --- 2")["is_valid"]
    assert core.validate_formula("{x} + 1") is True


def test_shell_conveniences():
    c = FormulaEngineCore()
    c.define("total", "{a} + {b}")
    assert c.calculate("total", {"a": 1, "b": 2}) == 3.0
    assert c.calculate("{a} * 2", {"a": 4}) == 8.0


def test_failures_are_logged_with_codes(caplog):
    with caplog.at_level(logging.DEBUG, logger="kiln.formula.compat"):
        assert core.calculate_logic("{x} % 2", {"x": 3}) == 0.0
        assert core.calculate_logic("1/0", {}) == 0.0
        assert core.calculate_logic("(-8)**(1/3)", {}) == 0.0
        assert core.calculate_logic("AVG({w})", {}) == 0.0
    text = caplog.text
    for code in ("K4601", "K4602", "K4603", "K4604"):
        assert code in text


@settings(max_examples=10000, deadline=None)
@given(st.one_of(st.text(max_size=40), st.none(), st.integers(), st.floats(), st.binary(max_size=8),
                 st.lists(st.integers(), max_size=3)),
       st.one_of(st.none(), st.dictionaries(st.text(max_size=3), st.one_of(st.floats(), st.integers(), st.text(max_size=4),
                                                                            st.none(), st.lists(st.floats())), max_size=3)))
def test_never_raises(formula, variables):
    # D.17: any text, None, objects and non-str formulas: a float, never an exception
    assert isinstance(core.calculate_logic(formula, variables), float)
    assert isinstance(core.validate_logic(formula), dict)
