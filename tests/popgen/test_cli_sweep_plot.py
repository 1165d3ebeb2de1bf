"""`kiln popgen sweep|plot|threshold --method tp` (§6.5) and plots (§6.6): §11 items 22, 23 (non-TTY), 24."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from kiln import popgen

TOML = """
[sweep]
seed = 4
task = "threshold"
method = "tp"
options = { rel_tol = 0.2, min_runs = 60, max_runs = 200 }
[base]
K = 60
M = 1.0
[grid]
n = [1, 2, 3]
[horizon]
generations = 150
"""


def kiln(*args, env=None):
    e = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "kiln", *args], capture_output=True, text=True, env=e, timeout=600)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    (d / "sweep.toml").write_text(TOML)
    r = kiln("popgen", "sweep", str(d / "sweep.toml"), "--store", str(d / "res"), "--workers", "2",
             env={"KILN_NO_PROGRESS": "1"})
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["cells"] == 3
    return d


def test_sweep_cli_resume_and_bad_flags(store):
    r = kiln("popgen", "sweep", str(store / "sweep.toml"), "--store", str(store / "res"))
    assert r.returncode == 0 and json.loads(r.stdout)["executed"] == 0
    bad = store / "bad.toml"
    bad.write_text(TOML.replace("n = [1, 2, 3]", "n = [1, 1]"))
    r = kiln("popgen", "sweep", str(bad), "--store", str(store / "res2"))
    assert r.returncode == 2 and "K2404" in r.stderr
    r = kiln("popgen", "run", "--K", "-5", "--n", "1", "--M", "1")
    assert r.returncode == 2 and "K2104" in r.stderr
    assert "R must exceed 2" in kiln("popgen", "run", "--K", "50", "--n", "1", "--M", "1", "--R", "2").stderr
    r = kiln("popgen", "sweep", str(store / "sweep.toml"))  # missing --store: argparse usage error
    assert r.returncode == 2
    assert "POPGEN_PARAM_OUT_OF_RANGE" in kiln("explain", "K2104").stdout


def test_cost_plot_arrays_equal_store(store):
    out = store / "cost.png"
    r = kiln("popgen", "plot", "cost", "--store", str(store / "res"), "--threshold", "tp", "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert _png_size(out) == (1600, 1000)
    thr = popgen.open_store(str(store / "res")).thresholds().to_pylist()
    for row in thr:
        row.pop("cell_id")
    fig = popgen.plot_cost(popgen.regress_cost(thr))
    got = {round(g["key"]["p"], 3): g for g in fig.kiln_data["groups"]}
    for row in thr:
        g = got[round(row["p"], 3)]
        assert row["C"] in list(g["C"])


def test_persistence_plot_arrays_equal_design(store):
    thr = popgen.open_store(str(store / "res"))
    runs = thr.runs()
    cell = runs.column("cell_id")[0].as_py()
    out = store / "p.png"
    r = kiln("popgen", "plot", "persistence", "--store", str(store / "res"), "--cell", cell, "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert _png_size(out) == (1600, 1000)
    m = popgen.Nunney2003(popgen.Params(K=60, n=1, M=1.0))
    est = popgen.estimate_threshold(m, method="tp", seed=3, horizon=150, rel_tol=0.2, min_runs=60, max_runs=200)
    fig = popgen.plot_persistence(est)
    T = np.array(est.design.column("T").to_pylist())
    y = np.array(est.design.column("persisted").to_pylist(), float)
    for t, frac, n in zip(fig.kiln_data["T"], fig.kiln_data["fraction"], fig.kiln_data["runs"]):
        sel = np.isclose(T, t, rtol=1e-12)
        assert sel.sum() == n and y[sel].mean() == pytest.approx(frac)
    r = kiln("popgen", "plot", "persistence", "--store", str(store / "res"), "--cell", "nope", "--out", str(out))
    assert r.returncode == 2 and "K2601" in r.stderr


def test_plot_without_matplotlib_is_k2602(tmp_path):
    code = ("import sys; sys.modules['matplotlib'] = None\n"
            "from kiln import popgen\n"
            "try:\n    popgen.plots._mpl()\nexcept ImportError as e:\n    print(e.number)\n")
    r = subprocess.run([sys.executable, "-c", "import kiln.popgen.plots as _p\n" + code], capture_output=True,
                       text=True)
    assert r.stdout.strip() == "2602", r.stderr


def test_status_lines_without_tty(tmp_path):
    m = popgen.Nunney2003(popgen.Params(K=60, n=1, M=1))
    code = ("from kiln import popgen\n"
            "m = popgen.Nunney2003(popgen.Params(K=60, n=1, M=1))\n"
            "b = popgen.simulate_many(m, seed=1, replicates=100, T=[20.0], horizon=50, progress=True)\n"
            "print(b.runs.num_rows)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.stdout.strip() == "100"
    assert "runs: 100/100" in r.stderr and "\r" not in r.stderr  # a status line, not a bar
    assert m.params.K == 60


def _png_size(path):
    data = open(path, "rb").read(24)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
