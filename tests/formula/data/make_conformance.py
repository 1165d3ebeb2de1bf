"""Writes conformance.toml, the formula conformance cases shared by GoogleTest and pytest
(specs/formula.md A.6, D.1). Expected values come from the pure-Python reference (kiln.formula.
reference), expected errors from the reference compiler or, for strict evaluation, from the
hand-written table below (A.4). Run: python tests/formula/data/make_conformance.py

Format (a restricted TOML both test suites parse line by line): one [[case]] per case with
  formula  = basic string          mode = "ieee" | "strict"
  vars     = "name=0x<bits>;..."   (doubles as IEEE bit patterns)
  lists    = "name=0x<bits>,0x<bits>;..."
  value    = "0x<bits>"  (NaNs compare equal to any NaN)   -- or --
  code = 4401   position = <code points>   byte_position = <bytes>
"""
from __future__ import annotations

import itertools
import math
import struct
from pathlib import Path

from kiln.errors import KilnError
from kiln.formula import reference as R

HERE = Path(__file__).resolve().parent


def hx(v: float) -> str:
    return "0x%016x" % struct.unpack("<Q", struct.pack("<d", v))[0]


def q(s: str) -> str:
    out = []
    for ch in s:
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20 or ord(ch) > 0x7e:
            out.append("\\u%04X" % ord(ch))
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


cases: list[dict] = []
seen: set = set()


def add(formula: str, vars=None, lists=None, mode="ieee", code=None, position=None, group=""):
    key = (formula, tuple(sorted((vars or {}).items())), mode)
    if key in seen:
        return
    seen.add(key)
    try:   # keep only the variables the formula uses
        used = {v[0] for v in R.compile(formula, mode=mode).variables}
        vars = {k: v for k, v in (vars or {}).items() if k in used}
    except KilnError:
        pass
    c = {"group": group, "formula": formula, "mode": mode, "vars": vars or {}, "lists": lists or {}}
    if code is None and mode == "ieee":
        try:
            v = R.evaluate(formula, {**(vars or {}), **(lists or {})})
            c["value"] = v
        except KilnError as e:
            c["code"], c["position"] = e.number, e.details["position"]
    elif code is None:
        c["value"] = R.evaluate(formula, {**(vars or {}), **(lists or {})})
    else:
        c["code"], c["position"] = code, position
    cases.append(c)


# -- precedence and associativity (ArashPartow's "precedence" set, restated) ---------------------
nums = ["2", "3", "0.5"]
binops = ["+", "-", "*", "/", "//", "%", "**", "^", "<", "==", "and", "or"]
for o1, o2 in itertools.product(binops, binops):
    add(f"2 {o1} 3 {o2} 0.5", group="precedence")
for u in ["-", "+", "not ", "--", "- -", "+-"]:
    for o in ["**", "^", "*", "+", "<", "and"]:
        add(f"{u}2 {o} 3", group="precedence")
for t in ["-2**2", "2**-1", "2**3**2", "2^3^2", "-2^2", "--1", "1 --- 2", "(-2)**2", "2**-1**2", "-2**-2",
          "1 < 2 < 3", "3 > 2 > 2", "1 < 3 > 2", "1 == 1 == 1", "2 == 2 == 1", "0 or 5", "0 and x", "2 or x",
          "not 1 == 2", "not not 3", "1 + 2 * 3 ** 2", "(1 + 2) * 3", "10 // 3 * 3 + 10 % 3", "-7 // 2", "-7 % 3",
          "7 % -3", "-7.5 // 2", "7.5 % -2", "2 * -3", "2 ** +3", "1 - -1", "x and y or z", "x or y and z",
          "not x or y", "-x ** 2", "x < y < z", "1 < x <= 3"]:
    add(t, vars={"x": 2.0, "y": 0.0, "z": 3.0}, group="precedence")

