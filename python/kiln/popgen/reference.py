"""The pure-Python reference of the Nunney (2003) model (popgen §7.1).

numpy and pyarrow only, vectorised over individuals with (N, n, 2) int32 arrays; Python loops run
over generations alone. It implements §2 directly, in the *per-female* form (Poisson(f) offspring
per female, mothers by np.repeat), so parity also tests the kernel's equivalent representation.
It draws from Generator(Philox(key, counter)) per (generation, purpose), chunk 0, with numpy's
own samplers: kernel and reference agree in law, not bit for bit.
"""
from __future__ import annotations

import math
import time

import numpy as np
import pyarrow as pa

from kiln.popgen.records import OUTCOME_SCHEMA, generation_schema

DOMAIN = 0x6B696C6E70670001
INIT, BIRTHS, PARENTS, MATE, GAMETES, MUTATION, SEX, SURVIVAL = range(1, 9)
CHUNK = 4096


def stream_counter(t: int, purpose: int, chunk: int = 0) -> tuple[int, int, int, int]:
    """Counter base of §5.2 (t as two's complement)."""
    return (0, (purpose << 40) | chunk, t % 2**64, DOMAIN)


def generator(seed: int, rep: int, t: int, purpose: int, chunk: int = 0) -> np.random.Generator:
    ctr = np.array(stream_counter(t, purpose, chunk), dtype=np.uint64)
    return np.random.Generator(np.random.Philox(key=np.array([seed, rep], dtype=np.uint64), counter=ctr))


def fecundity(N, K: int, r: float):
    """f(N) = 2 exp(r - r exp(ln(N/K)/r)) (§2.2)."""
    x = np.asarray(N, dtype=np.float64) / K
    with np.errstate(divide="ignore"):
        return 2.0 * np.exp(r - r * np.exp(np.log(x) / r))


def survival(sums: np.ndarray, theta_j: np.ndarray, r: float, n: int) -> np.ndarray:
    """w = exp(-(r/n) sum_j (Av_j - theta_j)^2) for allele sums of shape (J, n)."""
    d = sums / 2.0 - theta_j
    return np.exp(-(r / n) * np.sum(d * d, axis=1))


class _Rows:
    def __init__(self, n: int, full: bool) -> None:
        self.n, self.full = n, full
        self.cols: dict[str, list] = {k: [] for k in (
            "generation", "theta", "births", "mutations", "mutations_blocked", "mean_w", "survivors", "females",
            "males", "fecundity", "mean_lag", "msd", "var_total", "mean_av", "lag", "var_av", "substitutions",
            "segregating")}

    def append(self, row: dict) -> None:
        for k, v in row.items():
            self.cols[k].append(v)

    def table(self, replicate: int, T: float, record: str) -> pa.Table:
        schema = generation_schema(self.n, record)
        m = len(self.cols["generation"])
        arrays = []
        for f in schema:
            if f.name == "replicate":
                arrays.append(pa.array([replicate] * m, f.type))
            elif f.name == "T":
                arrays.append(pa.array([T] * m, f.type))
            else:
                arrays.append(pa.array(self.cols[f.name], f.type))
        return pa.table(arrays, schema=schema)


