"""Stopping a running native batch (§6.1, K2207): a CancelToken or Ctrl-C stops it between
generations; runs completed before the request come back unchanged, the rest carry K2207."""
import json
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from kiln import popgen

COLS = ["replicate", "T", "horizon", "outcome", "persisted", "t_ext", "final_N", "min_N", "total_births",
        "total_mutations", "generations_simulated", "error_code"]
LONG = 10**6  # generations: minutes of work, so only a stop request ends these runs in the test


def _sigint_default():
    # A test run started in the background of a non-interactive shell has SIGINT ignored, which the
    # child would inherit (and Python then installs no KeyboardInterrupt handler).
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _specs(m):
    # Three short runs first, then three that only a stop request can end.
    return m.specs(5, range(3), None, 50) + m.specs(5, range(3, 6), None, LONG)


@pytest.mark.parametrize("workers", [1, 2])
def test_cancel_token_keeps_completed_runs(workers):
    m = popgen.Nunney2003(popgen.Params(K=1000, n=1, M=1, T=200))
    token = popgen.CancelToken()
    threading.Timer(0.5, token.cancel).start()
    t0 = time.monotonic()
    runs, _, _ = m.run_specs(_specs(m), workers=workers, cancel=token)
    assert time.monotonic() - t0 < 60 and token.cancelled
    rows = runs.select(COLS).to_pylist()
    assert [r["replicate"] for r in rows] == list(range(6))  # input order, one row per spec
    assert all(r["error_code"] == "K2207" and r["outcome"] == "error" for r in rows[3:])
    assert all(r["generations_simulated"] < LONG for r in rows[3:])
    # The completed runs are exactly what an uncancelled batch gives.
    alone, _, _ = m.run_specs(_specs(m)[:3], workers=1)
    assert rows[:3] == alone.select(COLS).to_pylist() and all(r["error_code"] is None for r in rows[:3])


def test_cancelled_before_start_and_simulate_many():
    m = popgen.Nunney2003(popgen.Params(K=200, n=1, M=1, T=50))
    token = popgen.CancelToken()
    token.cancel()
    b = popgen.simulate_many(m, seed=1, replicates=4, horizon=100, workers=2, cancel=token)
    assert b.runs.column("error_code").to_pylist() == ["K2207"] * 4
    assert max(b.runs.column("generations_simulated").to_pylist()) == 0
    ref = popgen.Nunney2003(m.params, backend="reference")
    rb = popgen.simulate_many(ref, seed=1, replicates=2, horizon=20, workers=1, cancel=token)
    assert rb.runs.column("error_code").to_pylist() == ["K2207"] * 2
    from kiln import KilnError

    with pytest.raises(KilnError) as e:
        popgen.simulate_many(m, seed=1, replicates=2, horizon=10, executor="dask", cancel=token)
    assert e.value.code == "K2107"


SCRIPT = textwrap.dedent(f"""
    import json, os, signal, threading
    from kiln import popgen
    m = popgen.Nunney2003(popgen.Params(K=1000, n=1, M=1, T=200))
    specs = m.specs(5, range(3), None, 50) + m.specs(5, range(3, 6), None, {LONG})
    threading.Timer(0.5, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
    try:
        m.run_specs(specs, workers=2)
    except KeyboardInterrupt as e:
        print(json.dumps({{"code": getattr(e, "code", None), "cause": type(e.__cause__).__name__,
                          "rows": e.partial.runs.select(["replicate", "outcome", "error_code"]).to_pylist()}}))
""")


def test_ctrl_c_raises_k2207_with_the_completed_runs():
    r = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120,
                       preexec_fn=_sigint_default)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["code"] == "K2207" and out["cause"] == "KeyboardInterrupt"
    assert [x["error_code"] for x in out["rows"]] == [None] * 3 + ["K2207"] * 3
    assert [x["replicate"] for x in out["rows"]] == list(range(6))


def test_cli_run_ctrl_c_writes_completed_runs_and_exits_130(tmp_path):
    out = tmp_path / "runs.parquet"
    p = subprocess.Popen([sys.executable, "-m", "kiln", "popgen", "run", "--K", "1000", "--n", "1", "--M", "1",
                          "--T", "200", "--horizon", str(LONG), "--replicates", "2", "--workers", "1",
                          "--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         preexec_fn=_sigint_default)
    time.sleep(5.0)  # interpreter start and import, then the kernel is inside the first run
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 130, err
    assert "interrupted" in err
    import pyarrow.parquet as pq

    assert pq.read_table(out).column("error_code").to_pylist() == ["K2207", "K2207"]


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # tp's fit on a tiny design
def test_estimators_stop_on_cancel_keeping_finished_work():
    from kiln import KilnError

    m = popgen.Nunney2003(popgen.Params(K=60, n=1, M=1))
    full = popgen.estimate_threshold(m, seed=3, horizon=100, workers=2)
    token, finished = popgen.CancelToken(), []

    def cancel_after_two_tests(t):
        finished.append(t)
        if len(finished) == 2:
            token.cancel()

    with pytest.raises(KilnError) as e:
        popgen.estimate_threshold(m, seed=3, horizon=100, workers=2, cancel=token, progress=cancel_after_two_tests)
    assert e.value.code == "K2207" and isinstance(e.value, KeyboardInterrupt)
    assert [(t["T"], t["passed"]) for t in e.value.partial] == [(t["T"], t["passed"]) for t in full.tests[:2]]

    token = popgen.CancelToken()
    with pytest.raises(KilnError) as e:
        popgen.estimate_threshold(m, method="tp", seed=3, horizon=100, workers=2, cancel=token,
                                  progress=lambda r: token.cancel() if r["round"] == 2 else None)
    assert e.value.code == "K2207" and e.value.partial.num_rows == 20  # two phase-A rounds of 10
    tp_full = popgen.estimate_threshold(m, method="tp", seed=3, horizon=100, workers=2, min_runs=20, max_runs=40)
    assert e.value.partial.column("persisted").to_pylist() == tp_full.design.column("persisted").to_pylist()[:20]
    with pytest.raises(KilnError):
        popgen.estimate_threshold(m, seed=3, horizon=100, executor="dask", cancel=token)
