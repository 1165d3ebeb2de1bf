"""Sweeps and the results store (§6.3), local and Dask execution (§6.4): §11 items 9, 17, 19, 20, 21."""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pyarrow as pa
import pytest

from kiln import KilnError, popgen

SPEC = {"sweep": {"seed": 5, "task": "runs"}, "base": {"R": 10.0, "K": 100}, "grid": {"n": [1, 2], "M": [1.0, 2.0]},
        "horizon": {"generations": 200}, "runs": {"T": [10.0, 30.0], "replicates": 40}}
TOTAL = 4 * 2 * 40


def _runs(path):
    return popgen.open_store(path).runs().drop_columns(["wall_s"])


@pytest.fixture(scope="module")
def reference_store(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("ref") / "store")
    rep = popgen.Sweep(SPEC, path).run(workers=2)
    assert rep.executed == TOTAL and not rep.failed
    return path


def test_store_layout_and_rerun_is_noop(reference_store):
    meta = json.load(open(os.path.join(reference_store, "sweep.json")))
    assert meta["rng_schema"] == popgen.RNG_SCHEMA and meta["spec"]["grid"] == SPEC["grid"]
    assert all(n.startswith("part-") for n in os.listdir(os.path.join(reference_store, "runs")))
    runs = _runs(reference_store)
    assert runs.num_rows == TOTAL
    assert runs.column("replicate").to_pylist()[:40] == list(range(40))  # input order (cell, T, replicate)
    rep = popgen.Sweep(SPEC, reference_store).run(workers=2)
    assert rep.executed == 0 and rep.reused == TOTAL and rep.commits == 0
    assert _runs(reference_store).equals(runs)


def test_identical_across_worker_counts(reference_store, tmp_path):
    popgen.Sweep(SPEC, str(tmp_path / "s1")).run(workers=1)
    assert _runs(str(tmp_path / "s1")).equals(_runs(reference_store))


@pytest.fixture(scope="module")
def dask_address():
    """One LocalCluster of 2 single-threaded processes shared by the Dask tests (CI cost)."""
    import distributed  # a test dependency: absent must fail, not skip
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                                  silence_logs=40) as cluster:
        yield cluster.scheduler_address


def test_dask_sweep_and_simulate_many_match_local(reference_store, tmp_path, dask_address):
    # Item 9 (Dask part): a real LocalCluster with 2 processes gives the local tables.
    popgen.Sweep(SPEC, str(tmp_path / "d")).run(executor="dask", workers=2, address=dask_address)
    assert _runs(str(tmp_path / "d")).equals(_runs(reference_store))
    m = popgen.Nunney2003(popgen.Params(K=100, n=1, M=1))
    local = popgen.simulate_many(m, seed=1, replicates=40, T=[20.0, 40.0], horizon=100, workers=2)
    dask = popgen.simulate_many(m, seed=1, replicates=40, T=[20.0, 40.0], horizon=100, executor="dask", workers=2,
                                address=dask_address)
    assert dask.runs.drop_columns(["wall_s"]).equals(local.runs.drop_columns(["wall_s"]))


def test_dask_threshold_matches_local(dask_address):
    # Item 17 (Dask part): rounds are barriers, so the estimate does not depend on the executor.
    m = popgen.Nunney2003(popgen.Params(K=100, n=1, M=1))
    kw = dict(method="tp", seed=3, horizon=300, rel_tol=0.15, min_runs=100, max_runs=600, workers=2)
    a = popgen.estimate_threshold(m, **kw)
    b = popgen.estimate_threshold(m, executor="dask", address=dask_address, **kw)
    assert a.design.equals(b.design) and a.thresholds.equals(b.thresholds)


