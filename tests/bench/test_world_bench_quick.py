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


def _records(args, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "kiln.bench", "world", *args], capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr
    return [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]


def test_comparisons_print_c1_to_c5_with_targets(tmp_path):  # item 69 (shape; gates are judged on full runs)
    records = _records(["comparisons", "--quick", "--entities", "1000", "--ticks", "10", "--trials", "1"], tmp_path)
    kinds = {r["case"].split("/")[1] for r in records}
    assert kinds == {"C1.speedup", "C1.overhead", "C2", "C3.tick", "C3.process", "C4", "C5"}
    for r in records:
        assert r["correct"] is True, r["case"]
        assert r["target"] and all("min_ratio" in t and "text" in t for t in r["target"])
        assert r["pass"] is None  # quick mode never judges targets
        assert all(v is None or v > 0 for v in r["ratio"].values())


def test_ecs_workloads_on_three_systems_are_correct(tmp_path):  # item 70
    records = _records(["ecs", "--quick", "--n", "200", "--steps", "4", "--trials", "1"], tmp_path)
    assert {r["params"]["workload"] for r in records} == {"packed_iteration", "simple_iteration",
                                                          "fragmented_iteration", "entity_cycle", "add_remove"}
    for r in records:
        assert r["correct"] is True, (r["case"], r["correctness"])
        assert set(r["peers"]) == {"reference", "esper", "kiln:parquet"}
        assert r["peers"]["esper"]["value"] is not None and r["peers"]["esper"]["correct"] is True
