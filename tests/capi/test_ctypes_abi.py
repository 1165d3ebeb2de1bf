"""The arct C ABI through ctypes + pyarrow.cffi (specs/world.md §7, §10, items 44–54): every status
code that can be provoked, ownership of moved inputs and output shells, and split-step sequences."""
from __future__ import annotations

import ctypes
import threading

import numpy as np
import pyarrow as pa
import pytest

from kiln.world.capi import ArctLibrary, ReadFilter, StepProfile, TableProfile, WorldInfo, WorldOptions, sized

SCHEMA = pa.schema([pa.field(n, pa.float64(), nullable=False)
                    for n in ("position__x", "position__y", "velocity__dx", "velocity__dy")])


@pytest.fixture(scope="module")
def lib():
    return ArctLibrary()


def batch(x, dx=1.0):
    n = len(x)
    return pa.record_batch([pa.array(x, pa.float64()), pa.array([0.0] * n), pa.array([dx] * n), pa.array([0.0] * n)],
                           schema=SCHEMA)


class World:
    """A world handle plus helpers; frees itself at teardown."""

    def __init__(self, lib, root=None, world_id=b"w", run_id=b"r", options=None):
        self.lib, self.c = lib, lib.c
        self.h = ctypes.c_void_p()
        rc = lib.arct_world_create(world_id, run_id, root.encode() if root else None, b"ns",
                                   ctypes.byref(options) if options else None, ctypes.byref(self.h))
        lib.check(rc)

    def register(self, name=b"pv", schema=SCHEMA):
        c = self.c.export_schema(schema)
        return self.lib.arct_world_register_table(self.h, name, c)

    def spawn(self, x, table=b"pv", capacity=None):
        array, schema = self.c.export_batch(batch(x))
        ids = (ctypes.c_int32 * max(len(x), 1))()
        n = ctypes.c_int64(-1)
        rc = self.lib.arct_world_spawn(self.h, table, array, schema, ids,
                                       len(x) if capacity is None else capacity, ctypes.byref(n))
        return rc, list(ids)[: max(n.value, 0)], (array, schema)

    def query(self, table=b"pv", flt=None):
        stream = self.c.new("ArrowArrayStream")
        self.lib.check(self.lib.arct_world_query(self.h, table, ctypes.byref(flt) if flt else None, stream))
        return self.c.import_stream(stream).read_all()

    def info(self):
        i = sized(WorldInfo)
        self.lib.check(self.lib.arct_world_get_info(self.h, ctypes.byref(i)))
        return i

    def free(self, flags=0):
        return self.lib.arct_world_free(self.h, flags)


@pytest.fixture
def world(lib):
    w = World(lib)
    assert w.register() == 0
    pid = ctypes.c_int32()
    lib.check(lib.arct_world_add_movement(w.h, 1.0, 0, ctypes.byref(pid)))
    w.movement = pid.value
    yield w
    w.free(1)


def test_version_and_last_error(lib):  # item 44
    assert lib.arct_ffi_version() == 2
    assert lib.arct_record_batch_roundtrip(None, None, None, None) == 3
    msg = lib.last_error()
    assert lib.arct_ffi_version() == 2 and lib.last_error() == msg
    lib.arct_clear_last_error()
    assert lib.last_error() is None


def test_roundtrip_movement_and_the_v1_missing_column_message(lib):  # item 45
    c = lib.c
    a, s = c.export_batch(pa.record_batch(
        [pa.array([0.0, 10.0]), pa.array([1.0, 2.0]), pa.array([2.0, 3.0]), pa.array([-0.5, 1.5])], schema=SCHEMA))
    oa, os_ = c.new("ArrowArray"), c.new("ArrowSchema")
    assert lib.arct_movement_process(a, s, oa, os_, 1.0, 0) == 0
    assert c.released(a) and c.released(s)
    out = c.import_batch(oa, os_)
    assert out["position__x"].to_pylist() == [2, 13] and out["position__y"].to_pylist() == [0.5, 3.5]
    a, s = c.export_batch(batch([1.0]).drop_columns(["velocity__dy"]))
    oa, os_ = c.new("ArrowArray"), c.new("ArrowSchema")
    assert lib.arct_movement_process(a, s, oa, os_, 1.0, 0) == 1
    assert lib.last_error() == "Schema error: missing required movement column: velocity__dy"
    assert c.released(a) and c.released(oa)
    a, s = c.export_batch(batch([1.0]))
    oa, os_ = c.new("ArrowArray"), c.new("ArrowSchema")
    assert lib.arct_record_batch_roundtrip(a, s, oa, os_) == 0
    rt = c.import_batch(oa, os_)
    assert rt.num_rows == 1 and rt.schema.field(0).name == "position__x"


