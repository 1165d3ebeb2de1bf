"""Binary GLM in log T for the `tp` thresholds (popgen §3.2), numpy only.

The model is p(T) = P(persist | T) = G(eta), eta = b0 + b1*log T + offset(T):
  cloglog:  cloglog(1 - p) = eta  ->  p = exp(-exp(eta))   (extinction hazard; offset log H(T))
  logit:    p = 1 / (1 + exp(-eta))
  probit:   p = Phi(eta)
Data are aggregated to (log T, offset, persisted, runs) per distinct design point, so a fit over
thousands of runs costs a handful of array operations per iteration (the spec budgets the
estimator at under 1% of simulation time, hence no scipy dependency).

Penalisation is Jeffreys' prior (Firth 1993): l*(b) = l(b) + 1/2 log det I(b). It is maximised by
Fisher scoring (IRLS) on the penalised score with step halving. The penalty's gradient is taken by
central differences: with two parameters this is cheap and exact enough (1e-10), and it is the
*Jeffreys* adjustment for every link, not only the canonical one, which is what the spec names.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np

LINKS = ("cloglog", "logit", "probit")
CHI2_95_1DF = 3.841458820694124
_SQRT2 = math.sqrt(2.0)
_erfc = np.frompyfunc(math.erfc, 1, 1)


def _phi_cdf(x: np.ndarray) -> np.ndarray:
    return (0.5 * _erfc(-np.asarray(x, dtype=float) / _SQRT2)).astype(float)


def link_eta(link: str, p: float) -> float:
    """eta such that p(eta) = p."""
    if link == "cloglog":
        return math.log(-math.log(p))
    if link == "logit":
        return math.log(p / (1 - p))
    lo, hi = -40.0, 40.0  # probit: bisection on Phi is exact enough and needs no inverse-erf
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if 0.5 * math.erfc(-mid / _SQRT2) < p:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def link_terms(link: str, eta: np.ndarray):
    """log p, log(1 - p), dp/deta and d2p/deta2, computed without cancellation."""
    eta = np.clip(eta, -30.0, 30.0) if link != "cloglog" else np.clip(eta, -40.0, 6.0)
    if link == "cloglog":
        e = np.exp(eta)
        logp = -e
        log1mp = np.log(-np.expm1(-e))
        p = np.exp(-e)
        d1 = -e * p
        d2 = p * e * (e - 1.0)
    elif link == "logit":
        logp = -np.logaddexp(0.0, -eta)
        log1mp = -np.logaddexp(0.0, eta)
        p = np.exp(logp)
        d1 = p * (1.0 - p)
        d2 = d1 * (1.0 - 2.0 * p)
    else:
        p = _phi_cdf(eta)
        q = _phi_cdf(-eta)
        logp = np.log(np.maximum(p, 1e-300))
        log1mp = np.log(np.maximum(q, 1e-300))
        d1 = np.exp(-0.5 * eta * eta) / math.sqrt(2 * math.pi)
        d2 = -eta * d1
    return logp, log1mp, np.exp(logp), d1, d2


@dataclasses.dataclass
class Design:
    """Aggregated binary data: per distinct T, the persisted count and the run count."""

    x: np.ndarray       # log T
    off: np.ndarray     # offset (log H for cloglog with a varying horizon, else 0)
    s: np.ndarray       # persisted
    m: np.ndarray       # runs

    @classmethod
    def from_runs(cls, T, persisted, H=None, link="cloglog", use_offset=None) -> "Design":
        T = np.asarray(T, dtype=float)
        y = np.asarray(persisted, dtype=float)
        Hs = np.ones_like(T) if H is None else np.asarray(H, dtype=float)
        if use_offset is None:
            use_offset = link == "cloglog" and len(np.unique(Hs)) > 1
        key = np.unique(T)
        idx = np.searchsorted(key, T)
        s = np.bincount(idx, weights=y, minlength=len(key))
        m = np.bincount(idx, minlength=len(key)).astype(float)
        Hk = np.zeros(len(key))
        Hk[idx] = Hs
        off = np.log(Hk) if use_offset else np.zeros(len(key))
        d = cls(np.log(key), off, s, m)
        d.use_offset = bool(use_offset)  # type: ignore[attr-defined]
        return d


def loglik(link: str, d: Design, b: np.ndarray, firth: bool = True) -> float:
    eta = b[0] + b[1] * d.x + d.off
    logp, log1mp, p, d1, _ = link_terms(link, eta)
    ll = float(np.sum(d.s * logp + (d.m - d.s) * log1mp))
    if firth:
        ll += 0.5 * _logdet_info(d, p, d1)
    return ll


def _info(d: Design, p, d1) -> np.ndarray:
    w = d.m * d1 * d1 / np.maximum(p * (1.0 - p), 1e-300)
    return np.array([[np.sum(w), np.sum(w * d.x)], [np.sum(w * d.x), np.sum(w * d.x * d.x)]])


def _logdet_info(d: Design, p, d1) -> float:
    # Far in the tails (|eta| large) the weights overflow and det is inf or nan: such a point is no
    # maximum, and gets the same "impossible" value as a singular information (an inf det used to
    # score +inf). Handled here, so numpy's overflow warnings are expected and silenced.
    with np.errstate(over="ignore", invalid="ignore"):
        det = np.linalg.det(_info(d, p, d1))
    return math.log(det) if 0 < det < math.inf else -1e300


def _score(link: str, d: Design, b: np.ndarray, firth: bool) -> np.ndarray:
    eta = b[0] + b[1] * d.x + d.off
    _, _, p, d1, _ = link_terms(link, eta)
    g = d1 * (d.s / np.maximum(p, 1e-300) - (d.m - d.s) / np.maximum(1.0 - p, 1e-300))
    u = np.array([np.sum(g), np.sum(g * d.x)])
    if firth:
        h = 1e-6
        for k in range(2):
            e = np.zeros(2)
            e[k] = h
            u[k] += 0.5 * (_pen(link, d, b + e) - _pen(link, d, b - e)) / (2 * h)
    return u


def _pen(link: str, d: Design, b: np.ndarray) -> float:
    _, _, p, d1, _ = link_terms(link, b[0] + b[1] * d.x + d.off)
    return _logdet_info(d, p, d1)


@dataclasses.dataclass
class Fit:
    link: str
    beta: np.ndarray
    cov: np.ndarray
    loglik: float
    firth: bool
    iterations: int
    converged: bool


def fit(link: str, d: Design, firth: bool = True, start=None, max_iter: int = 200, tol: float = 1e-10) -> Fit:
    """Penalised ML by Fisher scoring with step halving (finite under separation when firth)."""
    if link not in LINKS:
        raise ValueError(link)
    if start is None:
        # Start on a flat curve through the pooled persistence: finite for any data.
        pbar = (np.sum(d.s) + 0.5) / (np.sum(d.m) + 1.0)
        start = np.array([link_eta(link, float(pbar)) - float(np.mean(d.off)), 0.0])
    b = np.asarray(start, dtype=float).copy()
    ll = loglik(link, d, b, firth)
    converged = False
    it = 0
    for it in range(1, max_iter + 1):
        _, _, p, d1, _ = link_terms(link, b[0] + b[1] * d.x + d.off)
        info = _info(d, p, d1) + 1e-12 * np.eye(2)
        step = np.linalg.solve(info, _score(link, d, b, firth))
        t = 1.0
        while True:
            nb = b + t * step
            nll = loglik(link, d, nb, firth)
            if nll >= ll - 1e-12 or t < 1e-8:
                break
            t *= 0.5
        b, ll_old, ll = nb, ll, nll
        if np.max(np.abs(t * step)) < tol or (abs(ll - ll_old) < 1e-13 and np.max(np.abs(t * step)) < 1e-7):
            converged = True
            break
    _, _, p, d1, _ = link_terms(link, b[0] + b[1] * d.x + d.off)
    try:
        cov = np.linalg.inv(_info(d, p, d1))
    except np.linalg.LinAlgError:
        cov = np.full((2, 2), np.nan)
    return Fit(link, b, cov, ll, firth, it, converged)


def solve_T(f: Fit, p: float, horizon_of=None, use_offset: bool = False, bounds=(1e-6, 1e15)) -> float:
    """T with p(T) = p; closed form without an offset, monotone root search with one."""
    b0, b1 = f.beta
    target = link_eta(f.link, p)
    if not use_offset:
        if b1 == 0:
            return math.nan
        return math.exp(min(700.0, max(-700.0, (target - b0) / b1)))

    def g(lt):
        return b0 + b1 * lt + math.log(horizon_of(math.exp(lt))) - target

    lo, hi = math.log(bounds[0]), math.log(bounds[1])
    glo, ghi = g(lo), g(hi)
    if glo * ghi > 0:
        return math.nan
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if (g(mid) > 0) == (glo > 0):
            lo = mid
        else:
            hi = mid
    return math.exp(0.5 * (lo + hi))


def _profile(link, d, theta, eta_p, offset_at, b1_start):
    """max over b1 of l*(b0(theta, b1), b1) with b0 = eta_p - off(theta) - b1*theta."""
    def ll_of(b1):
        return loglik(link, d, np.array([eta_p - offset_at(theta) - b1 * theta, b1]), True)

    # Newton on one variable with numerical derivatives and step halving; l* is smooth in b1.
    b1, cur = b1_start, ll_of(b1_start)
    for _ in range(60):
        h = 1e-4 * max(1.0, abs(b1))
        lp, lm = ll_of(b1 + h), ll_of(b1 - h)
        g = (lp - lm) / (2 * h)
        with np.errstate(over="ignore", invalid="ignore"):  # next to the -1e300 of an impossible point
            H = (lp - 2 * cur + lm) / (h * h)  # inf or nan: not < 0, so the fixed step below
        step = -g / H if H < 0 else math.copysign(max(1.0, abs(b1)) * 0.5, g)
        t = 1.0
        while True:
            nb = b1 + t * step
            nl = ll_of(nb)
            if nl >= cur - 1e-12 or t < 1e-6:
                break
            t *= 0.5
        moved = abs(nb - b1)
        b1, cur = nb, nl
        if moved < 1e-9 * max(1.0, abs(b1)):
            break
    return cur, b1


def profile_ci(f: Fit, d: Design, p: float, log_bounds, horizon_of=None, use_offset=False,
               level_chi2: float = CHI2_95_1DF):
    """Profile penalised-likelihood interval for theta = log T_p (Heinze & Schemper 2002).

    Returns (lo, hi) on the T scale; a side that does not close inside log_bounds is +-inf.
    """
    eta_p = link_eta(f.link, p)
    T_hat = solve_T(f, p, horizon_of, use_offset)
    if not math.isfinite(T_hat) or T_hat <= 0:
        return -math.inf, math.inf

    def offset_at(theta):
        return math.log(horizon_of(math.exp(theta))) if use_offset else 0.0

    th_hat = math.log(T_hat)
    ll_hat = f.loglik
    crit = level_chi2 / 2.0

    def drop(theta, b1s):
        ll, b1 = _profile(f.link, d, theta, eta_p, offset_at, b1s)
        return ll_hat - ll, b1

    out = []
    for sign, bound in ((-1.0, log_bounds[0]), (1.0, log_bounds[1])):
        se = math.sqrt(abs(f.cov[1, 1])) if np.all(np.isfinite(f.cov)) else 1.0
        step = 0.05 if not math.isfinite(se) else min(1.0, max(0.01, 0.2 * se / max(abs(f.beta[1]), 1e-3)))
        inner, b1 = th_hat, f.beta[1]
        outer = None
        while True:
            cand = inner + sign * step
            if (sign < 0 and cand < bound) or (sign > 0 and cand > bound):
                cand = bound
            dr, nb1 = drop(cand, b1)
            if dr >= crit:
                outer = cand
                break
            if cand == bound:
                break
            inner, b1 = cand, nb1
            step *= 1.6
        if outer is None:
            out.append(sign * math.inf)
            continue
        lo_t, hi_t = inner, outer
        for _ in range(40):
            mid = 0.5 * (lo_t + hi_t)
            dr, nb1 = drop(mid, b1)
            if dr >= crit:
                hi_t = mid
            else:
                lo_t, b1 = mid, nb1
            if abs(hi_t - lo_t) < 1e-7:
                break
        out.append(math.exp(0.5 * (lo_t + hi_t)))
    return out[0], out[1]


def beta1_ci(f: Fit, d: Design, level_chi2: float = CHI2_95_1DF):
    """Profile interval for the slope, used only for the `no_trend` diagnostic."""
    crit = level_chi2 / 2.0

    def drop(b1):
        # profile over b0 by a 1-D Newton
        b0 = f.beta[0]
        for _ in range(50):
            h = 1e-5 * max(1.0, abs(b0))
            c = loglik(f.link, d, np.array([b0, b1]))
            lp = loglik(f.link, d, np.array([b0 + h, b1]))
            lm = loglik(f.link, d, np.array([b0 - h, b1]))
            H = (lp - 2 * c + lm) / (h * h)
            g = (lp - lm) / (2 * h)
            if H >= 0:
                break
            nb0 = b0 - g / H
            if abs(nb0 - b0) < 1e-9:
                b0 = nb0
                break
            b0 = nb0
        return f.loglik - loglik(f.link, d, np.array([b0, b1]))

    se = math.sqrt(abs(f.cov[1, 1])) if np.isfinite(f.cov[1, 1]) else 1.0
    res = []
    for sign in (-1.0, 1.0):
        inner, step = f.beta[1], max(se, 1e-3)
        outer = None
        for _ in range(60):
            cand = inner + sign * step
            if drop(cand) >= crit:
                outer = cand
                break
            inner, step = cand, step * 1.6
        if outer is None:
            res.append(sign * math.inf)
            continue
        a, b = inner, outer
        for _ in range(50):
            mid = 0.5 * (a + b)
            if drop(mid) >= crit:
                b = mid
            else:
                a = mid
        res.append(0.5 * (a + b))
    return res[0], res[1]


def deviance_lack_of_fit(f: Fit, d: Design):
    """Deviance against the saturated model over distinct T; (deviance, df, p-value)."""
    eta = f.beta[0] + f.beta[1] * d.x + d.off
    logp, log1mp, _, _, _ = link_terms(f.link, eta)
    ph = d.s / d.m
    with np.errstate(divide="ignore", invalid="ignore"):
        sat = np.where(d.s > 0, d.s * np.log(ph), 0.0) + np.where(d.m - d.s > 0, (d.m - d.s) * np.log1p(-ph), 0.0)
    dev = float(2 * np.sum(sat - (d.s * logp + (d.m - d.s) * log1mp)))
    df = len(d.x) - 2
    return dev, df, (chi2_sf(dev, df) if df > 0 else math.nan)


def isotonic_tp(d: Design, p: float) -> float:
    """Centred isotonic regression estimate of T_p (Oron & Flournoy 2017): a model-free check."""
    blocks = [[float(d.s[i]), float(d.m[i]), float(d.x[i]) * float(d.m[i])] for i in range(len(d.x))]
    merged: list = []
    for b in blocks:  # pool adjacent violators (persistence rises with T)
        merged.append(b)
        while len(merged) > 1 and merged[-2][0] / merged[-2][1] > merged[-1][0] / merged[-1][1]:
            s2, m2, x2 = merged.pop()
            merged[-1][0] += s2
            merged[-1][1] += m2
            merged[-1][2] += x2
    xs = [b[2] / b[1] for b in merged]  # centred: one point per block at its weighted mean log T
    ys = [b[0] / b[1] for b in merged]
    for i in range(len(xs) - 1):
        if ys[i] <= p <= ys[i + 1] and ys[i + 1] > ys[i]:
            return math.exp(xs[i] + (p - ys[i]) * (xs[i + 1] - xs[i]) / (ys[i + 1] - ys[i]))
    return math.nan


# ---- distributions without scipy ------------------------------------------------------------

def _gammainc_lower_reg(a: float, x: float) -> float:
    if x <= 0:
        return 0.0
    if x < a + 1:
        term = total = 1.0 / a
        ap = a
        for _ in range(10000):
            ap += 1
            term *= x / ap
            total += term
            if abs(term) < abs(total) * 1e-15:
                break
        return total * math.exp(-x + a * math.log(x) - math.lgamma(a))
    return 1.0 - _gammainc_upper_cf(a, x)


def _gammainc_upper_cf(a: float, x: float) -> float:
    b = x + 1 - a
    c = 1 / 1e-300
    dd = 1 / b
    h = dd
    for i in range(1, 10000):
        an = -i * (i - a)
        b += 2
        dd = an * dd + b
        dd = 1e-300 if abs(dd) < 1e-300 else dd
        c = b + an / c
        c = 1e-300 if abs(c) < 1e-300 else c
        dd = 1 / dd
        h *= dd * c
        if abs(dd * c - 1) < 1e-15:
            break
    return math.exp(-x + a * math.log(x) - math.lgamma(a)) * h


def chi2_sf(x: float, df: int) -> float:
    if x <= 0:
        return 1.0
    a = df / 2.0
    return _gammainc_upper_cf(a, x / 2) if x / 2 >= a + 1 else 1.0 - _gammainc_lower_reg(a, x / 2)


def _betacf(a, b, x):
    qab, qap, qam = a + b, a + 1, a - 1
    c, dd = 1.0, 1 - qab * x / qap
    dd = 1 / (1e-300 if abs(dd) < 1e-300 else dd)
    h = dd
    for m in range(1, 10000):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        dd = 1 + aa * dd
        dd = 1 / (1e-300 if abs(dd) < 1e-300 else dd)
        c = 1 + aa / c
        c = 1e-300 if abs(c) < 1e-300 else c
        h *= dd * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        dd = 1 + aa * dd
        dd = 1 / (1e-300 if abs(dd) < 1e-300 else dd)
        c = 1 + aa / c
        c = 1e-300 if abs(c) < 1e-300 else c
        de = dd * c
        h *= de
        if abs(de - 1) < 1e-15:
            break
    return h


def betainc_reg(a: float, b: float, x: float) -> float:
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    lbt = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x < (a + 1) / (a + b + 2):
        return math.exp(lbt) * _betacf(a, b, x) / a
    return 1 - math.exp(lbt) * _betacf(b, a, 1 - x) / b


def t_sf2(t: float, df: int) -> float:
    """Two-sided p-value of Student's t."""
    return betainc_reg(df / 2.0, 0.5, df / (df + t * t))


def t_ppf(q: float, df: int) -> float:
    """Quantile of Student's t (q > 0.5) by bisection on the two-sided tail."""
    tail = 2 * (1 - q)
    lo, hi = 0.0, 1e6
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if t_sf2(mid, df) > tail:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)
