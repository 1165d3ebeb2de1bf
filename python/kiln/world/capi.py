"""The C ABI from Python: ``libkiln_arct.so.2`` loaded with ctypes, Arrow data exchanged through
``pyarrow.cffi`` C Data structs (specs/world.md §7).

This is what another language's binding does, written in Python: it is how the test suite drives
the ABI, and a template for embedding the kernel elsewhere. Most Python users want
``kiln.world.World`` instead.

    lib = ArctLibrary()                      # checks arct_ffi_version() == 2 first
    rc = lib.call("arct_world_create", b"w", b"r", None, None, None, ctypes.byref(handle))
"""
from __future__ import annotations

import ctypes
import os
from typing import Any, Optional

import pyarrow as pa

ABI_VERSION = 2

_p = ctypes.c_void_p
_i32 = ctypes.c_int32
_i64 = ctypes.c_int64
_u32 = ctypes.c_uint32
_s = ctypes.c_char_p

# name -> (restype, argtypes). Pointers to structs and handles travel as void*.
SIGNATURES = {
    "arct_ffi_version": (_u32, []),
    "arct_last_error_message": (_s, []),
    "arct_clear_last_error": (None, []),
    "arct_arrow_c_data_is_present": (ctypes.c_bool, [_p, _p]),
    "arct_record_batch_roundtrip": (_i32, [_p, _p, _p, _p]),
    "arct_movement_process": (_i32, [_p, _p, _p, _p, ctypes.c_double, _i32]),
    "arct_world_create": (_i32, [_s, _s, _s, _s, _p, _p]),
    "arct_world_free": (_i32, [_p, _u32]),
    "arct_world_flush": (_i32, [_p]),
    "arct_world_get_id": (_i32, [_p, _i32, _p, ctypes.c_size_t, _p]),
    "arct_world_get_info": (_i32, [_p, _p]),
    "arct_world_tick": (_i32, [_p, _p]),
    "arct_world_register_table": (_i32, [_p, _s, _p]),
    "arct_world_table_schema": (_i32, [_p, _s, _p]),
    "arct_world_tables": (_i32, [_p, _i32, _p, _p]),
    "arct_world_registry": (_i32, [_p, _p, _p]),
    "arct_world_spawn": (_i32, [_p, _s, _p, _p, _p, _i64, _p]),
    "arct_world_spawn_with_ids": (_i32, [_p, _s, _p, _p, _p, _i64]),
    "arct_world_reserve_ids": (_i32, [_p, _i32, _p]),
    "arct_world_despawn": (_i32, [_p, _p, _i64]),
    "arct_world_migrate": (_i32, [_p, _s, _p, _p, _p, _i64]),
    "arct_world_add_movement": (_i32, [_p, ctypes.c_double, _i32, _p]),
    "arct_world_add_formula": (_i32, [_p, _s, _p, _p, _i32, _p, _p, _i32, _i32, _p]),
    "arct_world_remove_processor": (_i32, [_p, _i32]),
    "arct_world_run_processor": (_i32, [_p, _i32, _s, _p, _p, _p, _p]),
    "arct_world_step": (_i32, [_p, _p]),
    "arct_world_run": (_i32, [_p, _i32, _p]),
    "arct_world_profile_table": (_i32, [_p, _i32, _p]),
    "arct_world_query": (_i32, [_p, _s, _p, _p]),
    "arct_world_query_batch": (_i32, [_p, _s, _p, _p, _p]),
    "arct_step_begin": (_i32, [_p, _s, _p, _p]),
    "arct_step_commit": (_i32, [_p, _s, _p, _p]),
    "arct_step_abort": (_i32, [_p, _s]),
    "arct_testing_set_fault_plan": (_i32, [_p, _s]),
}


class WorldOptions(ctypes.Structure):
    _fields_ = [("struct_size", _u32), ("open_mode", _i32), ("flush_every_ticks", _i32), ("durability", _i32),
                ("compression", _i32), ("compression_level", _i32), ("memory_retain_ticks", _i64)]


class WorldInfo(ctypes.Structure):
    _fields_ = [("struct_size", _u32), ("tick", _i32), ("next_entity_id", _i32), ("last_committed_tick", _i32),
                ("state", _i32), ("registered_entities", _i64), ("live_rows", _i64), ("n_tables", _i32),
                ("n_processors", _i32)]