def test_status_codes_that_can_be_provoked(lib, world, tmp_path):  # §7.2 / §10
    c = lib.c
    assert world.register(b"pv", pa.schema([pa.field("position__x", pa.float32())])) == 152
    assert world.register(b"bad", pa.schema([pa.field("tick", pa.int64())])) == 153
    assert world.register(b"_x") == 158
    assert world.register(b"\xff") == 5
    rc, _, (a, s) = world.spawn([1.0], table=b"nope")
    assert rc == 150 and c.released(a)
    a, s = c.export_batch(batch([1.0]).drop_columns(["position__y"]))
    ids = (ctypes.c_int32 * 1)()
    n = ctypes.c_int64()
    assert lib.arct_world_spawn(world.h, b"pv", a, s, ids, 1, ctypes.byref(n)) == 154
    a, s = c.export_batch(batch([1.0]).append_column("extra", pa.array([1.0])))
    assert lib.arct_world_spawn(world.h, b"pv", a, s, ids, 1, ctypes.byref(n)) == 156
    a, s = c.export_batch(batch([1.0]).set_column(0, "position__x", pa.array([1], pa.int64())))
    assert lib.arct_world_spawn(world.h, b"pv", a, s, ids, 1, ctypes.byref(n)) == 155
    nullable = pa.schema([pa.field("position__x", pa.float64(), nullable=True)] + list(SCHEMA)[1:])
    a, s = c.export_batch(pa.record_batch([pa.array([None], pa.float64())] + batch([1.0]).columns[1:], schema=nullable))
    assert lib.arct_world_spawn(world.h, b"pv", a, s, ids, 1, ctypes.byref(n)) == 157
    two = (ctypes.c_int32 * 2)(5, 6)
    a, s = c.export_batch(batch([1.0]))
    assert lib.arct_world_spawn_with_ids(world.h, b"pv", a, s, two, 2) == 254
    zero = (ctypes.c_int32 * 1)(0)
    a, s = c.export_batch(batch([1.0]))
    assert lib.arct_world_spawn_with_ids(world.h, b"pv", a, s, zero, 1) == 253
    missing = (ctypes.c_int32 * 1)(99)
    assert lib.arct_world_despawn(world.h, missing, 1) == 251
    first = ctypes.c_int32()
    assert lib.arct_world_reserve_ids(world.h, 0, ctypes.byref(first)) == 8
    assert "n >= 1" in lib.last_error()
    rc, got, _ = world.spawn([1.0])
    assert rc == 0 and got == [1]
    lib.check(lib.arct_world_step(world.h, None))
    live = (ctypes.c_int32 * 1)(1)
    a, s = c.export_batch(batch([1.0]))
    assert lib.arct_world_spawn_with_ids(world.h, b"pv", a, s, live, 1) == 252
    dup = (ctypes.c_int32 * 2)(1, 1)
    a, s = c.export_batch(batch([1.0, 2.0]))
    assert lib.arct_world_migrate(world.h, b"pv", a, s, dup, 2) == 8
    assert lib.arct_world_remove_processor(world.h, 999) == 401
    pid = ctypes.c_int32()
    assert lib.arct_world_add_movement(world.h, float("inf"), 0, ctypes.byref(pid)) == 402
    assert lib.arct_world_run(world.h, -1, ctypes.byref(pid)) == 8
    tp = sized(TableProfile)
    assert lib.arct_world_profile_table(world.h, 5, ctypes.byref(tp)) == 8
    small = WorldInfo(struct_size=4)
    assert lib.arct_world_get_info(world.h, ctypes.byref(small)) == 7
    assert lib.arct_world_step(ctypes.c_void_p(12345), None) == 6
    assert lib.arct_testing_set_fault_plan(world.h, b"fail") == 8
    buf = ctypes.create_string_buffer(1)
    size = ctypes.c_size_t()
    assert lib.arct_world_get_id(world.h, 0, buf, 1, ctypes.byref(size)) == 9 and size.value == 1
    # Store codes.
    root = str(tmp_path)
    first_writer = World(lib, root)
    second = ctypes.c_void_p()
    assert lib.arct_world_create(b"w", b"r", root.encode(), b"ns", None, ctypes.byref(second)) == 203
    assert not second.value
    assert first_writer.register() == 0 and first_writer.spawn([1.0])[0] == 0
    lib.check(lib.arct_world_step(first_writer.h, None))
    assert first_writer.free() == 0
    assert lib.arct_world_create(b"w", b"r", root.encode(), b"ns", None, ctypes.byref(second)) == 205
    resume = sized(WorldOptions, open_mode=1)
    assert lib.arct_world_create(b"w", b"other", root.encode(), b"ns", ctypes.byref(resume), ctypes.byref(second)) == 206
    afile = tmp_path / "file"
    afile.write_text("x")
    assert lib.arct_world_create(b"w", b"r", str(afile).encode(), b"ns", None, ctypes.byref(second)) == 202


