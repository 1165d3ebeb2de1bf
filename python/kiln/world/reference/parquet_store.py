"""The Parquet part store of the reference kernel (specs/world.md §5.2-§5.7, §5.9).

Layout under ``<root>/<namespace>/``::

    <table>/part-<uuidv7>.parquet                    visible, immutable parts
    <table>/_tmp-<world-key>-<uuidv7>.parquet.tmp    staged, invisible
    _kiln/log/<world-key>/<last_tick:010d>.commit    commit record, publication pending
    _kiln/log/<world-key>/<last_tick:010d>.done      commit record, fully published
    _kiln/log/<world-key>/_tmp-<uuidv7>.json.tmp     record being written
    _kiln/locks/<world-key>.lock                     writer lock (flock) of that world

One flush = stage temps, write the record, rename it to ``.commit`` (the commit point),
rename the temps to their part names in table order, rename the record to ``.done``.
Recovery rolls committed flushes forward and deletes orphans, so every tick is either
completely visible or completely absent.
"""
from __future__ import annotations

import errno as _errno
import fcntl
import json
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Dict, Iterable, List, Optional, Tuple

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from kiln.world._uuid7 import uuid7
from kiln.world.reference._common import (
    BASE_FIELDS,
    PartialPublish,
    ReadFilter,
    StoreFailure,
    error_for,
    is_string_like,
    name_problem,
    schemas_equal,
    to_table,
    world_key,
)
from kiln.world.reference.faults import FaultPlan

__all__ = [
    "RECORD_FORMAT",
    "ROW_GROUP_ROWS",
    "ParquetWorldStore",
    "RecoveryReport",
    "WorldInfo",
    "list_worlds",
    "published_tick",
    "read_ledger_table",
    "recover",
]

RECORD_FORMAT = "kiln.world.commit/1"
ROW_GROUP_ROWS = 1_048_576
KILN_DIR = "_kiln"


# --------------------------------------------------------------------------- public value types


@dataclass(frozen=True)
class WorldInfo:
    """One (world_id, run_id) with commits in a namespace (from its newest commit record)."""

    world_id: str
    run_id: str
    last_tick: int
    next_entity_id: int
    created_at: str


@dataclass
class RecoveryReport:
    """What :func:`recover` did to a namespace."""

    worlds_examined: int = 0
    ticks_rolled_forward: int = 0
    orphans_removed: int = 0
    skipped_locked: List[str] = field(default_factory=list)  # world-keys whose lock was held


# --------------------------------------------------------------------------- paths and records


def namespace_dir(root: str, namespace: str) -> str:
    return os.path.join(os.fspath(root), namespace)


def _log_root(nsdir: str) -> str:
    return os.path.join(nsdir, KILN_DIR, "log")


def _log_dir(nsdir: str, key: str) -> str:
    return os.path.join(nsdir, KILN_DIR, "log", key)


def _lock_path(nsdir: str, key: str) -> str:
    return os.path.join(nsdir, KILN_DIR, "locks", f"{key}.lock")


def _listdir(path: str) -> List[str]:
    try:
        return os.listdir(path)
    except FileNotFoundError:
        return []
    except NotADirectoryError:
        return []


def _records(logdir: str) -> List[Tuple[int, str, str]]:
    """(last_tick, kind, path) of every commit record, ascending by tick."""
    out = []
    for name in _listdir(logdir):
        stem, dot, kind = name.rpartition(".")
        if kind not in ("commit", "done") or len(stem) != 10 or not stem.isdigit():
            continue
        out.append((int(stem), kind, os.path.join(logdir, name)))
    out.sort()
    return out


def read_record(path: str) -> dict:
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as exc:
        raise StoreFailure(200, f"cannot read commit record {path}: {exc}", exc) from exc
    try:
        rec = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise StoreFailure(204, f"commit record {path} is not valid JSON: {exc}", exc) from exc
    fmt = rec.get("format") if isinstance(rec, dict) else None
    if not isinstance(fmt, str) or not fmt.startswith("kiln.world.commit/"):
        raise StoreFailure(204, f"commit record {path} has unknown format {fmt!r}")
    major = fmt.split("/", 1)[1].split(".", 1)[0]
    if major != "1":
        raise StoreFailure(204, f"commit record {path} has unsupported major format {fmt!r} (expected {RECORD_FORMAT})")
    for key in ("world_id", "run_id", "first_tick", "last_tick", "next_entity_id", "parts", "live_tables"):
        if key not in rec:
            raise StoreFailure(204, f"commit record {path} lacks field {key!r}")
    return rec


