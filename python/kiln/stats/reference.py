"""Pure-Python reference of kiln.stats (specs/formula.md C.3): numpy, math.fsum and exact integer
arithmetic. The native rollups must equal these functions bit for bit
(``tests/stats/test_stats.py``). Inputs are plain float64 numpy arrays without nulls.
"""
from __future__ import annotations

import math
from fractions import Fraction
from typing import Sequence

import numpy as np

NAN = math.nan


def _exact(values) -> Fraction:
    return sum((Fraction(float(v)) for v in values), Fraction(0))


def _round(f: Fraction) -> float:
    try:
        return float(f)
    except OverflowError:
        return math.inf if f > 0 else -math.inf


def _special(x: np.ndarray):
    """The IEEE sum of the non-finite values, or None when every value is finite."""
    bad = x[~np.isfinite(x)]
    if len(bad) == 0:
        return None
    if np.isnan(bad).any() or (np.isposinf(bad).any() and np.isneginf(bad).any()):
        return NAN
    return float(bad[0])


def exact_sum(x: np.ndarray) -> float:
    """math.fsum, or the correctly rounded exact sum where fsum overflows in between."""
    special = _special(x)
    if special is not None:
        return special
    try:
        return math.fsum(x.tolist())
    except OverflowError:
        return _round(_exact(x.tolist()))


def exact_mean(x: np.ndarray) -> float:
    if len(x) == 0:
        return NAN
    special = _special(x)
    if special is not None:
        return special / len(x)
    return _round(_exact(x.tolist()) / len(x))


def minimum(x: np.ndarray) -> float:
    if len(x) == 0 or np.isnan(x).any():
        return NAN
    v = float(np.min(x))
    if v == 0.0 and np.signbit(x[x == 0]).any():
        return -0.0
    return v


def maximum(x: np.ndarray) -> float:
    if len(x) == 0 or np.isnan(x).any():
        return NAN
    v = float(np.max(x))
    if v == 0.0 and (~np.signbit(x[x == 0])).any():
        return 0.0
    return v


def quantiles(x: np.ndarray, qs: Sequence[float]) -> list[float]:
    """numpy's `linear` quantiles restated: sort (-0.0 before 0.0), h = (n - 1)·q, numpy's
    two-sided lerp, and numpy's t = h + 1 at the last index."""
    n = len(x)
    if n == 0 or np.isnan(x).any():
        return [NAN] * len(qs)
    s = x[np.lexsort((~np.signbit(x), x))]
    out = []
    for q in qs:
        h = float(n - 1) * q
        if h >= n - 1:
            a = b = float(s[n - 1])
            t = h + 1.0
        else:
            lo = math.floor(h)
            a, b, t = float(s[lo]), float(s[lo + 1]), h - lo
        diff = b - a
        out.append(b - diff * (1.0 - t) if t >= 0.5 else a + diff * t)
    return out


def _div(a: float, b: float) -> float:
    """IEEE division (x/0 = ±inf or NaN) instead of Python's ZeroDivisionError."""
    with np.errstate(all="ignore"):
        return float(np.float64(a) / np.float64(b))


def stddev(x: np.ndarray, ddof: int = 1) -> float:
    n = len(x)
    if n <= ddof or np.isnan(x).any():
        return NAN
    m = exact_mean(x)
    with np.errstate(all="ignore"):
        d = x - m
        return math.sqrt(exact_sum(d * d) / (n - ddof))


def pearson(x: np.ndarray, y: np.ndarray) -> float:
    n = len(x)
    if n < 2 or len(y) != n:
        return NAN
    with np.errstate(all="ignore"):
        dx, dy = x - exact_mean(x), y - exact_mean(y)
        r = _div(exact_sum(dx * dy), math.sqrt(exact_sum(dx * dx)) * math.sqrt(exact_sum(dy * dy)))
    return r if math.isnan(r) else min(max(r, -1.0), 1.0)


def rollup(x: np.ndarray, qs: Sequence[float] = (0.5, 0.95, 0.99), ddof: int = 1, skipna: bool = False) -> dict:
    nan_count = int(np.isnan(x).sum())
    if skipna:
        x = x[~np.isnan(x)]
    return {"count": len(x), "nan_count": nan_count, "sum": exact_sum(x), "mean": exact_mean(x),
            "min": minimum(x), "max": maximum(x), "stddev": stddev(x, ddof), "quantiles": quantiles(x, qs)}
