"""`python -m kiln.bench formula --quick` prints one valid kiln.bench/1 record per case with
correct: true for every kiln subject (specs/formula.md D.27)."""
from __future__ import annotations

import json
import subprocess
import sys

REQUIRED = {"schema", "bench", "case", "name", "params", "quick", "unit", "per", "work", "kiln", "peers", "ratio",
            "ratio_ci", "target", "pass", "correctness", "correct", "extra", "env", "run_id", "timestamp"}


def test_formula_bench_quick(tmp_path):
    out = tmp_path / "records.jsonl"
    proc = subprocess.run([sys.executable, "-m", "kiln.bench", "formula", "--quick", "--out", str(out)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    printed = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert printed == [json.loads(line) for line in out.read_text().splitlines()]
    cases = {r["case"] for r in printed}
    assert {"S1.S", "S1.M", "S1.N10", "N1.N10", "N1.M", "S2.S", "C1.S", "C2", "V1.E1", "V1.E2", "V1.E3", "V1.E4", "V2.E3", "V3.batch", "V3.rules",
            "V4.E1", "P1.N10", "P1.N200", "P2"} <= cases
    for r in printed:
        assert REQUIRED <= r.keys(), r["case"]
        assert r["schema"] == "kiln.bench/1" and r["bench"] == "formula" and r["quick"] is True
        assert r["correct"] is True, (r["case"], r["correctness"])
        assert r["kiln"]["value"] > 0
        for name, peer in r["peers"].items():
            assert peer["value"] is None and peer["note"] or peer["value"] > 0, (r["case"], name)
