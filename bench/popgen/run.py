"""Popgen benchmarks (specs/popgen.md §10): ``python -m kiln.bench popgen [--quick] [--only SUITES] [--out FILE]``.

Suites (``--only`` takes a comma-separated list of these or of case-id prefixes):

- ``throughput`` (§10.1, §10.2): one replicate per case, process CPU ns per offspring on one thread;
  the native kernel is the subject, the numpy reference the peer ``reference`` and fwdpy11 (the §10.2
  matched Wright–Fisher configuration, K offspring per generation) the peer ``fwdpy11``.
- ``threshold`` (§10.3): wall seconds per threshold estimate on 2 local workers; the peer ``reference``
  is the truncated tp design (min_runs = max_runs = 60) against the kernel at the same truncation.
- ``sweep`` (§10.4): 8 cells x 40 replicates at fixed T; the subject is 2 workers, the peer
  ``kiln:workers=1``, so ``ratio`` is the speed-up; local and dask executors.

Medians of 5 repetitions after 1 warm-up (``--quick``: 3 after 1, small sizes). Benchmarks are not
unit tests: nothing here asserts timing; ``correct`` reports the model checks done in the same run.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import logging
import math
import os
import shutil
import sys
import tempfile
import time
from typing import Callable, Optional

import numpy as np
import pyarrow as pa

from kiln import popgen
from kiln.bench import Measurement, make_record, write_record

RNG_SCHEMA = 1
R, M, T, SEED = 10.0, 10.0, 100.0, 1
THROUGHPUT_FULL = [(500, 1, 20_000), (500, 7, 20_000), (5_000, 1, 2_000), (5_000, 7, 2_000),
                   (50_000, 1, 200), (50_000, 7, 200)]
THROUGHPUT_QUICK = [(500, 1, 400), (500, 7, 200)]
TARGET_REF = {(500, 1): 8, (500, 7): 8, (5_000, 1): 4, (5_000, 7): 6, (50_000, 1): 4, (50_000, 7): 6}
GOLDEN_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "popgen",
                           "golden.json")


def table_sha256(t: pa.Table) -> str:
    """SHA-256 over the IPC stream of a table (schema and every buffer, in order): the §5.1 identity."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, t.schema) as w:
        w.write_table(t.combine_chunks())
    return hashlib.sha256(sink.getvalue().to_pybytes()).hexdigest()


# ---- correctness checks shared by every record -----------------------------------------------------
def golden_runs() -> dict:
    """The three fixed runs of §11 item 10 (also tests/popgen/test_golden.py), as {name: sha256}."""
    out = {}
    for name, kw, H, record in GOLDEN_CASES:
        res = popgen.Nunney2003(popgen.Params(**kw)).run(seed=11, horizon=H, record=record)
        out[name] = table_sha256(res.generations)
    return out


GOLDEN_CASES = [
    ("K500_n1_summary", dict(K=500, n=1, M=1.0, T=50.0), 300, "summary"),
    ("K500_n7_full", dict(K=500, n=7, M=10.0, T=60.0), 300, "full"),
    ("K5000_options_full", dict(K=5000, n=3, R=12.0, u=2e-4, T=80.0, offspring_dist="stochastic_rounding",
                                mating="per_female", mutation="symmetric", allele_min=-4, allele_max=50,
                                female_fraction=0.45, locus_phase="staggered", optimum_offset=0.25,
                                initial_size=4000, initial_allele=1, burn_in=20, quasi_extinction=3), 120, "full"),
]


def golden_match() -> bool:
    try:
        with open(GOLDEN_PATH) as f:
            committed = json.load(f)["sha256"]
    except (OSError, KeyError, ValueError):
        return False
    return golden_runs() == committed


