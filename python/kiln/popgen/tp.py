"""`tp` thresholds (popgen §3.2): T_p = inf{T : p(T) >= p} from a sequential design and a
Firth-penalised binary GLM in log T, with profile penalised-likelihood intervals.

Rounds are barriers and every design decision depends only on completed rounds, so the result is
identical for any worker count or executor (§5.1 item 2): the runner only has to return outcomes
in input order.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable

import numpy as np
import pyarrow as pa

from kiln.errors import error_for
from kiln.popgen import glm
from kiln.popgen.params import HorizonRule, check_seed, resolve_horizon

TP_TAG = 2 << 48
DESIGN_PS = (0.15, 0.5, 0.9, 0.97)
PHASE_A_BATCH = 10


@dataclasses.dataclass
class TpResult:
    method: str
    targets: tuple
    thresholds: pa.Table      # one row per target: p, T_p, ci_lo, ci_hi, k_p, rate
    beta: tuple
    cov: list
    link: str
    runs: int
    rounds: int
    converged: bool
    status: str
    flags: list
    horizon: Any
    seed: int
    design: pa.Table          # T, H, replicate, persisted, t_ext in design order
    diagnostics: dict
    T_L: float
    T_U: float
    use_offset: bool
    nunney_C: float | None = None

    def T_p(self, p: float) -> float:
        for row in self.thresholds.to_pylist():
            if row["p"] == p:
                return row["T_p"]
        raise KeyError(p)

    def persistence_at(self, T: float) -> float:
        """The fitted p(T) (used for the implied persistence at the nunney2003 C, §3.2 and Q7)."""
        off = math.log(resolve_horizon(self.horizon, T)) if self.use_offset else 0.0
        eta = self.beta[0] + self.beta[1] * math.log(T) + off
        return float(glm.link_terms(self.link, np.array([eta]))[2][0])


def _check(p, link, rel_tol, min_runs, max_runs, batch, T_bounds) -> tuple:
    ps = (p,) if isinstance(p, (int, float)) else tuple(p)
    if not ps:
        raise error_for(2301, "p needs at least one target", parameter="p")
    for q in ps:
        if isinstance(q, bool) or not isinstance(q, (int, float)) or not 0.01 <= q <= 0.99:
            raise error_for(2301, f"p={q!r} is outside [0.01, 0.99]", parameter="p")
    if link not in glm.LINKS:
        raise error_for(2107, f"link={link!r} is not one of {', '.join(glm.LINKS)}", parameter="link")
    if not (isinstance(rel_tol, (int, float)) and 0 < rel_tol <= 0.5):
        raise error_for(2301, f"rel_tol={rel_tol!r} is outside (0, 0.5]", parameter="rel_tol")
    for name, v in (("min_runs", min_runs), ("max_runs", max_runs), ("batch", batch)):
        if isinstance(v, bool) or not isinstance(v, int):
            raise error_for(2301, f"{name}={v!r} must be an integer", parameter=name)
    if max_runs > 10**6:
        raise error_for(2301, f"max_runs={max_runs} is over 10^6", parameter="max_runs")
    if min_runs > max_runs:
        raise error_for(2301, f"min_runs={min_runs} exceeds max_runs={max_runs}", parameter="min_runs")
    if batch < 1:
        raise error_for(2301, f"batch={batch} must be >= 1", parameter="batch")
    lo, hi = T_bounds
    if not 0 < lo < hi:
        raise error_for(2301, f"T_bounds={T_bounds!r} must satisfy 0 < lo < hi", parameter="T_bounds")
    return tuple(sorted(float(q) for q in ps))


def estimate_tp(model, seed: int = 0, p=(0.5, 0.9), link: str = "cloglog", horizon: Any = None,
                rel_tol: float = 0.05, min_runs: int = 200, max_runs: int = 2000, batch: int = 20,
                T_bounds=(0.5, 1e5), workers: int | None = None, strict: bool = False, progress: Any = None,
                executor: str = "local", runner: Callable | None = None, nunney_C: float | None = None,
                cancel: Any = None, **unknown: Any) -> TpResult:
    if unknown:
        raise error_for(2106, f"unknown keyword(s) for method='tp': {sorted(unknown)}", parameter=sorted(unknown)[0])
    seed = check_seed("seed", seed)
    targets = _check(p, link, rel_tol, min_runs, max_runs, batch, T_bounds)
    horizon = HorizonRule() if horizon is None else horizon
    T_min, T_max = float(T_bounds[0]), float(T_bounds[1])
    if runner is None:
        runner = _make_runner(model, workers, executor, cancel)

    Ts: list[float] = []
    Hs: list[int] = []
    reps: list[int] = []
    persisted: list[bool] = []
    t_ext: list = []
    rounds = 0

    def run_round(t_list: list[float]) -> list[bool]:
        nonlocal rounds
        specs = []
        for T in t_list:
            rep = TP_TAG | len(Ts) + len(specs)  # seq = index in design order; no CRN (§3.2)
            specs += model.specs(seed, [rep], [T], horizon)
        runs = runner(specs)
        if cancel is not None and cancel.cancelled:  # rounds are barriers: drop the incomplete one
            err = error_for(2207, f"the tp estimate was cancelled after {rounds} finished rounds", rounds=rounds)
            err.partial = pa.table({"T": pa.array(Ts, pa.float64()), "H": pa.array(Hs, pa.int64()),
                                    "replicate": pa.array(reps, pa.uint64()),
                                    "persisted": pa.array(persisted, pa.bool_())})
            raise err
        out = [o == "persisted" for o in runs.column("outcome").to_pylist()]
        for s, ok, te in zip(specs, out, runs.column("t_ext").to_pylist()):
            Ts.append(float(s["params_obj"].T))
            Hs.append(int(s["horizon"]))
            reps.append(int(s["replicate"]))
            persisted.append(ok)
            t_ext.append(te)
        rounds += 1
        if progress is not None:
            progress({"round": rounds, "runs": len(Ts)})
        return out

    # Phase A: bracket with batches of 10 (§3.2).
    from kiln.popgen.threshold import t_c

    T_s = max(T_min, t_c(model.params.R, model.params.n))
    status = "ok"
    seen: dict[float, int] = {}
    T = T_s
    while True:
        k = sum(run_round([T] * PHASE_A_BATCH))
        seen[T] = k
        if k <= 1:
            T_L = T
            break
        if T / 2 < T_min:
            T_L, status = T_min, "below_floor"
            break
        T /= 2
    T = max(T_s, T_L) if status == "ok" else T_min
    T_U = math.nan
    while status == "ok":
        k = seen[T] if T in seen else sum(run_round([T] * PHASE_A_BATCH))
        seen[T] = k
        if k >= PHASE_A_BATCH - 1:
            T_U = T
            break
        if T * 2 > T_max:
            status = "no_persistence"
            break
        T *= 2
    if status != "ok":
        if strict:
            raise error_for(2302, f"the T_p curve is not bracketed inside T_bounds={T_bounds!r} ({status})",
                            status=status)
        return _result(model, targets, link, horizon, seed, Ts, Hs, reps, persisted, t_ext, rounds, False,
                       status, T_L, T_U, T_bounds, nunney_C, fit_ok=False)

    # Phase B: rounds at the current fit's quantiles until every target CI is narrow (§3.2).
    design_ps = sorted(set(DESIGN_PS) | set(targets))
    lo_clip, hi_clip = T_L / 2, 2 * T_U
    converged = False
    while True:
        d, use_off, hof = _design(Ts, Hs, persisted, link, horizon)
        f = glm.fit(link, d)
        if len(Ts) >= min_runs:
            widths_ok = True
            for q in targets:
                That = glm.solve_T(f, q, hof, use_off)
                lo, hi = glm.profile_ci(f, d, q, (math.log(T_min), math.log(T_max)), hof, use_off)
                if not (math.isfinite(That) and math.isfinite(lo) and math.isfinite(hi)
                        and (hi - lo) / (2 * That) <= rel_tol):
                    widths_ok = False
                    break
            if widths_ok:
                converged = True
                break
        if len(Ts) >= max_runs:
            break
        n_round = min(batch, max_runs - len(Ts))
        points = []
        for q in design_ps:
            t = glm.solve_T(f, q, hof, use_off)
            points.append(math.sqrt(lo_clip * hi_clip) if not math.isfinite(t) else min(max(t, lo_clip), hi_clip))
        per, extra = divmod(n_round, len(points))
        t_list = []
        for i, t in enumerate(points):
            t_list += [t] * (per + (1 if i < extra else 0))
        run_round(t_list)
    status = "ok" if converged else "not_converged"
    if strict and not converged:
        raise error_for(2303, f"tp did not converge within max_runs={max_runs} (rel_tol={rel_tol})",
                        runs=len(Ts))
    return _result(model, targets, link, horizon, seed, Ts, Hs, reps, persisted, t_ext, rounds, converged, status,
                   T_L, T_U, T_bounds, nunney_C)


def _design(Ts, Hs, persisted, link, horizon):
    use_off = link == "cloglog" and len(set(Hs)) > 1  # log H is absorbed in b0 when H is constant

    def hof(T):
        return resolve_horizon(horizon, T)

    d = glm.Design.from_runs(Ts, persisted, Hs, link=link, use_offset=use_off)
    return d, use_off, hof


def _make_runner(model, workers, executor, cancel=None):
    if executor == "local":
        return lambda specs: model.run_specs(specs, record="outcome", workers=workers, cancel=cancel)[0]
    if executor == "dask":
        from kiln.popgen.distributed import spec_runner

        return spec_runner(model, workers=workers)
    raise error_for(2107, f"executor={executor!r} is not one of local, dask", parameter="executor")


def _result(model, targets, link, horizon, seed, Ts, Hs, reps, persisted, t_ext, rounds, converged, status,
            T_L, T_U, T_bounds, nunney_C, fit_ok=True) -> TpResult:
    design = pa.table({"T": pa.array(Ts, pa.float64()), "H": pa.array(Hs, pa.int64()),
                       "replicate": pa.array(reps, pa.uint64()), "persisted": pa.array(persisted, pa.bool_()),
                       "t_ext": pa.array(t_ext, pa.int64())})
    rows = {"p": [], "T_p": [], "ci_lo": [], "ci_hi": [], "k_p": [], "rate": []}
    n = model.params.n
    flags: list = []
    diagnostics: dict = {}
    beta, cov, use_off = (math.nan, math.nan), [[math.nan] * 2] * 2, False
    if fit_ok and Ts:
        d, use_off, hof = _design(Ts, Hs, persisted, link, horizon)
        f = glm.fit(link, d)
        beta, cov = (float(f.beta[0]), float(f.beta[1])), f.cov.tolist()
        for q in targets:
            That = glm.solve_T(f, q, hof, use_off)
            lo, hi = glm.profile_ci(f, d, q, (math.log(T_bounds[0]), math.log(T_bounds[1])), hof, use_off)
            rows["p"].append(q)
            rows["T_p"].append(That)
            rows["ci_lo"].append(lo)
            rows["ci_hi"].append(hi)
            rows["k_p"].append(1 / That)
            rows["rate"].append(n / That)
        dev, df, pval = glm.deviance_lack_of_fit(f, d)
        b1lo, b1hi = glm.beta1_ci(f, d)
        diagnostics = {"deviance": dev, "df": df, "lack_of_fit_p": pval, "beta1_ci": (b1lo, b1hi),
                       "isotonic_T_p": {q: glm.isotonic_tp(d, q) for q in targets}}
        if math.isfinite(pval) and pval < 0.01:
            flags.append("lack_of_fit")
        if b1lo <= 0 <= b1hi:
            flags.append("no_trend")
            if status == "ok":
                status = "no_trend"
    else:
        for q in targets:
            rows["p"].append(q)
            for k in ("T_p", "ci_lo", "ci_hi", "k_p", "rate"):
                rows[k].append(math.nan)
    table = pa.table({k: pa.array(v, pa.float64()) for k, v in rows.items()})
    return TpResult("tp", targets, table, beta, cov, link, len(Ts), rounds, converged, status, flags, horizon, seed,
                    design, diagnostics, T_L, T_U, use_off, nunney_C)
