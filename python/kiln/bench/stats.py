"""Summary statistics, bootstrap intervals and the Mann–Whitney test of benchmark samples
(specs/formula.md C.2), computed natively by ``kiln::core::bench``.

Each function equals its namesake in :mod:`kiln.bench.reference` bit for bit. Bootstrap resampling
indices come from the Philox4x64-10 raw stream keyed by the case name and implementation, so
intervals are reproducible run to run and between the native and Python implementations.
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from kiln import _kiln
from kiln.bench.reference import BOOTSTRAP_RESAMPLES

__all__ = ["summarize", "bootstrap_medians", "bootstrap_ci", "ratio_ci", "mann_whitney", "BOOTSTRAP_RESAMPLES"]


def _f64(samples: Sequence[float]) -> np.ndarray:
    return np.ascontiguousarray(samples, dtype=np.float64).reshape(-1)


def summarize(samples: Sequence[float], name: str = "", impl: str = "", work_count: float = 1.0) -> dict:
    """n, min, max, mean (exact, rounded once), stddev (n-1), median, MAD, quartiles, IQR, p95, Tukey
    outlier counts (counted, never removed), ci95 of the median, cost per unit of work, throughput."""
    return _kiln.bench_summarize(_f64(samples), name, impl, float(work_count))


def bootstrap_medians(samples: Sequence[float], name: str, impl: str,
                      resamples: int = BOOTSTRAP_RESAMPLES) -> np.ndarray:
    """Medians of `resamples` bootstrap resamples, in draw order."""
    return np.asarray(_kiln.bench_bootstrap_medians(_f64(samples), name, impl, int(resamples)), dtype=np.float64)


def bootstrap_ci(samples: Sequence[float], name: str, impl: str) -> Optional[list]:
    """95 % bootstrap interval of the median: t(k), t(B + 1 - k) with k = ceil(B·α/2)."""
    return _kiln.bench_bootstrap_ci(_f64(samples), name, impl)


def ratio_ci(peer: Sequence[float], kiln: Sequence[float], name: str, peer_impl: str, kiln_impl: str,
             higher_is_better: bool = False) -> Optional[list]:
    """95 % interval of median(peer) / median(kiln) from independent bootstraps of both sides."""
    return _kiln.bench_ratio_ci(_f64(peer), _f64(kiln), name, peer_impl, kiln_impl, bool(higher_is_better))


def mann_whitney(a: Sequence[float], b: Sequence[float]) -> tuple[float, float]:
    """Two-sided Mann–Whitney U with mid-ranks: (U of a, p). Exact distribution when both samples
    have at most 20 values and no ties, else the normal approximation with tie and continuity
    corrections (scipy.stats.mannwhitneyu's conventions)."""
    return _kiln.bench_mann_whitney(_f64(a), _f64(b))