def frozen_lag_abs_err() -> float:
    """S1 at R = 10, d = 0.5, K = 5000 over 1000 generations: |mean N/K over t in [101, 1000] - (1-d^2)^r|."""
    p = popgen.Params(K=5000, n=1, R=10.0, u=0.0, optimum_offset=0.5)
    g = popgen.Nunney2003(p).run(seed=SEED, horizon=1000, record="summary").generations
    t = g["generation"].to_numpy()
    n = g["survivors"].to_numpy()[(t >= 101) & (t <= 1000)]
    return float(abs(n.mean() / 5000 - (1 - 0.25) ** p.r))


_SHARED: dict = {}


def shared_checks() -> dict:
    if not _SHARED:
        _SHARED["golden_match"] = golden_match()
        _SHARED["frozen_lag_abs_err"] = frozen_lag_abs_err()
    return dict(_SHARED)


# ---- throughput ------------------------------------------------------------------------------------
def _cpu(fn: Callable[[], object]) -> tuple:
    t0 = time.process_time_ns()
    out = fn()
    return time.process_time_ns() - t0, out


def fwdpy11_config(K: int, n: int, H: int) -> dict:
    r = math.log1p((R - 2) / 2)
    return {"N": K, "regions": n, "VS": n * n / (2 * r), "simplification_interval": 100, "generations": H,
            "selected_rate_per_genome": n * M / (2 * K), "s": 0.5, "h": 1.0, "additive_scaling": 2.0,
            "recombination": "BinomialPoint(p=1/2) between adjacent regions", "prune_selected": False}


def run_fwdpy11(K: int, n: int, H: int, seed: int) -> tuple:
    """§10.2: constant-size WF with n unlinked unit regions and a moving Gaussian optimum on G = sum Av_j."""
    import fwdpy11

    cfg = fwdpy11_config(K, n, H)
    pop = fwdpy11.DiploidPopulation(K, float(n))
    optima = [fwdpy11.Optimum(when=t, optimum=n * t / T, VS=cfg["VS"]) for t in range(H)]
    gss = fwdpy11.GaussianStabilizingSelection.single_trait(optima)
    params = fwdpy11.ModelParams(
        nregions=[], sregions=[fwdpy11.ConstantS(beg=float(j), end=float(j + 1), weight=1.0, s=0.5, h=1.0)
                               for j in range(n)],
        recregions=[fwdpy11.BinomialPoint(position=float(j), probability=0.5) for j in range(1, n)],
        rates=(0.0, cfg["selected_rate_per_genome"], None),
        gvalue=fwdpy11.Additive(scaling=2.0, gvalue_to_fitness=gss),
        demography=fwdpy11.ForwardDemesGraph.tubes([K], burnin=H, burnin_is_exact=True),
        simlen=H, prune_selected=False)
    rng = fwdpy11.GSLrng(seed)
    ns, _ = _cpu(lambda: fwdpy11.evolvets(rng, pop, params, 100, suppress_table_indexing=True))
    mean_g = float(np.mean([md.g for md in pop.diploid_metadata]))
    return ns, K * H, {"generations": int(pop.generation), "mean_G": mean_g, "theta_end": n * pop.generation / T}


