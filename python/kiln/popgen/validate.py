"""`kiln popgen validate` (§8): thresholds of the V cells against the paper's bands, the B and Q
checks, and a Markdown report (docs/popgen-validation.md).

Suite `ci` runs V2b with B2 (minutes). Suite `paper` runs V1-V4, grid G (K = 5000, M in {0.05,
0.1, 1, 10}, n = 1..7), the Q3/Q4 cells, tp estimates in the V cells (Q7), B1 from the var_av of
the passing test at C, and the §8.4 sensitivity reruns: about 4 h on 2 cores, manual or nightly.
The checks are pure functions of the measured values (`check_*`), unit-tested on synthetic inputs.
"""
from __future__ import annotations

import json
import math
import platform
import time

import numpy as np

from kiln.popgen.threshold import t_c

CELLS = {  # id: (params, published, band)
    "V1": (dict(K=5000, n=7, M=10.0), 40.0, (26.7, 60.0)),
    "V2": (dict(K=5000, n=1, M=1.0), 20.0, (13.3, 30.0)),
    "V2b": (dict(K=500, n=1, M=1.0), 20.0, (13.3, 30.0)),
    "V3": (dict(K=10000, n=1, u=5e-6), 300.0, (150.0, 600.0)),
}
SUITES = {"ci": ("V2b",), "paper": ("V1", "V2", "V2b", "V3")}
SEED = 7
GRID_M = (0.05, 0.1, 1.0, 10.0)
V4_BANDS = {"C1_at_n1": (250.0, 1400.0), "C0": (215.0, 858.0), "C1": (35.0, 138.0), "r2": 0.9}


# ---- pure checks (§8.1-§8.3) -------------------------------------------------------------------
def spearman(x, y) -> float:
    rx = np.argsort(np.argsort(x)).astype(float)
    ry = np.argsort(np.argsort(y)).astype(float)
    return float(np.corrcoef(rx, ry)[0, 1])


def ols(n, C) -> tuple:
    """C = C0 + C1 n by least squares: (C0, C1, R^2)."""
    n, C = np.asarray(n, float), np.asarray(C, float)
    C1, C0 = np.polyfit(n, C, 1)
    res = C - (C0 + C1 * n)
    r2 = 1 - float(res @ res) / float(((C - C.mean()) ** 2).sum())
    return float(C0), float(C1), r2


def check_grid(C: dict, q3: tuple, q4: tuple) -> dict:
    """C: {(M, n): C} over grid G; q3 = (C(K=500, M=0.1), C(K=10000, M=0.1)); q4 = (C(R=40), C(R=10)).
    Returns {check id: (value, passed)}."""
    ns = list(range(1, 8))
    out = {}
    fits = {M: ols(ns, [C[(M, n)] for n in ns]) for M in GRID_M}
    out["Q1"] = ({M: spearman(ns, [C[(M, n)] for n in ns]) for M in (0.05, 1.0, 10.0)}, None)
    out["Q1"] = (out["Q1"][0], all(v >= 0.9 for v in out["Q1"][0].values()))
    q2 = {n: [C[(M, n)] for M in GRID_M] for n in (1, 7)}
    out["Q2"] = (q2, all(all(b < a for a, b in zip(v, v[1:])) for v in q2.values()))
    r3 = q3[0] / q3[1]
    out["Q3"] = (r3, 0.77 <= r3 <= 1.3)
    r4 = q4[0] / q4[1]
    out["Q4"] = (r4, 0.4 <= r4 <= 1.1)
    c1 = {M: fits[M][1] for M in GRID_M if M >= 1}
    out["Q5"] = (c1, all(v < 100 for v in c1.values()))
    c0 = {M: fits[M][0] for M in GRID_M}
    s = lambda a, b: (c0[a] - c0[b]) / math.log(b / a)  # noqa: E731
    ordered = c0[0.05] > c0[0.1] > c0[1.0] > c0[10.0]
    out["Q6"] = ({"C0": c0, "s(0.05,0.1)": s(0.05, 0.1), "s(0.1,1)": s(0.1, 1.0)},
                 ordered and s(0.05, 0.1) > s(0.1, 1.0))
    C0, C1, r2 = fits[0.05]
    lo1, hi1 = V4_BANDS["C1_at_n1"]
    v4 = {"C(1)": C[(0.05, 1)], "C0": C0, "C1": C1, "R2": r2}
    out["V4"] = (v4, lo1 <= C[(0.05, 1)] <= hi1 and V4_BANDS["C0"][0] <= C0 <= V4_BANDS["C0"][1]
                 and V4_BANDS["C1"][0] <= C1 <= V4_BANDS["C1"][1] and r2 >= V4_BANDS["r2"])
    return out


def check_q7(C: float, t05_ci_lo: float, p_at_C: float) -> bool:
    return C >= t05_ci_lo and p_at_C >= 0.75


def check_b1(C: float, R: float, n: int, V_bar: float) -> bool:
    return V_bar <= 0 or C >= 0.9 * t_c(R, n, V_bar)