def run_one(p, seed: int, rep: int, H: int, record: str = "summary", record_every: int = 1,
            final_population: bool = False, stop=None):
    """One replicate (§2.5). Returns (outcome row dict, generation table or None, final adults or None)."""
    n, K, r = p.n, p.K, p.r
    full = record == "full"
    phase = np.zeros(n) if p.locus_phase == "synchronous" else (np.arange(n) - (n - 1) / 2.0) / n
    t0 = -p.burn_in

    def theta(t: int) -> float:
        return p.optimum_offset + max(t, 0) / p.T

    A = np.full((p.initial_size, n, 2), p.initial_allele, dtype=np.int32)
    female = generator(seed, rep, t0, INIT).random(p.initial_size) < p.female_fraction

    rows = _Rows(n, full)
    sub0 = A.min(axis=(0, 2)).astype(np.int64)
    runmax = sub0.copy()
    out = {"outcome": None, "persisted": False, "t_ext": None, "extinction_cause": None, "error_code": None,
           "generations_simulated": 0, "min_N": len(female), "total_births": 0, "total_mutations": 0}
    nk, msds, vars_ = [], [], []
    last = {"row": None, "appended": False}

    def make_row(t, cohort):
        N = len(female)
        F = int(female.sum())
        th = theta(t)
        row = {"generation": t, "theta": th, "births": None, "mutations": 0, "mutations_blocked": 0,
               "mean_w": None, "survivors": N, "females": F, "males": N - F, "fecundity": None,
               "mean_lag": None, "msd": None, "var_total": None}
        if cohort is not None:
            row.update(cohort)
        subs = (runmax - sub0).tolist()
        if N > 0:
            av = A.sum(axis=2) / 2.0
            mean_av = av.mean(axis=0)
            var_av = av.var(axis=0)
            lag = th + phase - mean_av
            row["mean_lag"] = float(lag.mean())
            row["msd"] = float((var_av + lag * lag).mean())
            row["var_total"] = float(var_av.sum())
        if full:
            seg = [int(np.unique(A[:, j, :]).size) for j in range(n)]
            row.update(mean_av=mean_av.tolist() if N else None, lag=lag.tolist() if N else None,
                       var_av=var_av.tolist() if N else None, substitutions=subs, segregating=seg)
        return row

    def record_row(row):
        due = (row["generation"] - t0) % record_every == 0
        if record != "outcome" and due:
            rows.append(row)
        last["row"], last["appended"] = row, due

    record_row(make_row(t0, None))
    t = t0
    while True:
        N = len(female)
        F = int(female.sum())
        Mm = N - F
        cause = ("no_adults" if N == 0 else "no_females" if F == 0 else "no_males" if Mm == 0
                 else "quasi" if N <= p.quasi_extinction else None)
        if cause:
            out.update(outcome="extinct", t_ext=t, extinction_cause=cause)
            break
        if t == H:
            out.update(outcome="persisted", persisted=True)
            break
        t += 1
        f = float(fecundity(N, K, r))
        fem_idx = np.flatnonzero(female)
        male_idx = np.flatnonzero(~female)
        g = generator(seed, rep, t, BIRTHS)
        if p.offspring_dist == "poisson":
            counts = g.poisson(f, F)
        else:
            fl = math.floor(f)
            counts = fl + (g.random(F) < (f - fl))
        mothers = np.repeat(fem_idx, counts)
        B = mothers.size
        if p.mating == "per_offspring":
            fathers = male_idx[generator(seed, rep, t, PARENTS).integers(0, Mm, B)]
        else:
            mates = generator(seed, rep, t, MATE).integers(0, Mm, F)
            fathers = male_idx[np.repeat(mates, counts)]
        bits = generator(seed, rep, t, GAMETES).integers(0, 2, size=(B, n, 2))
        loci = np.arange(n)
        kid = np.empty((B, n, 2), dtype=np.int32)
        kid[:, :, 0] = A[mothers[:, None], loci[None, :], bits[:, :, 0]]
        kid[:, :, 1] = A[fathers[:, None], loci[None, :], bits[:, :, 1]]
        muts = blocked = 0
        if p.u > 0 and B > 0:
            gm = generator(seed, rep, t, MUTATION)
            slots_total = B * n * 2
            nm = int(gm.binomial(slots_total, p.u))
            if nm:
                slots = gm.choice(slots_total, size=nm, replace=False)
                flat = kid.reshape(-1)
                step = np.ones(nm, dtype=np.int64) if p.mutation == "up" else np.where(gm.random(nm) < 0.5, 1, -1)
                new = flat[slots].astype(np.int64) + step
                ok = np.ones(nm, dtype=bool)
                if p.allele_max is not None:
                    ok &= new <= p.allele_max
                if p.allele_min is not None:
                    ok &= new >= p.allele_min
                if np.any(new[ok] > 2**31 - 1) or np.any(new[ok] < -(2**31)):
                    out.update(outcome="error", error_code="K2205")
                    break
                flat[slots[ok]] = new[ok].astype(np.int32)
                muts, blocked = int(ok.sum()), int(nm - ok.sum())
        kid_female = generator(seed, rep, t, SEX).random(B) < p.female_fraction
        w = survival(kid.sum(axis=2, dtype=np.int64).astype(np.float64), theta(t) + phase, r, n)
        alive = generator(seed, rep, t, SURVIVAL).random(B) < w
        A = kid[alive]
        female = kid_female[alive]
        out["generations_simulated"] += 1
        out["total_births"] += B
        out["total_mutations"] += muts
        N = len(female)
        if N:
            runmax = np.maximum(runmax, A.min(axis=(0, 2)))
        out["min_N"] = min(out["min_N"], N)
        row = make_row(t, {"births": B, "mutations": muts, "mutations_blocked": blocked,
                           "mean_w": float(w.mean()) if B else None, "fecundity": f})
        if t >= 1:
            nk.append(N / K)
            if N:
                msds.append(row["msd"])
                vars_.append(row["var_total"])
        stop_now = stop is not None and (
            (stop.min_N is not None and N < stop.min_N)
            or (stop.max_msd is not None and N > 0 and row["msd"] > stop.max_msd))
        record_row(row)
        Fn = int(female.sum())
        if stop_now and N > p.quasi_extinction and Fn > 0 and Fn < N and t < H:
            out["outcome"] = "stopped"
            break
    if record != "outcome" and not last["appended"]:
        rows.append(last["row"])
    out.update(final_N=len(female), mean_N_over_K=float(np.mean(nk)) if nk else None,
               mean_msd=float(np.mean(msds)) if msds else None,
               mean_var_total=float(np.mean(vars_)) if vars_ else None,
               substitutions=(runmax - sub0).tolist(), replicate=rep, T=p.T, horizon=H)
    gens = rows.table(rep, p.T, record) if record != "outcome" else None
    pop = None
    if final_population:
        cols = {"index": pa.array(np.arange(len(female)), pa.int64()),
                "sex": pa.array(np.where(female, "female", "male"), pa.utf8())}
        for j in range(n):
            cols[f"a_{j}"] = pa.array(A[:, j, 0], pa.int32())
            cols[f"b_{j}"] = pa.array(A[:, j, 1], pa.int32())
        pop = pa.table(cols)
    return out, gens, pop