def test_failed_step_codes_and_poisoning(lib, tmp_path):  # 201, 103, 2, 105
    w = World(lib, str(tmp_path))
    assert w.register(b"a") == 0 and w.register(b"b") == 0
    assert w.spawn([1.0], table=b"a")[0] == 0 and w.spawn([2.0], table=b"b")[0] == 0
    lib.check(lib.arct_testing_set_fault_plan(w.h, b"fail:stage"))
    assert lib.arct_world_step(w.h, None) == 201
    assert w.info().tick == 0
    lib.check(lib.arct_testing_set_fault_plan(w.h, b"fail:publish:b"))
    assert lib.arct_world_step(w.h, None) == 103
    assert "world_id=w" in lib.last_error()
    assert lib.arct_world_step(w.h, None) == 103
    first = ctypes.c_int32()
    assert lib.arct_world_reserve_ids(w.h, 1, ctypes.byref(first)) == 103
    assert w.query(b"a").num_rows == 0  # reads work while poisoned, without the partial tick
    assert w.info().state == 2
    assert w.free(1) == 0
    m = World(lib, None, b"m", b"r")
    assert m.register() == 0 and m.spawn([1.0])[0] == 0
    lib.check(lib.arct_testing_set_fault_plan(m.h, b"fail:internal"))
    assert lib.arct_world_step(m.h, None) == 2
    assert lib.last_error().startswith("internal error crossing the arct ABI boundary:")
    assert lib.arct_world_step(m.h, None) == 105
    assert m.spawn([1.0])[0] == 105
    assert m.free() == 0


def test_ownership_rules(lib, world):  # item 47
    c = lib.c
    # Rejected before the move point (NULL, bad handle, bad name, non-empty output): inputs untouched.
    a, s = c.export_batch(batch([1.0]))
    ids = (ctypes.c_int32 * 1)()
    n = ctypes.c_int64()
    assert lib.arct_world_spawn(world.h, b"pv", a, None, ids, 1, ctypes.byref(n)) == 3
    assert lib.arct_world_spawn(ctypes.c_void_p(8), b"pv", a, s, ids, 1, ctypes.byref(n)) == 6
    assert lib.arct_world_spawn(world.h, b"\xfe", a, s, ids, 1, ctypes.byref(n)) == 5
    assert not c.released(a) and not c.released(s)
    full_a, full_s = c.export_batch(batch([2.0]))
    assert lib.arct_world_run_processor(world.h, world.movement, b"pv", a, s, full_a, full_s) == 4
    assert not c.released(a) and not c.released(full_a)
    # Past the move point: consumed even on failure; outputs stay empty.
    oa, os_ = c.new("ArrowArray"), c.new("ArrowSchema")
    assert lib.arct_world_run_processor(world.h, 999, b"pv", a, s, oa, os_) == 401
    assert c.released(a) and c.released(s) and c.released(oa) and c.released(os_)
    # Too small an id buffer: 9 and nothing staged.
    rc, _, (a, s) = world.spawn([1.0, 2.0, 3.0], capacity=2)
    assert rc == 9 and c.released(a)
    assert world.info().registered_entities == 0