# ---- measurements --------------------------------------------------------------------------------
def mean_var_av(model, est, seed: int, workers=None) -> float:
    """V-bar of B1: per-locus var_av averaged over t in [H/10, H] in the persisting runs of C's test."""
    test = next(t for t in est.tests if t["T"] == est.C)
    mults = (1.00, 1.02, 1.05, 1.10)
    per = len(test["replicates"]) // len(mults)
    vals = []
    for i, (rep, H) in enumerate(zip(test["replicates"], test["horizons"])):
        T = est.C * mults[i // per]
        g = model.run(seed=seed, replicate=rep, T=T, horizon=H, record="full").generations
        t = g["generation"].to_numpy()
        sel = t >= H / 10
        va = np.array(g["var_av"].to_pylist(), dtype=float)[sel]
        vals.append(float(va.mean()))
    return float(np.mean(vals))


def _nunney(popgen, p, workers, **kw):
    t0 = time.perf_counter()
    est = popgen.estimate_threshold(popgen.Nunney2003(p), seed=SEED, workers=workers, **kw)
    return est, time.perf_counter() - t0


def run_validation(suite: str, out: str | None, workers=None) -> bool:
    from kiln import __version__, popgen

    rows, checks, sens = [], {}, []
    for cid in SUITES[suite]:
        kw, published, (lo, hi) = CELLS[cid]
        p = popgen.Params(R=10.0, **kw)
        est, wall = _nunney(popgen, p, workers)
        tc = t_c(p.R, p.n)
        b2 = None if p.M > 1 else est.C >= tc
        row = {"id": cid, "K": p.K, "n": p.n, "M": p.M, "C": est.C, "published": published, "band": [lo, hi],
               "in_band": lo <= est.C <= hi, "T_c": tc, "B2": b2, "runs": est.runs, "wall_s": wall}
        if suite == "paper":
            tp = popgen.estimate_threshold(popgen.Nunney2003(p), method="tp", seed=SEED, p=(0.5, 0.9),
                                           workers=workers)
            th = {r["p"]: r for r in tp.thresholds.to_pylist()}
            vbar = mean_var_av(popgen.Nunney2003(p), est, SEED)
            row.update({"T_0.5": th[0.5]["T_p"], "T_0.5_ci": [th[0.5]["ci_lo"], th[0.5]["ci_hi"]],
                        "T_0.9": th[0.9]["T_p"], "p_at_C": tp.persistence_at(est.C), "V_bar": vbar,
                        "Q7": check_q7(est.C, th[0.5]["ci_lo"], tp.persistence_at(est.C)),
                        "B1": check_b1(est.C, p.R, p.n, vbar)})
        rows.append(row)
    if suite == "paper":
        C = {}
        for M in GRID_M:
            for n in range(1, 8):
                C[(M, n)] = _nunney(popgen, popgen.Params(K=5000, n=n, R=10.0, M=M), workers)[0].C
        q3 = (_nunney(popgen, popgen.Params(K=500, n=1, R=10.0, M=0.1), workers)[0].C,
              _nunney(popgen, popgen.Params(K=10000, n=1, R=10.0, M=0.1), workers)[0].C)
        q4 = (_nunney(popgen, popgen.Params(K=5000, n=1, R=40.0, M=1.0), workers)[0].C, C[(1.0, 1)])
        checks = check_grid(C, q3, q4)
        checks["grid_C"] = ({f"M={M:g},n={n}": v for (M, n), v in C.items()}, None)
        for cid in ("V2", "V3"):  # §8.4 sensitivity, reported, not gated
            kw = CELLS[cid][0]
            base = next(r["C"] for r in rows if r["id"] == cid)
            variants = {"stochastic_rounding": (dict(offspring_dist="stochastic_rounding"), {}),
                        "symmetric": (dict(mutation="symmetric"), {}),
                        "HorizonRule(50,5000)": ({}, dict(horizon=popgen.HorizonRule(50, 5000))),
                        "scan": ({}, dict(search="scan"))}
            for name, (pkw, ekw) in variants.items():
                c = _nunney(popgen, popgen.Params(R=10.0, **kw, **pkw), workers, **ekw)[0].C
                sens.append({"cell": cid, "variant": name, "C": c, "ratio": c / base})
    ok = all(r["in_band"] and r["B2"] is not False and r.get("B1", True) and r.get("Q7", True) for r in rows)
    ok = ok and all(v[1] is not False for v in checks.values())
    lines = ["# kiln.popgen validation against Nunney (2003)", "",
             f"Suite `{suite}`, seed {SEED}, R = 10, `nunney2003` bisect, HorizonRule(20, 5000); kiln {__version__}, "
             f"{platform.machine()}, Python {platform.python_version()}. Command: "
             f"`kiln popgen validate --suite {suite}`.", "",
             "| cell | K | n | M | C | published | band | in band | T_c(R,n,1/8) | B2 | runs | wall s |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['id']} | {r['K']} | {r['n']} | {r['M']:g} | {r['C']:.3g} | ≈{r['published']:g} | "
                     f"{r['band'][0]:g}–{r['band'][1]:g} | {'yes' if r['in_band'] else 'NO'} | {r['T_c']:.3g} | "
                     f"{'-' if r['B2'] is None else ('yes' if r['B2'] else 'NO')} | {r['runs']} | {r['wall_s']:.1f} |")
    for k, (v, passed) in checks.items():
        lines.append(f"- {k}: {'PASS' if passed else ('reported' if passed is None else 'FAIL')} — "
                     f"{json.dumps(v, default=float) if not isinstance(v, float) else f'{v:.3g}'}")
    for s in sens:
        lines.append(f"- sensitivity {s['cell']} {s['variant']}: C = {s['C']:.3g}, ratio {s['ratio']:.2f}")
    lines += ["", f"Overall: {'PASS' if ok else 'FAIL'}.", ""]
    if suite == "ci":
        lines += ["Suite `ci` checks V2b and B2 only; `--suite paper` adds V1–V4, Q1–Q7, B1 and the §8.4 "
                  "sensitivity report.", ""]
    lines += ["```json", json.dumps({"rows": rows, "checks": {k: v for k, (v, _) in checks.items()},
                                     "sensitivity": sens}, indent=1, default=float), "```", ""]
    if out:
        with open(out, "w") as f:
            f.write("\n".join(lines))
    print("\n".join(lines[:len(rows) + 6]))
    return ok
