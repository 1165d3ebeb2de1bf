"""C99 / libm semantics of the formula functions on Python floats, for the pure-Python reference.

Python's ``math`` reaches the same platform libm as the native engine but raises where C returns
inf or NaN; each helper restores the C99 value. Two exceptions to "use math": ``math.hypot`` is
CPython's own algorithm (it differs from glibc's ``hypot`` in the last bit on about 0.1 % of
inputs), so ``hypot`` calls libm through ctypes; and sums are exact (``fractions``) where
``math.fsum`` would fail on intermediate overflow.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import math
from fractions import Fraction

INF = math.inf
NAN = math.nan

_libm = ctypes.CDLL(ctypes.util.find_library("m") or "libm.so.6")
_libm.hypot.restype = ctypes.c_double
_libm.hypot.argtypes = (ctypes.c_double, ctypes.c_double)


def truthy(v: float) -> bool:
    return v != 0.0 or v != v


def b2d(b: bool) -> float:
    return 1.0 if b else 0.0


def _is_odd_integer(y: float) -> bool:
    return math.isfinite(y) and y == math.floor(y) and math.fmod(y, 2.0) != 0.0


def div(a: float, b: float) -> float:
    if b == 0.0:
        if a != a or a == 0.0:
            return NAN
        neg = (math.copysign(1.0, a) < 0) != (math.copysign(1.0, b) < 0)
        return -INF if neg else INF
    return a / b


def floordiv(a: float, b: float) -> float:
    if b == 0.0:
        return div(a, b)
    return a // b          # CPython float_floor_div: the algorithm the native engine restates


def mod(a: float, b: float) -> float:
    if b == 0.0:
        return NAN
    return a % b           # CPython float_rem


def c_pow(a: float, b: float) -> float:
    try:
        return math.pow(a, b)
    except ValueError:
        if a == 0.0 and b < 0.0:      # pole: +-inf, the sign kept for odd integer exponents
            return math.copysign(INF, a) if _is_odd_integer(b) else INF
        return NAN
    except OverflowError:
        return -INF if (a < 0 and _is_odd_integer(b)) else INF


def minimum(a: float, b: float) -> float:
    if a != a:
        return a
    if b != b:
        return b
    if a == b:
        return a if math.copysign(1.0, a) < 0 else b
    return a if a < b else b


def maximum(a: float, b: float) -> float:
    if a != a:
        return a
    if b != b:
        return b
    if a == b:
        return b if math.copysign(1.0, a) < 0 else a
    return a if a > b else b


def _intlike(f, x: float) -> float:
    if not math.isfinite(x):
        return x
    r = float(f(x))
    return math.copysign(0.0, x) if r == 0.0 else r


def floor(x: float) -> float:
    return _intlike(math.floor, x)


def ceil(x: float) -> float:
    return _intlike(math.ceil, x)


def trunc(x: float) -> float:
    return _intlike(math.trunc, x)


def rint(x: float) -> float:
    return _intlike(round, x)       # round-half-even, like rint in the default rounding mode


def power_of_ten(n: int) -> float:
    if n < 9:
        return (1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8)[n]
    r = 1e9
    for _ in range(n - 9):
        r *= 10.0
    return r


def roundn(x: float, n: int) -> float:
    if n >= 0:
        f = power_of_ten(n)
        return div(rint(x * f), f)
    f = power_of_ten(-n)
    return rint(div(x, f)) * f


def sign(x: float) -> float:
    return 1.0 if x > 0 else (-1.0 if x < 0 else x)


def sqrt(x: float) -> float:
    return math.sqrt(x) if x >= 0 or x != x else NAN


def _log_family(f, x: float, pole_at: float = 0.0) -> float:
    if x != x:
        return x
    if x == pole_at:
        return -INF
    if x < pole_at:
        return NAN
    if x == INF:
        return INF
    return f(x)


def _overflowing(f, x: float, sign_of_x: bool) -> float:
    try:
        return f(x)
    except OverflowError:
        return math.copysign(INF, x) if sign_of_x else INF
    except ValueError:
        return NAN


def atanh(x: float) -> float:
    if abs(x) == 1.0:
        return math.copysign(INF, x)
    if abs(x) > 1.0:
        return NAN
    return math.atanh(x)


def _domain(f, x: float) -> float:
    try:
        return f(x)
    except ValueError:
        return NAN


def fmod(a: float, b: float) -> float:
    if a != a or b != b or math.isinf(a) or b == 0.0:
        return NAN
    return math.fmod(a, b)


FN1 = (
    sign,
    lambda x: math.cbrt(x),
    lambda x: _overflowing(math.exp, x, False),
    lambda x: _overflowing(math.expm1, x, False),
    lambda x: _log_family(math.log, x),
    lambda x: _log_family(math.log1p, x, -1.0),
    lambda x: _log_family(math.log2, x),
    lambda x: _log_family(math.log10, x),
    lambda x: _domain(math.sin, x),
    lambda x: _domain(math.cos, x),
    lambda x: _domain(math.tan, x),
    lambda x: _domain(math.asin, x),
    lambda x: _domain(math.acos, x),
    math.atan,
    lambda x: _overflowing(math.sinh, x, True),
    lambda x: _overflowing(math.cosh, x, False),
    math.tanh,
    math.asinh,
    lambda x: _domain(math.acosh, x),
    atanh,
    lambda x: b2d(math.isnan(x)),
    lambda x: b2d(math.isinf(x)),
    lambda x: b2d(math.isfinite(x)),
)

FN2 = (
    math.atan2,
    lambda a, b: _libm.hypot(a, b),
    fmod,
    math.copysign,
)


def exact_sum(values) -> float:
    vals = list(values)
    specials = [v for v in vals if not math.isfinite(v)]
    if specials:
        s = specials[0]
        for v in specials[1:]:
            s = s + v
        return s
    try:
        return math.fsum(vals)
    except OverflowError:   # intermediate overflow: the exact sum, rounded once
        total = sum((Fraction(v) for v in vals), Fraction(0))
        try:
            return float(total)
        except OverflowError:
            return INF if total > 0 else -INF


def exact_mean(values) -> float:
    vals = list(values)
    if not vals:
        return NAN
    specials = [v for v in vals if not math.isfinite(v)]
    if specials:
        return div(exact_sum(specials), float(len(vals)))
    total = sum((Fraction(v) for v in vals), Fraction(0)) / len(vals)
    try:
        return float(total)
    except OverflowError:
        return INF if total > 0 else -INF


def lagg(agg: int, values) -> float:
    vals = list(values)
    if agg == 0:
        return exact_sum(vals)
    if agg == 1:
        return exact_mean(vals)
    if agg in (2, 3):
        if not vals:
            return NAN
        f = minimum if agg == 2 else maximum
        r = vals[0]
        for v in vals[1:]:
            r = f(r, v)
        return r
    return float(len(vals))


def apply(op: str, arg0: int, a: float, b: float = 0.0, c: float = 0.0) -> float:
    """One arith opcode on floats: the reference twin of kiln::core::program::ops::apply."""
    if op == "ADD":
        return a + b
    if op == "SUB":
        return a - b
    if op == "MUL":
        return a * b
    if op == "DIV":
        return div(a, b)
    if op == "POW":
        return c_pow(a, b)
    if op == "NEG":
        return -a
    if op == "SQR":
        return a * a
    if op == "FLOORDIV":
        return floordiv(a, b)
    if op == "MOD":
        return mod(a, b)
    if op == "LT":
        return b2d(a < b)
    if op == "LE":
        return b2d(a <= b)
    if op == "GT":
        return b2d(a > b)
    if op == "GE":
        return b2d(a >= b)
    if op == "EQ":
        return b2d(a == b)
    if op == "NE":
        return b2d(a != b)
    if op == "NOT":
        return b2d(a == 0.0)
    if op == "AND":
        return b if truthy(a) else a
    if op == "OR":
        return a if truthy(a) else b
    if op == "SELECT":
        return b if truthy(a) else c
    if op == "MIN":
        return minimum(a, b)
    if op == "MAX":
        return maximum(a, b)
    if op == "ABS":
        return abs(a)
    if op == "SQRT":
        return sqrt(a)
    if op == "FLOOR":
        return floor(a)
    if op == "CEIL":
        return ceil(a)
    if op == "TRUNC":
        return trunc(a)
    if op == "ROUND":
        return rint(a)
    if op == "ROUNDN":
        return roundn(a, arg0)
    if op == "CLAMP":
        return minimum(maximum(a, b), c)
    if op == "FN1":
        return FN1[arg0](a)
    if op == "FN2":
        return FN2[arg0](a, b)
    raise ValueError(f"not an operator opcode: {op}")