def throughput_case(args, K: int, n: int, H: int) -> dict:
    p = popgen.Params(K=K, n=n, R=R, M=M, T=T)
    reps = args.reps
    case = f"throughput/K{K}_n{n}"
    samples, gens, shas, rec = {}, {}, [], {}
    for backend in ("native", "reference"):
        m = popgen.Nunney2003(p, backend=backend)
        ns_per, gps = [], []
        for i in range(reps + 1):
            ns, res = _cpu(lambda: m.run(seed=SEED, horizon=H, record="summary"))
            births = int(res.record.total_births)
            if i == 0:
                rec[backend] = res
            else:
                ns_per.append(ns / births)
                gps.append(int(res.record.generations_simulated) / (ns / 1e9))
            if backend == "native":
                shas.append(table_sha256(res.generations))
        samples[backend], gens[backend] = ns_per, float(np.median(gps))
    fw_extra = None
    try:
        import fwdpy11  # noqa: F401
        fw_ns, fw_extra = [], []
        for i in range(reps + 1):
            ns, work, info = run_fwdpy11(K, n, H, SEED + i)
            if i:
                fw_ns.append(ns / work)
                fw_extra.append(info)
        fw = Measurement(impl="fwdpy11", samples=fw_ns, unit="ns", version=fwdpy11.__version__,
                         note="process CPU time; K offspring per generation, tree-sequence recording")
        gens["fwdpy11"] = float(np.median([H / (s * K * H / 1e9) for s in fw_ns]))
    except ImportError:
        fw = Measurement.unavailable("fwdpy11")
    nat = rec["native"].record
    ref = rec["reference"].record
    corr = {"method": "popgen", "persisted": bool(nat.persisted), "births_total": int(nat.total_births),
            "mean_N_over_K": float(nat.mean_N_over_K), "reference_persisted": bool(ref.persisted),
            "reference_mean_N_over_K": float(ref.mean_N_over_K), "generation_table_sha256": shas[0],
            "rerun_identical": len(set(shas)) == 1, **shared_checks()}
    if fw_extra:
        corr["fwdpy11_mean_G_minus_theta"] = float(np.median([e["mean_G"] - e["theta_end"] for e in fw_extra]))
    correct = (corr["persisted"] and corr["reference_persisted"] and corr["rerun_identical"]
               and corr["golden_match"] and corr["frozen_lag_abs_err"] <= 0.005)
    target = [{"peer": "reference", "min_ratio": TARGET_REF[(K, n)]}]
    if K >= 5000:
        target.append({"peer": "fwdpy11", "min_ratio": 2})
    params = {"K": K, "n": n, "R": R, "M": M, "u": p.u, "T": T, "horizon": H, "threads": 1,
              "rng_schema": RNG_SCHEMA}
    return make_record(
        bench="popgen", case=case, params=params, seed=SEED, quick=args.quick, unit="ns", per="offspring",
        work={"unit": "offspring", "count": 1},
        kiln=Measurement(impl="native", samples=samples["native"], unit="ns", note="process CPU time"),
        peers={"reference": Measurement(impl="reference", samples=samples["reference"], unit="ns"), "fwdpy11": fw},
        correctness=corr, correct=correct, target=target, env_peers=("fwdpy11",),
        extra={"generations_per_s": gens, "fwdpy11_config": fwdpy11_config(K, n, H),
               "repetitions": reps, "warmup": 1})


# ---- threshold -------------------------------------------------------------------------------------
THRESHOLD_CELLS = {"M10_n7": dict(K=500, n=7, M=10.0), "M1_n1": dict(K=500, n=1, M=1.0)}


