"""§11 item 10 / §5.1.3: golden SHA-256 checksums of three fixed kernel runs.

The committed values live in golden.json; a change to a sampler, the stream layout or the recorder
changes them, and then rng_schema must be bumped (and the values regenerated on purpose)."""
from __future__ import annotations

import importlib.util
import json
import os

import pyarrow as pa
import pyarrow.compute as pc

HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location(
    "popgen_bench_run", os.path.join(HERE, "..", "..", "bench", "popgen", "run.py"))
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)


def _golden() -> dict:
    with open(os.path.join(HERE, "golden.json")) as f:
        return json.load(f)


def test_golden_checksums_match_committed_values():
    g = _golden()
    assert g["rng_schema"] == bench.RNG_SCHEMA == 1
    assert set(g["sha256"]) == {c[0] for c in bench.GOLDEN_CASES}
    assert bench.golden_runs() == g["sha256"]


def test_golden_runs_are_informative():
    from kiln import popgen

    # The option case must exercise every non-default §2.9 option and run long enough to mutate.
    name, kw, H, record = bench.GOLDEN_CASES[2]
    defaults = popgen.Params(K=kw["K"], n=kw["n"], u=kw["u"])
    p = popgen.Params(**kw)
    for field in ("R", "T", "offspring_dist", "mating", "mutation", "allele_min", "allele_max", "female_fraction",
                  "locus_phase", "optimum_offset", "initial_size", "initial_allele", "burn_in", "quasi_extinction"):
        assert getattr(p, field) != getattr(defaults, field), field
    for name, kw, H, record in bench.GOLDEN_CASES:
        g = popgen.Nunney2003(popgen.Params(**kw)).run(seed=11, horizon=H, record=record).generations
        assert g.num_rows >= H // 2, name
        assert pc.sum(g["mutations"]).as_py() > 0, name


def test_checksum_sees_a_one_value_change():
    from kiln import popgen

    name, kw, H, record = bench.GOLDEN_CASES[0]
    g = popgen.Nunney2003(popgen.Params(**kw)).run(seed=11, horizon=H, record=record).generations
    col = g["survivors"].to_pylist()
    col[-1] += 1
    changed = g.set_column(g.schema.get_field_index("survivors"), "survivors", pa.array(col, pa.int64()))
    assert bench.table_sha256(g) == _golden()["sha256"][name]
    assert bench.table_sha256(changed) != bench.table_sha256(g)