# -- weird spellings -----------------------------------------------------------------------------
for t in ["  1 + 2", "\t1+2\n", "1 # comment", "# c\n 2", "007", "0.", ".5", "1e3", "1E-3", "1.5e+2", "00", "{x}",
          "{x} + x", "x+{x}*{x}", "SQRT(4)", "Sqrt(4)", "ABS(-1)", "If(1, 2, 3)", "WHERE(0, 2, 3)", "MAX(1, 2)",
          "True", "False", "true + false", "pi", "tau", "e", "{e}", "{pi} + pi", "inf", "-inf", "nan", "1e-400",
          "5e-324", "1.7976931348623157e308", "((((1))))", "x^2", "x**2", "pow(x, 2)", "pow(x, 1 + 1)", "x ** 2.0",
          "round(2.5)", "round(-2.5)", "round(0.5)", "round(-0.4)", "round(1.005, 2)", "round(1234.5, -2)",
          "round(x, 0)", "min(-0.0, 0.0)", "max(-0.0, 0.0)", "min(0.0, -0.0)", "min(nan, 1)", "max(1, nan)",
          "clamp(5, 0, 3)", "clamp(-1, 0, 3)", "clamp(nan, 0, 1)", "sign(-0.0)", "sign(nan)", "sign(-2)",
          "abs(-0.0)", "-0.0", "0.0 * -1", "x + 0", "x * 1", "x - 0", "x + -0.0", "-(-x)", "x ** 1", "x ** 0",
          "nan ** 0", "1 ** nan", "x * 0", "x - x", "1/0", "-1/0", "0/0", "1 % 0", "1 // 0", "-1 // 0", "0 // 0",
          "1e308 * 10", "-1e308 * 10", "exp(1000)", "10 ** 400", "(-8) ** (1/3)", "0 ** -1", "(-0.0) ** -1",
          "inf - inf", "0 * inf", "1e-300 * 1e-300", "isnan(0/0)", "isinf(1/0)", "isfinite(1e308)",
          "if(nan, 1, 2)", "not nan", "nan and 1", "nan or 1", "0.1 + 0.2", "0.1 * 3", "1 / 3"]:
    add(t, vars={"x": -0.0, "e": 0.25, "pi": 0.125}, group="weird")
    add(t, vars={"x": 1.5, "e": 0.25, "pi": 0.125}, group="weird")

# -- every function at special values -------------------------------------------------------------
specials = [0.0, -0.0, 1.0, -1.0, 0.5, 2.0, -2.5, 1e308, 5e-324, math.inf, -math.inf, math.nan, 100.0, 1e-10]
for fn in ["abs", "sqrt", "floor", "ceil", "trunc", "round", "sign", "cbrt", "exp", "expm1", "log", "log1p", "log2",
           "log10", "sin", "cos", "tan", "asin", "acos", "atan", "sinh", "cosh", "tanh", "asinh", "acosh", "atanh",
           "isnan", "isinf", "isfinite"]:
    for v in specials:
        add(f"{fn}(x)", vars={"x": v}, group="functions")
pairs = [(0.0, 0.0), (-0.0, 0.0), (1.0, 0.0), (-1.0, -0.0), (3.0, 4.0), (-7.0, 3.0), (7.0, -3.0), (1e308, 1e308),
         (math.inf, 1.0), (1.0, math.inf), (math.nan, 1.0), (-8.0, 1 / 3), (0.0, -1.0), (2.0, 0.5), (1.0, math.nan)]
for fn in ["atan2", "hypot", "fmod", "copysign", "pow", "min", "max"]:
    for a, b in pairs:
        add(f"{fn}(x, y)", vars={"x": a, "y": b}, group="functions")
for op in ["+", "-", "*", "/", "//", "%", "**", "<", "<=", ">", ">=", "==", "!="]:
    for a, b in pairs:
        add(f"x {op} y", vars={"x": a, "y": b}, group="operators")
for v in specials:
    add("round(x, 2)", vars={"x": v}, group="functions")
    add("clamp(x, -1, 1)", vars={"x": v}, group="functions")

# -- random formulas with and without functions (fixed by hand, evaluated at several points) ------
randoms = ["(x + y) * (z - w) + sqrt(x)", "a**2 + b**2 - 2*a*b", "sin(a) * exp(-b) + sqrt(abs(c))",
           "if(a > 0.5, a * b, b - c)", "x / (1 + exp(-y)) - log1p(abs(z))", "max(x, y, z, w) - min(x, y, z, w)",
           "hypot(x, y) / (abs(z) + 1e-9)", "(x // 0.25) * 0.25 + x % 0.25", "atan2(y, x) * 180 / pi",
           "tanh(x) * cosh(y) - sinh(z)", "x ** y ** 0.5", "clamp(x * 10, -5, 5) + round(y, 3)"]
pts = [dict(x=0.3, y=-1.2, z=2.5, w=0.0, a=0.7, b=1.9, c=-4.0), dict(x=-3.0, y=0.25, z=-0.0, w=8.0, a=0.2, b=-0.5, c=9.0),
       dict(x=1e5, y=2.0, z=1e-5, w=-3.5, a=0.5, b=0.5, c=0.5)]
for t in randoms:
    for p in pts:
        vars_used = {k: v for k, v in p.items() if k in t}
        add(t, vars=vars_used, group="random")

