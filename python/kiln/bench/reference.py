"""Pure-Python reference of the benchmark statistics (specs/formula.md C.2).

The native statistics (``kiln::core::bench``, exposed by :mod:`kiln.bench.stats`) must equal these
functions bit for bit; ``tests/bench/test_stats_parity.py`` checks it on random samples. Every
step is written so that its rounding is fixed: sums are exact (``math.fsum``, integers), the mean
is rounded once, quantiles are numpy's ``linear`` method, and the bootstrap draws its indices from
``numpy.random.Philox`` keyed by the case name and implementation.
"""
from __future__ import annotations

import hashlib
import math
from fractions import Fraction
from typing import Optional, Sequence

import numpy as np

BOOTSTRAP_RESAMPLES = 2000
ALPHA = 0.05
EXACT_MAX_N = 20


def exact_mean(values: Sequence[float]) -> float:
    """The exact sum of the values divided by their count, rounded once (NaN/inf as IEEE)."""
    vals = [float(v) for v in values]
    if not vals:
        return math.nan
    if not all(math.isfinite(v) for v in vals):
        s = math.nan if any(math.isnan(v) for v in vals) else sum(v for v in vals if not math.isfinite(v))
        return s / len(vals)
    total = sum((Fraction(v) for v in vals), Fraction(0))
    return float(total / len(vals))


def _philox_indices(name: str, impl: str, n: int, count: int) -> np.ndarray:
    digest = hashlib.sha256((name + impl).encode("utf-8")).digest()
    # As a uint64 array: a list of Python ints with one word >= 2^63 and one below would become
    # float64 in numpy and round the key.
    key = np.array([int.from_bytes(digest[0:8], "little"), int.from_bytes(digest[8:16], "little")], dtype=np.uint64)
    raw = np.random.Philox(key=key, counter=[0, 0, 0, 0]).random_raw(count)
    u = (raw >> np.uint64(11)).astype(np.float64) * 2.0 ** -53
    return np.floor(u * n).astype(np.int64)


def bootstrap_medians(samples: Sequence[float], name: str, impl: str,
                      resamples: int = BOOTSTRAP_RESAMPLES) -> np.ndarray:
    """numpy.median of each of `resamples` bootstrap resamples, in draw order."""
    x = np.asarray(samples, dtype=np.float64)
    n = len(x)
    if n == 0:
        return np.full(resamples, np.nan)
    idx = _philox_indices(name, impl, n, resamples * n).reshape(resamples, n)
    return np.median(x[idx], axis=1)


def interval(stats: np.ndarray, alpha: float = ALPHA) -> Optional[list]:
    """t(k), t(B + 1 - k) of the sorted statistics with k = ceil(B·α/2) (95 %: t(50), t(1951)).

    α is taken as given: 1 - 0.95 is 0.050000000000000044 in binary and would make k = 51."""
    s = np.sort(np.asarray(stats, dtype=np.float64))
    b = len(s)
    if b == 0:
        return None
    k = min(max(math.ceil(b * alpha / 2.0), 1), b)
    return [float(s[k - 1]), float(s[b - k])]


def bootstrap_ci(samples: Sequence[float], name: str, impl: str) -> Optional[list]:
    """95 % bootstrap interval of the median; None below 2 samples."""
    if len(samples) < 2:
        return None
    return interval(bootstrap_medians(samples, name, impl))


def ratio_ci(peer: Sequence[float], kiln: Sequence[float], name: str, peer_impl: str, kiln_impl: str,
             higher_is_better: bool = False) -> Optional[list]:
    """95 % interval of median(peer) / median(kiln) from independent bootstraps of both sides."""
    if len(peer) < 2 or len(kiln) < 2:
        return None
    p = bootstrap_medians(peer, name, peer_impl)
    k = bootstrap_medians(kiln, name, kiln_impl)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = k / p if higher_is_better else p / k
    return interval(r[np.isfinite(r)])


