"""CI runs the popgen benchmarks in --quick mode: every record is complete and `correct: true` (§10, §11 item 32)."""
from __future__ import annotations

import json
import subprocess
import sys

REQUIRED = {"schema", "bench", "case", "name", "params", "seed", "quick", "unit", "per", "work", "kiln", "peers",
            "ratio", "ratio_ci", "target", "pass", "correctness", "correct", "extra", "env", "run_id", "timestamp"}
THROUGHPUT_CORRECTNESS = {"method", "persisted", "births_total", "mean_N_over_K", "reference_mean_N_over_K",
                          "generation_table_sha256", "golden_match", "rerun_identical", "frozen_lag_abs_err"}


def test_popgen_bench_quick_records_are_complete_and_correct(tmp_path):
    out = tmp_path / "records.jsonl"
    proc = subprocess.run([sys.executable, "-m", "kiln.bench", "popgen", "--quick", "--out", str(out)],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    printed = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    saved = [json.loads(line) for line in out.read_text().splitlines()]
    assert printed == saved
    cases = {r["case"] for r in printed}
    assert cases == {"throughput/K500_n1", "throughput/K500_n7", "threshold/tp_M1_n1", "threshold/nunney2003_M1_n1",
                     "sweep/local", "sweep/dask"}
    for r in printed:
        assert REQUIRED <= r.keys(), r["case"]
        assert r["schema"] == "kiln.bench/1" and r["bench"] == "popgen" and r["quick"] is True
        assert r["correct"] is True, (r["case"], r["correctness"])
        assert r["params"]["rng_schema"] == 1
        assert r["kiln"]["value"] > 0
    for r in (r for r in printed if r["case"].startswith("throughput/")):
        assert r["per"] == "offspring" and r["unit"] == "ns"
        assert THROUGHPUT_CORRECTNESS <= r["correctness"].keys()
        c = r["correctness"]
        assert c["golden_match"] is True and c["rerun_identical"] is True and c["frozen_lag_abs_err"] <= 0.005
        assert r["kiln"]["impl"] == "native" and r["peers"]["reference"]["impl"] == "reference"
        assert r["ratio"]["reference"] > 0
        fw = r["peers"]["fwdpy11"]
        assert fw["impl"] == "fwdpy11"
        assert (fw["value"] is None and fw["note"] == "unavailable") or fw["value"] > 0
        assert set(r["extra"]["generations_per_s"]) >= {"native", "reference"}
        assert r["extra"]["fwdpy11_config"]["simplification_interval"] == 100
    tp = next(r for r in printed if r["case"] == "threshold/tp_M1_n1")
    assert tp["per"] == "estimate" and tp["ratio"]["reference"] > 0
    est = tp["extra"]["full_estimate"]["estimates"]
    assert est["T_0.5"] <= est["T_0.9"]
    for r in (r for r in printed if r["case"].startswith("sweep/")):
        assert r["correctness"]["tables_identical"] is True and r["per"] == "sweep"
        assert "kiln:workers=1" in r["peers"] and r["params"]["workers"] == 2
    # Both executors produced the same runs table.
    assert len({r["correctness"]["runs_table_sha256"] for r in printed if r["case"].startswith("sweep/")}) == 1
