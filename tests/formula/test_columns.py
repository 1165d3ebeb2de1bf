"""Column evaluation (specs/formula.md A.3.5; D.11-D.13)."""
from __future__ import annotations

import math
import struct

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import kiln.formula as kf
from kiln import errors as ke
from kiln.formula import _columns

from .trees import render, trees

TEXT = "a * b + sqrt(abs(c)) - if(a > b, a // 3, c % 2) + sum(v)"


def rowwise(f, cols: dict, n: int) -> np.ndarray:
    out = np.empty(n)
    for i in range(n):
        vals = {}
        for k, v in cols.items():
            vals[k] = list(v[i]) if k in f.list_variables else float(v[i])
        out[i] = f.evaluate(vals)
    return out


def bits(a) -> bytes:
    a = np.asarray(a, dtype=np.float64).copy()
    a[np.isnan(a)] = np.nan
    return a.tobytes()


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(5)
    n = 1000
    v = [list(rng.normal(size=rng.integers(0, 4))) for _ in range(n)]
    return {"a": rng.normal(size=n) * 10, "b": rng.normal(size=n), "c": rng.normal(size=n), "v": v}, n


@pytest.mark.parametrize("threads", [1, 2])
def test_all_input_kinds_equal_rowwise(data, threads):
    cols, n = data
    f = kf.compile(TEXT)
    expected = bits(rowwise(f, cols, n))
    varr = pa.array(cols["v"], type=pa.list_(pa.float64()))
    np_in = {"a": cols["a"], "b": cols["b"], "c": cols["c"], "v": varr}
    assert bits(f.evaluate_columns(np_in, threads=threads)) == expected
    arrays = {k: pa.array(cols[k]) for k in "abc"} | {"v": varr}
    assert bits(f.evaluate_columns(arrays, threads=threads)) == expected
    # misaligned chunks: the output follows the union of the boundaries
    ch = {"a": pa.chunked_array([cols["a"][:300], cols["a"][300:]]),
          "b": pa.chunked_array([cols["b"][:500], cols["b"][500:]]),
          "c": pa.chunked_array([cols["c"]]), "v": pa.chunked_array([varr[:700], varr[700:]])}
    r = f.evaluate_columns(ch, threads=threads)
    assert isinstance(r, pa.ChunkedArray)
    assert [len(c) for c in r.chunks] == [300, 200, 200, 300]
    assert bits(r.to_numpy()) == expected
    rb = pa.record_batch(arrays)
    assert bits(f.evaluate_columns(rb, threads=threads).to_numpy()) == expected
    tbl = pa.table(arrays)
    assert bits(f.evaluate_columns(tbl, threads=threads).to_numpy()) == expected
    pl = pytest.importorskip("polars")
    df = pl.DataFrame({"a": cols["a"], "b": cols["b"], "c": cols["c"], "v": cols["v"]})
    assert bits(np.asarray(f.evaluate_columns(df, threads=threads))) == expected


def test_duckdb_relation():
    duckdb = pytest.importorskip("duckdb")
    rel = duckdb.sql("select i::double as x, 2 * i as y from range(5) t(i)")
    r = kf.compile("x + y").evaluate_columns(rel)
    assert r.to_pylist() == [0.0, 3.0, 6.0, 9.0, 12.0]


def test_parallel_is_bitwise_identical():
    rng = np.random.default_rng(1)
    n = 300_000                      # above the 131,072-row threshold
    x, y = rng.normal(size=n), rng.normal(size=n)
    f = kf.compile("sin(x) * exp(-y) + sqrt(abs(x)) + x ** y")
    one = f.evaluate_columns({"x": x, "y": y}, threads=1)
    two = f.evaluate_columns({"x": x, "y": y}, threads=2)
    assert bits(one) == bits(two)
    sample = rng.integers(0, n, 200)
    assert bits(one[sample]) == bits([f(x[i], y[i]) for i in sample])


