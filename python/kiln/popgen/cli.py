"""`kiln popgen run|threshold|sweep|plot|validate` (§6.5).

Exit codes: 0 ok; 2 bad input (catalog code printed); 3 some cells failed; 4 store or lock error;
130 interrupted (state committed).
"""
from __future__ import annotations

import argparse
import json
import math
import sys

PARAM_FLAGS = {"K": int, "n": int, "R": float, "u": float, "M": float, "T": float,
               "offspring-dist": str, "mating": str, "mutation": str, "allele-min": int, "allele-max": int,
               "female-fraction": float, "locus-phase": str, "optimum-offset": float, "initial-size": int,
               "initial-allele": int, "burn-in": int, "quasi-extinction": int}


def _add_params(p: argparse.ArgumentParser) -> None:
    for flag, typ in PARAM_FLAGS.items():
        p.add_argument(f"--{flag}", type=typ, default=None)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--workers", type=int, default=None)
    p.add_argument("--backend", default="native")
    p.add_argument("--no-progress", action="store_true")


def _params(args):
    from kiln import popgen

    kw = {f.replace("-", "_"): getattr(args, f.replace("-", "_")) for f in PARAM_FLAGS}
    return popgen.Params(**{k: v for k, v in kw.items() if v is not None})


def register(subparsers) -> None:
    parser = subparsers.add_parser("popgen", help="Nunney (2003) population model and thresholds")
    sub = parser.add_subparsers(dest="popgen_command", required=True)
    run = sub.add_parser("run", help="simulate replicates")
    _add_params(run)
    run.add_argument("--horizon", type=int, default=5000)
    run.add_argument("--replicates", type=int, default=1)
    run.add_argument("--record", default="outcome")
    run.add_argument("--out", default=None, help="Parquet file of run records")
    run.set_defaults(handler=_run)
    thr = sub.add_parser("threshold", help="estimate a persistence threshold")
    _add_params(thr)
    thr.add_argument("--method", default="nunney2003", choices=("nunney2003", "tp"))
    thr.add_argument("--p", type=float, nargs="+", default=[0.5, 0.9])
    thr.add_argument("--link", default="cloglog")
    thr.add_argument("--plot", default=None, help="PNG of persistence against T (tp)")
    thr.add_argument("--search", default="bisect")
    thr.add_argument("--horizon", type=int, default=None, help="fixed horizon (default HorizonRule(20, 5000))")
    thr.add_argument("--json", default=None)
    thr.set_defaults(handler=_threshold)
    sw = sub.add_parser("sweep", help="run or resume a sweep into a results store")
    sw.add_argument("spec", help="sweep TOML file")
    sw.add_argument("--store", required=True)
    sw.add_argument("--executor", default="local", choices=("local", "dask"))
    sw.add_argument("--scheduler", default=None, help="Dask scheduler address (tcp://HOST:8786)")
    sw.add_argument("--workers", type=int, default=None)
    sw.add_argument("--no-progress", action="store_true")
    sw.set_defaults(handler=_sweep)
    pl = sub.add_parser("plot", help="PNG plots from a results store")
    pl.add_argument("kind", choices=("persistence", "cost"))
    pl.add_argument("--store", required=True)
    pl.add_argument("--cell", default=None)
    pl.add_argument("--threshold", default="nunney2003", help="nunney2003 or tp (cost plots)")
    pl.add_argument("--show-published", action="store_true")
    pl.add_argument("--out", required=True)
    pl.set_defaults(handler=_plot)
    va = sub.add_parser("validate", help="§8 validation against the paper (writes docs/popgen-validation.md)")
    va.add_argument("--suite", default="ci", choices=("ci", "paper"))
    va.add_argument("--out", default="docs/popgen-validation.md")
    va.add_argument("--workers", type=int, default=None)
    va.add_argument("--checkpoint", default=None,
                    help="finished estimates are appended here and reused by a rerun "
                         "(default: kiln-validate-SUITE.checkpoint.jsonl in the current directory)")
    va.add_argument("--no-checkpoint", action="store_true", help="recompute everything, record nothing")
    va.set_defaults(handler=_validate)


def _guard(fn):
    def wrapped(args) -> int:
        from kiln import KilnError

        try:
            return fn(args)
        except KeyboardInterrupt:  # includes K2207 POPGEN_CANCELLED: committed work is kept
            print("interrupted; committed work is kept and a rerun resumes", file=sys.stderr)
            return 130
        except KilnError as exc:
            print(f"{exc.code} {exc.name}: {exc.message}", file=sys.stderr)
            # Store and lock errors (K24xx except spec errors) are 4; every other bad input 2.
            return 4 if exc.number in (2401, 2403, 2405) or 1200 <= exc.number < 1300 else 2
    return wrapped