def test_resume_adds_only_new_units(reference_store, tmp_path):
    import shutil

    path = str(tmp_path / "grow")
    shutil.copytree(reference_store, path)
    bigger = json.loads(json.dumps(SPEC))
    bigger["runs"]["replicates"] = 50
    bigger["grid"]["M"] = [1.0, 2.0, 4.0]
    rep = popgen.Sweep(bigger, path).run(workers=2)
    assert rep.reused == TOTAL and rep.executed == 6 * 2 * 50 - TOTAL
    fresh = str(tmp_path / "fresh")
    popgen.Sweep(bigger, fresh).run(workers=2)
    assert _runs(path).equals(_runs(fresh))


def test_non_additive_change_and_lock(reference_store, tmp_path):
    changed = json.loads(json.dumps(SPEC))
    changed["base"]["R"] = 12.0
    with pytest.raises(ValueError) as ei:
        popgen.Sweep(changed, reference_store).run()
    assert ei.value.number == 2402
    from kiln import _kiln

    root, ns = os.path.split(reference_store)
    holder = _kiln.PopgenPartStore(root, ns, "sweep", True)  # another live writer
    try:
        with pytest.raises(BlockingIOError) as ei:
            popgen.Sweep(SPEC, reference_store).run()
        assert ei.value.number == 2401
    finally:
        holder.close()


def test_rng_schema_mismatch(reference_store, tmp_path):
    import shutil

    path = str(tmp_path / "old")
    shutil.copytree(reference_store, path)
    sj = os.path.join(path, "sweep.json")
    meta = json.load(open(sj))
    meta["rng_schema"] = 0
    json.dump(meta, open(sj, "w"))
    with pytest.raises(ValueError) as ei:
        popgen.Sweep(SPEC, path).run()
    assert ei.value.number == 2405


def test_corrupt_part_is_quarantined_and_rerun(reference_store, tmp_path, caplog):
    import shutil

    path = str(tmp_path / "bad")
    shutil.copytree(reference_store, path)
    runs_dir = os.path.join(path, "runs")
    parts = sorted(os.listdir(runs_dir))
    victim = os.path.join(runs_dir, parts[0])
    lost = pa.parquet.read_table(victim).num_rows
    other = {p: open(os.path.join(runs_dir, p), "rb").read() for p in parts[1:]}
    with open(victim, "r+b") as f:
        f.write(b"garbage!" * 8)
    with caplog.at_level("WARNING", logger="kiln.popgen.sweep"):
        rep = popgen.Sweep(SPEC, path).run(workers=2)
    assert "K2403" in caplog.text
    assert os.path.exists(victim + ".bad") and not os.path.exists(victim)
    assert rep.executed == lost
    for p, data in other.items():  # no other data touched
        assert open(os.path.join(runs_dir, p), "rb").read() == data
    assert _runs(path).equals(_runs(reference_store))


@pytest.mark.parametrize("bad,code", [
    ({"grid": {"n": [1], "u": [0.1], "M": [1.0]}}, 2404), ({"grid": {"n": []}}, 2404),
    ({"grid": {"Q": [1]}}, 2404), ({"grid": {"n": [1, 1]}}, 2404), ({"base": {"R": 1.5}}, 2104),
    ({"base": {"K": 10**8}}, 2202), ({"sweep": {"task": "fly"}}, 2404)])
def test_spec_errors_before_any_run(tmp_path, bad, code):
    spec = json.loads(json.dumps(SPEC))
    for k, v in bad.items():
        spec[k] = {**spec[k], **v} if k != "grid" else v
    with pytest.raises(KilnError) as ei:
        popgen.Sweep(spec, str(tmp_path / "s")).run()
    assert ei.value.number == code
    assert not os.path.exists(tmp_path / "s" / "runs")


def test_failing_cell_is_recorded_and_others_finish(tmp_path):
    # An allele at the int32 limit overflows on the first up-mutation (K2205): only the u > 0 cell fails.
    spec = {"sweep": {"seed": 5}, "base": {"R": 10.0, "K": 50, "n": 1, "initial_allele": 2147483647},
            "grid": {"u": [0.0, 0.5]}, "horizon": {"generations": 50}, "runs": {"T": [1e9], "replicates": 3}}
    rep = popgen.Sweep(spec, str(tmp_path / "f")).run(workers=2)
    assert list(rep.failed.values()) == ["K2205"] and rep.exit_code == 3
    cells = popgen.open_store(str(tmp_path / "f")).cells().to_pylist()
    assert [c["status"] for c in cells] == ["done", "failed"] and cells[1]["error_code"] == "K2205"