def test_types_and_nulls():
    f = kf.compile("x + y")
    r = f.evaluate_columns({"x": pa.array([1, None, 3], pa.int32()), "y": pa.array([True, False, None])})
    assert r.to_pylist() == [2.0, None, None]
    d = pa.array(["a", "b"]).dictionary_encode()
    with pytest.raises(ke.FormulaColumnTypeError):
        f.evaluate_columns({"x": d, "y": [1.0, 2.0]})
    di = pa.DictionaryArray.from_arrays(pa.array([0, 1, 0]), pa.array([1.5, 2.5]))
    assert f.evaluate_columns({"x": di}, y=1).to_pylist() == [2.5, 3.5, 2.5]
    assert f.evaluate_columns({"x": np.array([1, 2], np.uint8), "y": np.array([0.5, 0.5], np.float16)}).tolist() == [1.5, 2.5]
    for bad in (pa.array(["s"]), pa.array([pa.scalar(1, pa.decimal128(5, 2)).as_py()]), pa.array([1], pa.timestamp("s")),
                np.ma.masked_array([1.0], mask=[True]), np.array(["x"])):
        with pytest.raises(ke.FormulaColumnTypeError):
            f.evaluate_columns({"x": bad}, y=1)
    with pytest.raises(ke.FormulaLengthMismatchError):
        f.evaluate_columns({"x": np.zeros(2), "y": np.zeros(3)})
    with pytest.raises(ke.FormulaNameConflictError):
        f.evaluate_columns({"x": np.zeros(2), "y": np.zeros(2)}, x=1)
    with pytest.raises(ke.FormulaMissingVariablesError):
        f.evaluate_columns({"x": np.zeros(2)})


def test_float64_not_copied_and_out_aliasing():
    x = np.arange(1000.0)
    c = _columns._resolve("x", x, False, False)
    assert c.values.__array_interface__["data"][0] == x.__array_interface__["data"][0]
    a = pa.array(x)
    c = _columns._resolve("x", a, False, False)
    assert c.values.__array_interface__["data"][0] == a.buffers()[1].address
    f = kf.compile("x * 2 + y")
    y = np.ones(1000)
    expected = x * 2 + y
    r = f.evaluate_columns({"x": x, "y": y}, out=x)
    assert r is x and bits(x) == bits(expected)
    with pytest.raises(ke.FormulaOutputBufferError):
        f.evaluate_columns({"x": x[1:], "y": y[1:]}, out=x[:-1])
    with pytest.raises(ke.FormulaOutputBufferError):
        f.evaluate_columns({"x": x, "y": y}, out=np.zeros(1000, np.float32))
    with pytest.raises(ke.FormulaOutputBufferError):
        f.evaluate_columns({"x": x, "y": y}, out=np.zeros(999))


def test_strict_columns_report_lowest_row_and_count():
    x = np.array([1.0, 0.0, 2.0, 0.0, 3.0])
    keep = x.copy()
    f = kf.compile("1 / x", mode="strict")
    out = x
    with pytest.raises(ZeroDivisionError) as ei:
        f.evaluate_columns({"x": x}, out=out)
    e = ei.value
    assert e.code == "K4401" and e.row == 1 and e.details["failed_rows"] == 2
    assert "in row 1 (2 rows failed)" in e.message
    assert bits(x) == bits(keep)              # an aliased out is written only on success
    ok = kf.compile("1 / x", mode="strict").evaluate_columns({"x": np.array([1.0, 2.0])})
    assert ok.tolist() == [1.0, 0.5]
    # null rows are not evaluated in strict mode
    r = f.evaluate_columns({"x": pa.array([1.0, None, 4.0])})
    assert r.to_pylist() == [1.0, None, 0.25]