def _wall(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def threshold_cases(args) -> list:
    cells = ["M1_n1"] if args.quick else list(THRESHOLD_CELLS)
    horizon = popgen.HorizonRule(20, 500) if args.quick else popgen.HorizonRule(20, 5000)
    trunc = 20 if args.quick else 60
    reps = 1 if args.quick else args.threshold_reps
    out = []
    for cname in cells:
        p = popgen.Params(R=R, **THRESHOLD_CELLS[cname])
        params = {**THRESHOLD_CELLS[cname], "R": R, "horizon": repr(horizon), "threads": 2, "rng_schema": RNG_SCHEMA}
        # tp: full estimate (reported) and the truncated design on both backends (the ratio).
        full_wall, full = _wall(lambda: popgen.estimate_threshold(popgen.Nunney2003(p), method="tp", seed=7,
                                                                  p=(0.5, 0.9), horizon=horizon, workers=2,
                                                                  **({"min_runs": 60, "max_runs": 200}
                                                                     if args.quick else {})))
        tr = {}
        for backend in ("native", "reference"):
            walls, res = [], None
            for _ in range(reps):
                w, res = _wall(lambda: popgen.estimate_threshold(
                    popgen.Nunney2003(p, backend=backend), method="tp", seed=7, p=(0.5, 0.9), horizon=horizon,
                    workers=2, min_runs=trunc, max_runs=trunc))
                walls.append(w)
            tr[backend] = (walls, res)
        th = full.thresholds.to_pylist()
        est = {f"T_{r['p']:g}": r["T_p"] for r in th}
        runs_tr = {b: int(tr[b][1].runs) for b in tr}
        same_design = all(v >= trunc for v in runs_tr.values())
        corr = {"method": "popgen-threshold", "status": full.status, "converged": bool(full.converged),
                "ordered": est.get("T_0.5", 0) <= est.get("T_0.9", math.inf), "truncated_runs": runs_tr, "truncated_at_least_min_runs": same_design,
                "finite": all(math.isfinite(v) for v in est.values())}
        out.append(make_record(
            bench="popgen", case=f"threshold/tp_{cname}", params={**params, "method": "tp", "p": [0.5, 0.9]},
            seed=7, quick=args.quick, unit="s", per="estimate", work={"unit": "estimate", "count": 1},
            kiln=Measurement(impl="native", samples=tr["native"][0], note=f"wall s, truncated design {trunc} runs"),
            peers={"reference": Measurement(impl="reference", samples=tr["reference"][0],
                                            note=f"wall s, truncated design {trunc} runs")},
            correctness=corr, correct=corr["ordered"] and corr["finite"] and same_design,
            target=[{"peer": "reference", "min_ratio": 5}, {"text": "full estimate wall_s <= 300"}],
            extra={"full_estimate": {"wall_s": full_wall, "runs": full.runs, "rounds": full.rounds,
                                     "converged": bool(full.converged), "estimates": est,
                                     "ci": {f"T_{r['p']:g}": [r["ci_lo"], r["ci_hi"]] for r in th}},
                   "truncated_runs": trunc}))
        # nunney2003: the full bisection on the kernel; the spec's peer applies to tp's truncated design only.
        walls, res = [], None
        for _ in range(reps):
            w, res = _wall(lambda: popgen.estimate_threshold(popgen.Nunney2003(p), method="nunney2003", seed=7,
                                                             horizon=horizon, workers=2))
            walls.append(w)
        c_test = [t for t in res.tests if t["T"] == res.C]
        corr = {"method": "popgen-threshold", "status": res.status, "C": res.C,
                "bracket_ok": res.T_hi / res.T_lo <= 1.01 + 1e-12,
                "C_test_all_persist": bool(c_test) and all(c_test[0]["outcomes"])}
        out.append(make_record(
            bench="popgen", case=f"threshold/nunney2003_{cname}", params={**params, "method": "nunney2003"},
            seed=7, quick=args.quick, unit="s", per="estimate", work={"unit": "estimate", "count": 1},
            kiln=Measurement(impl="native", samples=walls, note="wall s, full bisection"),
            peers={"reference": Measurement.unavailable(
                "reference", "not measured: §10.3 defines the reference peer on tp's truncated design")},
            correctness=corr, correct=corr["status"] == "ok" and corr["bracket_ok"] and corr["C_test_all_persist"],
            target=[{"text": "wall_s <= 300"}],
            extra={"estimates": {"C": res.C, "T_lo": res.T_lo}, "runs": res.runs, "tests": len(res.tests)}))
    return out


# ---- sweep -----------------------------------------------------------------------------------------
def sweep_spec(quick: bool) -> dict:
    return {"sweep": {"seed": 3, "task": "runs"}, "base": {"K": 500, "R": R},
            "grid": {"n": [1, 2, 3, 4] if not quick else [1, 2], "M": [1.0, 10.0]},
            "horizon": {"generations": 2000 if not quick else 200},
            "runs": {"T": [T], "replicates": 40 if not quick else 8, "record": "outcome"}}


def _sweep_once(spec: dict, executor: str, workers: int, client=None) -> tuple:
    d = tempfile.mkdtemp(prefix="kiln-popgen-bench-")
    try:
        store = os.path.join(d, "store")
        t0 = time.perf_counter()
        kw = {"address": client.scheduler.address} if client is not None else {}
        rep = popgen.Sweep(spec, store=store).run(executor=executor, workers=workers, progress=False, **kw)
        wall = time.perf_counter() - t0
        runs = popgen.open_store(store).runs()
        keep = [c for c in runs.column_names if c not in ("wall_s",)]
        return wall, table_sha256(runs.select(keep)), rep
    finally:
        shutil.rmtree(d, ignore_errors=True)


def sweep_cases(args) -> list:
    spec = sweep_spec(args.quick)
    reps = args.reps
    cells = len(spec["grid"]["n"]) * len(spec["grid"]["M"])
    out = []
    every_sha = set()  # across executors too: local and dask must write the same runs table
    for executor in ("local", "dask"):
        walls, shas = {1: [], 2: []}, set()
        if executor == "dask":
            try:
                from dask.distributed import Client, LocalCluster
            except ImportError:
                continue
        for w in (1, 2):
            # One cluster at a time: an idle second cluster's scheduler and workers would share the
            # two cores with the one being measured.
            cluster = client = None
            if executor == "dask":
                cluster = LocalCluster(n_workers=w, threads_per_worker=1, processes=True, dashboard_address=None,
                                       silence_logs=logging.ERROR)
                client = Client(cluster)
            try:
                for i in range(reps + 1):
                    wall, sha, _ = _sweep_once(spec, executor, w, client)
                    shas.add(sha)
                    if i:
                        walls[w].append(wall)
            finally:
                if client is not None:
                    client.close()
                    cluster.close()
        every_sha |= shas
        corr = {"method": "popgen-sweep", "tables_identical": len(shas) == 1 and len(every_sha) == 1,
                "runs_table_sha256": sorted(shas)[0]}
        out.append(make_record(
            bench="popgen", case=f"sweep/{executor}", seed=3, quick=args.quick, unit="s", per="sweep",
            params={"executor": executor, "workers": 2, "cells": cells, "replicates": spec["runs"]["replicates"],
                    "K": 500, "T": T, "horizon": spec["horizon"]["generations"], "rng_schema": RNG_SCHEMA},
            work={"unit": "sweep", "count": 1},
            kiln=Measurement(impl="kiln:workers=2", samples=walls[2], note="wall s"),
            peers={"kiln:workers=1": Measurement(impl="kiln:workers=1", samples=walls[1], note="wall s")},
            correctness=corr, correct=corr["tables_identical"],
            target=[{"peer": "kiln:workers=1", "min_ratio": 1.8 if executor == "local" else 1.6}],
            extra={"workers": [1, 2], "speedup": float(np.median(walls[1]) / np.median(walls[2]))}))
    return out


SUITES = ("throughput", "threshold", "sweep")


def main(argv: list) -> int:
    parser = argparse.ArgumentParser(prog="python -m kiln.bench popgen", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes, 3 repetitions after 1 warm-up")
    parser.add_argument("--only", help="comma-separated suites (throughput, threshold, sweep) or case prefixes")
    parser.add_argument("--out", help="also append the records to this file")
    parser.add_argument("--reps", type=int, help="measured repetitions (default 5, quick 3)")
    parser.add_argument("--threshold-reps", type=int, default=1,
                        help="repetitions of each threshold estimate (default 1: one estimate takes minutes)")
    args = parser.parse_args(argv)
    if args.reps is None:
        args.reps = 3 if args.quick else 5
    if args.reps < 1:
        parser.error("--reps must be >= 1")
    only = [s for s in (args.only or "").split(",") if s]

    def wanted(case: str) -> bool:
        return not only or any(case == o or case.startswith(o) for o in only)

    ok = True

    def emit(rec: dict) -> None:
        nonlocal ok
        write_record(rec, out_path=args.out)
        ok = ok and rec["correct"]

    for K, n, H in (THROUGHPUT_QUICK if args.quick else THROUGHPUT_FULL):
        if wanted(f"throughput/K{K}_n{n}"):
            emit(throughput_case(args, K, n, H))
    if wanted("threshold/"):
        for rec in threshold_cases(args):
            emit(rec)
    if wanted("sweep/"):
        for rec in sweep_cases(args):
            emit(rec)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