def test_split_step_sequences(lib, world):  # item 48, 50
    c = lib.c
    world.spawn([1.0, 2.0])
    lib.check(lib.arct_world_step(world.h, None))  # the spawns become the prior of the next epoch
    world.register(b"idle")
    a, s = c.export_batch(batch([1.0]))
    assert lib.arct_step_commit(world.h, b"pv", a, s) == 101 and c.released(a)
    assert lib.arct_step_abort(world.h, b"pv") == 101
    oa, os_ = c.new("ArrowArray"), c.new("ArrowSchema")
    assert lib.arct_step_begin(world.h, b"idle", oa, os_) == 151
    assert lib.arct_step_begin(world.h, b"nope", oa, os_) == 150
    assert lib.arct_step_begin(world.h, b"pv", oa, os_) == 0
    ob, obs = c.new("ArrowArray"), c.new("ArrowSchema")
    assert lib.arct_step_begin(world.h, b"pv", ob, obs) == 100
    assert world.spawn([5.0])[0] == 104
    assert lib.arct_world_step(world.h, None) == 100
    first = ctypes.c_int32()
    assert lib.arct_world_reserve_ids(world.h, 1, ctypes.byref(first)) == 0
    assert world.free() == 351
    a, s = c.export_batch(batch([1.0]))
    assert lib.arct_step_commit(world.h, b"idle", a, s) == 102
    assert world.info().state == 1  # 102 leaves the epoch open
    # A processed batch that breaks the contract fails the whole epoch.
    bad = c.import_batch(oa, os_)
    changed = bad.set_column(2, pa.field("entity_id", pa.int32(), nullable=False), pa.array([7, 8], pa.int32()))
    a, s = c.export_batch(changed)
    assert lib.arct_step_commit(world.h, b"pv", a, s) == 301
    assert world.info().state == 0 and world.info().tick == 1
    # Abort after one table was committed: nothing written, a new epoch commits every table.
    world.spawn([3.0], table=b"idle")
    for table in (b"idle", b"pv"):
        ia, is_ = c.new("ArrowArray"), c.new("ArrowSchema")
        assert lib.arct_step_begin(world.h, table, ia, is_) == 0
        if table == b"idle":
            assert lib.arct_step_commit(world.h, table, ia, is_) == 0
    assert lib.arct_step_abort(world.h, b"pv") == 0
    assert world.info().tick == 1 and world.query(b"idle").num_rows == 0
    for table in (b"idle", b"pv"):
        ia, is_ = c.new("ArrowArray"), c.new("ArrowSchema")
        assert lib.arct_step_begin(world.h, table, ia, is_) == 0
        assert lib.arct_step_commit(world.h, table, ia, is_) == 0
    assert world.info().tick == 2
    assert world.query(b"pv").num_rows == 4 and world.query(b"idle").num_rows == 1


def test_split_step_with_run_processor_equals_step(lib):  # item 49
    c = lib.c
    worlds = []
    for wid in (b"a", b"b"):
        w = World(lib, None, wid, b"r")
        w.register()
        pid = ctypes.c_int32()
        lib.check(lib.arct_world_add_movement(w.h, 0.5, 0, ctypes.byref(pid)))
        w.pid = pid.value
        w.spawn([0.0, 1.0, 2.0])
        worlds.append(w)
    a, b = worlds
    for _ in range(4):
        lib.check(lib.arct_world_step(a.h, None))
        ia, is_ = c.new("ArrowArray"), c.new("ArrowSchema")
        lib.check(lib.arct_step_begin(b.h, b"pv", ia, is_))
        oa, os_ = c.new("ArrowArray"), c.new("ArrowSchema")
        if ia.length:
            lib.check(lib.arct_world_run_processor(b.h, b.pid, b"pv", ia, is_, oa, os_))
            lib.check(lib.arct_step_commit(b.h, b"pv", oa, os_))
        else:
            lib.check(lib.arct_step_commit(b.h, b"pv", ia, is_))
    ta, tb = a.query(), b.query()
    assert ta.drop_columns(["world_id"]).equals(tb.drop_columns(["world_id"]))
    for w in worlds:
        assert w.free() == 0


