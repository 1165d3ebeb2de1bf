"""The PyAgent rollup rules (StatsRollupCore, CorrelationCore) over the native kiln.stats code, for
migrating callers (specs/formula.md C.3). New code should call :mod:`kiln.stats` directly: these
functions return 0.0 where the originals did, hiding empty or degenerate input.

Values come from the native statistics (exact sums, once-rounded means), so they may differ from
the source's naive loops in the last bit; the rules for empty input, small samples and the
``sorted[int(n·q)]`` percentile indices are the source's.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from kiln.stats import _api as ks
from kiln.stats._inputs import as_chunks

__all__ = ["rollup_sum", "rollup_avg", "rollup_min", "rollup_max", "rollup_p50", "rollup_p95", "rollup_p99",
           "rollup_stddev", "calculate_correlation"]


def _values(x: Any) -> np.ndarray:
    chunks, _ = as_chunks(x)
    return chunks[0] if len(chunks) == 1 else np.concatenate(chunks)


def rollup_sum(values: Sequence[float]) -> float:
    """Exactly rounded sum; 0.0 when empty."""
    return ks.sum(values)


def rollup_avg(values: Sequence[float]) -> float:
    """Mean; 0.0 when empty."""
    x = _values(values)
    return ks.mean(x) if len(x) else 0.0


def rollup_min(values: Sequence[float]) -> float:
    """Minimum; 0.0 when empty."""
    x = _values(values)
    return ks.min(x) if len(x) else 0.0


def rollup_max(values: Sequence[float]) -> float:
    """Maximum; 0.0 when empty."""
    x = _values(values)
    return ks.max(x) if len(x) else 0.0


def rollup_p50(values: Sequence[float]) -> float:
    """Median (kiln.stats.median); 0.0 when empty."""
    x = _values(values)
    return ks.median(x) if len(x) else 0.0


def _sorted_at(x: np.ndarray, q: float, minimum_n: int) -> float:
    n = len(x)
    if n == 0:
        return 0.0
    if n < minimum_n:
        return ks.max(x)
    k = int(n * q)   # the source's index into the sorted values (always < n)
    return float(np.partition(x, k)[k])


def rollup_p95(values: Sequence[float]) -> float:
    """sorted(values)[int(n·0.95)]; the maximum below 20 values; 0.0 when empty."""
    return _sorted_at(_values(values), 0.95, 20)


def rollup_p99(values: Sequence[float]) -> float:
    """sorted(values)[int(n·0.99)]; the maximum below 100 values; 0.0 when empty."""
    return _sorted_at(_values(values), 0.99, 100)


def rollup_stddev(values: Sequence[float]) -> float:
    """Sample standard deviation (n - 1); 0.0 below 2 values."""
    x = _values(values)
    return ks.stddev(x) if len(x) >= 2 else 0.0


def calculate_correlation(x: Sequence[float], y: Sequence[float]) -> float:
    """Pearson's r; 0.0 for unequal lengths, fewer than 2 pairs or zero variance."""
    a, b = _values(x), _values(y)
    if len(a) != len(b) or len(a) < 2:
        return 0.0
    r = ks.pearson(a, b)
    return 0.0 if math.isnan(r) else r
