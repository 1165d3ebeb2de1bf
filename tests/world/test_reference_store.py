"""The reference kernel's Parquet store (specs/world.md §4, §5): layout, writer settings,
commit protocol under crashes (a child process killed by the fault plan), recovery, resume,
read pushdown, batching, locks and the store-level functions."""
from __future__ import annotations

import glob
import json
import os
import re
import signal
import subprocess
import sys
import textwrap

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

import kiln.world.reference as ref
from kiln.world.reference._common import world_key
from kiln.world.store import MemoryStore, ParquetStore
from test_reference_kernel import PV, T_PV, code, ids, pv, rows

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

ReferenceKernel = ref.ReferenceKernel
PART_RE = re.compile(r"^part-[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\.parquet$")


def open_world(root, world_id="w", run_id="r", open_mode="create", **kw):
    return ReferenceKernel(world_id=world_id, run_id=run_id, store=ParquetStore(root, **kw), namespace="ns",
                           open_mode=open_mode)


def table_dir(root, table):
    return os.path.join(str(root), "ns", table)


def parts(root, table):
    return sorted(os.path.basename(p) for p in glob.glob(os.path.join(table_dir(root, table), "*.parquet")))


def log_files(root):
    return sorted(os.path.relpath(p, os.path.join(str(root), "ns", "_kiln", "log"))
                  for p in glob.glob(os.path.join(str(root), "ns", "_kiln", "log", "*", "*")))


def duck_ticks(root, table):
    q = f"SELECT DISTINCT tick FROM read_parquet('{table_dir(root, table)}/*.parquet') ORDER BY tick"
    return [r[0] for r in duckdb.sql(q).fetchall()]


def full_ledger(k, table):
    return k.query(table).to_pylist()


# --------------------------------------------------------------------------- a scenario shared with the child process

SCENARIO = r'''
import numpy as np
import pyarrow as pa

_F64 = pa.float64()
_PV = pa.schema([("position__x", _F64), ("position__y", _F64), ("velocity__dx", _F64), ("velocity__dy", _F64)])
TABLES = ("a_pv", "b_pv")

def _pv(xs):
    n = len(xs)
    return pa.RecordBatch.from_arrays([pa.array(xs, _F64), pa.array([0.0] * n, _F64), pa.array([1.0] * n, _F64),
                                       pa.array([0.5] * n, _F64)], schema=_PV)

def setup_world(k):
    for t in TABLES:
        k.register_table(t, _PV)
    k.add_movement(1.0, 0)

def mutate(k, t):
    """The mutations issued just before the step of tick t."""
    if t == 0:
        k.spawn("a_pv", _pv([0.0, 1.0, 2.0]))
        k.spawn("b_pv", _pv([10.0]))
    elif t == 2:
        k.despawn(np.array([2], np.int32))
    elif t == 3:
        k.spawn("a_pv", _pv([50.0]))
        k.migrate("b_pv", _pv([70.0]), np.array([1], np.int32))
    elif t == 5:
        k.spawn("b_pv", _pv([20.0, 21.0]))
        k.despawn(np.array([3], np.int32))

def run(k, start, stop):
    for t in range(start, stop):
        mutate(k, t)
        k.step()
'''
exec(SCENARIO)

CHILD = r'''
import os, sys
repo, root, plan, k_flush, crash_tick = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
sys.path.insert(0, os.path.join(repo, "python"))
import kiln.world.reference as ref
{scenario}
from kiln.world.store import ParquetStore
k = ref.ReferenceKernel(world_id="cw", run_id="cr", store=ParquetStore(root, flush_every_ticks=k_flush), namespace="ns")
setup_world(k)
run(k, 0, crash_tick)
mutate(k, crash_tick)
if plan == "kill":
    os.kill(os.getpid(), 9)
k.set_fault_plan(plan)
k.step()
print("survived", flush=True)
sys.exit(3)
'''


