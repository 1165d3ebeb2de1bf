"""The native kernel's column cache (kiln.world.buffer_cache): large freed columns are reused."""
from __future__ import annotations

import numpy as np
import pytest

import kiln
import kiln.world as kw


@kiln.component
class Drift:
    x: float
    dx: float


def _run_world(n: int, ticks: int) -> float:
    with kw.World(kw.MemoryStore(), "buffer_cache", backend="native") as w:
        w.spawn_batch({Drift: {"x": np.zeros(n), "dx": 1.0}})
        w.add_processor(kw.Formula({"drift__x": "drift__x + drift__dx"}, name="drift"))
        w.run(ticks)
        return float(w.query(Drift)["drift__x"].to_numpy().sum())


def test_a_second_world_reuses_the_first_worlds_columns():
    kw.set_buffer_cache_limit(0)
    kw.set_buffer_cache_limit(64 << 20)
    try:
        n = 200_000  # 1.6 MB float64 columns: above the 1 MiB threshold
        assert _run_world(n, 3) == 2.0 * n  # spawned at tick 0, moved at ticks 1 and 2
        first = kw.buffer_cache_stats()
        assert first["cached_bytes"] > 0 and first["misses"] > 0
        assert _run_world(n, 3) == 2.0 * n  # same results from recycled memory
        second = kw.buffer_cache_stats()
        assert second["hits"] > first["hits"]
        assert second["cached_bytes"] <= second["limit_bytes"] == 64 << 20
    finally:
        kw.set_buffer_cache_limit(256 << 20)


def test_limit_zero_releases_everything_and_bad_limits_are_rejected():
    kw.set_buffer_cache_limit(0)
    stats = kw.buffer_cache_stats()
    assert stats["cached_bytes"] == 0 and stats["limit_bytes"] == 0
    for bad in (-1, 1.5, True, "1"):
        with pytest.raises(ValueError) as exc:
            kw.set_buffer_cache_limit(bad)
        assert isinstance(exc.value, kw.errors.InvalidArgumentError) and exc.value.code == "K0008"
    kw.set_buffer_cache_limit(256 << 20)
    assert kw.buffer_cache_stats()["limit_bytes"] == 256 << 20
