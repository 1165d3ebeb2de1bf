"""`tp` thresholds (§3.2) and the C0/C1 regression (§3.3): §11 items 15, 16, 17 (workers), 18."""
import math

import numpy as np
import pyarrow as pa
import pytest

from kiln import KilnError, popgen
from kiln.popgen import glm

FAST = dict(horizon=300, rel_tol=0.15, min_runs=100, max_runs=600)


@pytest.fixture(scope="module")
def model():
    return popgen.Nunney2003(popgen.Params(K=100, n=1, M=1))


@pytest.fixture(scope="module")
def est(model):
    return popgen.estimate_threshold(model, method="tp", seed=3, workers=2, **FAST)


def test_tp_converges_with_narrow_intervals(est):
    # Item 15: every target's relative CI half-width <= rel_tol at stopping; T_0.5 <= T_0.9.
    assert est.converged and est.status == "ok"
    assert est.runs >= FAST["min_runs"]
    rows = est.thresholds.to_pylist()
    assert [r["p"] for r in rows] == [0.5, 0.9]
    for r in rows:
        assert r["ci_lo"] < r["T_p"] < r["ci_hi"]
        assert (r["ci_hi"] - r["ci_lo"]) / (2 * r["T_p"]) <= FAST["rel_tol"]
        assert r["k_p"] == pytest.approx(1 / r["T_p"]) and r["rate"] == pytest.approx(1 / r["T_p"])
    assert est.T_p(0.5) <= est.T_p(0.9)
    assert est.T_L < est.T_p(0.5) < est.T_U * 2
    # The fitted curve passes through its own targets.
    assert est.persistence_at(est.T_p(0.9)) == pytest.approx(0.9, abs=1e-6)


def test_tp_design_ids_and_table(est):
    d = est.design
    assert d.num_rows == est.runs
    reps = d.column("replicate").to_pylist()
    assert reps == [(2 << 48) | i for i in range(est.runs)]  # seq in design order, no CRN
    assert set(d.column("H").to_pylist()) == {300}
    assert est.use_offset is False  # constant H: log H is absorbed in b0
    assert est.diagnostics["df"] >= 1 and 0 <= est.diagnostics["lack_of_fit_p"] <= 1


def test_tp_identical_for_any_worker_count(model, est):
    # Item 17 (local part): rounds are barriers, so the design and estimates do not depend on workers.
    one = popgen.estimate_threshold(model, method="tp", seed=3, workers=1, **FAST)
    assert one.design.equals(est.design)
    assert one.thresholds.equals(est.thresholds)


def test_tp_not_converged_and_strict(model):
    r = popgen.estimate_threshold(model, method="tp", seed=4, horizon=300, rel_tol=0.001, min_runs=60, max_runs=80)
    assert r.converged is False and r.status == "not_converged" and r.runs == 80
    with pytest.raises(RuntimeError) as ei:
        popgen.estimate_threshold(model, method="tp", seed=4, horizon=300, rel_tol=0.001, min_runs=60,
                                  max_runs=80, strict=True)
    assert ei.value.number == 2303


def test_tp_not_bracketed(model):
    r = popgen.estimate_threshold(model, method="tp", seed=1, horizon=300, T_bounds=(0.5, 1.0))
    assert r.status == "no_persistence" and math.isnan(r.T_p(0.5))
    with pytest.raises(RuntimeError) as ei:
        popgen.estimate_threshold(model, method="tp", seed=1, horizon=300, T_bounds=(0.5, 1.0), strict=True)
    assert ei.value.number == 2302


@pytest.mark.parametrize("kw,code", [
    (dict(p=0.995), 2301), (dict(p=(0.5, 0.0)), 2301), (dict(rel_tol=0.0), 2301), (dict(rel_tol=0.6), 2301),
    (dict(min_runs=300, max_runs=200), 2301), (dict(max_runs=10**6 + 1), 2301), (dict(batch=0), 2301),
    (dict(T_bounds=(3, 2)), 2301), (dict(link="cauchit"), 2107), (dict(bogus=1), 2106),
    (dict(executor="ray"), 2107)])
def test_tp_config_errors(model, kw, code):
    with pytest.raises(KilnError) as ei:
        popgen.estimate_threshold(model, method="tp", **kw)
    assert ei.value.number == code


def test_unknown_method(model):
    with pytest.raises(KilnError) as ei:
        popgen.estimate_threshold(model, method="probit-bisection")
    assert ei.value.number == 2107


# ---- the GLM on synthetic data (item 16) ------------------------------------------------------

B0, B1 = 3.0, -1.5
DESIGN_T = np.exp(np.linspace(math.log(3.0), math.log(100.0), 10))


def _true_T(p):
    return math.exp((glm.link_eta("cloglog", p) - B0) / B1)


def _coverage_chunk(ys: list) -> dict:
    """Coverage counts of the 95% profile CIs over a chunk of simulated outcome vectors."""
    T = np.repeat(DESIGN_T, 30)
    cover = {0.5: 0, 0.9: 0}
    for y in ys:
        d = glm.Design.from_runs(T, y)
        f = glm.fit("cloglog", d)
        for q in cover:
            lo, hi = glm.profile_ci(f, d, q, (math.log(0.5), math.log(1e5)))
            cover[q] += lo <= _true_T(q) <= hi
    return cover


