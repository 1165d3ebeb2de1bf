"""`kiln popgen validate` resumes (§8.4 cost: about 4 h): each finished estimate is checkpointed under a
key of everything that determines it, reused by a rerun, and never reused once an input changes."""
import dataclasses
import json

import pytest

from kiln.popgen import validate as v

# The paper plan's shape (V cell with tp and V-bar, grid G, Q3, Q4, sensitivity) at a tiny scale.
TINY = v.Plan(cells={"V2": (dict(K=60, n=1, M=1.0), 20.0, (1.0, 1e5))}, grid=True, horizon=120, grid_K=60,
              q3_K=(60, 80), sensitivity_cells=("V2",), sensitivity_horizon=150,
              tp=dict(min_runs=20, max_runs=40, batch=10, rel_tol=0.5))
pytestmark = pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")  # C = inf at tiny K
COMPUTE = ("_compute_nunney", "_compute_tp", "_compute_vbar")


def _count_computes(monkeypatch, fail=False):
    calls = []
    for name in COMPUTE:
        orig = getattr(v, name)

        def wrapped(*a, _orig=orig, _name=name, **kw):
            calls.append((_name, a[0].K, a[0].n, a[0].M, a[0].R))
            if fail:
                raise AssertionError(f"{_name} recomputed an estimate that is in the checkpoint")
            return _orig(*a, **kw)
        monkeypatch.setattr(v, name, wrapped)
    return calls


def _report(path):
    text = path.read_text()
    return text[text.index("```json"):]


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    d = tmp_path_factory.mktemp("validate")
    ck, out = d / "ck.jsonl", d / "report.md"
    v.run_validation(TINY, str(out), workers=2, checkpoint=str(ck), log=None)
    return ck, out


def test_rerun_reuses_every_checkpointed_estimate(first_run, tmp_path, monkeypatch, capsys):
    ck, out = first_run
    lines = ck.read_text().splitlines()
    # 3 for the V cell, 28 grid, 2 Q3, 1 Q4, 4 sensitivity = 38, less the two that repeat a grid cell
    # (V2 is grid M=1 n=1, Q3 K=60 is grid M=0.1 n=1): each is computed once.
    assert len(lines) == 36 and len({json.loads(x)["key"] for x in lines}) == 36
    calls = _count_computes(monkeypatch, fail=True)
    out2 = tmp_path / "again.md"
    v.run_validation(TINY, str(out2), workers=2, checkpoint=str(ck), log=__import__("sys").stderr)
    assert calls == [] and ck.read_text().splitlines() == lines
    assert _report(out2) == _report(out)
    err = capsys.readouterr().err
    assert "36 estimates, 36 already in" in err and "[validate 36/36 " in err and "from checkpoint" in err


def test_a_changed_input_is_recomputed_not_served_stale(first_run, tmp_path, monkeypatch):
    ck = tmp_path / "ck.jsonl"
    ck.write_text(first_run[0].read_text())
    calls = _count_computes(monkeypatch)
    changed = dataclasses.replace(TINY, cells={"V2": (dict(K=70, n=1, M=1.0), 20.0, (1.0, 1e5))})
    v.run_validation(changed, None, workers=2, checkpoint=str(ck), log=None)
    # Exactly what depends on the V2 cell: its C, tp, V-bar and four sensitivity variants.
    assert sorted(c[0] for c in calls) == sorted(["_compute_nunney"] * 5 + ["_compute_tp", "_compute_vbar"])
    assert all(c[1] == 70 for c in calls)
    new = [json.loads(x) for x in ck.read_text().splitlines()[36:]]
    assert len(new) == 7 and all(e["inputs"].get("params", e["inputs"].get("of", {}).get("params"))["K"] == 70
                                 for e in new)
    c_new = next(e for e in new if e["label"].startswith("nunney2003 V2"))["value"]["C"]
    from kiln import popgen

    direct = popgen.estimate_threshold(popgen.Nunney2003(popgen.Params(K=70, n=1, M=1.0, R=10.0)), seed=7,
                                       horizon=120, workers=1)
    assert c_new == direct.C
    calls.clear()  # a different seed or horizon rule changes every key
    v.run_validation(dataclasses.replace(TINY, seed=8, grid=False), None, workers=2, checkpoint=str(ck), log=None)
    assert [c[0] for c in calls] == ["_compute_nunney"]


def test_key_covers_method_search_horizon_and_rng_schema(monkeypatch):
    from kiln import popgen

    p = popgen.Params(K=60, n=1, M=1.0)
    base = v._nunney_desc(p, 120, "bisect", 7)
    k = v.estimate_key(base)
    assert v.estimate_key(v._nunney_desc(p, 120, "bisect", 7)) == k
    for other in (v._nunney_desc(p, 121, "bisect", 7), v._nunney_desc(p, 120, "scan", 7),
                  v._nunney_desc(p, 120, "bisect", 8), v._nunney_desc(p.replace(R=11.0), 120, "bisect", 7),
                  v._nunney_desc(p, popgen.HorizonRule(20, 120), "bisect", 7), {**base, "estimate": "tp"}):
        assert v.estimate_key(other) != k
    monkeypatch.setattr(v, "RNG_SCHEMA", 2)
    assert v.estimate_key(base) != k


def test_torn_last_line_is_ignored(first_run, tmp_path):
    ck = tmp_path / "ck.jsonl"
    text = first_run[0].read_text()
    ck.write_text(text + text.splitlines()[0][:40])
    assert len(v.Checkpoint(str(ck)).entries) == 36