def summarize(samples: Sequence[float], name: str = "", impl: str = "", work_count: float = 1.0) -> dict:
    """n, min, max, mean, stddev (n-1), median, MAD, quartiles, IQR, p95, Tukey outlier counts
    (counted, never removed), ci95 of the median, cost per unit of work and throughput."""
    x = np.asarray(samples, dtype=np.float64)
    n = len(x)
    if n == 0:
        return {"n": 0}
    q1, median, q3, p95 = (float(v) for v in np.percentile(x, [25, 50, 75, 95]))
    iqr = q3 - q1
    mild = int(np.sum((x < q1 - 1.5 * iqr) | (x > q3 + 1.5 * iqr)))
    severe = int(np.sum((x < q1 - 3 * iqr) | (x > q3 + 3 * iqr)))
    mean = exact_mean(x.tolist())
    d = x - mean
    return {
        "n": n,
        "min": float(x.min()),
        "max": float(x.max()),
        "mean": mean,
        "stddev": math.sqrt(math.fsum((d * d).tolist()) / (n - 1)) if n > 1 else None,
        "median": median,
        "mad": float(np.median(np.abs(x - median))),
        "q1": q1,
        "q3": q3,
        "iqr": iqr,
        "p95": p95,
        "outliers_mild": mild - severe,
        "outliers_severe": severe,
        "ci95": bootstrap_ci(x, name, impl),
        "cost_per_unit": median / work_count if work_count else None,
        "throughput": work_count / median if median > 0 else None,
    }


# -- Mann–Whitney U -------------------------------------------------------------------------------
def _ranks(values: Sequence[float]) -> tuple[np.ndarray, list[int]]:
    """Mid-ranks (1-based) and the sizes of tie groups."""
    x = np.asarray(values, dtype=np.float64)
    order = np.argsort(x, kind="mergesort")
    ranks = np.empty(len(x), dtype=np.float64)
    ties = []
    i = 0
    while i < len(x):
        j = i
        while j + 1 < len(x) and x[order[j + 1]] == x[order[i]]:
            j += 1
        ranks[order[i:j + 1]] = (i + j + 2) / 2.0
        if j > i:
            ties.append(j - i + 1)
        i = j + 1
    return ranks, ties


def _exact_sf(u: int, n1: int, n2: int) -> float:
    """P(U >= u) under H0, from the exact distribution (counts of U over all arrangements)."""
    # counts[k] for sample sizes (i, j), built by the recurrence f(i, j, k) = f(i-1, j, k-j) + f(i, j-1, k)
    maxu = n1 * n2
    prev = [[1] + [0] * maxu for _ in range(n2 + 1)]   # i = 0: U = 0 for any j
    for i in range(1, n1 + 1):
        cur = [[0] * (maxu + 1) for _ in range(n2 + 1)]
        cur[0][0] = 1
        for j in range(1, n2 + 1):
            a, b, row = prev[j], cur[j - 1], cur[j]
            for k in range(maxu + 1):
                row[k] = (a[k - j] if k >= j else 0) + b[k]
        prev = cur
    counts = prev[n2]
    total = math.comb(n1 + n2, n1)
    return sum(counts[u:]) / total


def mann_whitney(a: Sequence[float], b: Sequence[float]) -> tuple[float, float]:
    """Two-sided Mann–Whitney U with mid-ranks: (U of a, p). Exact when both samples have at most
    20 values and no ties; else the normal approximation with tie and continuity corrections,
    p = erfc(|z|/√2) (scipy.stats.mannwhitneyu's conventions)."""
    n1, n2 = len(a), len(b)
    if n1 == 0 or n2 == 0:
        return math.nan, math.nan
    ranks, ties = _ranks(list(a) + list(b))
    r1 = float(np.sum(ranks[:n1]))
    u1 = r1 - n1 * (n1 + 1) / 2.0
    u2 = n1 * n2 - u1
    big = max(u1, u2)
    if n1 <= EXACT_MAX_N and n2 <= EXACT_MAX_N and not ties:
        p = 2.0 * _exact_sf(int(round(big)), n1, n2)
        return u1, min(1.0, p)
    n = n1 + n2
    tie_term = sum(t ** 3 - t for t in ties) / (n * (n - 1))
    var = n1 * n2 / 12.0 * ((n + 1) - tie_term)
    if var <= 0:
        return u1, 1.0
    z = (big - n1 * n2 / 2.0 - 0.5) / math.sqrt(var)
    return u1, min(1.0, math.erfc(max(z, 0.0) / math.sqrt(2.0)))
