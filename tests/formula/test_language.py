"""The language contract of specs/formula.md A.2 and the acceptance items D.2-D.4."""
from __future__ import annotations

import math
import struct

import pytest

import kiln.formula as kf
from kiln import errors as ke


def bits(v: float) -> bytes:
    return struct.pack("<d", v)


@pytest.mark.parametrize("text, expected", [
    ("-2**2", -4.0), ("2**-1", 0.5), ("2**3**2", 512.0), ("2^3^2", 512.0), ("-2^2", -4.0), ("--1", 1.0),
    ("1 --- 2", -1.0), ("1 < 2 < 3", 1.0), ("3 > 2 > 2", 0.0), ("0 or 5", 5.0), ("2 or 7", 2.0),
    ("7 // 2", 3.0), ("-7 // 2", -4.0), ("-7 % 3", 2.0), ("7 % -3", -2.0), ("007", 7.0), (".5 + 1.", 1.5),
    ("not 0", 1.0), ("not nan", 0.0), ("if(nan, 1, 2)", 1.0), ("where(0, 1, 2)", 2.0), ("min(3, 1, 2)", 1.0),
    ("max(3, 1, 2)", 3.0), ("clamp(5, 0, 2)", 2.0), ("round(2.5)", 2.0), ("round(3.5)", 4.0),
    ("round(1.25, 1)", 1.2), ("round(1234, -2)", 1200.0), ("SQRT(16)", 4.0), ("Abs(-2)", 2.0), ("sign(-3)", -1.0),
    ("hypot(3, 4)", 5.0), ("fmod(-7, 3)", -1.0), ("copysign(2, -0.0)", -2.0), ("atan2(0, -1)", math.pi),
    ("pi", math.pi), ("tau", math.tau), ("e", math.e), ("True + true", 2.0), ("False", 0.0),
    ("1/0", math.inf), ("-1/0", -math.inf), ("1e308 * 10", math.inf), ("log(0)", -math.inf), ("0 ** -1", math.inf),
    ("isnan(0/0)", 1.0), ("isinf(-inf)", 1.0), ("isfinite(1)", 1.0), ("1 == 1.0", 1.0), ("-0.0 == 0.0", 1.0),
    ("nan != nan", 1.0), ("nan == nan", 0.0), ("2 <= 2 < 3 != 4", 1.0),
])
def test_values(text: str, expected: float) -> None:
    assert bits(kf.evaluate(text)) == bits(expected)


@pytest.mark.parametrize("text", ["0/0", "0 % 0" , "sqrt(-1)", "log(-1)", "(-8) ** (1/3)", "inf - inf", "5 % 0"])
def test_nan_values(text: str) -> None:
    assert math.isnan(kf.evaluate(text))


def test_negative_zero_kept() -> None:
    assert bits(kf.evaluate("-0.0")) == bits(-0.0)
    assert bits(kf.evaluate("min(-0.0, 0.0)")) == bits(-0.0)
    assert bits(kf.evaluate("min(0.0, -0.0)")) == bits(-0.0)
    assert bits(kf.evaluate("max(-0.0, 0.0)")) == bits(0.0)
    assert bits(kf.compile("-x")(0.0)) == bits(-0.0)
    assert bits(kf.evaluate("round(-0.4)")) == bits(-0.0)


def test_comments_whitespace_and_placeholders() -> None:
    f = kf.compile("  x + 1 # note\n")
    assert f.variables == ("x",)
    assert f(2) == 3.0
    g = kf.compile("x + {x}")
    assert g.variables == ("x",)
    assert g(2) == 4.0
    assert kf.compile("{Sales (EUR)} * 2").evaluate({"Sales (EUR)": 3}) == 6.0
    assert kf.compile("{e} + e").evaluate(e=1) == 1 + math.e
    assert kf.compile("{pi}").variables == ("pi",)


def test_logic_returns_operands() -> None:
    assert kf.compile("0 and x").evaluate(x=5) == 0.0
    assert kf.compile("x and 3")(2) == 3.0
    assert kf.compile("x or 3")(2) == 2.0
    assert kf.compile("x or 3")(0) == 3.0


def test_variables_order_and_extras() -> None:
    f = kf.compile("b + a * b - c + pi")
    assert f.variables == ("b", "a", "c")
    assert f.evaluate(a=1, b=2, c=3, unused=9) == 2 + 1 * 2 - 3 + math.pi
    with pytest.raises(ke.FormulaMissingVariablesError) as ei:
        f.evaluate(a=1)
    assert ei.value.code == "K4301"
    assert "b, c" in ei.value.message
    assert isinstance(ei.value, LookupError)


def test_missing_suggests_near_names() -> None:
    with pytest.raises(ke.FormulaMissingVariablesError) as ei:
        kf.compile("speed * 2").evaluate(sped=3)
    assert "did you mean sped for speed" in ei.value.message