def run_child(tmp_path, root, plan, k_flush=1, crash_tick=3):
    script = tmp_path / "child.py"
    script.write_text(CHILD.format(scenario=SCENARIO))
    env = dict(os.environ, PYTHONPATH=os.path.join(REPO, "python"))
    proc = subprocess.run([sys.executable, str(script), REPO, str(root), plan, str(k_flush), str(crash_tick)],
                          capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == -signal.SIGKILL, (proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    root = tmp_path_factory.mktemp("uninterrupted")
    k = ReferenceKernel(world_id="cw", run_id="cr", store=ParquetStore(root), namespace="ns")
    setup_world(k)  # noqa: F821
    run(k, 0, 8)  # noqa: F821
    out = {t: full_ledger(k, t) for t in TABLES}  # noqa: F821
    k.close()
    return out


@pytest.mark.parametrize(
    "point,plan,committed",
    [
        ("stage", "crash:stage", 2),  # first table's temp written, then killed: tick 3 absent
        ("record", "crash:record", 3),  # killed right after the commit point: rolled forward
        ("publish", "crash:publish:a_pv", 3),  # first table published, second not: rolled forward
        ("done", "crash:done", 3),  # fully published
    ],
)
def test_crash_points_recover_to_whole_ticks(tmp_path, uninterrupted, point, plan, committed):
    """Items 29 and 37: after kill -9 at each point the ledger holds exactly the committed ticks;
    external readers see whole ticks after recovery; resuming reproduces the uninterrupted run."""
    root = tmp_path / "store"
    run_child(tmp_path, root, plan)
    # before recovery: Kiln's readers hide anything after the published watermark
    published = ref.published_tick(str(root), "ns", "cw", "cr")
    assert published == (3 if point == "done" else 2)
    for t in TABLES:  # noqa: F821
        seen = ref.read_ledger_table(str(root), "ns", t, world_id="cw", run_id="cr")
        assert max(seen.column("tick").to_pylist()) == published
    temps = glob.glob(os.path.join(str(root), "ns", "*", "_tmp-*"))
    assert bool(temps) == (point in ("stage", "record", "publish"))
    # reopen = lock + recovery + resume
    k = open_world(root, "cw", "cr", open_mode="resume")
    assert k.info()["tick"] == committed + 1 and k.info()["last_committed_tick"] == committed
    assert glob.glob(os.path.join(str(root), "ns", "*", "_tmp-*")) == []
    assert log_files(root) == [f"{world_key('cw', 'cr')}/{committed:010d}.done"]
    for t in TABLES:  # noqa: F821
        assert duck_ticks(root, t) == list(range(committed + 1)), t
    setup_world(k)  # noqa: F821  (processors are not persisted; tables re-register idempotently)
    run(k, committed + 1, 8)  # noqa: F821
    for t in TABLES:  # noqa: F821
        assert full_ledger(k, t) == uninterrupted[t], t
    k.close()


def test_crash_before_flush_loses_only_unflushed_ticks(tmp_path, uninterrupted):
    """Item 34: with flush_every_ticks=3 a kill after tick 4 keeps ticks 0-2 (one flush)."""
    root = tmp_path / "store"
    run_child(tmp_path, root, "kill", k_flush=3, crash_tick=5)
    k = open_world(root, "cw", "cr", open_mode="resume", flush_every_ticks=3)
    assert k.info()["tick"] == 3
    for t in TABLES:  # noqa: F821
        assert duck_ticks(root, t) == [0, 1, 2]
    setup_world(k)  # noqa: F821
    run(k, 3, 8)  # noqa: F821
    k.flush()
    for t in TABLES:  # noqa: F821
        assert full_ledger(k, t) == uninterrupted[t]
    k.close()


# --------------------------------------------------------------------------- layout and writer settings (§5.2, §5.3)


def test_layout_names_and_invisible_temps(tmp_path):
    """Item 28: part names; staged files never match *.parquet globs or dataset discovery."""
    root = tmp_path / "store"
    k = open_world(root)
    setup_world(k)  # noqa: F821
    run(k, 0, 2)  # noqa: F821
    for t in TABLES:  # noqa: F821
        names = parts(root, t)
        assert len(names) == 2 and all(PART_RE.match(n) for n in names)
    key = world_key("w", "r")
    k.set_fault_plan("fail:publish:b_pv")
    mutate(k, 2)  # noqa: F821
    with pytest.raises(Exception) as e:
        k.step()
    assert code(e) == 103
    staged = os.listdir(table_dir(root, "b_pv"))
    temps = [n for n in staged if n.endswith(".parquet.tmp")]
    assert len(temps) == 1 and temps[0].startswith("_tmp-") and key in temps[0]
    assert len(glob.glob(os.path.join(table_dir(root, "b_pv"), "*.parquet"))) == 2
    assert len(ds.dataset(table_dir(root, "b_pv"), format="parquet").files) == 2
    assert duck_ticks(root, "a_pv") == [0, 1, 2] and duck_ticks(root, "b_pv") == [0, 1]
    assert any(f.endswith("0000000002.commit") for f in log_files(root))
    k.close()


def test_writer_settings(tmp_path):
    root = tmp_path / "store"
    k = open_world(root)
    schema = pa.schema([("position__x", pa.float64()), ("name__s", pa.string()), ("flag__b", pa.bool_()),
                        ("l__v", pa.list_(pa.field("item", pa.float32(), nullable=False)))], metadata={"kiln.signature": '["X"]'})
    k.register_table("t", schema)
    k.spawn("t", pa.RecordBatch.from_pydict({"position__x": [1.0, 2.0], "name__s": ["a", "b"], "flag__b": [True, False],
                                             "l__v": pa.array([[1.0], [2.0, 3.0]], schema.field("l__v").type)}, schema=schema))
    k.step()
    (name,) = parts(root, "t")
    pf = pq.ParquetFile(os.path.join(table_dir(root, "t"), name))
    md = pf.metadata
    assert pf.schema_arrow.equals(k.table_schema("t"), check_metadata=True)  # store_schema round trip
    assert md.num_row_groups == 1
    rg = md.row_group(0)
    by_name = {rg.column(j).path_in_schema: rg.column(j) for j in range(rg.num_columns)}
    for col in by_name.values():
        assert col.compression == "ZSTD" and col.statistics is not None and col.statistics.has_min_max
        assert not col.has_offset_index and not col.has_column_index  # page index off
    dict_cols = {n for n, c in by_name.items() if any("DICTIONARY" in e for e in c.encodings)}
    assert dict_cols == {"world_id", "run_id", "name__s"}
    k.close()
    k2 = open_world(root, run_id="r2", compression="none")
    k2.register_table("t", schema)
    k2.spawn("t", pa.RecordBatch.from_pydict({"position__x": [1.0], "name__s": ["a"], "flag__b": [True],
                                              "l__v": pa.array([[1.0]], schema.field("l__v").type)}, schema=schema))
    k2.step()
    newest = parts(root, "t")[-1]
    assert pq.ParquetFile(os.path.join(table_dir(root, "t"), newest)).metadata.row_group(0).column(0).compression == "UNCOMPRESSED"
    k2.close()


def test_large_parts_split_row_groups(tmp_path):
    root = tmp_path / "store"
    k = open_world(root)
    k.register_table("big", pa.schema([("v__x", pa.float64())]))
    n = 1_048_576 + 10
    k.spawn("big", pa.RecordBatch.from_arrays([pa.array(np.zeros(n))], names=["v__x"]))
    k.step()
    (name,) = parts(root, "big")
    md = pq.ParquetFile(os.path.join(table_dir(root, "big"), name)).metadata
    assert [md.row_group(i).num_rows for i in range(md.num_row_groups)] == [1_048_576, 10]
    assert k.query("big", entity_ids=[n]).num_rows == 1
    k.close()


def test_commit_record_fields(tmp_path):
    root = tmp_path / "store"
    k = open_world(root, flush_every_ticks=2)
    setup_world(k)  # noqa: F821
    run(k, 0, 4)  # noqa: F821
    (rec_name,) = log_files(root)
    assert rec_name.endswith("/0000000003.done")
    rec = json.loads(open(os.path.join(str(root), "ns", "_kiln", "log", rec_name)).read())
    assert rec["format"] == "kiln.world.commit/1"
    assert (rec["world_id"], rec["run_id"], rec["first_tick"], rec["last_tick"]) == ("w", "r", 2, 3)
    assert rec["next_entity_id"] == k.info()["next_entity_id"] == 6
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$", rec["created_at"])
    assert [p["table"] for p in rec["parts"]] == ["a_pv", "b_pv"]
    for p in rec["parts"]:
        assert PART_RE.match(p["name"]) and p["temp"].startswith("_tmp-") and p["temp"].endswith(".parquet.tmp")
        assert (p["min_tick"], p["max_tick"]) == (2, 3)
        assert p["rows"] == k.query(p["table"], tick_range=(2, 3)).num_rows
    assert rec["live_tables"] == ["a_pv", "b_pv"]
    k.close()


# --------------------------------------------------------------------------- resume (§4)


def test_resume_restores_state_and_continues(tmp_path):
    """Items 25-27: same tick, next_entity_id, registry and live snapshots; only listed parts
    of live tables are opened; unstepped mutations are gone; continuation is identical."""
    root, root2 = tmp_path / "a", tmp_path / "b"
    full = open_world(root2)
    setup_world(full)  # noqa: F821
    run(full, 0, 8)  # noqa: F821

    k = open_world(root)
    setup_world(k)  # noqa: F821
    k.register_table("c_empty", PV)
    run(k, 0, 6)  # noqa: F821  (live after tick 5: a_pv {5}, b_pv {1, 4, 6, 7})
    k.despawn(ids(5))  # a_pv's last entity: its tick-6 part holds only a tombstone
    k.register_table("d_new", PV)
    k.spawn("d_new", pv([1.0]))
    k.step()  # tick 6
    before = dict(info=k.info(), registry=k.registry(), live={t: k.query(t, source="live") for t in k.tables()})
    k.spawn(T_PV, pv([123.0]))  # staged, never stepped: absent after resume (item 27)
    k.reserve_ids(5)
    k.close()

    k2 = open_world(root, open_mode="resume")
    info = k2.info()
    assert info["tick"] == before["info"]["tick"] == 7
    assert info["next_entity_id"] == before["info"]["next_entity_id"]
    assert k2.registry().equals(before["registry"])
    rec = json.loads(open(os.path.join(str(root), "ns", "_kiln", "log", log_files(root)[0])).read())
    live_parts = [p for p in rec["parts"] if p["table"] in rec["live_tables"]]
    assert len(rec["parts"]) == 3
    assert k2.store_counters()["files_opened"] == len(live_parts) == 2
    assert k2.tables() == rec["live_tables"] == ["b_pv", "d_new"]
    for t, live in before["live"].items():
        got = k2.query(t, source="live") if t in k2.tables() else None
        if live.num_rows:
            assert got.equals(live) and got.schema.equals(live.schema, check_metadata=True), t
    assert k2.registry().column("staged").to_pylist() == [False] * 5
    with pytest.raises(Exception) as e:
        k2.query("c_empty")  # never written, not registered after resume
    assert code(e) == 150
    k2.register_table(T_PV, PV)  # a stored table is registered on demand (checked against its parts)
    assert k2.query(T_PV, ticks=[6]).column("is_active").to_pylist() == [False]
    k2.close()

    # continuation equals the uninterrupted run (here: a run that resumes after every tick)
    root3 = tmp_path / "c"
    for t in range(8):
        k = open_world(root3, open_mode="create_or_resume")
        assert k.info()["tick"] == t
        setup_world(k)  # noqa: F821
        run(k, t, t + 1)  # noqa: F821
        k.close()
    k = open_world(root3, open_mode="resume")
    for name in TABLES:  # noqa: F821
        assert full_ledger(k, name) == full_ledger(full, name)
    k.close()
    full.close()


def test_resume_without_run_id_and_open_modes(tmp_path):
    """Item 30 plus run discovery: 203, 205, 206."""
    root = tmp_path / "store"
    k = open_world(root, world_id="w", run_id="r1")
    setup_world(k)  # noqa: F821
    run(k, 0, 1)  # noqa: F821
    with pytest.raises(Exception) as e:
        open_world(root, world_id="w", run_id="r1", open_mode="resume")
    assert code(e) == 203
    k.step()  # the first writer is unaffected
    k.close()
    with pytest.raises(Exception) as e:
        open_world(root, world_id="w", run_id="r1")
    assert code(e) == 205
    with pytest.raises(Exception) as e:
        open_world(root, world_id="w", run_id="nope", open_mode="resume")
    assert code(e) == 206
    k = ReferenceKernel(world_id="w", run_id=None, store=ParquetStore(root), namespace="ns", open_mode="resume")
    assert k.run_id == "r1" and k.info()["tick"] == 2
    k.close()
    k = open_world(root, world_id="w", run_id="r2")
    k.step()
    k.close()
    with pytest.raises(Exception) as e:
        ReferenceKernel(world_id="w", run_id=None, store=ParquetStore(root), namespace="ns", open_mode="resume")
    assert code(e) == 206 and "r1" in str(e.value) and "r2" in str(e.value)
    k = open_world(root, world_id="w", run_id="r2", open_mode="create_or_resume")
    assert k.info()["tick"] == 1
    k.close()
    assert [(w.world_id, w.run_id, w.last_tick) for w in ref.list_worlds(str(root), "ns")] == [("w", "r1", 1), ("w", "r2", 0)]


def test_corrupt_store_is_reported_without_deleting(tmp_path):
    root = tmp_path / "store"
    k = open_world(root)
    setup_world(k)  # noqa: F821
    run(k, 0, 2)  # noqa: F821
    k.close()
    logdir = os.path.dirname(os.path.join(str(root), "ns", "_kiln", "log", log_files(root)[0]))
    rec = json.loads(open(os.path.join(logdir, "0000000001.done")).read())
    rec["last_tick"] = rec["first_tick"] = 2
    rec["parts"][0]["name"] = "part-missing.parquet"
    with open(os.path.join(logdir, "0000000002.commit"), "w") as f:
        json.dump(rec, f)
    before = sorted(glob.glob(os.path.join(str(root), "ns", "**"), recursive=True))
    with pytest.raises(Exception) as e:
        open_world(root, open_mode="resume")
    assert code(e) == 204
    assert sorted(glob.glob(os.path.join(str(root), "ns", "**"), recursive=True)) == before
    rec["format"] = "kiln.world.commit/2"
    rec["parts"] = []
    with open(os.path.join(logdir, "0000000002.commit"), "w") as f:
        json.dump(rec, f)
    with pytest.raises(Exception) as e:
        open_world(root, open_mode="resume")
    assert code(e) == 204


# --------------------------------------------------------------------------- reads (§5.6)


def test_history_reads_one_row_group(tmp_path):
    """Item 32 (own part index) and the footer path of a reader that did not write them."""
    root = tmp_path / "store"
    k = open_world(root)
    k.register_table(T_PV, PV)
    k.spawn(T_PV, pv([0.0, 1.0]))
    for _ in range(50):
        k.step()
    assert len(parts(root, T_PV)) == 50
    c0 = k.store_counters()
    t = k.query(T_PV, ticks=[10])
    c1 = k.store_counters()
    assert t.num_rows == 2 and t.column("tick").to_pylist() == [10, 10]
    assert c1["row_groups_read"] - c0["row_groups_read"] == 1
    assert c1["files_opened"] - c0["files_opened"] == 1
    assert c1["reads"] - c0["reads"] == 1
    k.close()
    k2 = open_world(root, open_mode="resume")
    c0 = k2.store_counters()
    k2.query(T_PV, ticks=[10])
    c1 = k2.store_counters()
    assert c1["row_groups_read"] - c0["row_groups_read"] == 1
    k2.query(T_PV, tick_range=(20, 21), entity_ids=[2])
    c2 = k2.store_counters()
    assert c2["row_groups_read"] - c1["row_groups_read"] == 2
    assert c2["files_opened"] - c1["files_opened"] == 2  # footers are known now
    k2.close()


def test_reads_follow_file_order_and_scope_by_world(tmp_path):
    """Item 33 and §5.6 scoping: two worlds interleave parts in one namespace."""
    root = tmp_path / "store"
    a, b = open_world(root, world_id="a"), open_world(root, world_id="b")
    for k, x in ((a, 0.0), (b, 100.0)):
        k.register_table(T_PV, PV)
        k.add_movement(1.0, 0)
        k.spawn(T_PV, pv([x]))
    for _ in range(4):
        a.step()
        b.step()
    assert len(parts(root, T_PV)) == 8
    assert [r[0] for r in rows(a, T_PV)] == [0, 1, 2, 3]
    assert [r[3] for r in rows(b, T_PV)] == [100.0, 101.0, 102.0, 103.0]
    assert [r[3] for r in rows(a, T_PV, world_id="b")] == [100.0, 101.0, 102.0, 103.0]  # foreign, published
    got = ref.read_ledger_table(str(root), "ns", T_PV, world_id="a", run_id="r", tick_range=(1, 2))
    assert got.column("tick").to_pylist() == [1, 2] and got.schema.equals(a.table_schema(T_PV), check_metadata=True)
    whole = duckdb.sql(f"SELECT world_id, tick, position__x FROM read_parquet('{table_dir(root, T_PV)}/*.parquet') "
                       "WHERE world_id = 'a' ORDER BY tick").fetchall()
    assert [r[2] for r in whole] == [0.0, 1.0, 2.0, 3.0]
    with pytest.raises(Exception) as e:
        ref.read_ledger_table(str(root), "ns", "nope", world_id="a", run_id="r")
    assert code(e) == 150
    # a table only another world registered is readable (schema from its parts)
    b.register_table("only_b", PV)
    b.spawn("only_b", pv([1.0]))
    b.step()
    assert a.query("only_b", world_id="b").num_rows == 1 and a.query("only_b").num_rows == 0
    a.close(), b.close()


def test_flush_every_ticks(tmp_path):
    """Item 34: k = 3 over 10 ticks writes 4 parts per table and the k = 1 ledger;
    queries include unflushed ticks; a failed flush keeps them pending."""
    r1, r3 = tmp_path / "k1", tmp_path / "k3"
    k1 = open_world(r1)
    k3 = open_world(r3, flush_every_ticks=3)
    for k in (k1, k3):
        setup_world(k)  # noqa: F821
        run(k, 0, 10)  # noqa: F821
    for t in TABLES:  # noqa: F821
        assert len(parts(r3, t)) == 3  # ticks 0-2, 3-5, 6-8; tick 9 pending
        assert full_ledger(k3, t) == full_ledger(k1, t)  # read-your-writes
        assert k3.query(t, ticks=[9]).num_rows == k1.query(t, ticks=[9]).num_rows > 0
    assert ref.published_tick(str(r3), "ns", "w", "r") == 8
    k3.set_fault_plan("fail:stage")
    with pytest.raises(Exception) as e:
        k3.flush()
    assert code(e) == 201
    assert full_ledger(k3, "a_pv") == full_ledger(k1, "a_pv")
    k3.close()  # retried by close
    for t in TABLES:  # noqa: F821
        assert len(parts(r3, t)) == 4
        assert duck_ticks(r3, t) == list(range(10))
    k = open_world(r3, open_mode="resume", flush_every_ticks=3)
    assert k.info()["tick"] == 10
    for t in TABLES:  # noqa: F821
        assert full_ledger(k, t) == full_ledger(k1, t)
    k.close(), k1.close()


def test_read_ledger_hides_partial_tick_until_recovery(tmp_path):
    """Item 37 and recover()."""
    root = tmp_path / "store"
    k = open_world(root)
    setup_world(k)  # noqa: F821
    run(k, 0, 2)  # noqa: F821
    k.set_fault_plan("fail:publish:b_pv")
    with pytest.raises(Exception) as e:
        run(k, 2, 3)  # noqa: F821
    assert code(e) == 103
    assert duck_ticks(root, "a_pv") == [0, 1, 2]  # an external glob sees the partial tick ...
    assert ref.published_tick(str(root), "ns", "w", "r") == 1  # ... Kiln's readers do not
    got = ref.read_ledger_table(str(root), "ns", "a_pv", world_id="w", run_id="r")
    assert sorted(set(got.column("tick").to_pylist())) == [0, 1]
    report = ref.recover(str(root), "ns")
    assert report.skipped_locked and report.worlds_examined == 0  # the poisoned writer holds the lock
    k.close()
    report = ref.recover(str(root), "ns")
    assert (report.worlds_examined, report.ticks_rolled_forward, report.skipped_locked) == (1, 1, [])
    assert ref.published_tick(str(root), "ns", "w", "r") == 2
    got = ref.read_ledger_table(str(root), "ns", "b_pv", world_id="w", run_id="r", ticks=[2])
    assert got.num_rows == 1
    # orphans of a flush that never reached its commit point are removed
    orphan = os.path.join(table_dir(root, "a_pv"), f"_tmp-{'0' * 32}-x.parquet.tmp")
    open(orphan, "wb").close()
    report = ref.recover(str(root), "ns")
    assert report.orphans_removed == 1 and not os.path.exists(orphan)


def test_stored_schema_conflict(tmp_path):
    """Item 38 against the store: another world's parts fix the table's schema."""
    root = tmp_path / "store"
    a = open_world(root, world_id="a")
    a.register_table("t", PV)
    a.spawn("t", pv([1.0]))
    a.step()
    b = open_world(root, world_id="b")
    with pytest.raises(Exception) as e:
        b.register_table("t", pa.schema([("position__x", pa.float32())]))
    assert code(e) == 152
    b.register_table("t", PV.remove_metadata())  # equal ignoring metadata
    a.close(), b.close()


def test_durability_fsync_and_unusable_namespace(tmp_path):
    root = tmp_path / "store"
    k = open_world(root, durability="fsync")
    setup_world(k)  # noqa: F821
    run(k, 0, 3)  # noqa: F821
    assert duck_ticks(root, "a_pv") == [0, 1, 2]
    k.close()
    # the namespace directory replaced by a file: steps fail with 201, nothing changes
    k = open_world(root, world_id="x")
    k.register_table("z_t", PV)
    k.spawn("z_t", pv([1.0]))
    ns = os.path.join(str(root), "ns")
    os.rename(ns, ns + ".moved")
    open(ns, "w").close()
    try:
        with pytest.raises(Exception) as e:
            k.step()
        assert code(e) == 201 and k.info()["tick"] == 0
    finally:
        os.remove(ns)
        os.rename(ns + ".moved", ns)
    k.step()
    assert k.info()["tick"] == 1
    k.close()


def test_uuid7_monotonic():
    from kiln.world._uuid7 import uuid7

    xs = [uuid7() for _ in range(20000)]
    assert xs == sorted(xs) and len(set(xs)) == len(xs)
    assert all(x[14] == "7" and x[19] in "89ab" for x in xs[:100])


def test_memory_store_rejects_resume():
    with pytest.raises(Exception) as e:
        ReferenceKernel(world_id="w", run_id="r", store=MemoryStore(), open_mode="resume")
    assert code(e) == 8


def test_reference_runs_with_the_native_extension_blocked(tmp_path):
    """Item 62 at kernel level: nothing here needs kiln's compiled extension."""
    script = tmp_path / "blocked.py"
    script.write_text(textwrap.dedent(f"""
        import sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name in ("kiln._kiln", "kiln.world._native") or name.startswith("kiln._kiln."):
                    raise ImportError("blocked: " + name)
        sys.meta_path.insert(0, Block())
        import kiln.world.reference as ref
        from kiln.world.store import ParquetStore
        {SCENARIO!r}
        exec({SCENARIO!r})
        k = ref.ReferenceKernel(world_id="w", run_id="r", store=ParquetStore({str(tmp_path / 's')!r}), namespace="ns")
        setup_world(k)
        run(k, 0, 3)
        assert "kiln._kiln" not in sys.modules
        print(k.query("a_pv", ticks=[2]).num_rows)
    """))
    env = dict(os.environ, PYTHONPATH=os.path.join(REPO, "python"))
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "3"