def _newest_record(logdir: str, kinds: Tuple[str, ...]) -> Optional[dict]:
    recs = [r for r in _records(logdir) if r[1] in kinds]
    if not recs:
        return None
    return read_record(recs[-1][2])


def _fsync_path(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove_quietly(path: str) -> bool:
    try:
        os.remove(path)
        return True
    except FileNotFoundError:
        return False


def _table_dirs(nsdir: str) -> List[str]:
    return sorted(
        n for n in _listdir(nsdir) if not n.startswith(("_", ".")) and os.path.isdir(os.path.join(nsdir, n))
    )


def _check_namespace(root: str, namespace: str) -> str:
    problem = name_problem(namespace, "namespace")
    if problem:
        raise error_for(158, problem, root=os.fspath(root), namespace=namespace)
    return namespace_dir(root, namespace)


# --------------------------------------------------------------------------- locking


def acquire_lock(nsdir: str, key: str) -> int:
    """Take the world's writer lock (non-blocking exclusive flock); StoreFailure 203 if held."""
    path = _lock_path(nsdir, key)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        os.close(fd)
        if exc.errno in (_errno.EWOULDBLOCK, _errno.EAGAIN, _errno.EACCES):
            raise StoreFailure(203, f"another live writer holds the lock {path}", exc) from exc
        raise StoreFailure(202, f"cannot lock {path}: {exc}", exc) from exc
    return fd


def release_lock(fd: Optional[int]) -> None:
    if fd is None:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


# --------------------------------------------------------------------------- recovery


def recover_world(nsdir: str, key: str) -> Tuple[int, int]:
    """§5.5 for one world-key whose lock the caller holds; returns (ticks rolled forward,
    orphans removed). Raises StoreFailure(204) without deleting anything when a record
    names a part that exists neither as temp nor as part."""
    logdir = _log_dir(nsdir, key)
    # 1. half-written records
    for name in _listdir(logdir):
        if name.startswith("_tmp-") and name.endswith(".json.tmp"):
            _remove_quietly(os.path.join(logdir, name))
    # 2. roll committed flushes forward, in tick order
    rolled = 0
    for tick, kind, path in _records(logdir):
        if kind != "commit":
            continue
        rec = read_record(path)
        moves = []
        for part in rec["parts"]:
            tdir = os.path.join(nsdir, part["table"])
            temp = os.path.join(tdir, part["temp"])
            final = os.path.join(tdir, part["name"])
            if os.path.exists(final):
                continue
            if os.path.exists(temp):
                moves.append((temp, final))
                continue
            raise StoreFailure(
                204,
                f"commit record {path} names part {part['table']}/{part['name']} but neither it nor its "
                f"temporary {part['temp']} exists",
            )
        for temp, final in moves:
            os.rename(temp, final)
        os.rename(path, path[: -len(".commit")] + ".done")
        rolled += (int(rec["last_tick"]) - int(rec["first_tick"]) + 1) if rec.get("first_tick") is not None else 1
    # 3. orphans of uncommitted flushes
    orphans = 0
    prefix = f"_tmp-{key}-"
    for table in _table_dirs(nsdir):
        tdir = os.path.join(nsdir, table)
        for name in _listdir(tdir):
            if name.startswith(prefix) and name.endswith(".parquet.tmp"):
                if _remove_quietly(os.path.join(tdir, name)):
                    orphans += 1
    # 4. keep only the newest .done
    done = [r for r in _records(logdir) if r[1] == "done"]
    for _, _, path in done[:-1]:
        _remove_quietly(path)
    return rolled, orphans


def _world_keys(nsdir: str) -> List[str]:
    keys = set(n for n in _listdir(_log_root(nsdir)) if len(n) == 32)
    for name in _listdir(os.path.join(nsdir, KILN_DIR, "locks")):
        if name.endswith(".lock") and len(name) == 37:
            keys.add(name[:32])
    for table in _table_dirs(nsdir):
        for name in _listdir(os.path.join(nsdir, table)):
            if name.startswith("_tmp-") and name.endswith(".parquet.tmp") and len(name) > 38 and name[37] == "-":
                keys.add(name[5:37])
    return sorted(keys)


def recover(root, namespace: str = "default") -> RecoveryReport:
    """Recover every world of ``<root>/<namespace>`` whose writer lock is free (§5.5)."""
    nsdir = _check_namespace(root, namespace)
    if not os.path.isdir(nsdir):
        raise error_for(202, f"store namespace directory {nsdir} does not exist or is not a directory", path=nsdir)
    report = RecoveryReport()
    for key in _world_keys(nsdir):
        try:
            fd = acquire_lock(nsdir, key)
        except StoreFailure as exc:
            if exc.code == 203:
                report.skipped_locked.append(key)
                continue
            raise error_for(exc.code, exc.detail, path=nsdir) from exc.cause
        try:
            rolled, orphans = recover_world(nsdir, key)
        except StoreFailure as exc:
            raise error_for(exc.code, exc.detail, path=nsdir, world_key=key) from exc.cause
        except OSError as exc:
            raise error_for(201, f"recovery of world-key {key} in {nsdir} failed: {exc}", path=nsdir, errno=exc.errno) from exc
        finally:
            release_lock(fd)
        report.worlds_examined += 1
        report.ticks_rolled_forward += rolled
        report.orphans_removed += orphans
    return report


# --------------------------------------------------------------------------- listing and watermark


def _store_error(exc: StoreFailure, **details) -> Exception:
    if exc.errno is not None:
        details.setdefault("errno", exc.errno)
    return error_for(exc.code, exc.detail, **details)


def list_worlds(root, namespace: str = "default") -> List[WorldInfo]:
    """Every (world_id, run_id) with commits in the namespace, from its newest record."""
    nsdir = _check_namespace(root, namespace)
    out = []
    for key in sorted(_listdir(_log_root(nsdir))):
        try:
            rec = _newest_record(_log_dir(nsdir, key), ("commit", "done"))
        except StoreFailure as exc:
            raise _store_error(exc, path=nsdir) from exc.cause
        if rec is None:
            continue
        out.append(
            WorldInfo(
                world_id=rec["world_id"],
                run_id=rec["run_id"],
                last_tick=int(rec["last_tick"]),
                next_entity_id=int(rec["next_entity_id"]),
                created_at=str(rec.get("created_at", "")),
            )
        )
    out.sort(key=lambda w: (w.world_id, w.run_id))
    return out


def _published_tick(nsdir: str, world_id: str, run_id: str) -> Optional[int]:
    rec = _newest_record(_log_dir(nsdir, world_key(world_id, run_id)), ("done",))
    return None if rec is None else int(rec["last_tick"])


def published_tick(root, namespace: str, world_id: str, run_id: str) -> Optional[int]:
    """Last tick of the newest ``.done`` record of (world_id, run_id), or None (§5.6)."""
    nsdir = _check_namespace(root, namespace)
    try:
        return _published_tick(nsdir, world_id, run_id)
    except StoreFailure as exc:
        raise _store_error(exc, path=nsdir, world_id=world_id, run_id=run_id) from exc.cause


# --------------------------------------------------------------------------- part index and reads


class PartEntry:
    """What the store knows of one part without reopening it: (world_id, run_id) when the
    whole file holds one pair, and per row group (rows, tick min/max, entity_id min/max,
    any active row)."""

    __slots__ = ("path", "metadata", "schema", "world_id", "run_id", "row_groups")

    def __init__(self, path: str, metadata: pq.FileMetaData, schema: Optional[pa.Schema]) -> None:
        self.path = path
        self.metadata = metadata
        self.schema = schema
        cols = {metadata.schema.column(j).path: j for j in range(metadata.num_columns)}
        wid = cols.get("world_id")
        rid = cols.get("run_id")
        eid = cols.get("entity_id")
        tick = cols.get("tick")
        act = cols.get("is_active")
        worlds = set()
        runs = set()
        self.row_groups: List[Tuple[int, Optional[int], Optional[int], Optional[int], Optional[int], Optional[bool]]] = []
        for i in range(metadata.num_row_groups):
            rg = metadata.row_group(i)

            def mm(j):
                if j is None:
                    return None, None
                st = rg.column(j).statistics
                if st is None or not st.has_min_max:
                    return None, None
                return st.min, st.max

            w = mm(wid)
            r = mm(rid)
            worlds.add(w[0] if w[0] == w[1] else None)
            runs.add(r[0] if r[0] == r[1] else None)
            tmin, tmax = mm(tick)
            emin, emax = mm(eid)
            amin, amax = mm(act)
            self.row_groups.append((rg.num_rows, tmin, tmax, emin, emax, None if amax is None else bool(amax)))
        self.world_id = worlds.pop() if len(worlds) == 1 else None
        self.run_id = runs.pop() if len(runs) == 1 else None

    def excludes_world(self, world_id: str, run_id: str) -> bool:
        if not self.row_groups:
            return True
        return (self.world_id is not None and self.world_id != world_id) or (
            self.run_id is not None and self.run_id != run_id
        )

    def is_single_world(self, world_id: str, run_id: str) -> bool:
        return self.world_id == world_id and self.run_id == run_id


def list_parts(tdir: str) -> List[str]:
    """Visible part names of a table directory, ascending (UUIDv7 = write order)."""
    return sorted(n for n in _listdir(tdir) if n.endswith(".parquet") and not n.startswith(("_", ".")))


class _Reader:
    """Reads one table directory with statistics pushdown through a shared part index."""

    def __init__(self, nsdir: str, index: Dict[str, PartEntry], counters: dict) -> None:
        self.nsdir = nsdir
        self.index = index
        self.counters = counters

    def entry(self, path: str) -> Tuple[PartEntry, Optional[pq.ParquetFile]]:
        e = self.index.get(path)
        if e is not None:
            return e, None
        pf = pq.ParquetFile(path)
        self.counters["files_opened"] += 1
        e = PartEntry(path, pf.metadata, pf.schema_arrow)
        self.index[path] = e
        return e, pf

    def dir_schema(self, table: str) -> Optional[pa.Schema]:
        """Schema of the first part of a table directory (None if it has no parts)."""
        tdir = os.path.join(self.nsdir, table)
        for name in list_parts(tdir):
            e, pf = self.entry(os.path.join(tdir, name))
            if pf is not None:
                pf.close()
            if e.schema is None:
                with pq.ParquetFile(e.path, metadata=e.metadata) as pf2:
                    self.counters["files_opened"] += 1
                    e.schema = pf2.schema_arrow
            return e.schema
        return None

    def read(
        self, table: str, flt: ReadFilter, schema: Optional[pa.Schema], names: Optional[Iterable[str]] = None
    ) -> List[pa.Table]:
        """Matching rows of the table's parts (all, or ``names``) in file-name order; with
        ``schema=None`` rows keep each part's own schema."""
        tdir = os.path.join(self.nsdir, table)
        out: List[pa.Table] = []
        if flt.matches_nothing():
            return out
        for name in (list_parts(tdir) if names is None else names):
            path = os.path.join(tdir, name)
            try:
                e, pf = self.entry(path)
            except FileNotFoundError:
                continue  # vanished between listing and opening (only foreign writers delete)
            try:
                if e.excludes_world(flt.world_id, flt.run_id):
                    continue
                rgs = [i for i, rg in enumerate(e.row_groups) if flt.may_match(rg[1], rg[2], rg[3], rg[4], rg[5])]
                if not rgs:
                    continue
                if pf is None:
                    pf = pq.ParquetFile(path, metadata=e.metadata)
                    self.counters["files_opened"] += 1
                t = pf.read_row_groups(rgs)
                self.counters["row_groups_read"] += len(rgs)
            finally:
                if pf is not None:
                    pf.close()
            t = flt.apply(t, check_world=not e.is_single_world(flt.world_id, flt.run_id))
            if t.num_rows:
                out.append(t if schema is None else _conform(t, schema, path))
        return out


def _conform(t: pa.Table, schema: pa.Schema, path: str) -> pa.Table:
    if schemas_equal(t.schema, schema):
        return t
    try:
        return t.cast(schema)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError) as exc:
        raise StoreFailure(204, f"part {path} has schema {t.schema} which cannot be read as the table schema: {exc}", exc) from exc