def test_inexact_integer_strict():
    big = np.array([1, 2 ** 53 + 1], dtype=np.int64)
    assert kf.compile("x").evaluate_columns({"x": big}).tolist() == [1.0, float(2 ** 53)]
    with pytest.raises(ke.FormulaInexactIntegerError) as ei:
        kf.compile("x", mode="strict").evaluate_columns({"x": big})
    assert ei.value.row == 1


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(trees, st.integers(0, 2 ** 32 - 1))
def test_columns_equal_rowwise_property(tree, seed):
    # A.6 property (3): 257 random rows, threads 1 and 2
    text = render(tree)
    f = kf.Formula(text)
    rng = np.random.default_rng(seed)
    n = 257
    specials = np.array([0.0, -0.0, 1.0, 2.0, 0.5, np.inf, -np.inf, np.nan, 1e308, 5e-324])
    cols = {}
    for name in f.variables:
        if name in f.list_variables:
            cols[name] = [list(rng.choice(specials, size=rng.integers(0, 4))) for _ in range(n)]
        else:
            cols[name] = np.where(rng.random(n) < 0.3, rng.choice(specials, n), rng.normal(size=n) * 5)
    expected = bits(rowwise(f, cols, n)) if f.variables else bits(np.full(n, f()))
    inputs = {k: (pa.array(v, type=pa.list_(pa.float64())) if k in f.list_variables else v) for k, v in cols.items()}
    for threads in (1, 2):
        r = f.evaluate_columns(inputs, out=np.empty(n) if not f.variables else None, threads=threads)
        assert bits(np.asarray(r)) == expected, text


def test_large_outputs_come_from_the_column_pool_and_never_alias():
    # >= 1 MiB outputs are column-pool buffers: recycled after they are freed, never shared while alive.
    import kiln.world as kw

    n = _columns._POOLED_ROWS
    rng = np.random.default_rng(5)
    a, b = rng.random(n), rng.random(n)
    f = kf.compile("a * b + 1")
    first = f.evaluate_columns({"a": a, "b": b})
    second = f.evaluate_columns({"a": b, "b": a}, threads=1)
    assert not np.shares_memory(first, second)
    np.testing.assert_array_equal(first, a * b + 1)
    np.testing.assert_array_equal(second, b * a + 1)
    hits = kw.buffer_cache_stats()["hits"]
    del first
    third = f.evaluate_columns({"a": a, "b": b})
    np.testing.assert_array_equal(third, a * b + 1)
    if kw.buffer_cache_stats()["limit_bytes"]:  # caching is off under sanitizers
        assert kw.buffer_cache_stats()["hits"] == hits + 1


@pytest.mark.parametrize("data, scalars", [
    ({"a": np.arange(4.0), "b": np.arange(4, dtype=np.int32)}, {}),          # int column: general path
    ({"a": np.arange(4.0)}, {"b": 2}),                                       # int scalar
    ({"a": np.arange(8.0)[::2], "b": np.ones(4)}, {}),                       # strided
    ({"a": np.arange(4.0), "b": np.ones(4)}, {}),                            # the plain fast path
    ({"a": np.arange(4.0)}, {"b": 2.0}),
])
def test_plain_fast_path_matches_the_general_path(data, scalars):
    f = kf.compile("a * b - a")
    want = np.asarray([f.evaluate(a=float(data["a"][i]), b=float(data["b"][i]) if "b" in data else float(scalars["b"]))
                       for i in range(4)])
    np.testing.assert_array_equal(f.evaluate_columns(data, **scalars), want)


def test_plain_fast_path_keeps_the_general_errors():
    f = kf.compile("a * b")
    with pytest.raises(ke.FormulaMissingVariablesError):
        f.evaluate_columns({"a": np.ones(3)})
    with pytest.raises(ke.FormulaLengthMismatchError):
        f.evaluate_columns({"a": np.ones(3), "b": np.ones(4)})
    with pytest.raises(ke.FormulaError) as both:
        f.evaluate_columns({"a": np.ones(3), "b": np.ones(3)}, b=1.0)
    assert both.value.code == "K4306"
