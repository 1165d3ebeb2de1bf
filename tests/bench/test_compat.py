"""The 20 BenchmarkCore tests (specs/formula.md C.2, D.31) against kiln.bench.compat."""
from __future__ import annotations

import math

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from kiln.bench.compat import BenchmarkCore, BenchmarkResult, calculate_baseline, check_regression, score_efficiency


def res(latency, tokens=100, success=True):
    return BenchmarkResult(agent_id="agent", latency_ms=latency, token_count=tokens, success=success)


# -- unit --------------------------------------------------------------------------------------------
def test_baseline_empty():
    assert BenchmarkCore.calculate_baseline([]) == 0.0


def test_baseline_single():
    assert BenchmarkCore.calculate_baseline([res(100.0)]) == 100.0


def test_baseline_mean():
    assert BenchmarkCore.calculate_baseline([res(100.0), res(200.0), res(300.0)]) == 200.0


def test_check_no_regression():
    r = BenchmarkCore.check_regression(110, 100, 0.15)
    assert r["regression"] is False
    assert math.isclose(r["delta_percentage"], 10.0)


def test_check_regression():
    r = BenchmarkCore.check_regression(120, 100, 0.10)
    assert r["regression"] is True
    assert math.isclose(r["delta_percentage"], 20.0)


def test_check_zero_baseline():
    assert BenchmarkCore.check_regression(100, 0.0) == {"regression": False, "delta": 0.0}


def test_efficiency():
    assert BenchmarkCore.score_efficiency(BenchmarkResult("a", 100.0, 50, True)) == 2.0


def test_efficiency_zero_tokens():
    assert BenchmarkCore.score_efficiency(BenchmarkResult("a", 100.0, 0, True)) == 0.0


# -- properties ----------------------------------------------------------------------------------
@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(min_value=0.1, max_value=1000.0), min_size=1, max_size=100))
def test_baseline_within_min_max(latencies):
    b = calculate_baseline([res(v) for v in latencies])
    assert min(latencies) <= b <= max(latencies)


@settings(max_examples=200, deadline=None)
@given(st.floats(min_value=1.0, max_value=100.0), st.floats(min_value=-50.0, max_value=50.0))
def test_regression_follows_threshold(baseline, delta_pct):
    # current = baseline·(1 + delta_pct/100) only approximates delta_pct after rounding, so within
    # one ulp of the 20 % threshold the comparison can go either way (baseline 7.0 shows it); the
    # source's test was flaky there, the port stays away from it.
    assume(abs(delta_pct - 20) > 1e-9)
    current = baseline * (1 + delta_pct / 100)
    r = check_regression(current, baseline, 0.20)
    assert r["regression"] == (delta_pct / 100 > 0.20)


@settings(max_examples=200, deadline=None)
@given(st.floats(min_value=0.001, max_value=1e6), st.integers(min_value=1, max_value=10**6))
def test_efficiency_is_latency_per_token(latency, tokens):
    assert abs(score_efficiency(res(latency, tokens)) - latency / tokens) <= 1e-9


# -- edges ----------------------------------------------------------------------------------------
def test_baseline_large_equal():
    assert calculate_baseline([res(1e6), res(1e6)]) == 1e6


def test_baseline_small():
    assert abs(calculate_baseline([res(0.001), res(0.002)]) - 0.0015) <= 1e-9


def test_efficiency_many_tokens():
    assert score_efficiency(res(100.0, 100000)) == 0.001


def test_efficiency_one_token():
    assert score_efficiency(res(100.0, 1)) == 100.0


def test_check_improvement():
    r = check_regression(50, 100, 0.10)
    assert r["regression"] is False
    assert r["delta_percentage"] == -50.0


def test_check_boundary_is_strict():
    assert check_regression(110.0, 100.0, 0.10)["regression"] is False
    assert check_regression(110.1, 100.0, 0.10)["regression"] is True


def test_repeated_baseline_identical():
    rs = [res(v) for v in (12.5, 13.25, 99.0)]
    assert calculate_baseline(rs) == calculate_baseline(rs) == BenchmarkCore().calculate_baseline(rs)


def test_repeated_check_identical():
    assert check_regression(123.0, 100.0, 0.1) == check_regression(123.0, 100.0, 0.1)


def test_repeated_efficiency_identical():
    r = res(77.0, 13)
    assert score_efficiency(r) == score_efficiency(r) == BenchmarkCore.score_efficiency(r)


# -- shapes and the one documented deviation (beyond the 20) ---------------------------------------
def test_dict_shapes_and_types():
    r = check_regression(120.0, 100.0, 0.10)
    assert list(r) == ["regression", "delta_percentage", "limit"]
    assert type(r["regression"]) is bool and r["limit"] == 10.0
    assert list(check_regression(1.0, -1.0)) == ["regression", "delta"]


def test_baseline_clamped_into_range():
    assert calculate_baseline([res(0.1)] * 3) == 0.1   # the naive mean is 0.10000000000000002


def test_result_is_frozen():
    r = res(1.0)
    try:
        r.latency_ms = 2.0  # type: ignore[misc]
    except AttributeError:
        pass
    else:
        raise AssertionError("BenchmarkResult must be frozen")
