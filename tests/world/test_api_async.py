"""Async twins (specs/world.md §8.7; §12 item 60)."""
from __future__ import annotations

import asyncio
import threading

import pytest

import kiln.world as kw

from api_support import Counter, Position, add_one, assert_code, backend, make_world  # noqa: F401


def test_async_twins_match_their_sync_twins(backend, tmp_path):
    def sync_run(root):
        with kw.World(root, world_id="w", run_id="r", backend=backend) as w:
            w.add_processor(add_one)
            w.spawn(Position(1.0, 0.0))
            first = w.step()
            w.run(3)
            w.flush()
            return first.tick, w.query(Position).to_pylist(), w.history(Position).to_pylist()

    async def async_run(root):
        async with kw.World(root, world_id="w", run_id="r", backend=backend) as w:
            w.add_processor(add_one)
            w.spawn(Position(1.0, 0.0))
            first = await w.astep()
            result = await w.arun(3)
            assert result.ticks == range(1, 4)
            await w.aflush()
            q = await w.aquery(Position)
            h = await w.ahistory(Position)
        w2 = await kw.World.aopen(root, world_id="w", run_id="r", backend=backend)
        assert w2.tick == 4
        await w2.aclose()
        return first.tick, q.to_pylist(), h.to_pylist()

    assert asyncio.run(async_run(str(tmp_path / "a"))) == sync_run(str(tmp_path / "b"))


def test_mutation_while_astep_runs_is_104(backend):
    entered, release = threading.Event(), threading.Event()

    @kw.processor(Counter)
    def slow(batch, ctx):
        entered.set()
        release.wait(10)
        return batch

    async def scenario():
        with make_world(backend) as w:
            w.add_processor(slow)
            w.spawn(Counter(1))
            await w.astep()  # tick 0: nothing to process
            task = asyncio.create_task(w.astep())
            await asyncio.sleep(0)  # the step is claimed before it leaves the event loop
            with pytest.raises(kw.errors.StepStateError) as exc:
                w.spawn(Counter(2))
            assert_code(exc, 104)
            await asyncio.to_thread(entered.wait, 10)
            with pytest.raises(kw.errors.StepStateError):
                w.despawn(1)
            with pytest.raises(kw.errors.StepStateError):
                w.step()
            release.set()
            result = await task
            assert result.tick == 1
            w.spawn(Counter(3))  # allowed again
            return w.registry()["entity_id"].to_pylist()

    assert asyncio.run(scenario()) == [1, 2]