def read_ledger_table(
    root,
    namespace: str,
    table: str,
    *,
    world_id: str,
    run_id: str,
    ticks=None,
    tick_range=None,
    entity_ids=None,
    active_only: bool = False,
) -> pa.Table:
    """Read one table of (world_id, run_id) from a store without taking any lock. Rows of
    ticks after the world's published tick (newest ``.done`` record) are hidden, so a
    partially published tick is never seen (§5.6)."""
    nsdir = _check_namespace(root, namespace)
    problem = name_problem(table, "table")
    if problem:
        raise error_for(158, problem, table=table)
    tdir = os.path.join(nsdir, table)
    if not os.path.isdir(tdir):
        raise error_for(150, f"unknown table {table}: no directory {tdir}", table=table)
    try:
        flt = ReadFilter.build(world_id, run_id, ticks, tick_range, entity_ids, active_only)
    except (TypeError, ValueError) as exc:
        raise error_for(8, f"invalid read filter: {exc}", table=table) from exc
    counters = dict(reads=0, files_opened=0, row_groups_read=0, parts_written=0, bytes_written=0)
    reader = _Reader(nsdir, {}, counters)
    try:
        schema = reader.dir_schema(table)
        if schema is None:
            return pa.Table.from_batches([], schema=pa.schema(list(BASE_FIELDS)))
        wm = _published_tick(nsdir, world_id, run_id)
        if wm is None:
            return schema.empty_table()
        flt.max_tick = wm
        return to_table(reader.read(table, flt, schema), schema)
    except StoreFailure as exc:
        raise _store_error(exc, table=table, world_id=world_id, run_id=run_id) from exc.cause
    except OSError as exc:
        raise error_for(200, f"reading table {table} under {nsdir} failed: {exc}", table=table, errno=exc.errno) from exc


