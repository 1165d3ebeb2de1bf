"""`kiln popgen validate` (§8): thresholds of the V cells against the paper's bands, the B and Q
checks, and a Markdown report (docs/popgen-validation.md).

Suite `ci` runs V2b with B2 (minutes). Suite `paper` runs V1-V4, grid G (K = 5000, M in {0.05,
0.1, 1, 10}, n = 1..7), the Q3/Q4 cells, tp estimates in the V cells (Q7), B1 from the var_av of
the passing test at C, and the §8.4 sensitivity reruns: about 4 h on 2 cores, manual or nightly.
The checks are pure functions of the measured values (`check_*`), unit-tested on synthetic inputs.

Resumable: every finished estimate (a nunney2003 C, a tp fit, a V-bar) is appended to a checkpoint
file under the SHA-256 of its inputs (parameters, method and its options, seed, horizon rule,
search, kiln version, rng_schema); a rerun with the same file reuses it, so a killed run loses at
most the estimate in progress. Progress lines ([validate done/total h:mm:ss] label) go to stderr.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import platform
import sys
import time
import types
from typing import Any, Callable

import numpy as np

from kiln.popgen.params import RNG_SCHEMA, HorizonRule
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


# ---- checkpoint (resume across sessions) -------------------------------------------------------
def _identity() -> dict:
    """What besides an estimate's own inputs determines its result: the kiln version and the
    stream layout. A checkpoint written under another version or rng_schema is never reused."""
    from kiln import __version__

    return {"kiln_version": __version__, "rng_schema": RNG_SCHEMA}


def _horizon_json(h: Any) -> Any:
    return h.to_json() if isinstance(h, HorizonRule) else {"H": int(h)}


def estimate_key(desc: dict) -> str:
    """SHA-256 of the canonical JSON of everything that determines an estimate's result."""
    blob = json.dumps({**desc, **_identity()}, sort_keys=True, separators=(",", ":"), default=repr)
    return hashlib.sha256(blob.encode()).hexdigest()


class Checkpoint:
    """Finished estimates of a validation run, one JSON line each (key, label, inputs, value),
    appended and fsync'd as each finishes, so a later `validate` with the same file reuses them.

    Entries are keyed by `estimate_key` of their inputs, so a changed parameter, method, seed,
    horizon rule, search, kiln version or rng_schema gives a new key and is computed afresh; stale
    entries stay in the file, unused. A torn last line (a kill mid-write) is ignored.
    """

    def __init__(self, path: str | None, total: int = 0, log: Any = None) -> None:
        self.path, self.total, self.log = path, total, log
        self.entries: dict[str, dict] = {}
        self.computed: list[str] = []
        self.reused: list[str] = []
        self._seen: set[str] = set()
        self._t0 = time.monotonic()
        if path and os.path.exists(path):
            with open(path) as f:
                for line in f:
                    try:
                        e = json.loads(line)
                        self.entries[e["key"]] = e
                    except (ValueError, KeyError, TypeError):
                        continue  # a torn last line after a kill; its estimate is redone

    def _say(self, msg: str) -> None:
        if self.log is not None:
            el = int(time.monotonic() - self._t0)
            print(f"[validate {len(self._seen)}/{self.total} {el // 3600}:{el // 60 % 60:02d}:{el % 60:02d}] {msg}",
                  file=self.log, flush=True)

    def get(self, label: str, desc: dict, compute: Callable[[], dict]) -> dict:
        key = estimate_key(desc)
        if key in self.entries:
            if key not in self._seen:
                self._seen.add(key)
                self.reused.append(label)
                self._say(f"{label}: from checkpoint ({self.entries[key].get('seconds', 0):.0f} s when computed)")
            return self.entries[key]["value"]
        self._say(f"{label}: computing")
        t0 = time.monotonic()
        value = compute()
        sec = time.monotonic() - t0
        entry = {"key": key, "label": label, "inputs": {**desc, **_identity()}, "value": value, "seconds": sec}
        self.entries[key] = entry
        self._seen.add(key)
        self.computed.append(label)
        if self.path:
            with open(self.path, "a") as f:
                f.write(json.dumps(entry, default=repr) + "\n")
                f.flush()
                os.fsync(f.fileno())
        self._say(f"{label}: done in {sec:.0f} s")
        return value


# ---- estimates (each one checkpoint entry) -------------------------------------------------------
NUNNEY_DEFAULTS = {"multipliers": [1.0, 1.02, 1.05, 1.10], "runs_per_multiplier": 5, "resolution": 0.01,
                   "early_stop": True, "T_bounds": [0.5, 1e5]}
TP_DEFAULTS = {"p": [0.5, 0.9], "link": "cloglog", "rel_tol": 0.05, "min_runs": 200, "max_runs": 2000,
               "batch": 20, "T_bounds": [0.5, 1e5]}


