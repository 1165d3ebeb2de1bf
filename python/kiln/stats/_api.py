"""kiln.stats: exactly rounded, NaN-aware metric rollups computed natively (specs/formula.md C.3).

Every statistic is exactly defined, so the result does not depend on chunking or the thread count:
sums are exactly rounded (math.fsum's bits), the mean is the exact sum divided by n rounded once
(so min <= mean <= max), min/max follow IEEE 754-2019 (NaN propagates, -0.0 < 0.0), quantiles are
numpy's ``linear`` method bit for bit, stddev = sqrt(fsum((x - mean)²) / (n - ddof)).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence, Union

import numpy as np

from kiln import _kiln
from kiln._threads import resolve
from kiln.errors import make_error
from kiln.stats._inputs import as_chunks

__all__ = ["Rollup", "sum", "mean", "min", "max", "median", "p95", "p99", "quantile", "stddev", "pearson", "rollup"]

DEFAULT_QUANTILES = (0.5, 0.95, 0.99)


@dataclass(frozen=True)
class Rollup:
    """Every rollup statistic of one input. ``count`` counts the values the statistics cover (NaNs
    excluded under ``skipna``); ``null_count`` the Arrow nulls skipped; ``nan_count`` the NaNs seen."""

    count: int
    null_count: int
    nan_count: int
    sum: float
    mean: float
    min: float
    max: float
    median: float
    p95: float
    p99: float
    stddev: float
    quantiles: dict = field(default_factory=dict)


def _run(x: Any, *, stat: str, quantiles: Sequence[float] = (), sum: bool = False, extremes: bool = False,
         stddev: bool = False, ddof: int = 1, skipna: bool, strict: bool, threads: Optional[int]):
    chunks, nulls = as_chunks(x)
    out = _kiln.stats_rollup(chunks, [float(q) for q in quantiles], sum, extremes, stddev, int(ddof), bool(skipna),
                             bool(strict), resolve(threads), stat)
    return out, nulls


def sum(x: Any, *, skipna: bool = False, strict: bool = False, threads: Optional[int] = None) -> float:
    """Exactly rounded sum (math.fsum's bits, never an intermediate overflow); 0.0 when empty."""
    (_, _, s, *_), _ = _run(x, stat="sum", sum=True, skipna=skipna, strict=strict, threads=threads)
    return s


def mean(x: Any, *, skipna: bool = False, strict: bool = False, threads: Optional[int] = None) -> float:
    """Exact sum divided by n, rounded once: always within [min, max]."""
    (_, _, _, m, *_), _ = _run(x, stat="mean", sum=True, skipna=skipna, strict=strict, threads=threads)
    return m


def min(x: Any, *, skipna: bool = False, strict: bool = False, threads: Optional[int] = None) -> float:
    """IEEE 754-2019 minimum: NaN propagates, -0.0 < 0.0."""
    r, _ = _run(x, stat="min", extremes=True, skipna=skipna, strict=strict, threads=threads)
    return r[4]


def max(x: Any, *, skipna: bool = False, strict: bool = False, threads: Optional[int] = None) -> float:
    """IEEE 754-2019 maximum: NaN propagates, -0.0 < 0.0."""
    r, _ = _run(x, stat="max", extremes=True, skipna=skipna, strict=strict, threads=threads)
    return r[5]


def quantile(x: Any, q: Union[float, Sequence[float]], *, skipna: bool = False, strict: bool = False,
             threads: Optional[int] = None) -> Union[float, np.ndarray]:
    """numpy.quantile(x, q) (method ``linear``) bit for bit, by selection rather than a sort. A
    sequence of quantiles gives a float64 array."""
    scalar = np.ndim(q) == 0
    qs = [float(q)] if scalar else [float(v) for v in q]
    r, _ = _run(x, stat="quantile", quantiles=qs, skipna=skipna, strict=strict, threads=threads)
    return r[7][0] if scalar else np.asarray(r[7], dtype=np.float64)


def median(x: Any, *, skipna: bool = False, strict: bool = False, threads: Optional[int] = None) -> float:
    """The 0.5 quantile (numpy ``linear``; for an even count it may differ from numpy.median's
    (a + b) / 2 in the last bit)."""
    return quantile(x, 0.5, skipna=skipna, strict=strict, threads=threads)


def p95(x: Any, *, skipna: bool = False, strict: bool = False, threads: Optional[int] = None) -> float:
    """The 0.95 quantile (numpy ``linear``)."""
    return quantile(x, 0.95, skipna=skipna, strict=strict, threads=threads)


def p99(x: Any, *, skipna: bool = False, strict: bool = False, threads: Optional[int] = None) -> float:
    """The 0.99 quantile (numpy ``linear``)."""
    return quantile(x, 0.99, skipna=skipna, strict=strict, threads=threads)


def stddev(x: Any, ddof: int = 1, *, skipna: bool = False, strict: bool = False,
           threads: Optional[int] = None) -> float:
    """sqrt(fsum((x - mean)²) / (n - ddof)) with the exact mean; NaN when n <= ddof."""
    r, _ = _run(x, stat="stddev", sum=True, stddev=True, ddof=ddof, skipna=skipna, strict=strict, threads=threads)
    return r[6]


def rollup(x: Any, quantiles: Sequence[float] = DEFAULT_QUANTILES, *, ddof: int = 1, skipna: bool = False,
           strict: bool = False, threads: Optional[int] = None) -> Rollup:
    """All statistics in two passes over the data (one for sums and extremes, one for the
    deviations) plus one multi-selection for the quantiles."""
    qs = list(DEFAULT_QUANTILES) + [float(q) for q in quantiles]
    (count, nan_count, s, m, lo, hi, sd, qv), nulls = _run(
        x, stat="rollup", quantiles=qs, sum=True, extremes=True, stddev=True, ddof=ddof, skipna=skipna, strict=strict,
        threads=threads)
    return Rollup(count=count, null_count=nulls, nan_count=nan_count, sum=s, mean=m, min=lo, max=hi,
                  median=qv[0], p95=qv[1], p99=qv[2], stddev=sd,
                  quantiles={float(q): v for q, v in zip(quantiles, qv[3:])})


def _aligned(v: Any) -> tuple[np.ndarray, Optional[np.ndarray]]:
    """Float64 values of a pearson input and its Arrow null mask (None without nulls)."""
    try:
        import pyarrow as pa
    except ImportError:  # pragma: no cover - pyarrow is a dependency
        pa = None
    if pa is not None and isinstance(v, (pa.Array, pa.ChunkedArray)) and v.null_count:
        mask = np.asarray(v.is_null().to_numpy(zero_copy_only=False), dtype=bool)
        chunks, _ = as_chunks(v.fill_null(0))
        return np.concatenate(chunks), mask
    chunks, _ = as_chunks(v)
    return (chunks[0] if len(chunks) == 1 else np.concatenate(chunks)), None


def _pair(x: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    """Aligned float64 arrays of x and y without the pairs that have a null on either side."""
    (a, na), (b, nb) = _aligned(x), _aligned(y)
    if len(a) != len(b):
        raise make_error(6101, n=len(a), m=len(b))
    if na is not None or nb is not None:
        keep = ~((na if na is not None else np.zeros(len(a), bool)) | (nb if nb is not None else np.zeros(len(b), bool)))
        a, b = a[keep], b[keep]
    return a, b


def pearson(x: Any, y: Any, *, skipna: bool = False, strict: bool = False, threads: Optional[int] = None) -> float:
    """Pearson's r = fsum(dx·dy) / (sqrt(fsum(dx²))·sqrt(fsum(dy²))) with exact means, clamped to
    [-1, 1]. Pairs with a null on either side are dropped, pairs with a NaN too under ``skipna``.
    Unequal lengths always raise STATS_LENGTH_MISMATCH."""
    del threads  # one pass over two arrays: not worth threads (the result would be the same)
    a, b = _pair(x, y)
    if skipna:
        ok = ~(np.isnan(a) | np.isnan(b))
        if not ok.all():
            a, b = a[ok], b[ok]
    if strict:
        if len(a) == 0:
            raise make_error(6102, stat="pearson")
        for arr in (a, b):
            bad = np.flatnonzero(~np.isfinite(arr))
            if len(bad):
                v = float(arr[bad[0]])
                raise make_error(6103, kind="nan" if math.isnan(v) else ("inf" if v > 0 else "-inf"), index=int(bad[0]))
        if len(a) < 2:
            raise make_error(6106, stat="pearson", reason="needs at least 2 pairs")
    r = _kiln.stats_pearson(np.ascontiguousarray(a), np.ascontiguousarray(b))
    if strict and math.isnan(r):
        raise make_error(6106, stat="pearson", reason="x or y has zero variance")
    return r