def test_threshold_sweep_and_cost(tmp_path):
    spec = {"sweep": {"seed": 2, "task": "threshold", "method": "nunney2003"}, "base": {"R": 10.0, "K": 60, "M": 1.0},
            "grid": {"n": [1, 2, 3]}, "horizon": {"generations": 150}}
    path = str(tmp_path / "t")
    rep = popgen.Sweep(spec, path).run(workers=2)
    st = popgen.open_store(path)
    thr = st.thresholds().to_pylist()
    assert [r["n"] for r in thr] == [1, 2, 3] and all(r["kind"] == "nunney2003" for r in thr)
    assert st.cost() is not None and st.cost().num_rows == 1
    again = popgen.Sweep(spec, path).run(workers=2)  # finished cells are skipped, nothing reruns
    assert again.executed == 0 and rep.executed > 0
    # A killed threshold sweep replays stored outcomes: dropping the thresholds/cells tables reruns no run.
    import shutil

    shutil.rmtree(os.path.join(path, "thresholds"))
    shutil.rmtree(os.path.join(path, "cells"))
    replay = popgen.Sweep(spec, path).run(workers=2)
    assert replay.executed == 0
    assert popgen.open_store(path).thresholds().to_pylist() == thr


SCRIPT = textwrap.dedent("""
    import json, sys
    from kiln import popgen
    if __name__ == "__main__":
        spec = json.loads(sys.argv[1])
        try:
            rep = popgen.Sweep(spec, sys.argv[2]).run(workers=1, commit_records=16, commit_seconds=0.05)
        except KeyboardInterrupt as e:
            print("interrupted", getattr(e, "number", None), flush=True)
            sys.exit(130)
""")

BIG = json.loads(json.dumps(SPEC))
BIG["base"]["K"] = 400
BIG["horizon"]["generations"] = 600
BIG["runs"]["replicates"] = 64


def _start(path, tmp_path):
    script = tmp_path / "drive.py"
    script.write_text(SCRIPT)
    # SIG_DFL for SIGINT in the child: a test run started in the background of a non-interactive shell
    # inherits SIGINT ignored, and Python then installs no KeyboardInterrupt handler.
    return subprocess.Popen([sys.executable, str(script), json.dumps(BIG), path], stdout=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def _wait_for_parts(path, proc, count=2, timeout=60):
    runs_dir = os.path.join(path, "runs")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.isdir(runs_dir) and len([n for n in os.listdir(runs_dir) if n.startswith("part-")]) >= count:
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.02)
    return False


def test_sigkill_then_resume_matches_uninterrupted(tmp_path):
    path = str(tmp_path / "k")
    proc = _start(path, tmp_path)
    assert _wait_for_parts(path, proc), "the sweep finished before it could be killed; enlarge BIG"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    total = 4 * 2 * 64
    committed = pa.parquet.read_table(os.path.join(path, "runs")).num_rows if os.path.isdir(
        os.path.join(path, "runs")) else 0
    assert 0 < committed < total
    rep = popgen.Sweep(BIG, path).run(workers=2)
    assert rep.executed <= (total - rep.reused) + 256 and rep.reused + rep.executed == total
    fresh = str(tmp_path / "fresh")
    popgen.Sweep(BIG, fresh).run(workers=2)
    assert _runs(path).equals(_runs(fresh))


def test_sigint_commits_and_exits_130(tmp_path):
    path = str(tmp_path / "i")
    proc = _start(path, tmp_path)
    assert _wait_for_parts(path, proc, count=1)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "interrupted 2207" in out
    rep = popgen.Sweep(BIG, path).run(workers=2)
    assert rep.reused > 0 and rep.reused + rep.executed == 4 * 2 * 64
