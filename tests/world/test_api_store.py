"""Construction, resume, close, module helpers and fault injection through the API
(specs/world.md §4, §5, §7.8, §8.2; §12 items 19, 25, 30, 37, 62)."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import kiln
import kiln.world as kw

from api_support import Counter, Marker, Position, Velocity, add_one, assert_code, backend, make_world, rows, world_state  # noqa: F401

REPO = Path(__file__).resolve().parents[2]


def _python(code: str, tmp_path: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO / "python"), str(REPO / "tests" / "world"),
                                                       os.environ.get("PYTHONPATH", "")]))
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True, text=True,
                          cwd=str(tmp_path), timeout=300)


def test_store_argument_forms(backend, tmp_path):
    with kw.World(backend=backend) as w:
        assert isinstance(w.store, kw.MemoryStore)
    with kw.World(":memory:", backend=backend) as w:
        assert isinstance(w.store, kw.MemoryStore)
    with kw.World(tmp_path / "a", backend=backend) as w:
        assert w.store == kw.ParquetStore(str(tmp_path / "a"))
    with kw.World(str(tmp_path / "b"), backend=backend, resources={"x": 1}) as w:
        assert isinstance(w.store, kw.ParquetStore) and w.resources == {"x": 1}
        assert w.backend == backend and w.namespace == "default"
    with kw.World(kw.MemoryStore(retain_ticks=0), backend=backend) as w:
        w.spawn(Position(0.0, 0.0))
        w.run(3)
        assert w.history().num_rows == 0 and w.query(Position).num_rows == 1


def test_fresh_ids_are_uuid7(backend):
    import uuid

    with kw.World(backend=backend) as w:
        for value in (w.world_id, w.run_id):
            u = uuid.UUID(value)
            assert u.version == 7 and value == str(u)


def test_bad_backend_is_8_and_missing_native_is_7(tmp_path):
    with pytest.raises(kw.errors.InvalidArgumentError) as exc:
        kw.World(backend="auto")
    assert_code(exc, 8)
    proc = _python("""
        import sys
        sys.modules["kiln._kiln"] = None          # block the extension module
        sys.modules["kiln.world._native"] = None
        import kiln.world as kw
        try:
            kw.World()
        except kw.errors.ArrowInterfaceError as e:
            print("native", e.number)
        import api_support
        with kw.World(backend="reference") as w:
            w.add_processor(kw.Movement(dt=1.0))
            w.spawn(api_support.Position(0.0, 0.0), api_support.Velocity(1.0, 2.0))
            w.run(3)
            print("reference", w.query(api_support.Position)["position__y"].to_pylist())
    """, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["native 7", "reference [4.0]"]


def test_create_on_existing_pair_is_205_and_open_of_missing_pair_is_206(backend, tmp_path):
    root = str(tmp_path)
    with kw.World(root, world_id="w", run_id="r", backend=backend) as w:
        w.spawn(Counter(1))
        w.step()
    with pytest.raises(kw.errors.StoreError) as exc:
        kw.World(root, world_id="w", run_id="r", backend=backend)
    assert_code(exc, 205)
    with pytest.raises(kw.errors.StoreError) as exc:
        kw.World.open(root, world_id="nope", backend=backend)
    assert_code(exc, 206)
    with pytest.raises(kw.errors.InvalidArgumentError) as exc:
        kw.World.open(None, world_id="w", backend=backend)
    assert_code(exc, 8)
    with pytest.raises(kw.errors.InvalidArgumentError):
        kw.World.open(root, backend=backend)  # world_id is required


def test_second_writer_is_203(backend, tmp_path):
    with kw.World(str(tmp_path), world_id="w", run_id="r", backend=backend) as w:
        w.step()
        with pytest.raises(kw.errors.StoreError) as exc:
            kw.World.open(str(tmp_path), world_id="w", run_id="r", backend=backend)
        assert_code(exc, 203)
        w.step()  # the first writer is unaffected


def _script(w: kw.World, phase: int) -> None:
    if phase == 0:
        w.add_processor(add_one)
        w.spawn_batch({Position: {"x": np.arange(5.0), "y": 0.0}})
        w.spawn(Position(9.0, 9.0), Velocity(1.0, 1.0))
        w.run(3)
        w.despawn([1, 2])
        w.add_components(3, Marker())
        w.remove_components(6, Velocity)  # the (Position, Velocity) table has no live rows at the end
        w.run(2)
    else:
        w.add_processor(add_one)
        w.update(4, Position(-1.0, -1.0))
        w.remove_components(3, Marker)
        w.run(3)


def test_resume_continues_exactly_like_an_uninterrupted_run(backend, tmp_path):
    with make_world(backend, tmp_path / "a", "parquet") as straight:
        _script(straight, 0)
        _script(straight, 1)
        expected = straight.history().sort_by([("tick", "ascending"), ("entity_id", "ascending")])

    with make_world(backend, tmp_path / "b", "parquet") as first:
        _script(first, 0)
        state = world_state(first)
    resumed = kw.World.open(str(tmp_path / "b" / "store"), "api", world_id="test-world", run_id="test-run",
                            backend=backend)
    try:
        assert world_state(resumed) == state
        _script(resumed, 1)
        got = resumed.history().sort_by([("tick", "ascending"), ("entity_id", "ascending")])
        assert got.equals(expected)
        # A table without live rows at the resume tick is not registered by the resume, but its
        # history is still read: ticks 0-2 active, tombstone at tick 3.
        assert resumed.history(Velocity)["tick"].to_pylist() == [0, 1, 2, 3]
        assert resumed.history(Marker)["tick"].to_pylist() == [3, 4, 5]
    finally:
        resumed.close()


def test_close_is_idempotent_and_a_closed_world_refuses_calls(backend):
    w = make_world(backend)
    w.close()
    w.close()
    with pytest.raises(kw.errors.ArrowInterfaceError) as exc:
        w.spawn(Position(0.0, 0.0))
    assert_code(exc, 6)
    with pytest.raises(kw.errors.WorldError):
        w.step()


def test_flush_every_ticks_and_close_discard(backend, tmp_path):
    root = str(tmp_path)
    store = kw.ParquetStore(root, flush_every_ticks=3)
    with kw.World(store, world_id="w", run_id="r", backend=backend) as w:
        w.spawn(Counter(1))
        w.run(4)
        assert kw.published_tick(root, "default", "w", "r") == 2
        assert w.history().num_rows == 4  # read-your-writes
        w.flush()
        assert kw.published_tick(root, "default", "w", "r") == 3
        w.run(2)
    assert kw.published_tick(root, "default", "w", "r") == 5  # close flushed
    w2 = kw.World.open(store, world_id="w", run_id="r", backend=backend)
    w2.run(1)
    w2.close(discard=True)
    assert kw.published_tick(root, "default", "w", "r") == 5


def test_module_helpers(backend, tmp_path):
    root = str(tmp_path)
    with kw.World(root, "ns", world_id="w1", run_id="r1", backend=backend) as w:
        w.add_processor(add_one)
        w.spawn(Position(0.0, 0.0))
        w.spawn(Position(5.0, 0.0), Velocity(1.0, 1.0))
        w.run(3)
        table = w.table_name(Position)
    infos = kw.list_worlds(root, "ns")
    assert [(i.world_id, i.run_id, i.last_tick) for i in infos] == [("w1", "r1", 2)]
    assert kw.published_tick(root, "ns", "w1", "r1") == 2
    assert kw.published_tick(root, "ns", "w1", "other") is None
    kw.recover(root, "ns")
    led = kw.read_ledger(root, "ns", components=[Position], world_id="w1", run_id="r1")
    assert led.num_rows == 6 and led.schema.names[-2:] == ["position__x", "position__y"]
    only = kw.read_ledger(root, "ns", table=table, world_id="w1", run_id="r1", ticks=range(1, 3), active_only=True)
    assert rows(only, "tick", "position__x") == [(1, 1.0), (2, 2.0)]
    assert kw.read_ledger(root, "ns", components=[Velocity], world_id="w1", run_id="r1", entity_ids=[2],
                          ticks=2).num_rows == 1
    assert kw.read_ledger(root, "ns", world_id="w1", run_id="r1").schema.names[-1] == "is_active"
    with pytest.raises(kw.errors.UnknownTableError) as exc:
        kw.read_ledger(root, "ns", table="a_9c_s0000000000000000", world_id="w1", run_id="r1")
    assert_code(exc, 150)


def test_fault_plan_stage_failure_then_retry(backend, tmp_path):
    with make_world(backend, tmp_path, "parquet") as w:
        w.add_processor(add_one)
        w.spawn(Position(1.0, 0.0))
        w.step()
        w.despawn(1)
        w.spawn(Position(7.0, 0.0))
        kw.testing.set_fault_plan(w, "fail:stage")
        before = world_state(w)
        with pytest.raises(kw.errors.StoreError) as exc:
            w.step()
        assert_code(exc, 201)
        assert world_state(w) == before
        w.step()  # retry commits the tick including the staged despawn
        assert rows(w.history(Position, ticks=1), "entity_id", "is_active") == [(1, False), (2, True)]
        with pytest.raises(kw.errors.InvalidArgumentError):
            kw.testing.set_fault_plan(w, "explode:everything")


def test_undefined_component_on_resume_is_503_and_reads_still_work(backend, tmp_path):
    proc = _python(f"""
        import kiln, kiln.world as kw

        @kiln.component
        class ApiGhost:
            boo: float = 1.0

        with kw.World({str(tmp_path)!r}, world_id="g", run_id="r", backend={backend!r}) as w:
            w.spawn(ApiGhost(2.0))
            w.run(2)
    """, tmp_path)
    assert proc.returncode == 0, proc.stderr
    w = kw.World.open(str(tmp_path), world_id="g", run_id="r", backend=backend)
    try:
        assert w.query().num_rows == 1 and w.history().num_rows == 2
        (classes,) = w.tables().values()
        assert classes == ("ApiGhost",)
        with pytest.raises(kw.errors.ComponentError) as exc:
            w.add_components(1, Marker())
        assert_code(exc, 503)
        assert "ApiGhost" in str(exc.value)
        w.despawn(1)  # needs no class
        w.step()
        assert w.query().num_rows == 0
    finally:
        w.close()


def test_c_library_and_include_paths():
    assert kw.c_include_dir() == kiln.get_include()
    path = kw.c_library_path()
    assert os.path.isabs(path) and path.endswith(os.path.join("kiln", "lib", "libkiln_arct.so.2"))
