"""`python -m kiln.bench stats --quick` prints one valid kiln.bench/1 record per case with correct:
true for every kiln subject (specs/formula.md C.3, D.27)."""
from __future__ import annotations

import json
import subprocess
import sys

REQUIRED = {"schema", "bench", "case", "name", "params", "quick", "unit", "per", "work", "kiln", "peers", "ratio",
            "ratio_ci", "target", "pass", "correctness", "correct", "extra", "env", "run_id", "timestamp"}


def test_stats_bench_quick(tmp_path):
    out = tmp_path / "records.jsonl"
    proc = subprocess.run([sys.executable, "-m", "kiln.bench", "stats", "--quick", "--out", str(out)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    printed = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert printed == [json.loads(line) for line in out.read_text().splitlines()]
    cases = {r["case"] for r in printed}
    assert {f"R{i}.1000" for i in range(1, 7)} <= cases
    assert {f"R7.{s}" for s in ("sum", "mean", "min", "max", "p95", "stddev", "pearson")} <= cases
    for r in printed:
        assert REQUIRED <= r.keys(), r["case"]
        assert r["schema"] == "kiln.bench/1" and r["bench"] == "stats" and r["quick"] is True
        assert r["correct"] is True, (r["case"], r["correctness"])
        assert r["kiln"]["value"] > 0
        for name, peer in r["peers"].items():
            assert peer["value"] > 0, (r["case"], name)