@dataclasses.dataclass(frozen=True)
class Plan:
    """Everything a suite computes. `paper`/`ci` use the §8 values; tests use tiny ones."""

    cells: dict
    grid: bool
    horizon: Any = HorizonRule(20, 5000)
    grid_K: int = 5000
    q3_K: tuple = (500, 10000)
    q4_R: float = 40.0
    sensitivity_cells: tuple = ("V2", "V3")
    sensitivity_horizon: Any = HorizonRule(50, 5000)
    tp: dict = dataclasses.field(default_factory=dict)
    seed: int = SEED


def plan_for(suite: str) -> Plan:
    return Plan(cells={c: CELLS[c] for c in SUITES[suite]}, grid=suite == "paper")


def _nunney_desc(p, horizon, search, seed) -> dict:
    return {"estimate": "nunney2003", "params": json.loads(p.canonical_json()), "seed": seed, "search": search,
            "horizon": _horizon_json(horizon), **NUNNEY_DEFAULTS}


def _compute_nunney(p, horizon, search, seed, workers) -> dict:
    from kiln import popgen

    est = popgen.estimate_threshold(popgen.Nunney2003(p), seed=seed, search=search, horizon=horizon,
                                    workers=workers)
    return {"C": est.C, "T_lo": est.T_lo, "status": est.status, "runs": est.runs,
            "tests": [{k: t[k] for k in ("T", "passed", "replicates", "horizons")} for t in est.tests]}


def _compute_tp(p, horizon, seed, workers, tp_kw) -> dict:
    from kiln import popgen

    kw = {**TP_DEFAULTS, **tp_kw}
    kw["p"], kw["T_bounds"] = tuple(kw["p"]), tuple(kw["T_bounds"])
    est = popgen.estimate_threshold(popgen.Nunney2003(p), method="tp", seed=seed, horizon=horizon,
                                    workers=workers, **kw)
    return {"thresholds": est.thresholds.to_pylist(), "beta": list(est.beta), "link": est.link,
            "use_offset": est.use_offset, "runs": est.runs, "converged": est.converged, "status": est.status}


def _compute_vbar(p, nunney: dict, seed) -> dict:
    from kiln import popgen

    est = types.SimpleNamespace(C=nunney["C"], tests=nunney["tests"])
    return {"V_bar": mean_var_av(popgen.Nunney2003(p), est, seed)}


def _tp_persistence(tp: dict, horizon, T: float) -> float:
    from kiln.popgen.tp import TpResult

    return TpResult.persistence_at(types.SimpleNamespace(horizon=horizon, use_offset=tp["use_offset"],
                                                         beta=tp["beta"], link=tp["link"]), T)


def _jobs(plan: Plan) -> list:
    """(job id, label, inputs, compute) for every estimate of the plan, in run order."""
    from kiln import popgen

    jobs = []

    def nunney(jid, label, p, horizon=plan.horizon, search="bisect"):
        desc = _nunney_desc(p, horizon, search, plan.seed)
        jobs.append((jid, f"nunney2003 {label}", desc, lambda w, res: _compute_nunney(p, horizon, search, plan.seed, w)))
        return desc

    for cid, (kw, _, _) in plan.cells.items():
        p = popgen.Params(R=10.0, **kw)
        nd = nunney(("C", cid), f"{cid} (K={p.K} n={p.n} M={p.M:g})", p)
        if plan.grid:
            tdesc = {"estimate": "tp", "params": json.loads(p.canonical_json()), "seed": plan.seed,
                     "horizon": _horizon_json(plan.horizon), **TP_DEFAULTS, **plan.tp}
            jobs.append((("tp", cid), f"tp {cid}", tdesc,
                         lambda w, res, p=p: _compute_tp(p, plan.horizon, plan.seed, w, plan.tp)))
            jobs.append((("vbar", cid), f"V-bar {cid}", {"estimate": "V_bar", "of": nd},
                         lambda w, res, p=p, cid=cid: _compute_vbar(p, res[("C", cid)], plan.seed)))
    if plan.grid:
        for M in GRID_M:
            for n in range(1, 8):
                nunney(("G", M, n), f"grid K={plan.grid_K} M={M:g} n={n}",
                       popgen.Params(K=plan.grid_K, n=n, R=10.0, M=M))
        for K in plan.q3_K:
            nunney(("Q3", K), f"Q3 K={K} M=0.1 n=1", popgen.Params(K=K, n=1, R=10.0, M=0.1))
        nunney(("Q4",), f"Q4 K={plan.grid_K} R={plan.q4_R:g} M=1 n=1",
               popgen.Params(K=plan.grid_K, n=1, R=plan.q4_R, M=1.0))
        for cid in plan.sensitivity_cells:  # §8.4 sensitivity, reported, not gated
            if cid not in plan.cells:
                continue
            kw = plan.cells[cid][0]
            nunney(("S", cid, "stochastic_rounding"), f"sensitivity {cid} stochastic_rounding",
                   popgen.Params(R=10.0, offspring_dist="stochastic_rounding", **kw))
            nunney(("S", cid, "symmetric"), f"sensitivity {cid} symmetric",
                   popgen.Params(R=10.0, mutation="symmetric", **kw))
            nunney(("S", cid, f"horizon {_horizon_json(plan.sensitivity_horizon)}"),
                   f"sensitivity {cid} horizon {_horizon_json(plan.sensitivity_horizon)}",
                   popgen.Params(R=10.0, **kw), horizon=plan.sensitivity_horizon)
            nunney(("S", cid, "scan"), f"sensitivity {cid} scan", popgen.Params(R=10.0, **kw), search="scan")
    return jobs



