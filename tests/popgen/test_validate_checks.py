"""§8 validation checks (item 27) as pure functions on synthetic values: each can pass and fail."""
import math

from kiln.popgen.threshold import t_c
from kiln.popgen.validate import GRID_M, check_b1, check_grid, check_q7, ols, spearman


def _grid(C0, C1):
    return {(M, n): C0[M] + C1[M] * n for M in GRID_M for n in range(1, 8)}


GOOD = _grid({0.05: 430.0, 0.1: 250.0, 1.0: 15.0, 10.0: 5.0}, {0.05: 69.0, 0.1: 40.0, 1.0: 8.0, 10.0: 5.0})


def test_paper_like_grid_passes_every_check():
    out = check_grid(GOOD, q3=(250.0, 260.0), q4=(15.0, 23.0))
    assert {k: v[1] for k, v in out.items()} == dict.fromkeys(("Q1", "Q2", "Q3", "Q4", "Q5", "Q6", "V4"), True)
    assert math.isclose(out["V4"][0]["C0"], 430.0) and math.isclose(out["V4"][0]["C1"], 69.0)


def test_each_check_can_fail():
    bad = dict(GOOD)
    for n in range(1, 8):  # C falls with n at M = 1: Q1 fails; huge per-locus cost at M = 10: Q5
        bad[(1.0, n)] = 100.0 - n
        bad[(10.0, n)] = 5.0 + 150.0 * n
    out = check_grid(bad, q3=(100.0, 200.0), q4=(30.0, 20.0))
    assert out["Q1"][1] is False and out["Q5"][1] is False and out["Q3"][1] is False and out["Q4"][1] is False
    assert out["Q2"][1] is False  # C(M=10, n=7) > C(M=1, n=7)
    flat = _grid({0.05: 100.0, 0.1: 250.0, 1.0: 15.0, 10.0: 5.0}, {0.05: 10.0, 0.1: 40.0, 1.0: 8.0, 10.0: 5.0})
    out = check_grid(flat, q3=(250.0, 260.0), q4=(15.0, 23.0))
    assert out["Q6"][1] is False and out["V4"][1] is False


def test_q7_b1_and_helpers():
    assert check_q7(20.0, 15.0, 0.97) and not check_q7(20.0, 25.0, 0.97) and not check_q7(20.0, 15.0, 0.6)
    assert check_b1(5.0, 10.0, 1, 1 / 8) and not check_b1(0.5 * t_c(10.0, 1, 0.5), 10.0, 1, 0.5)
    assert spearman([1, 2, 3, 4], [2, 4, 8, 16]) == 1.0 and spearman([1, 2, 3], [3, 2, 1]) == -1.0
    C0, C1, r2 = ols([1, 2, 3], [3.0, 5.0, 7.0])
    assert math.isclose(C0, 1.0) and math.isclose(C1, 2.0) and math.isclose(r2, 1.0)


def test_b1_variance_comes_from_the_passing_test_runs():
    from kiln import popgen
    from kiln.popgen.validate import mean_var_av

    m = popgen.Nunney2003(popgen.Params(K=200, n=2, M=1))
    est = popgen.estimate_threshold(m, seed=7, horizon=300, workers=2)
    v = mean_var_av(m, est, 7)
    assert 0.0 < v < 0.5  # segregating per-locus variance of Av at M = 1
    assert check_b1(est.C, 10.0, 2, v)
