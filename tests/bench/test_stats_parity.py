"""Native benchmark statistics (kiln::core::bench via kiln.bench.stats) against the pure-Python
reference (kiln.bench.reference), bit for bit, and against scipy (specs/formula.md D.29)."""
from __future__ import annotations

import math
import struct

import numpy as np
import pytest

from kiln.bench import reference as R
from kiln.bench import stats as S


def bits(v):
    """A value's identity for bitwise comparison: None, a list of those, or the double's bits."""
    if v is None:
        return None
    if isinstance(v, list):
        return [bits(x) for x in v]
    if isinstance(v, float) and math.isnan(v):
        return "nan"
    if isinstance(v, int) and not isinstance(v, bool):
        return ("int", v)
    return struct.pack("<d", v).hex()


def random_samples(rng, n):
    kind = rng.integers(0, 4)
    if kind == 0:   # timings: lognormal around a median, 1 % to 30 % noise
        x = rng.lognormal(mean=rng.uniform(-5, 5), sigma=rng.uniform(0.01, 0.3), size=n)
    elif kind == 1:  # coarse timer: many ties
        x = np.round(rng.uniform(100, 110, size=n))
    elif kind == 2:  # heavy tail: a few huge outliers
        x = rng.uniform(1, 2, size=n)
        x[rng.integers(0, n, size=max(1, n // 10))] *= 1e3
    else:           # wide dynamic range
        x = np.exp(rng.uniform(-30, 30, size=n))
    return x.tolist()


@pytest.mark.parametrize("seed", range(40))
def test_summary_equals_reference_bitwise(seed):
    rng = np.random.default_rng(1000 + seed)
    n = int(rng.choice([1, 2, 3, 5, 7, 15, 16, 41, 200]))
    x = random_samples(rng, n)
    name, impl, work = f"suite/case{seed}", "kiln", float(rng.choice([1.0, 678.0, 0.0]))
    native, ref = S.summarize(x, name, impl, work), R.summarize(x, name, impl, work)
    assert native.keys() == ref.keys()
    for key in ref:
        assert bits(native[key]) == bits(ref[key]), (key, native[key], ref[key])


@pytest.mark.parametrize("seed", range(20))
def test_bootstrap_medians_and_intervals_bitwise(seed):
    rng = np.random.default_rng(2000 + seed)
    x = random_samples(rng, int(rng.integers(1, 60)))
    y = random_samples(rng, int(rng.integers(1, 60)))
    m_native = S.bootstrap_medians(x, "b/c", "kiln", 257)
    m_ref = R.bootstrap_medians(x, "b/c", "kiln", 257)
    assert m_native.view(np.uint64).tolist() == m_ref.view(np.uint64).tolist()
    assert bits(S.bootstrap_ci(x, "b/c", "kiln")) == bits(R.bootstrap_ci(x, "b/c", "kiln"))
    for higher in (False, True):
        assert bits(S.ratio_ci(x, y, "b/c", "peer", "kiln", higher)) == \
            bits(R.ratio_ci(x, y, "b/c", "peer", "kiln", higher))


def test_interval_takes_t50_and_t1951():
    # 2,000 statistics 1..2000: the spec's 95 % interval is t(50), t(1951), not t(51), t(1950).
    stats = np.arange(2000, 0, -1, dtype=np.float64)
    assert R.interval(stats) == [50.0, 1951.0]


def test_bootstrap_depends_on_name_and_impl():
    x = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]
    a = S.bootstrap_medians(x, "s/c", "kiln")
    assert not np.array_equal(a, S.bootstrap_medians(x, "s/c", "reference"))
    assert np.array_equal(a, S.bootstrap_medians(x, "s/c", "kiln"))


@pytest.mark.parametrize("seed", range(60))
def test_mann_whitney_equals_reference_bitwise(seed):
    rng = np.random.default_rng(3000 + seed)
    n1, n2 = (int(v) for v in rng.integers(1, 31, size=2))
    if seed % 3 == 0:   # ties: the normal approximation
        a, b = np.round(rng.normal(10, 2, n1)), np.round(rng.normal(11, 2, n2))
    else:
        a, b = rng.normal(10, 2, n1), rng.normal(10 + seed % 4 * 0.5, 2, n2)
    assert bits(list(S.mann_whitney(a, b))) == bits(list(R.mann_whitney(a, b)))


def test_mann_whitney_empty_side_is_nan():
    u, p = S.mann_whitney([], [1.0, 2.0])
    assert math.isnan(u) and math.isnan(p)


@pytest.mark.parametrize("seed", range(60))
def test_mann_whitney_matches_scipy(seed):
    """D.29: p-values within 1e-12 of scipy.stats.mannwhitneyu (scipy from the `test` extra)."""
    scipy_stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(4000 + seed)
    n1, n2 = (int(v) for v in rng.integers(1, 31, size=2))
    ties = seed % 3 == 0
    if ties:
        a, b = np.round(rng.normal(10, 2, n1)), np.round(rng.normal(11, 2, n2))
    else:
        a, b = rng.normal(10, 2, n1), rng.normal(10.5, 2, n2)
    has_ties = len(np.unique(np.concatenate([a, b]))) < n1 + n2
    exact = n1 <= 20 and n2 <= 20 and not has_ties
    u, p = S.mann_whitney(a, b)
    ref = scipy_stats.mannwhitneyu(a, b, alternative="two-sided", use_continuity=True,
                                   method="exact" if exact else "asymptotic")
    assert u == pytest.approx(float(ref.statistic), abs=1e-9)
    assert abs(p - float(ref.pvalue)) <= 1e-12, (n1, n2, exact, p, ref.pvalue)
