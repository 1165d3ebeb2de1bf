"""C0/C1 regression across n (popgen §3.3): C = C0 + C1*n per group of every other parameter."""
from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import pyarrow as pa

from kiln.errors import KilnError, error_for
from kiln.popgen import glm

# Columns that are results or identities, never grouping keys.
RESULT_COLUMNS = {"n", "C", "T_p", "value", "ci_lo", "ci_hi", "k_p", "rate", "runs", "rounds", "converged",
                  "status", "cell_id", "seed", "error_code", "T_lo", "T_hi", "sweep_id", "wall_s", "u"}


@dataclasses.dataclass
class GroupFit:
    key: dict
    n: list
    C: list
    C0: float = math.nan
    C1: float = math.nan
    C0_ci: tuple = (math.nan, math.nan)
    C1_ci: tuple = (math.nan, math.nan)
    r2: float = math.nan
    residuals: list = dataclasses.field(default_factory=list)
    quadratic_p: float = math.nan
    weighted: bool = False
    error: KilnError | None = None


@dataclasses.dataclass
class CostFit:
    groups: list

    def __getattr__(self, name: str) -> Any:
        # A single-group fit reads like the group itself: fit.C0, fit.C1_ci, ...
        gs = self.__dict__.get("groups", [])
        if len(gs) == 1 and hasattr(gs[0], name):
            return getattr(gs[0], name)
        raise AttributeError(name)

    def table(self) -> pa.Table:
        rows = []
        for g in self.groups:
            rows.append({**{k: str(v) for k, v in g.key.items()}, "C0": g.C0, "C0_lo": g.C0_ci[0],
                         "C0_hi": g.C0_ci[1], "C1": g.C1, "C1_lo": g.C1_ci[0], "C1_hi": g.C1_ci[1], "r2": g.r2,
                         "quadratic_p": g.quadratic_p, "points": len(g.n),
                         "error_code": None if g.error is None else g.error.code})
        return pa.Table.from_pylist(rows)


def _rows(thresholds: Any) -> list[dict]:
    if isinstance(thresholds, pa.Table):
        return thresholds.to_pylist()
    if hasattr(thresholds, "to_arrow"):
        return thresholds.to_arrow().to_pylist()
    return [dict(r) for r in thresholds]


def _value(r: dict) -> float:
    for k in ("C", "T_p", "value"):
        if r.get(k) is not None:
            return float(r[k])
    raise error_for(2304, "a threshold row has no C, T_p or value column", row=str(r))


def regress_cost(thresholds: Any) -> CostFit:
    rows = _rows(thresholds)
    groups: dict[tuple, list] = {}
    for r in rows:
        if "n" not in r:
            raise error_for(2304, "threshold rows need an `n` column", parameter="n")
        key = tuple(sorted((k, v) for k, v in r.items() if k not in RESULT_COLUMNS))
        groups.setdefault(key, []).append(r)
    fits = []
    for key, rs in groups.items():
        g = GroupFit(dict(key), [], [])
        pts = [(float(r["n"]), _value(r), r.get("ci_lo"), r.get("ci_hi")) for r in rs]
        pts = [p for p in pts if math.isfinite(p[1])]
        pts.sort()
        g.n = [p[0] for p in pts]
        g.C = [p[1] for p in pts]
        if len(pts) < 3:
            g.error = error_for(2304, f"group {dict(key)} has {len(pts)} finite points; C0 + C1*n needs 3",
                                points=len(pts))
            fits.append(g)
            continue
        _fit_group(g, pts)
        fits.append(g)
    if fits and all(g.error is not None for g in fits):
        raise fits[0].error
    return CostFit(fits)


def _fit_group(g: GroupFit, pts) -> None:
    n = np.array([p[0] for p in pts])
    y = np.array([p[1] for p in pts])
    ses = []
    for _, c, lo, hi in pts:
        if lo is None or hi is None or not (0 < lo < hi < math.inf):
            ses = None
            break
        # SE on the log scale from a 95% interval, mapped to T by the delta method (§3.3).
        ses.append(c * (math.log(hi) - math.log(lo)) / 3.92)
    w = np.ones_like(y) if ses is None or min(ses) <= 0 else 1.0 / np.square(ses)
    g.weighted = ses is not None
    beta, cov, resid, r2 = _wls(np.column_stack([np.ones_like(n), n]), y, w)
    g.C0, g.C1 = float(beta[0]), float(beta[1])
    df = len(y) - 2
    tq = glm.t_ppf(0.975, df)
    g.C0_ci = (g.C0 - tq * math.sqrt(cov[0, 0]), g.C0 + tq * math.sqrt(cov[0, 0]))
    g.C1_ci = (g.C1 - tq * math.sqrt(cov[1, 1]), g.C1 + tq * math.sqrt(cov[1, 1]))
    g.r2 = r2
    g.residuals = resid.tolist()
    if len(y) >= 4:  # linearity check: t-test of an added n^2 term
        b2, c2, _, _ = _wls(np.column_stack([np.ones_like(n), n, n * n]), y, w)
        se = math.sqrt(c2[2, 2])
        g.quadratic_p = (1.0 if b2[2] == 0 else 0.0) if se == 0 else glm.t_sf2(abs(b2[2]) / se, len(y) - 3)


def _wls(X, y, w):
    sw = np.sqrt(w)
    Xw, yw = X * sw[:, None], y * sw
    beta, *_ = np.linalg.lstsq(Xw, yw, rcond=None)
    resid = y - X @ beta
    df = len(y) - X.shape[1]
    s2 = float(np.sum(w * resid ** 2) / df) if df > 0 else math.nan
    cov = s2 * np.linalg.inv(Xw.T @ Xw)
    ybar = np.sum(w * y) / np.sum(w)
    sst = float(np.sum(w * (y - ybar) ** 2))
    r2 = 1.0 - float(np.sum(w * resid ** 2)) / sst if sst > 0 else math.nan
    return beta, cov, resid, r2