def test_binding_forms_agree_bitwise() -> None:
    f = kf.compile("x / y + sin(x) * y ** 0.5")
    vals = {"x": 0.1, "y": 7.25}
    r = [f(0.1, 7.25), f.evaluate(**vals), f.evaluate(vals), kf.evaluate(f.text, **vals), kf.evaluate(f.text, vals)]
    assert len({bits(v) for v in r}) == 1


@pytest.mark.parametrize("value, code, builtin", [
    ("2", "K4302", TypeError), (None, "K4302", TypeError), (1j, "K4302", TypeError), ([1.0], "K4302", TypeError),
    (10 ** 400, "K4303", OverflowError),
])
def test_bad_scalars(value, code, builtin) -> None:
    with pytest.raises(builtin) as ei:
        kf.compile("x + 1").evaluate(x=value)
    assert ei.value.code == code


def test_scalar_kinds() -> None:
    np = pytest.importorskip("numpy")
    from fractions import Fraction

    f = kf.compile("x + 1")
    assert f(True) == 2.0
    assert f(np.float32(0.5)) == 1.5
    assert f(np.int64(3)) == 4.0
    assert f(Fraction(1, 4)) == 1.25


def test_lists() -> None:
    np = pytest.importorskip("numpy")
    import array

    f = kf.compile("AVG({v}) + sum(w) + count(w) + min(v) + max(v)")
    assert f.variables == ("v", "w")
    assert f.list_variables == ("v", "w")
    r = f.evaluate(v=[1, 2, 3], w=np.array([0.5, 0.25]))
    assert r == 2 + 0.75 + 2 + 1 + 3
    assert f.evaluate(v=(1.0, 2.0, 3.0), w=array.array("d", [0.5, 0.25])) == r
    assert kf.compile("sum(v)").evaluate(v=[0.1] * 10) == math.fsum([0.1] * 10)
    assert kf.compile("sum(v)").evaluate(v=[1e308, 1e308, -1e308]) == 1e308   # exact, no spurious overflow
    assert kf.compile("sum(v)").evaluate(v=[]) == 0.0
    assert math.isnan(kf.compile("avg(v)").evaluate(v=[]))
    with pytest.raises(ke.FormulaEmptyAggregateError):
        kf.compile("avg(v)", mode="strict").evaluate(v=[])
    with pytest.raises(ke.FormulaVariableTypeError):
        kf.compile("sum(v)").evaluate(v=3.0)


def test_exact_mean_rounds_once() -> None:
    from fractions import Fraction

    vals = [0.1, 0.2, 0.30000000000000004, 1e-17, 3.3]
    exact = float(sum(Fraction(v) for v in vals) / len(vals))
    assert kf.compile("avg(v)").evaluate(v=vals) == exact


@pytest.mark.parametrize("text, code, char, hint", [
    ("2x", "K4006", "2", "write 2*x"), ("0x10", "K4006", "0", "not supported"), ("1_000", "K4006", "1", "not supported"),
    ("1j", "K4006", "1", "not supported"), ("a && b", "K4009", "&", "write and"), ("a || b", "K4009", "|", "write or"),
    ("!a", "K4009", "!", "write not"), ("c ? a : b", "K4009", "?", "if(c, a, b)"), ("a = 1", "K4009", "=", "=="),
    ("a <> b", "K4009", "<", "!="), ("x \u2212 1", "K4002", "\u2212", "-"), ("x \u00d7 2", "K4002", "\u00d7", "*"),
    ("x \u00f7 2", "K4002", "\u00f7", "/"), ("x \u2264 2", "K4002", "\u2264", "<="), ("x\u00a0+ 1", "K4002", "\u00a0", "space"),
    ("a if c else b", "K4010", "i", "if(c, a, b)"), ("'a'", "K4002", "'", "strings"), ("v[0]", "K4002", "[", "list"),
    ("a & b", "K4009", "&", "bitwise"), ("a << 2", "K4009", "<", "bitwise"), ("a @ b", "K4009", "@", ""),
])
def test_hints(text: str, code: str, char: str, hint: str) -> None:
    with pytest.raises(ke.FormulaSyntaxError) as ei:
        kf.compile(text)
    e = ei.value
    assert e.code == code
    assert text[e.position] == char
    assert hint in e.message
    assert isinstance(e, ValueError)


def test_positions_are_code_points() -> None:
    with pytest.raises(ke.FormulaError) as ei:
        kf.compile("{\u00e9t\u00e9} + \u2212 1")
    assert ei.value.code == "K4002"
    assert "{\u00e9t\u00e9} + \u2212 1"[ei.value.position] == "\u2212"
    assert f"at position {ei.value.position}" in ei.value.message


def test_caret_display() -> None:
    with pytest.raises(ke.FormulaError) as ei:
        kf.compile("x + * 2")
    lines = ei.value.message.splitlines()
    assert lines[-2].strip() == "x + * 2"
    assert lines[-1].index("^") == lines[-2].index("*")
