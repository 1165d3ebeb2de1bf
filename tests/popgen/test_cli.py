"""§6.5 CLI (item 22, partial): run and threshold, bad flags exit 2 with the catalog code."""
import json
import subprocess
import sys


def kiln(*args):
    return subprocess.run([sys.executable, "-m", "kiln", *args], capture_output=True, text=True, timeout=300)


def test_run_and_bad_input(tmp_path):
    out = tmp_path / "runs.parquet"
    r = kiln("popgen", "run", "--K", "200", "--n", "1", "--M", "1", "--T", "40", "--replicates", "3",
             "--horizon", "100", "--out", str(out))
    assert r.returncode == 0, r.stderr
    import pyarrow.parquet as pq

    assert pq.read_table(out).num_rows == 3
    bad = kiln("popgen", "run", "--K", "0", "--n", "1", "--M", "1")
    assert bad.returncode == 2 and "K2104" in bad.stderr
    assert "R must exceed 2" in kiln("explain", "K2104").stdout or kiln("explain", "K2104").returncode == 0


def test_threshold_json(tmp_path):
    path = tmp_path / "thr.json"
    r = kiln("popgen", "threshold", "--K", "200", "--n", "1", "--M", "2", "--horizon", "300", "--seed", "3",
             "--json", str(path))
    assert r.returncode == 0, r.stderr
    res = json.loads(path.read_text())
    assert res["status"] == "ok" and res["C"] > 0 and res["log"]