def test_profile_intervals_cover_true_quantiles():
    # Item 16: 400 seeded repetitions. The data are drawn here in one sequence, then the fits run on
    # two processes (CI cost); the counts are the same as a serial loop over the same data.
    import concurrent.futures
    import multiprocessing

    rng = np.random.default_rng(20240501)
    T = np.repeat(DESIGN_T, 30)
    p_true = np.exp(-np.exp(B0 + B1 * np.log(T)))
    reps = 400
    ys = [rng.random(T.size) < p_true for _ in range(reps)]
    ctx = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(2, mp_context=ctx) as ex:
        parts = list(ex.map(_coverage_chunk, [ys[:reps // 2], ys[reps // 2:]]))
    cover = {q: sum(part[q] for part in parts) for q in (0.5, 0.9)}
    assert sum(len(c) for c in (ys[:reps // 2], ys[reps // 2:])) == reps
    for q, c in cover.items():
        assert c / reps >= 0.93, (q, c)


def test_coverage_chunk_counts_misses():
    # The coverage counter can fail: outcomes from a much slower extinction curve are not covered.
    rng = np.random.default_rng(3)
    T = np.repeat(DESIGN_T, 30)
    p_shift = np.exp(-np.exp(B0 - 2.0 + B1 * np.log(T)))
    cover = _coverage_chunk([rng.random(T.size) < p_shift for _ in range(5)])
    assert cover[0.5] == 0 and cover[0.9] == 0


@pytest.mark.parametrize("link", glm.LINKS)
def test_unpenalised_fit_matches_statsmodels(link):
    import statsmodels.api as sm  # a test dependency (PY_DEPS, extra `test`): absent must fail, not skip
    rng = np.random.default_rng(5)
    T = np.repeat(np.exp(np.linspace(math.log(5), math.log(80), 8)), 30)
    eta = B0 + B1 * np.log(T) if link == "cloglog" else -3 + 1.2 * np.log(T)
    y = (rng.random(T.size) < glm.link_terms(link, eta)[2]).astype(float)
    f = glm.fit(link, glm.Design.from_runs(T, y, link=link), firth=False)
    X = sm.add_constant(np.log(T))
    links = sm.families.links
    if link == "cloglog":  # statsmodels models P(extinct) = 1 - exp(-exp(eta))
        r = sm.GLM(1 - y, X, family=sm.families.Binomial(links.CLogLog())).fit(tol=1e-14)
    elif link == "logit":
        r = sm.GLM(y, X, family=sm.families.Binomial()).fit(tol=1e-14)
    else:
        r = sm.GLM(y, X, family=sm.families.Binomial(links.Probit())).fit(tol=1e-14)
    np.testing.assert_allclose(f.beta, r.params, rtol=1e-6)
    np.testing.assert_allclose(f.cov, r.cov_params(), rtol=1e-5)


def test_firth_fit_is_finite_under_separation():
    d = glm.Design.from_runs([1, 1, 2, 2, 4, 4], [0, 0, 0, 1, 1, 1])
    plain = glm.fit("cloglog", d, firth=False, max_iter=50)
    f = glm.fit("cloglog", d)
    assert np.all(np.isfinite(f.beta)) and f.converged
    assert abs(plain.beta[1]) > abs(f.beta[1])  # the penalty shrinks the slope towards 0


def test_distribution_helpers():
    assert glm.chi2_sf(glm.CHI2_95_1DF, 1) == pytest.approx(0.05, rel=1e-9)
    assert glm.chi2_sf(18.307038053275146, 10) == pytest.approx(0.05, rel=1e-9)
    assert glm.t_ppf(0.975, 3) == pytest.approx(3.182446305284263, rel=1e-9)
    assert glm.t_ppf(0.975, 1) == pytest.approx(12.706204736174698, rel=1e-9)


# ---- regress_cost (item 18) -------------------------------------------------------------------

def test_regress_cost_exact_line():
    rows = [{"kind": "nunney2003", "K": 5000, "M": 1.0, "n": n, "C": 429.0 + 69.0 * n} for n in range(1, 8)]
    fit = popgen.regress_cost(pa.Table.from_pylist(rows))
    assert fit.C0 == pytest.approx(429.0, rel=1e-9, abs=1e-9) and fit.C1 == pytest.approx(69.0, rel=1e-9)
    assert fit.r2 == pytest.approx(1.0) and fit.C0_ci[0] <= 429.0 <= fit.C0_ci[1]
    assert max(abs(r) for r in fit.residuals) < 1e-9


def test_regress_cost_weighted_and_intervals():
    rng = np.random.default_rng(1)
    rows = []
    for n in range(1, 8):
        c = 20 + 5 * n + rng.normal(0, 1)
        rows.append({"kind": "tp", "p": 0.5, "M": 1.0, "n": n, "T_p": c, "ci_lo": c / 1.1, "ci_hi": c * 1.1})
    fit = popgen.regress_cost(rows)
    g = fit.groups[0]
    assert g.weighted and g.C1_ci[0] < 5 < g.C1_ci[1] and g.C0_ci[0] < 20 < g.C0_ci[1]
    assert 0 <= g.quadratic_p <= 1


def test_regress_cost_insufficient_groups():
    rows = [{"M": 1.0, "n": n, "C": 10.0 + n} for n in (1, 2, 3)]
    rows += [{"M": 10.0, "n": n, "C": 5.0 + n} for n in (1, 2)]
    rows += [{"M": 0.1, "n": n, "C": c} for n, c in ((1, 3.0), (2, math.inf), (3, 5.0))]
    fit = popgen.regress_cost(rows)
    by = {g.key["M"]: g for g in fit.groups}
    assert by[1.0].error is None and by[1.0].C1 == pytest.approx(1.0)
    assert by[10.0].error.number == 2304 and by[0.1].error.number == 2304  # an inf point is not finite
    with pytest.raises(ValueError) as ei:
        popgen.regress_cost(rows[3:5])
    assert ei.value.number == 2304
