"""Rollup benchmarks (specs/formula.md C.3): ``python -m kiln.bench stats [--quick] [--only R1,R7] [--out F]``.

One kiln.bench/1 record per case, kiln.stats on one thread against numpy (and, for R7, the
PyAgent-style pure-Python loops) in the same run. Correctness is bitwise agreement with
kiln.stats.reference: on the whole input up to 10^5 values, on a 10^5-value prefix above that (the
reference's exact means use Python integers). Targets are judged only by `kiln bench check`.
"""
from __future__ import annotations

import math
import struct
import sys
from pathlib import Path
from typing import Optional

import numpy as np

import kiln.stats as ks
from kiln.bench import Measurement, make_record, write_record
from kiln.stats import reference as R

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "formula"))
from run import Timer, run_groups  # noqa: E402  (the formula suite's timer and command line)

QS = [0.5, 0.95, 0.99]
CHECK_MAX = 100_000


def same(a, b) -> bool:
    a, b = np.atleast_1d(np.asarray(a, dtype=np.float64)), np.atleast_1d(np.asarray(b, dtype=np.float64))
    return a.shape == b.shape and all((math.isnan(x) and math.isnan(y)) or struct.pack("<d", x) == struct.pack("<d", y)
                                      for x, y in zip(a.tolist(), b.tolist()))


def emit(args, case: str, params: dict, kiln: Measurement, peers: dict, correct: bool, checked: int,
         target: Optional[list], n: int) -> None:
    rec = make_record(bench="stats", case=case, params=params, kiln=kiln, peers=peers,
                      correctness={"method": "bitwise", "reference": "kiln.stats.reference", "items": checked,
                                   "mismatches": 0 if correct else None},
                      correct=correct, quick=args.quick, unit="us", per="call",
                      work={"unit": "values", "count": n}, target=target)
    write_record(rec, out_path=args.out)


def data(n: int, seed: int = 5) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.lognormal(0.0, 1.0, n)
    return x, 0.5 * x + rng.normal(0.0, 1.0, n)


def checked(x: np.ndarray) -> np.ndarray:
    return x if len(x) <= CHECK_MAX else x[:CHECK_MAX]


def sizes(args) -> list:
    return [1_000, 10_000] if args.quick else [1_000, 1_000_000, 10_000_000]


def us(t: Timer, fn) -> list:
    return t.measure(fn, unit_scale=1e6)


def numpy_cases(args, t: Timer) -> None:
    for n in sizes(args):
        x, y = data(n)
        c = checked(x)
        cy = checked(y)
        big = {"values": n, "threads": 1}
        at_million = n == 1_000_000

        # R1: every rollup field against separate numpy calls
        r = ks.rollup(c, threads=1)
        ref = R.rollup(c, QS)
        ok = all(same(getattr(r, k), ref[k]) for k in ("sum", "mean", "min", "max", "stddev")) and \
            same([r.median, r.p95, r.p99], ref["quantiles"])

        def numpy_rollup():
            return (np.sum(x), np.mean(x), np.min(x), np.max(x), np.quantile(x, QS), np.std(x, ddof=1))
        emit(args, f"R1.{n}", big, Measurement("kiln", us(t, lambda: ks.rollup(x, threads=1)), unit="us", correct=ok),
             {"numpy": Measurement("numpy", us(t, numpy_rollup), unit="us", version=np.__version__)}, ok, len(c),
             [{"peer": "numpy", "min_ratio": 1.5}] if at_million else None, n)

        # R2: exact sum against pairwise summation
        ok = same(ks.sum(c), R.exact_sum(c))
        emit(args, f"R2.{n}", big, Measurement("kiln", us(t, lambda: ks.sum(x, threads=1)), unit="us", correct=ok),
             {"numpy": Measurement("numpy", us(t, lambda: np.sum(x)), unit="us", version=np.__version__)}, ok, len(c),
             [{"peer": "numpy", "min_ratio": 0.25}] if at_million else None, n)

        # R3: min and max
        ok = same([ks.min(c), ks.max(c)], [R.minimum(c), R.maximum(c)])
        emit(args, f"R3.{n}", big,
             Measurement("kiln", us(t, lambda: (ks.min(x, threads=1), ks.max(x, threads=1))), unit="us", correct=ok),
             {"numpy": Measurement("numpy", us(t, lambda: (np.min(x), np.max(x))), unit="us", version=np.__version__)},
             ok, len(c), [{"peer": "numpy", "min_ratio": 0.8}] if at_million else None, n)

        # R4: three quantiles by one multi-selection
        ok = same(ks.quantile(c, QS), R.quantiles(c, QS)) and same(ks.quantile(x, QS), np.quantile(x, QS))
        emit(args, f"R4.{n}", big, Measurement("kiln", us(t, lambda: ks.quantile(x, QS, threads=1)), unit="us", correct=ok),
             {"numpy": Measurement("numpy", us(t, lambda: np.quantile(x, QS)), unit="us", version=np.__version__)},
             ok, len(c), [{"peer": "numpy", "min_ratio": 1.0}] if at_million else None, n)

        # R5: pearson
        ok = same(ks.pearson(c, cy), R.pearson(c, cy))
        emit(args, f"R5.{n}", big, Measurement("kiln", us(t, lambda: ks.pearson(x, y)), unit="us", correct=ok),
             {"numpy": Measurement("numpy", us(t, lambda: np.corrcoef(x, y)[0, 1]), unit="us", version=np.__version__)},
             ok, len(c), [{"peer": "numpy", "min_ratio": 1.0}] if at_million else None, n)

        # R6: stddev
        ok = same(ks.stddev(c), R.stddev(c))
        emit(args, f"R6.{n}", big, Measurement("kiln", us(t, lambda: ks.stddev(x, threads=1)), unit="us", correct=ok),
             {"numpy": Measurement("numpy", us(t, lambda: np.std(x, ddof=1)), unit="us", version=np.__version__)},
             ok, len(c), [{"peer": "numpy", "min_ratio": 0.7}] if at_million else None, n)