def _one(args):
    spec, kw = args
    t0 = time.perf_counter()
    o, g, pop = run_one(spec["params_obj"], spec["seed"], spec["replicate"], spec["horizon"], **kw)
    return o, g, pop, time.perf_counter() - t0


def run_many(specs, *, record, record_every, final_population, stop, max_memory_bytes, max_record_bytes,
             workers, stop_group_on_extinction=False, cancel=None):
    """Backend protocol. Reference parallelism is a ProcessPoolExecutor (§6.4). A cancel token is
    checked before each replicate of a sequential (workers = 1) batch."""
    kw = dict(record=record, record_every=record_every, final_population=final_population, stop=stop)
    jobs = [(s, kw) for s in specs]
    if workers > 1 and len(specs) > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(max_workers=workers) as ex:
            results = list(ex.map(_one, jobs))
    else:
        results = []
        failed_groups: set = set()
        for job in jobs:
            g = job[0].get("group", -1)
            if (stop_group_on_extinction and g >= 0 and g in failed_groups) or (cancel is not None and cancel.cancelled):
                o = {"outcome": "error", "error_code": "K2207", "persisted": False, "t_ext": None,
                     "extinction_cause": None, "generations_simulated": 0, "final_N": 0, "min_N": 0,
                     "total_births": 0, "total_mutations": 0, "mean_N_over_K": None, "mean_msd": None,
                     "mean_var_total": None, "substitutions": [0] * job[0]["params_obj"].n,
                     "replicate": job[0]["replicate"], "T": job[0]["params_obj"].T, "horizon": job[0]["horizon"]}
                results.append((o, None, None, 0.0))
                continue
            res = _one(job)
            if res[0]["outcome"] == "extinct" and g >= 0:
                failed_groups.add(g)
            results.append(res)
    outcomes = pa.Table.from_pylist([r[0] for r in results], schema=OUTCOME_SCHEMA)
    return outcomes, [r[1] for r in results], [r[2] for r in results], [r[3] for r in results]
