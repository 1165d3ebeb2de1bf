"""`kiln bench compare` / `check` and the Mann–Whitney U test (specs/formula.md C.2; D.29, D.30)."""
from __future__ import annotations

import itertools
import json
import math
import subprocess
import sys

import numpy as np
import pytest

from kiln import errors as ke
from kiln.bench import compare as C


def brute_force_p(a, b):
    """Exact two-sided p by enumerating every assignment of the pooled values (no ties)."""
    pooled = list(a) + list(b)
    n1, n = len(a), len(a) + len(b)
    ranks = {v: i + 1 for i, v in enumerate(sorted(pooled))}
    u_obs = sum(ranks[v] for v in a) - n1 * (n1 + 1) / 2
    big = max(u_obs, n1 * len(b) - u_obs)
    count = total = 0
    for combo in itertools.combinations(range(1, n + 1), n1):
        u = sum(combo) - n1 * (n1 + 1) / 2
        total += 1
        count += u >= big
    return min(1.0, 2 * count / total)


@pytest.mark.parametrize("seed", range(12))
def test_exact_matches_enumeration(seed):
    rng = np.random.default_rng(seed)
    n1, n2 = rng.integers(1, 7, size=2)
    vals = rng.permutation(40)[: n1 + n2].astype(float)
    a, b = vals[:n1], vals[n1:]
    _, p = C.mann_whitney(a, b)
    assert abs(p - brute_force_p(a, b)) < 1e-12


def test_known_values():
    # scipy.stats.mannwhitneyu([1..5], [6..10]) -> U = 0, p = 2/252 (exact)
    u, p = C.mann_whitney([1, 2, 3, 4, 5], [6, 7, 8, 9, 10])
    assert u == 0.0 and abs(p - 2 / 252) < 1e-15
    # ties: the normal approximation with tie and continuity corrections, restated by hand
    a, b = [1, 2, 2, 3, 3, 3], [3, 4, 4, 5, 6, 6, 7]
    u, p = C.mann_whitney(a, b)
    n1, n2, n = 6, 7, 13
    ties = [2, 4, 2, 2]
    var = n1 * n2 / 12 * ((n + 1) - sum(t ** 3 - t for t in ties) / (n * (n - 1)))
    z = (max(u, n1 * n2 - u) - n1 * n2 / 2 - 0.5) / math.sqrt(var)
    assert abs(p - math.erfc(z / math.sqrt(2))) < 1e-12


def samples(rng, center, n=15, noise=0.01):
    return list(center * (1 + noise * rng.standard_normal(n)))


def test_verdicts_d30():
    rng = np.random.default_rng(42)
    base = samples(rng, 100.0)
    assert C.verdict(base, samples(rng, 120.0))["verdict"] == "regressed"
    assert C.verdict(base, samples(rng, 80.0))["verdict"] == "improved"
    assert C.verdict(base, samples(np.random.default_rng(42), 100.0))["verdict"] == "no change"
    assert C.verdict(base, samples(rng, 102.0, noise=0.002))["verdict"] in ("within noise",)
    assert C.verdict(base[:4], samples(rng, 200.0, n=4))["verdict"] == "insufficient"
    a, b = samples(rng, 100.0), samples(rng, 120.0)
    assert C.verdict(a, b, name="x", impl="kiln") == C.verdict(a, b, name="x", impl="kiln")   # deterministic


def record(name, values, correct=True, quick=False, ratio=None, target=None):
    return {"schema": "kiln.bench/1", "name": name, "unit": "ns", "per": "call", "params": {}, "quick": quick,
            "correct": correct, "kiln": {"impl": "kiln", "value": float(np.median(values)), "samples": values,
                                         "better": "lower", "correct": correct},
            "peers": {"p": {"impl": "p", "value": 1.0, "samples": [1.0] * 5}}, "ratio": ratio or {"p": 2.0},
            "target": target or [], "run_id": "r"}


def write(path, recs):
    path.write_text("\n".join(json.dumps(r) for r in recs) + "\n")
    return str(path)


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "kiln.bench", *args], capture_output=True, text=True, timeout=120)


def test_compare_cli(tmp_path):
    rng = np.random.default_rng(0)
    a = write(tmp_path / "a.jsonl", [record("s/x", samples(rng, 100.0)), record("s/y", samples(rng, 100.0))])
    b = write(tmp_path / "b.jsonl", [record("s/x", samples(rng, 130.0)), record("s/y", samples(rng, 100.0))])
    r = run_cli("compare", a, b)
    assert r.returncode == 0, r.stderr
    assert "regressed" in r.stdout
    assert run_cli("compare", a, b, "--fail-on-regression").returncode == 1
    js = json.loads(run_cli("compare", a, b, "--format", "json").stdout)
    assert [row["verdict"] for row in js["rows"]][0] == "regressed"
    assert run_cli("compare", a, b, "--format", "json").stdout == run_cli("compare", a, b, "--format", "json").stdout
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"schema": "kiln.bench/1", "name": "x", "kiln": {"value": NaN}}\n')
    r = run_cli("compare", a, str(bad))
    assert r.returncode == 2 and "K6001" in r.stderr
    with pytest.raises(ke.BenchRecordInvalidError) as ei:
        C.read_records(str(bad))
    assert ei.value.details["line"] == 1
    v2 = tmp_path / "v2.jsonl"
    v2.write_text('{"schema": "kiln.bench/2", "name": "x"}\n')
    with pytest.raises(ke.BenchSchemaVersionError):
        C.read_records(str(v2))


def test_check_cli(tmp_path):
    ok = write(tmp_path / "ok.jsonl", [record("s/x", [1.0] * 5, ratio={"p": 3.0}, target=[{"peer": "p", "min_ratio": 2}])])
    assert run_cli("check", ok).returncode == 0
    miss = write(tmp_path / "miss.jsonl", [record("s/x", [1.0] * 5, ratio={"p": 1.5}, target=[{"peer": "p", "min_ratio": 2}])])
    assert run_cli("check", miss).returncode == 1
    unavailable = write(tmp_path / "u.jsonl", [record("s/x", [1.0] * 5, ratio={"p": None},
                                                      target=[{"peer": "p", "min_ratio": 2}])])
    assert run_cli("check", unavailable).returncode == 1
    quick = write(tmp_path / "q.jsonl", [record("s/x", [1.0] * 5, quick=True, ratio={"p": 1.0},
                                                target=[{"peer": "p", "min_ratio": 2}])])
    assert run_cli("check", quick).returncode == 0
    reported = write(tmp_path / "r.jsonl", [record("s/x", [1.0] * 5, ratio={"p": 0.5},
                                                   target=[{"peer": "p", "min_ratio": None, "text": "report"}])])
    r = run_cli("check", reported)
    assert r.returncode == 0 and r.stdout.startswith("report")
    targets = tmp_path / "targets.toml"
    targets.write_text('[[target]]\nid = "T1"\ncase = "s/missing"\npeer = "p"\nmin_ratio = 1.0\n')
    r = run_cli("check", ok, "--targets", str(targets))
    assert r.returncode == 2 and "K6004" in r.stderr