# -- R7: the PyAgent-style pure-Python loops, restated ---------------------------------------------
def py_sum(v): return sum(v)
def py_avg(v): return sum(v) / len(v) if v else 0.0
def py_min(v): return min(v) if v else 0.0
def py_max(v): return max(v) if v else 0.0
def py_p95(v): return sorted(v)[int(len(v) * 0.95)] if len(v) >= 20 else max(v)


def py_stddev(v):
    if len(v) < 2:
        return 0.0
    m = sum(v) / len(v)
    return math.sqrt(sum((e - m) ** 2 for e in v) / (len(v) - 1))


def py_correlation(a, b):
    n = len(a)
    if n != len(b) or n < 2:
        return 0.0
    ma, mb = sum(a) / n, sum(b) / n
    cov = sum((p - ma) * (q - mb) for p, q in zip(a, b))
    va, vb = sum((p - ma) ** 2 for p in a), sum((q - mb) ** 2 for q in b)
    return cov / math.sqrt(va * vb) if va and vb else 0.0


def loop_cases(args, t: Timer) -> None:
    n = 10_000
    x, y = data(n, seed=9)
    lx, ly = x.tolist(), y.tolist()
    cases = {
        "sum": (lambda: ks.sum(x, threads=1), lambda: py_sum(lx), lambda: same(ks.sum(x), R.exact_sum(x))),
        "mean": (lambda: ks.mean(x, threads=1), lambda: py_avg(lx), lambda: same(ks.mean(x), R.exact_mean(x))),
        "min": (lambda: ks.min(x, threads=1), lambda: py_min(lx), lambda: same(ks.min(x), R.minimum(x))),
        "max": (lambda: ks.max(x, threads=1), lambda: py_max(lx), lambda: same(ks.max(x), R.maximum(x))),
        "p95": (lambda: ks.p95(x, threads=1), lambda: py_p95(lx), lambda: same(ks.p95(x), R.quantiles(x, [0.95])[0])),
        "stddev": (lambda: ks.stddev(x, threads=1), lambda: py_stddev(lx), lambda: same(ks.stddev(x), R.stddev(x))),
        "pearson": (lambda: ks.pearson(x, y), lambda: py_correlation(lx, ly), lambda: same(ks.pearson(x, y), R.pearson(x, y))),
    }
    for stat, (kiln_fn, loop_fn, check) in cases.items():
        ok = bool(check())
        emit(args, f"R7.{stat}", {"values": n, "threads": 1, "statistic": stat},
             Measurement("kiln", us(t, kiln_fn), unit="us", correct=ok,
                         note="kiln reads a float64 array; the loops read a Python list"),
             {"pyagent": Measurement("pyagent-style", us(t, loop_fn), unit="us")}, ok, n,
             [{"peer": "pyagent", "min_ratio": 50}], n)


CASES = {"R1": numpy_cases, "R7": loop_cases}


def main(argv: Optional[list] = None) -> int:
    return run_groups("python -m kiln.bench stats", __doc__.splitlines()[0], CASES,
                      "R1 (R1-R6 against numpy), R7 (Python loops)", argv)


if __name__ == "__main__":
    raise SystemExit(main())