def run_validation(suite: str | Plan, out: str | None, workers=None, checkpoint: str | None = None,
                   log: Any = sys.stderr) -> bool:
    """Runs a suite (or a Plan), reusing the finished estimates recorded in `checkpoint` and
    appending each new one there as it finishes; writes the Markdown report to `out`."""
    from kiln import __version__, popgen

    plan = suite if isinstance(suite, Plan) else plan_for(suite)
    name = "custom" if isinstance(suite, Plan) else suite
    jobs = _jobs(plan)
    keys = {estimate_key(d) for _, _, d, _ in jobs}
    ck = Checkpoint(checkpoint, total=len(keys), log=log)
    if log is not None:
        print(f"[validate] suite {name}: {len(keys)} estimates, {len(keys & ck.entries.keys())} already in "
              f"{checkpoint or '(no checkpoint)'}", file=log, flush=True)
    results: dict = {}
    for jid, label, desc, compute in jobs:
        results[jid] = ck.get(label, desc, lambda: compute(workers, results))
    rows, checks, sens = [], {}, []
    for cid, (kw, published, (lo, hi)) in plan.cells.items():
        p = popgen.Params(R=10.0, **kw)
        est = results[("C", cid)]
        C = est["C"]
        tc = t_c(p.R, p.n)
        b2 = None if p.M > 1 else C >= tc
        row = {"id": cid, "K": p.K, "n": p.n, "M": p.M, "C": C, "published": published, "band": [lo, hi],
               "in_band": lo <= C <= hi, "T_c": tc, "B2": b2, "runs": est["runs"],
               "wall_s": ck.entries[estimate_key(next(d for j, _, d, _ in jobs if j == ("C", cid)))]["seconds"]}
        if plan.grid:
            tp = results[("tp", cid)]
            th = {r["p"]: r for r in tp["thresholds"]}
            vbar = results[("vbar", cid)]["V_bar"]
            p_at_C = _tp_persistence(tp, plan.horizon, C)
            row.update({"T_0.5": th[0.5]["T_p"], "T_0.5_ci": [th[0.5]["ci_lo"], th[0.5]["ci_hi"]],
                        "T_0.9": th[0.9]["T_p"], "p_at_C": p_at_C, "V_bar": vbar,
                        "Q7": check_q7(C, th[0.5]["ci_lo"], p_at_C), "B1": check_b1(C, p.R, p.n, vbar)})
        rows.append(row)
    if plan.grid:
        C = {(M, n): results[("G", M, n)]["C"] for M in GRID_M for n in range(1, 8)}
        q3 = tuple(results[("Q3", K)]["C"] for K in plan.q3_K)
        q4 = (results[("Q4",)]["C"], C[(1.0, 1)])
        checks = check_grid(C, q3, q4)
        checks["grid_C"] = ({f"M={M:g},n={n}": v for (M, n), v in C.items()}, None)
        for jid in results:
            if jid[0] == "S":
                c, base = results[jid]["C"], results[("C", jid[1])]["C"]
                sens.append({"cell": jid[1], "variant": jid[2], "C": c, "ratio": c / base})
    ok = all(r["in_band"] and r["B2"] is not False and r.get("B1", True) and r.get("Q7", True) for r in rows)
    ok = ok and all(v[1] is not False for v in checks.values())
    lines = ["# kiln.popgen validation against Nunney (2003)", "",
             f"Suite `{name}`, seed {plan.seed}, R = 10, `nunney2003` bisect, HorizonRule(20, 5000); kiln {__version__}, "
             f"{platform.machine()}, Python {platform.python_version()}. Command: "
             f"`kiln popgen validate --suite {name}`.", "",
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
    if name == "ci":
        lines += ["Suite `ci` checks V2b and B2 only; `--suite paper` adds V1–V4, Q1–Q7, B1 and the §8.4 "
                  "sensitivity report.", ""]
    lines += ["```json", json.dumps({"rows": rows, "checks": {k: v for k, (v, _) in checks.items()},
                                     "sensitivity": sens}, indent=1, default=float), "```", ""]
    if out:
        with open(out, "w") as f:
            f.write("\n".join(lines))
    print("\n".join(lines[:len(rows) + 6]))
    return ok
