"""Summary statistics and bootstrap intervals of benchmark samples (specs/formula.md C.2).

Bootstrap resampling indices come from the Philox4x64-10 raw stream keyed by the case name and
implementation, so intervals are reproducible run to run and between the native and Python
implementations.
"""
from __future__ import annotations

import hashlib
import math
from typing import Optional, Sequence

import numpy as np

BOOTSTRAP_RESAMPLES = 2000
CONFIDENCE = 0.95


def _philox_indices(name: str, impl: str, n: int, count: int) -> np.ndarray:
    digest = hashlib.sha256((name + impl).encode("utf-8")).digest()
    key = [int.from_bytes(digest[0:8], "little"), int.from_bytes(digest[8:16], "little")]
    raw = np.random.Philox(key=key, counter=[0, 0, 0, 0]).random_raw(count)
    u = (raw >> np.uint64(11)).astype(np.float64) * 2.0 ** -53
    return np.floor(u * n).astype(np.int64)


def bootstrap_medians(samples: Sequence[float], name: str, impl: str,
                      resamples: int = BOOTSTRAP_RESAMPLES) -> np.ndarray:
    """Medians of `resamples` bootstrap resamples, in draw order."""
    x = np.asarray(samples, dtype=np.float64)
    n = len(x)
    idx = _philox_indices(name, impl, n, resamples * n).reshape(resamples, n)
    return np.median(x[idx], axis=1)


def _interval(stats: np.ndarray, confidence: float = CONFIDENCE) -> list:
    s = np.sort(stats)
    b = len(s)
    k = math.ceil(b * (1.0 - confidence) / 2.0)
    return [float(s[k - 1]), float(s[b - k])]


def bootstrap_ci(samples: Sequence[float], name: str, impl: str) -> Optional[list]:
    """95 % bootstrap interval of the median: t(k), t(B + 1 - k) with k = ceil(B·α/2)."""
    if len(samples) < 2:
        return None
    return _interval(bootstrap_medians(samples, name, impl))


def ratio_ci(peer: Sequence[float], kiln: Sequence[float], name: str, peer_impl: str, kiln_impl: str,
             higher_is_better: bool = False) -> Optional[list]:
    """95 % interval of median(peer) / median(kiln) from independent bootstraps of both sides."""
    if len(peer) < 2 or len(kiln) < 2:
        return None
    p = bootstrap_medians(peer, name, peer_impl)
    k = bootstrap_medians(kiln, name, kiln_impl)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = k / p if higher_is_better else p / k
    r = r[np.isfinite(r)]
    if len(r) == 0:
        return None
    return _interval(r)


def summarize(samples: Sequence[float], name: str = "", impl: str = "",
              work_count: float = 1.0) -> dict:
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
    return {
        "n": n,
        "min": float(x.min()),
        "max": float(x.max()),
        "mean": math.fsum(x.tolist()) / n,
        "stddev": float(np.std(x, ddof=1)) if n > 1 else None,
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
