"""Plots (popgen §6.6): matplotlib Agg, PNG 1600x1000 px. Each returns the Figure; the plotted arrays
are on `fig.kiln_data` so tests can compare them with the stored results."""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyarrow as pa

from kiln.errors import error_for
from kiln.popgen import glm

PUBLISHED = {  # §8.1 approximate published values: (M, n) -> C
    (10.0, 7): 40.0, (1.0, 1): 20.0, (0.1, 1): 300.0, (0.05, 1): 500.0}


def _mpl():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:
        raise error_for(2602, "plots need matplotlib: pip install 'kiln[plot]'", cause=e) from e
    return plt


def _wilson(s, m, z=1.959963984540054):
    p = s / m
    den = 1 + z * z / m
    c = (p + z * z / (2 * m)) / den
    h = z * np.sqrt(p * (1 - p) / m + z * z / (4 * m * m)) / den
    return c - h, c + h


def plot_persistence(est: Any, path: str | None = None, link: str | None = None, targets=(0.5, 0.9)):
    """Persistence against T: empirical fractions (Wilson 95% bars), fitted curve with a 95% band."""
    plt = _mpl()
    if isinstance(est, pa.Table):
        design, link = est, link or "cloglog"
        nunney_C = None
    else:
        design, link, targets = est.design, est.link, est.targets
        nunney_C = getattr(est, "nunney_C", None)
    if design is None or design.num_rows == 0:
        raise error_for(2601, "no runs to plot for this cell", parameter="cell")
    T = np.array(design.column("T").to_pylist(), float)
    y = np.array(design.column("persisted").to_pylist(), float)
    H = np.array(design.column("H" if "H" in design.column_names else "horizon").to_pylist(), float)
    d = glm.Design.from_runs(T, y, H, link=link)
    f = glm.fit(link, d)
    Ts = np.exp(d.x)
    frac = d.s / d.m
    lo, hi = _wilson(d.s, d.m)
    grid = np.exp(np.linspace(d.x.min() - 0.2, d.x.max() + 0.2, 200))
    if d.use_offset:
        off = np.interp(np.log(grid), d.x, d.off)
    else:
        off = np.zeros_like(grid)
    eta = f.beta[0] + f.beta[1] * np.log(grid) + off
    X = np.column_stack([np.ones_like(grid), np.log(grid)])
    se = np.sqrt(np.einsum("ij,jk,ik->i", X, f.cov, X))  # delta method on eta, mapped through the link
    curve = glm.link_terms(link, eta)[2]
    b1, b2 = glm.link_terms(link, eta - 1.96 * se)[2], glm.link_terms(link, eta + 1.96 * se)[2]
    fig, ax = plt.subplots(figsize=(16, 10), dpi=100)
    ax.set_xscale("log")
    ax.errorbar(Ts, frac, yerr=[np.maximum(frac - lo, 0), np.maximum(hi - frac, 0)], fmt="none", ecolor="grey", alpha=0.6)
    ax.scatter(Ts, frac, s=10 + 3 * d.m, color="C0", label="empirical persistence (size ~ runs)")
    ax.plot(grid, curve, color="C1", label=f"{link} fit")
    ax.fill_between(grid, np.minimum(b1, b2), np.maximum(b1, b2), color="C1", alpha=0.2, label="95% band")
    tps = {}
    for q in targets:
        t = glm.solve_T(f, q, None, False) if not d.use_offset else math.nan
        tps[q] = t
        ax.axhline(q, ls="--", color="k", lw=0.8)
        if math.isfinite(t):
            ax.axvline(t, ls=":", color="C2")
    if nunney_C and math.isfinite(nunney_C):
        ax.scatter([nunney_C], [1.0], marker="^", s=120, color="C3", label=f"nunney2003 C = {nunney_C:.3g}")
    ax.set_xlabel("T (generations per allele unit)")
    ax.set_ylabel("P(persist to H)")
    ax.set_title(f"Persistence against T ({int(d.m.sum())} runs, horizons {int(H.min())}-{int(H.max())})")
    ax.legend()
    fig.kiln_data = {"T": Ts, "fraction": frac, "runs": d.m, "curve_T": grid, "curve_p": curve, "T_p": tps}
    if path:
        fig.savefig(path, dpi=100)
    return fig


def plot_cost(fit: Any, path: str | None = None, show_published: bool = False, R: float = 10.0):
    """C against n: points per group, fitted C0 + C1*n lines, the analytic T_c(R, n, 1/8)."""
    plt = _mpl()
    from kiln.popgen.threshold import t_c

    groups = getattr(fit, "groups", None)
    if not groups:
        raise error_for(2601, "no cost groups to plot", parameter="group")
    fig, ax = plt.subplots(figsize=(16, 10), dpi=100)
    data = []
    nmax = 1
    for i, g in enumerate(groups):
        n = np.array(g.n, float)
        C = np.array(g.C, float)
        nmax = max(nmax, int(n.max()) if n.size else 1)
        ax.scatter(n, C, color=f"C{i}")
        label = ", ".join(f"{k}={v}" for k, v in g.key.items() if k in ("M", "K", "R", "kind", "p"))
        if g.error is None:
            xs = np.array([n.min(), n.max()])
            ax.plot(xs, g.C0 + g.C1 * xs, color=f"C{i}", label=f"{label}: C0={g.C0:.3g}, C1={g.C1:.3g}")
        data.append({"key": g.key, "n": n, "C": C, "C0": g.C0, "C1": g.C1})
    ns = np.arange(1, nmax + 1)
    ax.plot(ns, [t_c(R, int(k)) for k in ns], ls="--", color="k", label=f"T_c(R={R:g}, n, 1/8)")
    if show_published:
        for (M, n), C in PUBLISHED.items():
            ax.scatter([n], [C], facecolors="none", edgecolors="k", s=80)
    ax.set_xlabel("n (traits)")
    ax.set_ylabel("C (generations)")
    ax.legend()
    fig.kiln_data = {"groups": data}
    if path:
        fig.savefig(path, dpi=100)
    return fig