@_guard
def _run(args) -> int:
    from kiln import popgen

    m = popgen.Nunney2003(_params(args), backend=args.backend)
    try:
        b = popgen.simulate_many(m, seed=args.seed, replicates=args.replicates, horizon=args.horizon,
                                 record=args.record, workers=args.workers, progress=not args.no_progress)
    except KeyboardInterrupt as e:  # Ctrl-C: write the completed runs (cancelled rows carry K2207), exit 130
        part = getattr(e, "partial", None)
        if args.out and part is not None:
            import pyarrow.parquet as pq

            pq.write_table(part.runs, args.out)
            print(f"wrote {part.runs.num_rows} rows to {args.out} (cancelled runs carry K2207)", file=sys.stderr)
        raise
    runs = b.runs
    if args.out:
        import pyarrow.parquet as pq

        pq.write_table(runs, args.out)
    persisted = sum(runs.column("persisted").to_pylist())
    print(f"{runs.num_rows} runs: {persisted} persisted, {runs.num_rows - persisted} extinct or stopped")
    return 0


@_guard
def _threshold(args) -> int:
    from kiln import popgen

    m = popgen.Nunney2003(_params(args), backend=args.backend)
    show = not args.no_progress and sys.stderr.isatty()

    def progress(t):
        if show:
            print(f"  T={t['T']:.4g} {'pass' if t['passed'] else 'fail'}", file=sys.stderr)

    if args.method == "tp":
        from kiln.popgen.progress import make_bar

        bar = make_bar(not args.no_progress, None, "tp runs")

        def tp_progress(r):
            bar.update(r["runs"] - bar.n)
            bar.set_postfix_str(f"round {r['round']}")

        est = popgen.estimate_threshold(m, method="tp", seed=args.seed, p=tuple(args.p), link=args.link,
                                        horizon=args.horizon, workers=args.workers, progress=tp_progress)
        bar.close()
        out = {"method": "tp", "thresholds": est.thresholds.to_pylist(), "status": est.status,
               "converged": est.converged, "runs": est.runs, "rounds": est.rounds, "beta": list(est.beta),
               "link": est.link, "flags": est.flags}
        print(json.dumps(out, default=float))
        if args.json:
            with open(args.json, "w") as fh:
                json.dump(out | {"design": est.design.to_pylist()}, fh, default=float)
        if args.plot:
            popgen.plot_persistence(est, path=args.plot)
        return 0
    est = popgen.estimate_threshold(m, method=args.method, seed=args.seed, search=args.search,
                                    horizon=args.horizon, workers=args.workers, progress=progress)
    out = {"method": est.method, "C": None if math.isinf(est.C) else est.C, "T_lo": est.T_lo,
           "status": est.status, "runs": est.runs, "tests": len(est.tests)}
    print(json.dumps(out))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(out | {"log": [{k: t[k] for k in ("T", "passed", "outcomes")} for t in est.tests]}, fh)
    return 0


@_guard
def _sweep(args) -> int:
    from kiln import popgen

    rep = popgen.Sweep(args.spec, store=args.store).run(executor=args.executor, address=args.scheduler,
                                                          workers=args.workers, progress=not args.no_progress)
    print(json.dumps({"sweep_id": rep.sweep_id, "cells": rep.cells, "failed": rep.failed, "executed": rep.executed,
                      "reused": rep.reused, "commits": rep.commits}))
    for cid, code in rep.failed.items():
        print(f"cell {cid} failed: {code} (kiln explain {code})", file=sys.stderr)
    return rep.exit_code


@_guard
def _plot(args) -> int:
    from kiln import popgen
    from kiln.errors import error_for

    st = popgen.open_store(args.store)
    if args.kind == "persistence":
        runs = st.runs()
        if runs is None or args.cell is None:
            raise error_for(2601, "plot persistence needs --cell and a store with runs", parameter="cell")
        sel = runs.filter(__import__("pyarrow.compute", fromlist=["equal"]).equal(runs.column("cell_id"), args.cell))
        if sel.num_rows == 0:
            raise error_for(2601, f"no runs for cell {args.cell}", parameter="cell")
        popgen.plot_persistence(sel.select(["T", "horizon", "persisted"]), path=args.out)
    else:
        thr = st.thresholds()
        if thr is None:
            raise error_for(2601, "the store has no thresholds", parameter="threshold")
        rows = [r for r in thr.to_pylist() if r["kind"] == args.threshold.split(":")[0]]
        if not rows:
            raise error_for(2601, f"no {args.threshold} thresholds in the store", parameter="threshold")
        for r in rows:
            r.pop("cell_id", None)
        popgen.plot_cost(popgen.regress_cost(rows), path=args.out, show_published=args.show_published)
    print(args.out)
    return 0


@_guard
def _validate(args) -> int:
    from kiln.popgen.validate import run_validation

    ck = None if args.no_checkpoint else (args.checkpoint or f"kiln-validate-{args.suite}.checkpoint.jsonl")
    ok = run_validation(args.suite, args.out, workers=args.workers, checkpoint=ck)
    return 0 if ok else 3
