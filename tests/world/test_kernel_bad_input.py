"""specs/world.md §10 rows at the kernel interface, on both kernels: the catalog code, a message
naming the problem, and an unchanged world (docs/dev/kernel-interface.md)."""
from __future__ import annotations

import json
import os

import numpy as np
import pyarrow as pa
import pytest

from kiln.errors import KilnError
from kiln.world._native import NativeKernel
from kiln.world.reference import ReferenceKernel
from kiln.world.store import MemoryStore, ParquetStore

KERNELS = {"native": NativeKernel, "reference": ReferenceKernel}
COMPONENTS = pa.schema([pa.field("position__x", pa.float64(), nullable=False)])


@pytest.fixture(params=sorted(KERNELS))
def kernel_cls(request):
    return KERNELS[request.param]


def _kernel(kernel_cls, store=None, **kw):
    return kernel_cls(world_id=kw.pop("world_id", "w"), run_id=kw.pop("run_id", "r"), store=store or MemoryStore(),
                      namespace=kw.pop("namespace", "ns"), open_mode=kw.pop("open_mode", "create"))


def _code(excinfo):
    assert isinstance(excinfo.value, KilnError)
    return excinfo.value.number


def _batch(xs):
    return pa.record_batch([pa.array(xs, pa.float64())], schema=COMPONENTS)


def _snapshot(k):
    return k.info(), k.registry().to_pylist(), k.tables()


@pytest.mark.parametrize("schema, fragment", [
    (pa.schema([pa.field("tick", pa.int32(), False), pa.field("x", pa.float64())]), "world_id"),
    (pa.schema([pa.field("world_id", pa.string(), False), pa.field("run_id", pa.string(), False),
                pa.field("tick", pa.int32(), False), pa.field("entity_id", pa.int32(), False),
                pa.field("is_active", pa.bool_(), False)]), "entity_id"),
    (pa.schema([pa.field("world_id", pa.string(), True), pa.field("run_id", pa.string(), False),
                pa.field("entity_id", pa.int32(), False), pa.field("tick", pa.int32(), False),
                pa.field("is_active", pa.bool_(), False)]), "nullable"),
    (pa.schema([pa.field("world_id", pa.string(), False), pa.field("run_id", pa.string(), False),
                pa.field("entity_id", pa.int64(), False), pa.field("tick", pa.int32(), False),
                pa.field("is_active", pa.bool_(), False)]), "int32"),
    (pa.schema([pa.field("a", pa.float64()), pa.field("a", pa.float64())]), "a"),
])
def test_bad_table_schema_is_153_and_registers_nothing(kernel_cls, schema, fragment):
    k = _kernel(kernel_cls)
    with pytest.raises(KilnError) as e:
        k.register_table("t", schema)
    assert _code(e) == 153 and fragment in str(e.value)
    assert k.tables() == []


def test_same_name_other_schema_is_152_and_keeps_the_registration(kernel_cls):
    k = _kernel(kernel_cls)
    k.register_table("t", COMPONENTS)
    k.register_table("t", COMPONENTS)  # idempotent
    with pytest.raises(KilnError) as e:
        k.register_table("t", pa.schema([pa.field("position__x", pa.float32(), nullable=False)]))
    assert _code(e) == 152 and "t" in str(e.value)
    assert k.table_schema("t").field("position__x").type == pa.float64()


@pytest.mark.parametrize("name", ["", "_hidden", ".dot", "has space", "x" * 201, "slash/name"])
def test_bad_table_names_are_158(kernel_cls, name):
    k = _kernel(kernel_cls)
    with pytest.raises(KilnError) as e:
        k.register_table(name, COMPONENTS)
    assert _code(e) == 158


def test_bad_namespace_and_ids_are_rejected_at_creation(kernel_cls, tmp_path):
    with pytest.raises(KilnError) as e:
        _kernel(kernel_cls, namespace="_kiln")
    assert _code(e) == 158
    with pytest.raises(KilnError) as e:
        _kernel(kernel_cls, world_id="")
    assert _code(e) == 158
    with pytest.raises(KilnError) as e:
        _kernel(kernel_cls, MemoryStore(), open_mode="resume")
    assert _code(e) == 8


