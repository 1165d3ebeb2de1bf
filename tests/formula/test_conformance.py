"""The conformance file (specs/formula.md A.6, D.1): every case passes natively and in the
reference. The same file is read by cpp/tests/formula/conformance_test.cc."""
from __future__ import annotations

import math
import struct
import tomllib
from pathlib import Path

import pytest

import kiln.formula as kf
from kiln.errors import KilnError
from kiln.formula import reference as R

CASES = tomllib.loads((Path(__file__).parent / "data" / "conformance.toml").read_text("utf-8"))["case"]


def f64(h: str) -> float:
    return struct.unpack("<d", struct.pack("<Q", int(h, 16)))[0]


def bindings(case) -> dict:
    out = {}
    for part in filter(None, case.get("vars", "").split(";")):
        k, v = part.split("=")
        out[k] = f64(v)
    for part in filter(None, case.get("lists", "").split(";")):
        k, v = part.split("=")
        out[k] = [f64(x) for x in v.split(",") if x]
    for part in case.get("lists", "").split(";"):
        if part.endswith("="):
            out[part[:-1]] = []
    return out


def same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or struct.pack("<d", a) == struct.pack("<d", b)


def test_file_is_large_enough():
    assert len(CASES) >= 300
    groups = {c["group"] for c in CASES}
    assert {"precedence", "weird", "functions", "random", "lists", "errors", "strict"} <= groups


@pytest.mark.parametrize("case", CASES, ids=[f"{i}:{c['formula'][:30]}" for i, c in enumerate(CASES)])
def test_case(case):
    vals = bindings(case)
    mode = case["mode"]
    if "value" in case:
        expected = f64(case["value"])
        f = kf.Formula(case["formula"], mode=mode)
        assert same(f.evaluate(vals), expected)
        assert same(kf.Formula(case["formula"], mode=mode, fold=False).evaluate(vals), expected)
        assert same(R.evaluate(case["formula"], vals), expected)
        f.program.check()
        # D.15: the reference compiler gives byte-identical items and pool
        c = R.compile(case["formula"], mode=mode)
        assert (c.items, c.pool) == (f.program.items_bytes(), f.program.pool_bytes())
        return
    with pytest.raises(KilnError) as ei:
        kf.Formula(case["formula"], mode=mode).evaluate(vals)
    assert ei.value.number == case["code"]
    assert ei.value.position == case["position"]
    if case["code"] < 4300:
        with pytest.raises(KilnError) as er:
            R.compile(case["formula"], mode=mode)
        assert (er.value.number, er.value.details["position"]) == (case["code"], case["position"])