def test_query_filters_profiles_and_stream_outliving_the_world(lib, world):  # items 31, 53
    world.spawn([1.0, 2.0])
    prof = sized(StepProfile)
    for _ in range(4):
        lib.check(lib.arct_world_step(world.h, ctypes.byref(prof)))
    assert prof.tick == 3 and prof.rows_written == 2 and prof.tick_sec >= prof.commit_sec
    ticks = (ctypes.c_int32 * 2)(1, 3)
    f = sized(ReadFilter, ticks=ticks, n_ticks=2)
    assert world.query(flt=f)["tick"].to_pylist() == [1, 1, 3, 3]
    empty = (ctypes.c_int32 * 1)()
    f = sized(ReadFilter, entity_ids=empty, n_entity_ids=0)
    assert world.query(flt=f).num_rows == 0
    f = sized(ReadFilter, flags=1, tick_min=2, tick_max=3, source=0)
    assert world.query(flt=f).num_rows == 4
    f = sized(ReadFilter, source=1)
    assert world.query(flt=f).num_rows == 2
    stream = lib.c.new("ArrowArrayStream")
    lib.check(lib.arct_world_query(world.h, b"pv", None, stream))
    assert world.free() == 0
    world.free = lambda flags=0: 0  # already freed: the fixture must not free it again
    assert lib.c.import_stream(stream).read_all().num_rows == 8


def test_last_error_is_per_thread(lib, world):  # item 51
    missing = (ctypes.c_int32 * 1)(42)
    assert lib.arct_world_despawn(world.h, missing, 1) == 251
    msg = lib.last_error()
    assert "world_id=w" in msg and "run_id=r" in msg and "tick=0" in msg and "entity_id=42" in msg
    seen = []
    t = threading.Thread(target=lambda: seen.append(lib.last_error()))
    t.start()
    t.join()
    assert seen == [None]
    tick = ctypes.c_int32()
    lib.check(lib.arct_world_tick(world.h, ctypes.byref(tick)))
    assert lib.last_error() is None


def test_two_threads_hammering_one_world_are_serialized(lib, world):  # §7.7 stress
    """A stepping thread and a mutating thread: every mutation either lands or is refused with 104
    (never waits, never corrupts); reserve_ids waits and succeeds; the final state adds up."""
    world.spawn([0.0])
    steps, spawns, reserved = [], [], []

    def stepper():
        for _ in range(300):
            steps.append(lib.arct_world_step(world.h, None))

    def mutator():
        for i in range(300):
            spawns.append(world.spawn([float(i)])[0])
            first = ctypes.c_int32()
            assert lib.arct_world_reserve_ids(world.h, 1, ctypes.byref(first)) == 0
            reserved.append(first.value)

    threads = [threading.Thread(target=stepper), threading.Thread(target=mutator)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert set(steps) == {0}
    assert set(spawns) <= {0, 104}
    assert len(set(reserved)) == 300
    info = world.info()
    assert info.tick == 300
    assert info.registered_entities == 1 + spawns.count(0)


def test_free_racing_a_stepping_thread_is_351_or_frees_cleanly(lib):  # §7.7 stress
    """free while another thread is inside a call is 351; once a free succeeds, the handle is dead
    (6) for the other thread. Never a crash, never another code."""
    w = World(lib, None, b"race", b"r")
    w.register()
    a, s = lib.c.export_batch(batch(np.arange(50_000, dtype=np.float64).tolist()))
    ids = (ctypes.c_int32 * 50_000)()
    n = ctypes.c_int64()
    lib.check(lib.arct_world_spawn(w.h, b"pv", a, s, ids, 50_000, ctypes.byref(n)))
    steps, frees = [], []
    stop = threading.Event()

    def stepper():
        while not stop.is_set():
            rc = lib.arct_world_step(w.h, None)
            steps.append(rc)
            if rc == 6:
                return

    def freer():
        for _ in range(2000):
            rc = lib.arct_world_free(w.h, 0)
            frees.append(rc)
            if rc == 0:
                break
        stop.set()

    threads = [threading.Thread(target=stepper), threading.Thread(target=freer)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert set(frees) <= {0, 351}
    assert set(steps) <= {0, 6}
    if 0 not in frees:
        assert lib.arct_world_free(w.h, 0) == 0