# --------------------------------------------------------------------------- the world's store


class _StagedPart:
    __slots__ = ("table", "temp", "name", "rows", "min_tick", "max_tick", "entry", "nbytes")

    def __init__(self, table, temp, name, rows, min_tick, max_tick, entry, nbytes) -> None:
        self.table = table
        self.temp = temp
        self.name = name
        self.rows = rows
        self.min_tick = min_tick
        self.max_tick = max_tick
        self.entry = entry
        self.nbytes = nbytes


class _Txn:
    __slots__ = ("parts", "closed")

    def __init__(self) -> None:
        self.parts: List[_StagedPart] = []
        self.closed = False


class ParquetWorldStore:
    """The Parquet store of one open world: lock, recovery, commit protocol, reads."""

    kind = "parquet"

    def __init__(self, config, namespace: str, faults: FaultPlan) -> None:
        self.config = config
        self.root = os.fspath(config.root)
        self.namespace = namespace
        self.nsdir = namespace_dir(self.root, namespace)
        self.faults = faults
        self.counters = dict(reads=0, files_opened=0, row_groups_read=0, parts_written=0, bytes_written=0)
        self.index: Dict[str, PartEntry] = {}
        self._reader = _Reader(self.nsdir, self.index, self.counters)
        self.key: Optional[str] = None
        self.world_id: Optional[str] = None
        self.run_id: Optional[str] = None
        self._lock_fd: Optional[int] = None
        self._pending_done: List[str] = []
        self._dict_cols: Dict[int, List[str]] = {}
        self._fsync = config.durability == "fsync"
        comp = config.compression
        self._compression = "NONE" if comp == "none" else comp
        self._level = config.compression_level if comp == "zstd" else None

    # -- opening

    def open_namespace(self) -> None:
        try:
            os.makedirs(self.nsdir, exist_ok=True)
        except OSError as exc:
            raise StoreFailure(202, f"cannot create store directory {self.nsdir}: {exc}", exc) from exc
        if not os.path.isdir(self.nsdir) or not os.access(self.nsdir, os.W_OK | os.X_OK):
            raise StoreFailure(202, f"store directory {self.nsdir} is not a writable directory")

    def runs_of(self, world_id: str) -> List[str]:
        return sorted({w.run_id for w in list_worlds(self.root, self.namespace) if w.world_id == world_id})

    def lock(self, world_id: str, run_id: str) -> None:
        self.world_id, self.run_id = world_id, run_id
        self.key = world_key(world_id, run_id)
        try:
            self._lock_fd = acquire_lock(self.nsdir, self.key)
        except OSError as exc:
            raise StoreFailure(202, f"cannot create the lock file under {self.nsdir}: {exc}", exc) from exc

    def recover(self) -> None:
        try:
            recover_world(self.nsdir, self.key)
        except OSError as exc:
            raise StoreFailure(202, f"recovery under {self.nsdir} failed: {exc}", exc) from exc

    def last_record(self) -> Optional[dict]:
        return _newest_record(_log_dir(self.nsdir, self.key), ("done", "commit"))

    def close(self) -> None:
        release_lock(self._lock_fd)
        self._lock_fd = None

    # -- writing

    def _write_part(self, path: str, batch: pa.RecordBatch) -> pq.FileMetaData:
        schema = batch.schema
        dict_cols = self._dict_cols.get(id(schema))
        if dict_cols is None:
            dict_cols = [f.name for f in schema if is_string_like(f.type)]
            self._dict_cols[id(schema)] = dict_cols
        collector: List[pq.FileMetaData] = []
        pq.write_table(
            pa.Table.from_batches([batch], schema=schema),
            path,
            row_group_size=ROW_GROUP_ROWS,
            compression=self._compression,
            compression_level=self._level,
            use_dictionary=dict_cols,
            write_statistics=True,
            write_page_index=False,
            store_schema=True,
            use_compliant_nested_type=False,
            metadata_collector=collector,
        )
        if self._fsync:
            _fsync_path(path)
        return collector[0]

    def begin(self) -> _Txn:
        return _Txn()

    def stage(self, txn: _Txn, table: str, batch: pa.RecordBatch) -> None:
        faults = self.faults
        tdir = os.path.join(self.nsdir, table)
        temp = f"_tmp-{self.key}-{uuid7()}.parquet.tmp"
        name = f"part-{uuid7()}.parquet"
        tpath = os.path.join(tdir, temp)
        try:
            crash = faults.check("stage", table)
            os.makedirs(tdir, exist_ok=True)
            md = self._write_part(tpath, batch)
            nbytes = os.path.getsize(tpath)
        except OSError as exc:
            try:
                _remove_quietly(tpath)
            except OSError:
                pass
            self.abort(txn)
            raise StoreFailure(201, f"staging a part of table {table} failed: {exc}", exc) from exc
        faults.after(crash)
        entry = PartEntry(os.path.join(tdir, name), md, batch.schema)
        ticks = [(rg[1], rg[2]) for rg in entry.row_groups]
        if ticks and all(t[0] is not None for t in ticks):
            min_tick = min(t[0] for t in ticks)
            max_tick = max(t[1] for t in ticks)
        else:
            mm = pc.min_max(batch.column("tick")).as_py()
            min_tick, max_tick = mm["min"], mm["max"]
        txn.parts.append(_StagedPart(table, temp, name, batch.num_rows, min_tick, max_tick, entry, nbytes))

    def abort(self, txn: _Txn) -> None:
        for p in txn.parts:
            try:
                _remove_quietly(os.path.join(self.nsdir, p.table, p.temp))
            except OSError:
                pass
        txn.parts.clear()
        txn.closed = True

    def _record(self, txn: _Txn, first_tick: int, last_tick: int, next_entity_id: int, live_tables: List[str]) -> dict:
        return {
            "format": RECORD_FORMAT,
            "world_id": self.world_id,
            "run_id": self.run_id,
            "first_tick": first_tick,
            "last_tick": last_tick,
            "next_entity_id": next_entity_id,
            "created_at": datetime.now(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z"),
            "parts": [
                {"table": p.table, "temp": p.temp, "name": p.name, "rows": p.rows, "min_tick": p.min_tick, "max_tick": p.max_tick}
                for p in txn.parts
            ],
            "live_tables": sorted(live_tables),
        }

    def _rename_with_retry(self, src: str, dst: str) -> None:
        try:
            os.rename(src, dst)
        except OSError:
            os.rename(src, dst)  # one retry (§5.4 step 4)

    def commit(self, txn: _Txn, *, first_tick: int, last_tick: int, next_entity_id: int, live_tables: List[str]) -> None:
        faults = self.faults
        txn.parts.sort(key=lambda p: p.table)  # publication in table order
        logdir = _log_dir(self.nsdir, self.key)
        rec_tmp = os.path.join(logdir, f"_tmp-{uuid7()}.json.tmp")
        commit_path = os.path.join(logdir, f"{last_tick:010d}.commit")
        # 2. record; 3. commit point
        try:
            os.makedirs(logdir, exist_ok=True)
            payload = json.dumps(self._record(txn, first_tick, last_tick, next_entity_id, live_tables), indent=1)
            with open(rec_tmp, "w", encoding="utf-8") as f:
                f.write(payload)
                if self._fsync:
                    f.flush()
                    os.fsync(f.fileno())
            crash = faults.check("record")
            os.rename(rec_tmp, commit_path)
        except OSError as exc:
            try:
                _remove_quietly(rec_tmp)
            except OSError:
                pass
            self.abort(txn)
            raise StoreFailure(201, f"writing the commit record of tick {last_tick} failed: {exc}", exc) from exc
        faults.after(crash)
        if self._fsync:
            self._fsync_quietly(logdir)
        # 4. publish in table order
        published: List[str] = []
        for p in txn.parts:
            tdir = os.path.join(self.nsdir, p.table)
            try:
                crash = faults.check("publish", p.table)
                self._rename_with_retry(os.path.join(tdir, p.temp), os.path.join(tdir, p.name))
            except OSError as exc:
                if not published:
                    try:
                        os.remove(commit_path)  # withdraw: record first, then temps
                    except OSError:
                        raise PartialPublish(published, exc) from exc
                    self.abort(txn)
                    raise StoreFailure(201, f"publishing the part of table {p.table} failed (commit withdrawn): {exc}", exc) from exc
                raise PartialPublish(published, exc) from exc
            published.append(p.table)
            self.index[p.entry.path] = p.entry
            self.counters["parts_written"] += 1
            self.counters["bytes_written"] += p.nbytes
            faults.after(crash)
        txn.closed = True
        if self._fsync:
            for table in sorted({p.table for p in txn.parts}):
                self._fsync_quietly(os.path.join(self.nsdir, table))
        # 5. mark done (failures are harmless: retried at the next commit and by recovery)
        self._pending_done.append(commit_path)
        self._mark_done(faults, commit_path)

    def _mark_done(self, faults: FaultPlan, current: str) -> None:
        still = []
        crash = False
        for path in self._pending_done:
            try:
                if path == current:
                    crash = faults.check("done")
                os.rename(path, path[: -len(".commit")] + ".done")
            except OSError:
                still.append(path)
        self._pending_done = still
        if not still:
            logdir = os.path.dirname(current)
            done = [r for r in _records(logdir) if r[1] == "done"]
            for _, _, path in done[:-1]:
                try:
                    _remove_quietly(path)
                except OSError:
                    pass
            if self._fsync:
                self._fsync_quietly(logdir)
        faults.after(crash)

    def _fsync_quietly(self, path: str) -> None:
        try:
            _fsync_path(path)
        except OSError:
            pass

    # -- reading

    def has_table(self, table: str) -> bool:
        return os.path.isdir(os.path.join(self.nsdir, table))

    def dir_schema(self, table: str) -> Optional[pa.Schema]:
        return self._reader.dir_schema(table)

    def _check_read_fault(self, table: str) -> bool:
        try:
            return self.faults.check("read")
        except OSError as exc:
            raise StoreFailure(200, f"reading table {table} failed: {exc}", exc) from exc

    def read(self, table: str, flt: ReadFilter, schema: pa.Schema, *, own_world: Tuple[str, str]) -> pa.Table:
        crash = self._check_read_fault(table)
        self.counters["reads"] += 1
        try:
            if (flt.world_id, flt.run_id) != own_world:
                wm = _published_tick(self.nsdir, flt.world_id, flt.run_id)
                if wm is None:
                    return schema.empty_table()
                flt.max_tick = wm if flt.max_tick is None else min(wm, flt.max_tick)
            out = to_table(self._reader.read(table, flt, schema), schema)
        except OSError as exc:
            raise StoreFailure(200, f"reading table {table} failed: {exc}", exc) from exc
        self.faults.after(crash)
        return out

    def load_live(self, record: dict) -> List[Tuple[str, pa.Schema, pa.Table]]:
        """Read the active rows at the record's last tick from exactly the parts it lists for
        its live tables (cold resume, §4)."""
        live = set(record["live_tables"])
        last_tick = int(record["last_tick"])
        crash = self._check_read_fault("(resume)")
        self.counters["reads"] += 1
        out = []
        for part in record["parts"]:
            table = part["table"]
            if table not in live:
                continue
            path = os.path.join(self.nsdir, table, part["name"])
            if not os.path.exists(path):
                raise StoreFailure(204, f"commit record of tick {last_tick} names missing part {table}/{part['name']}")
            try:
                flt = ReadFilter.build(self.world_id, self.run_id, ticks=[last_tick], active_only=True)
                tables = self._reader.read(table, flt, None, names=[part["name"]])
                schema = self.index[path].schema
            except (OSError, pa.ArrowException) as exc:
                raise StoreFailure(204, f"cannot read part {path}: {exc}", exc) from exc
            out.append((table, schema, to_table(tables, schema)))
        self.faults.after(crash)
        return out
