"""§7.2 exact component parity and §11 item 11: streams, raw Philox, f(N), w, schemas."""
import numpy as np
import pyarrow as pa
from hypothesis import given, settings, strategies as st

from kiln import _kiln, popgen
from kiln.popgen import reference
from kiln.popgen.records import generation_schema

U64 = st.integers(0, 2**64 - 1)


@settings(max_examples=1000, deadline=None)
@given(st.integers(-(2**63), 2**63 - 1), st.integers(1, 8), st.integers(0, 2**40 - 1))
def test_stream_counters_identical(t, purpose, chunk):
    assert tuple(_kiln.popgen_stream_counter(t, purpose, chunk)) == reference.stream_counter(t, purpose, chunk)


def test_raw_philox_equals_numpy_on_20_streams():
    rng = np.random.default_rng(5)
    for i in range(20):
        seed, rep = (int(x) for x in rng.integers(0, 2**63, 2, dtype=np.uint64))
        ctr = reference.stream_counter(int(rng.integers(-1000, 10**6)), i % 8 + 1, int(rng.integers(0, 50)))
        bg = np.random.Philox(key=np.array([seed, rep], dtype=np.uint64), counter=np.array(ctr, dtype=np.uint64))
        assert _kiln.philox_raw(seed, rep, list(ctr), 1024) == bg.random_raw(1024).tolist()


def ulps(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return np.abs(a - b) / np.spacing(np.maximum(np.abs(a), np.abs(b)))


def test_fecundity_within_4_ulp_and_limits():
    for R in (2.2, 10.0, 40.0):
        p = popgen.Params(K=1000, n=1, M=1, R=R)
        N = np.arange(1, 3001)
        nat = np.array(_kiln.popgen_fecundity(p.to_native(), N.tolist()))
        ref = reference.fecundity(N, p.K, p.r)
        # 4 ulp per elementary operation, scaled by the condition number of the outer exp: its
        # argument r - r*exp(ln(N/K)/r) magnifies the inner exp's last-bit difference (numpy's libm
        # against core detmath). Far from K at small R that argument reaches -600, hence the scaling.
        x = N / p.K
        cond = 1.0 + np.abs(p.r * np.exp(np.log(x) / p.r)) * (1 + np.abs(np.log(x)) / p.r)
        ok = ref > 1e-300
        assert (ulps(nat, ref)[ok] <= 4 * cond[ok]).all()
        near_k = ok & (np.abs(x - 1) < 0.2)
        assert ulps(nat, ref)[near_k].max() <= 16
        assert abs(nat[999] - 2.0) <= 2.0 * 1e-15  # f(K) = 2
    for R in (2.2, 10.0, 40.0, 1000.0):
        p = popgen.Params(K=500, n=1, M=1, R=R)
        f0 = _kiln.popgen_fecundity(p.to_native(), [0])[0]  # the limit N -> 0+ (ln 0 = -inf)
        assert abs(f0 - R) / R <= 1e-15


def test_survival_within_4_ulp_on_random_genotypes():
    rng = np.random.default_rng(9)
    for n in (1, 3, 7):
        p = popgen.Params(K=500, n=n, M=1, T=37.5, locus_phase="staggered", optimum_offset=0.3)
        for t in (0, 5, 120):
            sums = rng.integers(-4, 20, size=(300, n))
            nat = np.array(_kiln.popgen_survival(p.to_native(), t, sums.ravel().tolist()))
            phase = (np.arange(n) - (n - 1) / 2.0) / n
            ref = reference.survival(sums.astype(float), 0.3 + t / 37.5 + phase, p.r, n)
            ok = ref > 1e-300
            # exp of a sum against a product of exps: each locus adds rounding, and the exponent's
            # own last-bit difference is magnified by its size |log w|.
            bound = 4 * (n + np.abs(np.log(ref[ok])))
            assert (ulps(nat[ok], ref[ok]) <= bound).all()
            near = np.log(ref[ok]) > -1
            assert not near.any() or ulps(nat[ok], ref[ok])[near].max() <= 4 * (n + 1)


def test_schemas_identical_at_each_record_level():
    for n in (1, 4):
        p = popgen.Params(K=50, n=n, M=1, T=30)
        for record in ("summary", "full"):
            native = popgen.Nunney2003(p).run(seed=1, horizon=5, record=record).generations.schema
            ref = popgen.Nunney2003(p, backend="reference").run(seed=1, horizon=5, record=record).generations.schema
            schema = pa.schema(pa.Schema._import_from_c_capsule(_kiln.popgen_generation_schema(n, record)))
            assert native == ref == generation_schema(n, record) == schema
        a = popgen.Nunney2003(p).run(seed=1, horizon=5, record="outcome")
        b = popgen.Nunney2003(p, backend="reference").run(seed=1, horizon=5, record="outcome")
        assert a.generations is None and b.generations is None
        assert a.record.table.schema == b.record.table.schema
