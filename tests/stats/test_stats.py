"""kiln.stats (specs/formula.md C.3, D.32): native rollups against the pure-Python reference (bit
for bit), against numpy (within tolerance, bitwise for min/max/quantiles), for threads 1 and 2."""
from __future__ import annotations

import math
import struct

import numpy as np
import pyarrow as pa
import pytest

import kiln.stats as ks
from kiln.errors import KilnError
from kiln.stats import compat
from kiln.stats import reference as R

QS = [0.0, 0.25, 0.5, 0.95, 0.99, 1.0, 1 / 3]


def bits(v):
    if isinstance(v, float) and math.isnan(v):
        return "nan"
    if isinstance(v, (list, tuple, np.ndarray)):
        return [bits(float(x)) for x in v]
    return struct.pack("<d", v).hex() if isinstance(v, float) else v


def random_array(rng, n, specials=True):
    kind = int(rng.integers(0, 6))
    if kind == 0:
        x = rng.normal(0, 1, n)
    elif kind == 1:   # huge dynamic range and cancellation
        x = rng.normal(0, 1, n) * 10.0 ** rng.integers(-300, 300, n)
    elif kind == 2:   # duplicates
        x = np.round(rng.normal(0, 3, n))
    elif kind == 3:   # near overflow: naive sums overflow in between
        x = rng.choice([1e308, -1e308, 5e307, 1.0], n)
    elif kind == 4:   # one repeated value: naive means leave [min, max]
        x = np.full(n, rng.choice([0.1, 1 / 3, 7e-310, 2.2]))
    else:
        x = rng.uniform(-1, 1, n)
    if specials and n and rng.random() < 0.3:
        x[rng.integers(0, n, max(1, n // 50))] = rng.choice([np.nan, np.inf, -np.inf, -0.0, 0.0])
    return x.astype(np.float64)


@pytest.mark.parametrize("seed", range(80))
def test_rollup_equals_reference_bitwise(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.choice([0, 1, 2, 3, 10, 101, 1000]))
    x = random_array(rng, n)
    for skipna in (False, True):
        got = ks.rollup(x, quantiles=QS, skipna=skipna)
        ref = R.rollup(x, [0.5, 0.95, 0.99] + QS, skipna=skipna)
        assert got.count == ref["count"] and got.nan_count == ref["nan_count"]
        for key in ("sum", "mean", "min", "max", "stddev"):
            assert bits(getattr(got, key)) == bits(ref[key]), (key, skipna, getattr(got, key), ref[key])
        assert bits([got.median, got.p95, got.p99] + list(got.quantiles.values())) == bits(ref["quantiles"])


@pytest.mark.parametrize("seed", range(30))
def test_single_statistics_equal_reference(seed):
    rng = np.random.default_rng(100 + seed)
    x = random_array(rng, int(rng.integers(2, 500)), specials=False)
    assert bits(ks.sum(x)) == bits(R.exact_sum(x))
    assert bits(ks.mean(x)) == bits(R.exact_mean(x))
    assert bits(ks.min(x)) == bits(R.minimum(x)) and bits(ks.max(x)) == bits(R.maximum(x))
    assert bits(ks.median(x)) == bits(R.quantiles(x, [0.5])[0])
    assert bits(ks.p95(x)) == bits(R.quantiles(x, [0.95])[0])
    assert bits(ks.p99(x)) == bits(R.quantiles(x, [0.99])[0])
    assert bits(ks.quantile(x, [0.1, 0.9])) == bits(R.quantiles(x, [0.1, 0.9]))
    assert bits(ks.stddev(x, ddof=0)) == bits(R.stddev(x, 0))
    y = x * rng.normal(1, 0.1, len(x)) + rng.normal(0, 1, len(x))
    assert bits(ks.pearson(x, y)) == bits(R.pearson(x, y))


@pytest.mark.parametrize("seed", range(20))
def test_numpy_agrees_within_tolerance_and_bitwise_on_order_statistics(seed):
    rng = np.random.default_rng(200 + seed)
    n = int(rng.integers(2, 5000))
    x = rng.normal(rng.uniform(-10, 10), rng.uniform(0.1, 10), n)
    y = 0.5 * x + rng.normal(0, 1, n)
    assert ks.sum(x) == pytest.approx(np.sum(x), rel=1e-12, abs=1e-12)
    assert ks.mean(x) == pytest.approx(np.mean(x), rel=1e-12, abs=1e-12)
    assert ks.stddev(x) == pytest.approx(np.std(x, ddof=1), rel=1e-12)
    assert ks.pearson(x, y) == pytest.approx(np.corrcoef(x, y)[0, 1], rel=1e-12)
    assert bits(ks.min(x)) == bits(float(np.min(x))) and bits(ks.max(x)) == bits(float(np.max(x)))
    assert bits(ks.quantile(x, QS)) == bits(np.quantile(x, QS))
    assert bits(ks.median(x)) == bits(float(np.quantile(x, 0.5)))


def test_threads_one_and_two_identical():
    rng = np.random.default_rng(7)
    x = random_array(rng, 300_000, specials=False)
    x[::97] *= 1e200
    chunked = pa.chunked_array([x[:1], x[1:123_457], x[123_457:]])
    one = ks.rollup(x, threads=1)
    two = ks.rollup(chunked, threads=2)
    for key in ("count", "sum", "mean", "min", "max", "median", "p95", "p99", "stddev"):
        assert bits(getattr(one, key)) == bits(getattr(two, key)), key
    assert bits(one.sum) == bits(R.exact_sum(x))


def test_mean_within_min_max_on_10000_inputs():
    rng = np.random.default_rng(11)
    for i in range(10_000):
        n = int(rng.integers(1, 40))
        if i % 3 == 0:
            x = np.full(n, rng.choice([0.1, 1 / 3, 2 / 3, 1e-310, 0.7, 1.1]))
        else:
            x = rng.normal(0, 1, n) * 10.0 ** rng.integers(-300, 300)
        r = ks.rollup(x, quantiles=())
        assert r.min <= r.mean <= r.max, x


def test_inputs_arrow_lists_bools_and_ints():
    arr = pa.chunked_array([[1.0, None, 3.0], [None, 5.0]])
    r = ks.rollup(arr)
    assert (r.count, r.null_count, r.sum, r.min, r.max) == (3, 2, 9.0, 1.0, 5.0)
    assert ks.sum([1, 2, 3]) == 6.0 and ks.sum(np.array([True, False, True])) == 2.0
    assert ks.mean(pa.array([1, 2, 3, 4], pa.int8())) == 2.5
    assert ks.sum([]) == 0.0 and math.isnan(ks.mean([])) and math.isnan(ks.median(np.empty(0)))


def test_nan_propagates_unless_skipna():
    x = [1.0, float("nan"), 3.0]
    assert math.isnan(ks.sum(x)) and math.isnan(ks.min(x)) and math.isnan(ks.median(x))
    assert ks.sum(x, skipna=True) == 4.0 and ks.median(x, skipna=True) == 2.0
    r = ks.rollup(x, skipna=True)
    assert (r.count, r.nan_count) == (2, 1)


def test_minimum_orders_signed_zeros():
    assert bits(ks.min([0.0, -0.0])) == bits(-0.0) and bits(ks.max([-0.0, 0.0])) == bits(0.0)


def test_errors_carry_catalog_codes():
    with pytest.raises(KilnError) as e:
        ks.pearson([1.0, 2.0, 3.0], [2.0, 4.0])
    assert e.value.code == "K6101" and isinstance(e.value, ValueError)
    with pytest.raises(TypeError) as e:
        ks.mean(np.ones((3, 3)))
    assert e.value.code == "K6105"
    for bad in ("abc", {"a": 1}, [1.0, "2"], np.array([1j])):
        with pytest.raises(KilnError, match="K6105"):
            ks.sum(bad)
    with pytest.raises(KilnError, match="K6104"):
        ks.quantile([1.0], 95)
    with pytest.raises(KilnError, match="K6102"):
        ks.mean([], strict=True)
    with pytest.raises(KilnError, match="K6103") as e:
        ks.sum([1.0, float("nan")], strict=True)
    assert "index 1" in str(e.value)
    with pytest.raises(KilnError, match="K6106"):
        ks.stddev([1.0], strict=True)
    with pytest.raises(KilnError, match="K6106"):
        ks.pearson([1.0, 1.0, 1.0], [1.0, 2.0, 3.0], strict=True)
    assert math.isnan(ks.pearson([1.0, 1.0, 1.0], [1.0, 2.0, 3.0]))
    assert ks.sum([1.0, float("nan")], skipna=True, strict=True) == 1.0


def test_pearson_drops_null_pairs():
    x = pa.array([1.0, 2.0, None, 4.0, 5.0])
    y = pa.array([2.0, 4.1, 9.0, None, 10.0])
    assert bits(ks.pearson(x, y)) == bits(R.pearson(np.array([1.0, 2.0, 5.0]), np.array([2.0, 4.1, 10.0])))


def test_compat_rules():
    assert compat.rollup_sum([]) == compat.rollup_avg([]) == compat.rollup_min([]) == compat.rollup_max([]) == 0.0
    assert compat.rollup_avg([1.0, 2.0, 4.0]) == 7 / 3
    small = [float(v) for v in range(19)]
    assert compat.rollup_p95(small) == 18.0                       # n < 20: max
    data = [float(v) for v in range(100, 0, -1)]
    assert compat.rollup_p95(data) == sorted(data)[int(100 * 0.95)]
    assert compat.rollup_p99(data) == sorted(data)[int(100 * 0.99)]
    assert compat.rollup_p99(data[:99]) == 100.0                  # n < 100: max
    assert compat.rollup_p50([3.0, 1.0, 2.0]) == 2.0
    assert compat.rollup_stddev([1.0]) == 0.0 and compat.rollup_stddev([1.0, 3.0]) == math.sqrt(2.0)
    assert compat.calculate_correlation([1.0, 2.0], [1.0]) == 0.0
    assert compat.calculate_correlation([1.0], [1.0]) == 0.0
    assert compat.calculate_correlation([1.0, 1.0], [1.0, 2.0]) == 0.0
    assert compat.calculate_correlation([1.0, 2.0, 3.0], [3.0, 2.0, 1.0]) == pytest.approx(-1.0)
