"""`kiln popgen run|threshold` (§6.5). Exit codes: 0 ok, 2 bad input (catalog code printed)."""
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
    thr.add_argument("--method", default="nunney2003")
    thr.add_argument("--search", default="bisect")
    thr.add_argument("--horizon", type=int, default=None, help="fixed horizon (default HorizonRule(20, 5000))")
    thr.add_argument("--json", default=None)
    thr.set_defaults(handler=_threshold)


def _guard(fn):
    def wrapped(args) -> int:
        from kiln import KilnError

        try:
            return fn(args)
        except KilnError as exc:
            print(f"{exc.code} {exc.name}: {exc.message}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            return 130
    return wrapped


@_guard
def _run(args) -> int:
    from kiln import popgen

    m = popgen.Nunney2003(_params(args), backend=args.backend)
    b = popgen.simulate_many(m, seed=args.seed, replicates=args.replicates, horizon=args.horizon,
                             record=args.record, workers=args.workers)
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

    est = popgen.estimate_threshold(m, method=args.method, seed=args.seed, search=args.search,
                                    horizon=args.horizon, workers=args.workers, progress=progress)
    out = {"method": est.method, "C": None if math.isinf(est.C) else est.C, "T_lo": est.T_lo,
           "status": est.status, "runs": est.runs, "tests": len(est.tests)}
    print(json.dumps(out))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(out | {"log": [{k: t[k] for k in ("T", "passed", "outcomes")} for t in est.tests]}, fh)
    return 0
