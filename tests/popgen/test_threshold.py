"""§3.1 nunney2003 (items 14, 17) and the CI validation tier V2b with B2 (§8.1, §8.3)."""
import math

import pytest

from kiln import KilnError, popgen
from kiln.popgen.threshold import NUNNEY_TAG, t_c


@pytest.fixture(scope="module")
def v2b():
    m = popgen.Nunney2003(popgen.Params(K=500, n=1, M=1, R=10.0))
    return popgen.estimate_threshold(m, method="nunney2003", seed=7, workers=2)


def test_v2b_and_b2(v2b):
    assert v2b.status == "ok"
    assert 13.3 <= v2b.C <= 30.0          # V2b band (§8.1)
    assert v2b.C >= t_c(10.0, 1, 1 / 8)   # B2 (§8.3): M <= 1


def test_item14_bisection_contract(v2b):
    assert v2b.C == v2b.T_hi and v2b.T_hi / v2b.T_lo <= 1.01
    ids = [NUNNEY_TAG | i for i in range(20)]
    rule = popgen.HorizonRule()
    for t in v2b.tests:
        assert sorted(t["replicates"]) == ids or not t["passed"]  # early stop may cancel some runs
        assert t["passed"] == all(o == "persisted" for o in t["outcomes"])
    final = [t for t in v2b.tests if t["T"] == v2b.C][0]
    assert final["passed"] and final["outcomes"].count("persisted") == 20
    assert sorted(set(final["horizons"])) == sorted({rule(v2b.C * m) for m in (1.0, 1.02, 1.05, 1.10)})
    lo = [t for t in v2b.tests if t["T"] == v2b.T_lo][0]
    assert not lo["passed"]


def test_item17_identical_for_workers_and_deterministic_without_early_stop():
    m = popgen.Nunney2003(popgen.Params(K=200, n=1, M=2, R=10.0))
    kw = dict(method="nunney2003", seed=3, horizon=400, T_bounds=(0.5, 1e4))
    a = popgen.estimate_threshold(m, workers=1, **kw)
    b = popgen.estimate_threshold(m, workers=2, **kw)
    assert (a.C, a.T_lo, a.status) == (b.C, b.T_lo, b.status)
    assert [t["passed"] for t in a.tests] == [t["passed"] for t in b.tests]
    c = popgen.estimate_threshold(m, workers=2, early_stop=False, **kw)
    d = popgen.estimate_threshold(m, workers=1, early_stop=False, **kw)
    assert c.C == a.C and [t["outcomes"] for t in c.tests] == [t["outcomes"] for t in d.tests]


def test_config_errors_and_strict():
    m = popgen.Nunney2003(popgen.Params(K=200, n=1, M=2))
    for kw in (dict(multipliers=(1.1, 1.0)), dict(resolution=0.0), dict(T_bounds=(5, 1))):
        with pytest.raises(KilnError) as ei:
            popgen.estimate_threshold(m, **kw)
        assert ei.value.number == 2301
    with pytest.raises(RuntimeError) as ei:
        popgen.estimate_threshold(m, seed=1, horizon=200, T_bounds=(0.5, 1.0), strict=True)
    assert ei.value.number == 2302
    r = popgen.estimate_threshold(m, seed=1, horizon=200, T_bounds=(0.5, 1.0))
    assert r.status == "no_persistence" and math.isinf(r.C)
