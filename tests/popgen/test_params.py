"""§9 validation and §11 items 1-3: every bad input gets its catalog code, on both backends."""
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from kiln import KilnError, _kiln, popgen


def code(fn):
    with pytest.raises(KilnError) as ei:
        fn()
    return ei.value.number


def test_item2_u_from_M_and_conflicts():
    assert popgen.Params(K=5000, n=7, M=10).u == pytest.approx(1e-3, rel=1e-15)
    assert code(lambda: popgen.Params(K=5000, n=7, M=10, u=1e-3)) == 2105
    assert code(lambda: popgen.Params(K=5000, n=7)) == 2101
    assert [code(lambda K=K: popgen.Params(K=K, n=1, M=1)) for K in (0, -5, math.nan, 5000.5)] == [
        2104, 2104, 2103, 2102]
    with pytest.raises(ValueError, match="R must exceed 2") as ei:
        popgen.Params(K=500, n=1, M=1, R=2.0)
    assert ei.value.number == 2104


def test_types_options_unknown():
    assert code(lambda: popgen.Params(K=True, n=1, M=1)) == 2102
    assert popgen.Params(K=1e4, n=np.int64(2), M=1).K == 10000
    with pytest.raises(TypeError, match="did you mean 'mutation'") as ei:
        popgen.Params(K=500, n=1, M=1, mutatoin="up")
    assert ei.value.number == 2106
    assert code(lambda: popgen.Params(K=500, n=1, M=1, mating="polygyny")) == 2107
    assert code(lambda: popgen.Params(K=500, n=1, M=1, T=math.nan)) == 2103
    assert popgen.Params(K=500, n=1, M=1, T=math.inf).T == math.inf
    assert code(lambda: popgen.Params(K=500, n=1, M=1, allele_min=3, allele_max=3)) == 2105
    assert code(lambda: popgen.Params(K=500, n=1, M=1, allele_min=1)) == 2105  # initial allele 0 outside


@pytest.mark.parametrize("kw,number", [
    (dict(K=10**8 + 1), 2104), (dict(n=33), 2104), (dict(R=1001.0), 2104), (dict(u=1.5, M=None), 2104),
    (dict(M=1001.0), 2104), (dict(T=0.001), 2104), (dict(female_fraction=1.0), 2104),
    (dict(initial_size=1), 2104), (dict(burn_in=10**7 + 1), 2104), (dict(quasi_extinction=500), 2104),
    (dict(R=math.inf), 2103), (dict(u=math.nan, M=None), 2103),
])
def test_every_range_row(kw, number):
    base = dict(K=500, n=1, M=1.0)
    base.update(kw)
    base = {k: v for k, v in base.items() if v is not None}
    assert code(lambda: popgen.Params(**base)) == number


def test_item3_memory_and_horizon():
    m = popgen.Nunney2003(popgen.Params(K=10**8, n=32, M=1))
    with pytest.raises(MemoryError, match="estimated") as ei:
        m.run(seed=1, horizon=10, record="outcome")
    assert ei.value.number == 2202
    rule = popgen.HorizonRule()
    assert code(lambda: rule(math.inf)) == 2201
    small = popgen.Nunney2003(popgen.Params(K=50, n=1, M=1))
    assert code(lambda: small.run(seed=1, horizon=0)) == 2201
    assert code(lambda: small.run(seed=1, horizon=10**8 + 1)) == 2201
    assert code(lambda: small.run(seed=-1, horizon=5)) == 2204
    assert code(lambda: small.run(seed=1, horizon=5, record="most")) == 2107
    assert code(lambda: small.run(seed=1, horizon=10**8, record="full")) == 2203
    assert code(lambda: popgen.Nunney2003(popgen.Params(K=50, n=1, M=1), backend="gpu")) == 2107


# §7.2 / §11 item 1: the kernel's own Validate and the Python rules give the same code for the same
# typed-but-invalid input (one bad field at a time, so check order cannot matter).
FIELDS = {
    "K": st.one_of(st.integers(-10, 1), st.integers(10**8 + 1, 10**9)),
    "n": st.one_of(st.integers(-5, 0), st.integers(33, 100)),
    "R": st.one_of(st.floats(-10, 2.0), st.floats(1000.001, 1e6), st.just(math.inf), st.just(math.nan)),
    "u": st.one_of(st.floats(-1, -1e-9), st.floats(1.0001, 5), st.just(math.nan)),
    "T": st.one_of(st.floats(-5, 0.0099), st.just(math.nan), st.floats(1.1e12, 1e15)),
    "female_fraction": st.one_of(st.floats(-1, 0), st.floats(1, 2), st.just(math.nan)),
    # 0 is the kernel's "unset, use K" sentinel, so it is not a bad native input.
    "initial_size": st.one_of(st.integers(-5, -1), st.just(1), st.integers(1001, 5000)),
    "burn_in": st.one_of(st.integers(-100, -1), st.integers(10**7 + 1, 10**8)),
    "quasi_extinction": st.one_of(st.integers(-10, -1), st.integers(500, 10**4)),
    "optimum_offset": st.one_of(st.floats(1e6 + 1, 1e9), st.just(math.inf)),
}


@settings(max_examples=500, deadline=None)
@given(st.sampled_from(sorted(FIELDS)).flatmap(lambda k: st.tuples(st.just(k), FIELDS[k])))
def test_kernel_and_reference_agree_on_bad_inputs(field_value):
    field, value = field_value
    kw = dict(K=500, n=1, u=0.001)
    kw[field] = value
    py = code(lambda: popgen.Params(**kw))
    native = dict(kw)
    native["initial_size"] = native.get("initial_size", 0)
    nat = code(lambda: _kiln.popgen_validate(native))
    assert py == nat, (field, value)
