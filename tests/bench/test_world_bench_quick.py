"""CI runs the world benchmarks in --quick mode and fails on any `correct: false` (world §11, item 71)."""
from __future__ import annotations

import json
import subprocess
import sys

REQUIRED = {"schema", "bench", "case", "name", "params", "quick", "unit", "per", "work", "kiln", "peers", "ratio",
            "ratio_ci", "target", "pass", "correctness", "correct", "extra", "env", "run_id", "timestamp"}


def test_world_bench_quick_records_are_complete_and_correct(tmp_path):
    out = tmp_path / "records.jsonl"
    proc = subprocess.run([sys.executable, "-m", "kiln.bench", "world", "--quick", "--out", str(out)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    printed = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    saved = [json.loads(line) for line in out.read_text().splitlines()]
    assert printed == saved
    cases = {r["case"] for r in printed}
    for prefix in ("movement_compare/1000x3/", "movement_compare/1000x50/", "movement_compare/10000x50/",
                   "mid_run_spawn/1000+200@2x5/"):
        assert {prefix + "memory", prefix + "parquet"} <= cases
    for r in printed:
        assert REQUIRED <= r.keys(), r["case"]
        assert r["schema"] == "kiln.bench/1" and r["bench"] == "world" and r["quick"] is True
        assert r["correct"] is True, (r["case"], r["correctness"])
        assert r["kiln"]["impl"] == "kiln-native" and r["peers"]["reference"]["impl"] == "kiln-reference"
        assert r["kiln"]["value"] > 0 and r["ratio"]["reference"] > 0
        backends = {b["backend"]: b for b in r["extra"]["backends"]}
        assert set(backends) == {"kiln-native", "kiln-reference"}
        for b in backends.values():
            assert b["correctness"]["correct"] is True
            assert b["correctness"]["sum_position_x_abs_error"] == 0.0
            assert b["correctness"]["sum_position_y_abs_error"] == 0.0
    defaults = [r for r in printed if r["case"].startswith("movement_compare/1000x3/")]
    assert all(r["correctness"]["expected_sum_position_x"] == 501_500 for r in defaults)
    assert all(r["correctness"]["expected_sum_position_y"] == -1_000 for r in defaults)
    mid = [r for r in printed if r["case"].startswith("mid_run_spawn/")]
    assert all(r["correctness"]["expected_rows"] == 1_200 and r["correctness"]["expected_sum_position_x"] == 723_800
               and r["correctness"]["expected_sum_position_y"] == -2_200 for r in mid)


def test_bench_statistics_are_reproducible():
    from kiln.bench.stats import bootstrap_ci, summarize

    samples = [1.0, 1.2, 0.9, 1.1, 5.0, 1.05, 0.95]
    assert bootstrap_ci(samples, "case", "impl") == bootstrap_ci(samples, "case", "impl")
    s = summarize(samples, "case", "impl")
    assert s["median"] == 1.05 and s["n"] == 7 and s["outliers_severe"] == 1
    lo, hi = s["ci95"]
    assert lo <= s["median"] <= hi