# -- lists -------------------------------------------------------------------------------------------
for vals in ([], [1.0, 2.0, 3.0], [0.1] * 10, [1e308, 1e308, -1e308], [math.nan, 1.0], [-0.0], [math.inf, -math.inf],
             [0.1, 0.2, 0.30000000000000004, 1e-17]):
    for fn in ["sum", "avg", "min", "max", "count", "AVG"]:
        add(f"{fn}(v)", lists={"v": vals}, group="lists")

# -- compile errors (code, position) -------------------------------------------------------------------
for t in ["", "   # only", "x $ 1", "x \u2212 1", "x \u00d7 2", "'s'", "v[0]", "x y", "* x", "x +", "(x + 1", "x)", "f(",
          "2x", "0x10", "1_000", "1j", "1e400", "1.2.3", "1e", "{ x}", "{}", "{x", "{a{b}", "a && b", "a || b", "!a",
          "c ? a : b", "a = 1", "a <> b", "a & b", "~a", "a >> 1", "a if c else b", "and", "x not y", "2 * not x",
          "sqr(x)", "foo(1)", "atan2(1)", "sqrt(1, 2)", "round(x, y)", "round(x, 1.5)", "round(x, 400)",
          "max(v) + v", "sum(1)", "sum(v, w)", "min()", "if(1, 2)", "1,2", "()", "x (1)"]:
    add(t, vars={"x": 1.0, "y": 2.0, "a": 1.0, "b": 1.0, "c": 1.0}, group="errors")

# -- strict mode (A.4), hand-written expectations ------------------------------------------------------
strict = [("1/0", {}, 4401, 1), ("-1/0", {}, 4401, 2), ("0/0", {}, 4401, 1), ("x % 0", {"x": 1.0}, 4401, 2),
          ("x // 0", {"x": 1.0}, 4401, 2), ("1e308 * 10", {}, 4403, 6), ("exp(1000)", {}, 4403, 0),
          ("10 ** 400", {}, 4403, 3), ("sqrt(-1)", {}, 4402, 0), ("log(-1)", {}, 4402, 0),
          ("(-8) ** (1/3)", {}, 4402, 5), ("log(0)", {}, 4401, 0), ("0 ** -1", {}, 4401, 2),
          ("x + 1", {"x": math.nan}, 4404, 0), ("x + 1", {"x": math.inf}, 4404, 0), ("atanh(1)", {}, 4401, 0),
          ("asin(2)", {}, 4402, 0), ("fmod(1, 0)", {}, 4401, 0), ("clamp(1, 3, 2)", {}, 4402, 0),
          ("if(x > 0, x, 1/0)", {"x": -1.0}, 4401, 14), ("x + inf", {"x": 1.0}, 4105, 4),
          ("nan", {}, 4105, 0)]
for t, v, code, pos in strict:
    add(t, vars=v, mode="strict", code=code, position=pos, group="strict")
for t, v in [("if(x > 0, x, 1/0)", {"x": 1.0}), ("x and 1/0", {"x": 0.0}), ("x or 1/0", {"x": 2.0}),
             ("1e-300 * 1e-300", {}), ("x * 2", {"x": 3.0}), ("1 < x < 1/0", {"x": 0.0})]:
    add(t, vars=v, mode="strict", group="strict")


def main() -> None:
    lines = ["# Formula conformance cases (specs/formula.md A.6): generated by make_conformance.py; edit that script.",
             f"# {len(cases)} cases.", ""]
    for c in cases:
        lines.append("[[case]]")
        lines.append(f"group = {q(c['group'])}")
        lines.append(f"formula = {q(c['formula'])}")
        lines.append(f"mode = {q(c['mode'])}")
        if c["vars"]:
            lines.append("vars = " + q(";".join(f"{k}={hx(v)}" for k, v in c["vars"].items())))
        if c["lists"]:
            lines.append("lists = " + q(";".join(f"{k}=" + ",".join(hx(x) for x in v) for k, v in c["lists"].items())))
        if "value" in c:
            lines.append(f"value = {q(hx(c['value']))}")
        else:
            f = c["formula"]
            pos = c["position"]
            lines.append(f"code = {c['code']}")
            lines.append(f"position = {pos}")
            lines.append(f"byte_position = {len(f[:pos].encode())}")
        lines.append("")
    (HERE / "conformance.toml").write_text("\n".join(lines), encoding="utf-8")
    print(f"wrote {len(cases)} cases")


if __name__ == "__main__":
    main()