class StepProfile(ctypes.Structure):
    _fields_ = [("struct_size", _u32), ("tick", _i32), ("n_tables", _i32), ("rows_written", _i64),
                ("store_reads", _i64)] + [(f, ctypes.c_double) for f in (
                    "read_prior_sec", "materialize_sec", "process_sec", "append_sec", "live_snapshot_sec",
                    "commit_sec", "tick_sec")]


class TableProfile(ctypes.Structure):
    _fields_ = [("struct_size", _u32), ("table_name", ctypes.c_char * 256), ("rows_in", _i64), ("rows_out", _i64)] + [
        (f, ctypes.c_double) for f in ("read_prior_sec", "materialize_sec", "process_sec", "append_sec",
                                       "live_snapshot_sec", "table_sec")]


class ReadFilter(ctypes.Structure):
    _fields_ = [("struct_size", _u32), ("source", _i32), ("world_id", _s), ("run_id", _s),
                ("ticks", ctypes.POINTER(_i32)), ("n_ticks", _i64), ("entity_ids", ctypes.POINTER(_i32)),
                ("n_entity_ids", _i64), ("flags", _u32), ("tick_min", _i32), ("tick_max", _i32),
                ("active_only", ctypes.c_bool)]


def sized(struct_type: type, **fields: Any) -> ctypes.Structure:
    """A struct with `struct_size` set, as every ABI struct needs."""
    s = struct_type(**fields)
    s.struct_size = ctypes.sizeof(struct_type)
    return s


class CData:
    """ArrowArray / ArrowSchema / ArrowArrayStream shells from pyarrow.cffi, with addresses."""

    def __init__(self) -> None:
        from pyarrow.cffi import ffi

        self.ffi = ffi

    def new(self, kind: str) -> Any:
        return self.ffi.new(f"struct {kind}*")

    def addr(self, cdata: Any) -> int:
        return int(self.ffi.cast("uintptr_t", cdata))

    def export_batch(self, batch: pa.RecordBatch) -> tuple:
        array, schema = self.new("ArrowArray"), self.new("ArrowSchema")
        batch._export_to_c(self.addr(array), self.addr(schema))
        return array, schema

    def export_schema(self, schema: pa.Schema) -> Any:
        c = self.new("ArrowSchema")
        schema._export_to_c(self.addr(c))
        return c

    def import_batch(self, array: Any, schema: Any) -> pa.RecordBatch:
        return pa.RecordBatch._import_from_c(self.addr(array), self.addr(schema))

    def import_stream(self, stream: Any) -> pa.RecordBatchReader:
        return pa.RecordBatchReader._import_from_c(self.addr(stream))

    def released(self, cdata: Any) -> bool:
        """True when the struct holds nothing (release is NULL): moved out, or never filled."""
        return cdata.release == self.ffi.NULL


class ArctLibrary:
    """ctypes handle on libkiln_arct.so.2; refuses a library whose ABI version differs."""

    def __init__(self, path: Optional[str] = None) -> None:
        from kiln.errors import error_for
        from kiln.world.clib import c_library_path

        # KILN_ARCT_LIBRARY points the suite at another build (the sanitizer job's library).
        self.path = path or os.environ.get("KILN_ARCT_LIBRARY") or c_library_path()
        try:
            self.lib = ctypes.CDLL(self.path)
        except OSError as exc:
            raise error_for(7, f"cannot load the arct C library {self.path}: {exc}") from exc
        for name, (restype, argtypes) in SIGNATURES.items():
            fn = getattr(self.lib, name)
            fn.restype = restype
            fn.argtypes = argtypes
        version = self.lib.arct_ffi_version()
        if version != ABI_VERSION:
            raise error_for(7, f"{self.path} implements arct ABI version {version}; this package needs "
                               f"version {ABI_VERSION}")
        self.c = CData()

    def __getattr__(self, name: str) -> Any:
        """`lib.arct_*(...)` calls the C function; pyarrow.cffi struct pointers pass as addresses."""
        if not name.startswith("arct_"):
            raise AttributeError(name)
        fn = getattr(self.lib, name)
        cdata_type = self.c.ffi.CData

        def call(*args: Any) -> Any:
            return fn(*(self.c.addr(a) if isinstance(a, cdata_type) else a for a in args))

        call.__name__ = name
        return call

    def last_error(self) -> Optional[str]:
        raw = self.lib.arct_last_error_message()
        return None if raw is None else raw.decode("utf-8")

    def check(self, rc: int) -> None:
        """Raises the catalog error of a non-zero status with the thread's last error message."""
        if rc != 0:
            from kiln.errors import error_for

            raise error_for(rc, self.last_error() or f"arct call failed with status {rc}")
