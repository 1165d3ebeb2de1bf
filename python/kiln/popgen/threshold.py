"""Threshold estimation (popgen §3): Nunney's heuristic C by bisection with common random numbers
(`nunney2003`, §3.1) and the statistical quantile thresholds T_p of a sequential GLM design (`tp`,
§3.2, in kiln.popgen.tp).
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any

from kiln.errors import error_for
from kiln.popgen.model import Nunney2003
from kiln.popgen.params import HorizonRule, check_seed

NUNNEY_TAG = 1 << 48


def t_c(R: float, n: int, V: float = 1 / 8) -> float:
    """Deterministic Lynch-Lande critical interval T_c(R, n, V) (§8.3)."""
    r = math.log1p((R - 2) / 2)
    a = 1 + 2 * r * V / n
    return (n / (2 * V)) * math.sqrt(a / (r * (r - (n / 2) * math.log(a))))


@dataclasses.dataclass
class ThresholdResult:
    method: str
    C: float
    T_lo: float
    T_hi: float
    status: str
    tests: list  # one dict per tested T: T, passed, outcomes, runs
    runs: int
    horizon: Any
    seed: int
    interpretation: str = ("nunney2003 C estimates roughly T_0.97 (20/20 persistence only shows p >= 0.861 "
                           "at 95%), a high quantile, never T_50 (§3.1).")

    @property
    def k(self) -> float:
        return 1.0 / self.C


def _check_config(multipliers, runs_per_multiplier, resolution, T_bounds) -> None:
    if not (len(multipliers) >= 1 and multipliers[0] == 1.0
            and all(b > a for a, b in zip(multipliers, multipliers[1:]))):
        raise error_for(2301, f"multipliers {multipliers!r} must ascend from 1.0", parameter="multipliers")
    if not 0 < resolution <= 1:
        raise error_for(2301, f"resolution={resolution!r} is outside (0, 1]", parameter="resolution")
    lo, hi = T_bounds
    if not 0 < lo < hi:
        raise error_for(2301, f"T_bounds={T_bounds!r} must satisfy 0 < lo < hi", parameter="T_bounds")
    if runs_per_multiplier < 1:
        raise error_for(2301, "runs_per_multiplier must be >= 1", parameter="runs_per_multiplier")


def estimate_threshold(model: Nunney2003, method: str = "nunney2003", seed: int = 0, search: str = "bisect",
                       multipliers=(1.00, 1.02, 1.05, 1.10), runs_per_multiplier: int = 5,
                       resolution: float = 0.01, early_stop: bool = True, T_bounds=(0.5, 1e5),
                       horizon: Any = None, workers: int | None = None, strict: bool = False,
                       progress: Any = None, executor: str = "local", runner: Any = None,
                       cancel: Any = None, **kw: Any) -> ThresholdResult:
    """`cancel=popgen.CancelToken()`: a cancel stops the running batch and raises K2207 whose
    `.partial` holds the finished tests (nunney2003) or the finished rounds' design (tp)."""
    if cancel is not None and (executor == "dask" or runner is not None):
        raise error_for(2107, "cancel= needs executor='local'", parameter="cancel")
    if executor == "dask" and runner is None:
        # One LocalCluster (or Client) for the whole estimate; rounds stay barriers, so the result equals
        # the local executor's (§5.1 item 2).
        from kiln.popgen.distributed import spec_runner

        runner = spec_runner(model, workers=workers, address=kw.pop("address", None))
        try:
            return estimate_threshold(model, method=method, seed=seed, search=search, multipliers=multipliers,
                                      runs_per_multiplier=runs_per_multiplier, resolution=resolution,
                                      early_stop=early_stop, T_bounds=T_bounds, horizon=horizon, workers=workers,
                                      strict=strict, progress=progress, executor="local", runner=runner, **kw)
        finally:
            runner.close()
    if method == "tp":
        from kiln.popgen.tp import estimate_tp

        return estimate_tp(model, seed=seed, T_bounds=T_bounds, horizon=horizon, workers=workers, strict=strict,
                           progress=progress, executor=executor, runner=runner, cancel=cancel, **kw)
    if method != "nunney2003":
        raise error_for(2107, f"method={method!r} is not one of nunney2003, tp", parameter="method")
    if kw:
        raise error_for(2106, f"unknown keyword(s) for method='nunney2003': {sorted(kw)}", parameter=sorted(kw)[0])
    if search not in ("bisect", "scan"):
        raise error_for(2107, f"search={search!r} is not one of bisect, scan", parameter="search")
    seed = check_seed("seed", seed)
    if executor not in ("local", "dask"):
        raise error_for(2107, f"executor={executor!r} is not one of local, dask", parameter="executor")
    multipliers = tuple(float(m) for m in multipliers)
    _check_config(multipliers, runs_per_multiplier, resolution, T_bounds)
    horizon = HorizonRule() if horizon is None else horizon
    T_min, T_max = float(T_bounds[0]), float(T_bounds[1])
    p = model.params
    tests: list[dict] = []
    cache: dict[float, bool] = {}

    def test(T: float) -> bool:
        if T in cache:
            return cache[T]
        specs = []
        for i, m in enumerate(multipliers):
            # The same replicate ids at every tested T (CRN), horizon H(T*m) per multiplier.
            reps = [NUNNEY_TAG | (runs_per_multiplier * i + k) for k in range(runs_per_multiplier)]
            specs += model.specs(seed, reps, [T * m], horizon, group=0)
        if runner is None:
            runs, _, _ = model.run_specs(specs, record="outcome", workers=workers,
                                         stop_group_on_extinction=early_stop, cancel=cancel)
            if cancel is not None and cancel.cancelled:  # this test is incomplete: keep only finished ones
                err = error_for(2207, f"the nunney2003 estimate was cancelled after {len(tests)} finished tests",
                                tests=len(tests))
                err.partial = list(tests)
                raise err
        else:  # Dask or a sweep's replaying runner: outcomes in spec order, no early stop
            runs = runner(specs)
        outcomes = runs.column("outcome").to_pylist()
        passed = all(o == "persisted" for o in outcomes)
        tests.append({"T": T, "passed": passed, "outcomes": outcomes,
                      "replicates": [s["replicate"] for s in specs],
                      "horizons": [s["horizon"] for s in specs]})
        if progress is not None:
            progress(tests[-1])
        cache[T] = passed
        return passed

    T_s = max(T_min, t_c(p.R, p.n))
    status = "ok"
    if search == "scan":
        T = T_s
        while T <= T_max and not test(T):
            T *= 1.02
        if T > T_max:
            status, lo, hi = "no_persistence", T_max, math.inf
        else:
            lo, hi = T / 1.02, T
    else:
        if test(T_s):
            hi, lo = T_s, T_s / 2
            while lo >= T_min and test(lo):
                hi, lo = lo, lo / 2
            if lo < T_min:
                status, lo = "below_floor", T_min
        else:
            lo, hi = T_s, T_s * 2
            while hi <= T_max and not test(hi):
                lo, hi = hi, hi * 2
            if hi > T_max:
                status, hi = "no_persistence", math.inf
        if status == "ok":
            while hi / lo > 1 + resolution:
                mid = math.sqrt(lo * hi)
                if test(mid):
                    hi = mid
                else:
                    lo = mid
    if strict and status != "ok":
        raise error_for(2302, f"the threshold is not bracketed inside T_bounds={T_bounds!r} ({status})",
                        status=status)
    return ThresholdResult("nunney2003", hi, lo, hi, status, tests, sum(len(t["outcomes"]) for t in tests),
                           horizon, seed)