def test_store_root_that_is_a_file_is_202_with_the_path(kernel_cls, tmp_path):
    root = tmp_path / "file"
    root.write_text("not a directory")
    with pytest.raises(KilnError) as e:
        _kernel(kernel_cls, ParquetStore(str(root)))
    assert _code(e) == 202 and str(root) in str(e.value)


def test_disk_full_while_staging_is_201_retryable_and_loses_nothing(kernel_cls, tmp_path):
    k = _kernel(kernel_cls, ParquetStore(str(tmp_path)))
    k.register_table("t", COMPONENTS)
    k.spawn("t", _batch([1.0, 2.0]))
    before = _snapshot(k)
    k.set_fault_plan("fail:stage")
    with pytest.raises(KilnError) as e:
        k.step()
    assert _code(e) == 201 and "No space left" in str(e.value)
    assert _snapshot(k) == before
    assert not [f for _, _, fs in os.walk(tmp_path) for f in fs if f.endswith(".tmp")]
    k.step()
    assert k.query("t").num_rows == 2
    k.close()


def test_namespace_replaced_by_a_file_fails_the_step_with_201(kernel_cls, tmp_path):
    k = _kernel(kernel_cls, ParquetStore(str(tmp_path)))
    k.register_table("t", COMPONENTS)
    k.spawn("t", _batch([1.0]))
    k.step()
    table_dir = tmp_path / "ns" / "t"
    for f in table_dir.iterdir():
        f.unlink()
    table_dir.rmdir()
    table_dir.write_text("in the way")
    with pytest.raises(KilnError) as e:
        k.step()
    assert _code(e) == 201
    assert k.info()["tick"] == 1
    k.close(discard=True)


def test_commit_record_naming_missing_files_is_204_and_deletes_nothing(kernel_cls, tmp_path):
    k = _kernel(kernel_cls, ParquetStore(str(tmp_path)))
    k.register_table("t", COMPONENTS)
    k.spawn("t", _batch([1.0]))
    k.step()
    k.close()
    log = next((tmp_path / "ns" / "_kiln" / "log").iterdir())
    record = json.loads(next(log.glob("*.done")).read_text())
    record["last_tick"] = 1
    record["parts"] = [{"table": "t", "temp": "_tmp-gone.parquet.tmp", "name": "part-gone.parquet", "rows": 1}]
    (log / "0000000001.commit").write_text(json.dumps(record))
    files_before = sorted(p for p in tmp_path.rglob("*") if p.is_file() and not p.name.endswith(".lock"))
    with pytest.raises(KilnError) as e:
        _kernel(kernel_cls, ParquetStore(str(tmp_path)), open_mode="resume")
    assert _code(e) == 204 and "part-gone.parquet" in str(e.value)
    assert sorted(p for p in tmp_path.rglob("*") if p.is_file() and not p.name.endswith(".lock")) == files_before


def test_unknown_record_format_is_204(kernel_cls, tmp_path):
    k = _kernel(kernel_cls, ParquetStore(str(tmp_path)))
    k.register_table("t", COMPONENTS)
    k.step()
    k.close()
    done = next((tmp_path / "ns" / "_kiln" / "log").rglob("*.done"))
    record = json.loads(done.read_text())
    record["format"] = "kiln.world.commit/9"
    done.write_text(json.dumps(record))
    with pytest.raises(KilnError) as e:
        _kernel(kernel_cls, ParquetStore(str(tmp_path)), open_mode="resume")
    assert _code(e) == 204


def test_unexpected_internal_error_is_2_then_poisons_with_105(kernel_cls):
    k = _kernel(kernel_cls)
    k.register_table("t", COMPONENTS)
    k.spawn("t", _batch([1.0]))
    k.set_fault_plan("fail:internal")
    with pytest.raises(KilnError) as e:
        k.step()
    assert _code(e) == 2
    assert k.info()["state"] == "poisoned_internal"
    for call in (lambda: k.step(), lambda: k.spawn("t", _batch([2.0])), lambda: k.despawn(np.array([1], np.int32))):
        with pytest.raises(KilnError) as e:
            call()
        assert _code(e) == 105
    assert k.query("t", "staged").num_rows == 1  # reads still work


def test_bad_fault_plan_is_8(kernel_cls):
    k = _kernel(kernel_cls)
    with pytest.raises(KilnError) as e:
        k.set_fault_plan("explode:stage")
    assert _code(e) == 8
