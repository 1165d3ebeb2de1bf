"""Sweeps and the results store (popgen §6.3).

The store is the core Parquet part store (`kiln._kiln.PopgenPartStore`: staging, commit records,
publication by rename, recovery on open, the flock writer lock, durability fsync); this module
decides only what each commit holds. Layout under the store directory:

  sweep.json                       spec, sweep_id, kiln version, rng_schema (write + rename)
  runs/ generations/ thresholds/ cost/ cells/   part-<uuidv7>.parquet
  _kiln/                           commit records and the writer lock (writer key `sweep`)

Resume rebuilds the done set from committed rows keyed by (cell_id, task, T bits, replicate) and
never reruns them; threshold estimators replay stored outcomes through their deterministic design.
"""
from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import logging
import math
import os
import struct
import time
import tomllib
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from kiln.errors import KilnError, error_for
from kiln.popgen.model import Nunney2003
from kiln.popgen.params import FIELDS, OPTIONS, RNG_SCHEMA, HorizonRule, Params

log = logging.getLogger("kiln.popgen.sweep")

GRID_AXES = ("K", "n", "R", "u", "M") + tuple(OPTIONS)
TABLES = ("runs", "generations", "thresholds", "cost", "cells")
UNIT_RUNS = 32
# Dask units are smaller: a unit is one task on one single-threaded worker, and with 32 runs the
# last units leave a worker idle for up to a unit's time (8 cells x 40 runs on 2 workers: speed-up
# 1.60 with 32, 1.83 with 16, 1.91 with 8, where per-task overhead starts to show in the total).
DASK_UNIT_RUNS = 16
COMMIT_RECORDS = 256
COMMIT_SECONDS = 10.0
WRITER_KEY = "sweep"


def _spec_error(msg: str, **details) -> KilnError:
    return error_for(2404, msg, **details)


def load_spec(spec: Any) -> dict:
    if isinstance(spec, (str, os.PathLike)):
        with open(spec, "rb") as f:
            try:
                spec = tomllib.load(f)
            except tomllib.TOMLDecodeError as e:
                raise _spec_error(f"{spec}: not valid TOML: {e}", cause=e) from e
    if not isinstance(spec, dict):
        raise _spec_error("a sweep spec is a TOML file or a dict")
    known = {"sweep", "base", "grid", "horizon", "runs"}
    extra = set(spec) - known
    if extra:
        raise _spec_error(f"unknown sweep section(s) {sorted(extra)}; valid: {sorted(known)}")
    out = {k: dict(spec.get(k, {})) for k in known}
    sw = out["sweep"]
    sw.setdefault("seed", 0)
    sw.setdefault("task", "runs")
    sw.setdefault("common_random_numbers", False)
    sw.setdefault("backend", "native")
    if sw["task"] not in ("runs", "threshold"):
        raise _spec_error(f"[sweep] task={sw['task']!r} is not one of runs, threshold")
    if sw["task"] == "threshold":
        sw.setdefault("method", "nunney2003")
        sw.setdefault("options", {})
    grid = out["grid"]
    for axis, values in grid.items():
        if axis not in GRID_AXES:
            raise _spec_error(f"unknown grid axis {axis!r}; valid: {', '.join(GRID_AXES)}", axis=axis)
        if not isinstance(values, list) or not values:
            raise _spec_error(f"grid axis {axis!r} is empty or not a list", axis=axis)
        if len(set(map(repr, values))) != len(values):
            raise _spec_error(f"grid axis {axis!r} has duplicate values", axis=axis)
    if "u" in grid and "M" in grid:
        raise _spec_error("the grid has both u and M axes; use exactly one")
    runs = out["runs"]
    if sw["task"] == "runs":
        Ts = runs.get("T")
        if not isinstance(Ts, list) or not Ts:
            raise _spec_error("[runs] T must be a non-empty list")
        if len(set(map(repr, Ts))) != len(Ts):
            raise _spec_error("[runs] T has duplicate values", axis="T")
        runs.setdefault("replicates", 1)
        runs.setdefault("record", "outcome")
    return out


def _horizon(spec: dict):
    h = spec["horizon"]
    if "generations" in h:
        return int(h["generations"])
    return HorizonRule(h.get("cycles", 20.0), h.get("min_generations", 5000), h.get("max_generations", 10_000_000))


def cells_of(spec: dict) -> list[Params]:
    """The Cartesian product of the grid over [base]; every cell validated here (K21xx)."""
    grid = spec["grid"]
    axes = [a for a in GRID_AXES if a in grid]
    base = {k: v for k, v in spec["base"].items()}
    bad = set(base) - set(FIELDS)
    if bad:
        Params(**{**base})  # K2106 with a suggestion
    cells = []
    for combo in itertools.product(*(grid[a] for a in axes)):
        kw = {**base, **dict(zip(axes, combo))}
        if ("u" in kw) and ("M" in kw) and ("u" in grid or "M" in grid):
            kw.pop("M" if "u" in grid else "u")
        cells.append(Params(**kw))
    return cells


def cell_seed(master: int, p: Params, crn: bool) -> int:
    """§5.4: first 8 bytes (LE) of SHA-256('kiln.popgen.cell' || seed LE8 || canonical cell JSON)."""
    if crn:
        return master
    h = hashlib.sha256(b"kiln.popgen.cell" + struct.pack("<Q", master)
                       + p.canonical_json(exclude=("T",)).encode()).digest()
    return struct.unpack("<Q", h[:8])[0]


def sweep_id(spec: dict) -> str:
    return hashlib.sha256(json.dumps(spec, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:16]


def _additive(old: dict, new: dict) -> bool:
    """A resume may add replicates, grid values or T values; anything else is a different sweep."""
    if old["sweep"] != new["sweep"] or old["base"] != new["base"] or old["horizon"] != new["horizon"]:
        return False
    if set(old["grid"]) != set(new["grid"]):
        return False
    for a, vals in old["grid"].items():
        if any(v not in new["grid"][a] for v in vals):
            return False
    o, n = dict(old["runs"]), dict(new["runs"])
    if any(t not in n.get("T", []) for t in o.get("T", [])):
        return False
    if n.get("replicates", 0) < o.get("replicates", 0):
        return False
    for k in set(o) | set(n):
        if k not in ("T", "replicates") and o.get(k) != n.get(k):
            return False
    return True


def _tbits(T: float) -> int:
    return struct.unpack("<Q", struct.pack("<d", float(T)))[0]


def _write_atomic(path: str, text: str) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fd = os.open(os.path.dirname(path) or ".", os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_table(store_dir: str, table: str, quarantine: bool = False) -> pa.Table | None:
    """All visible parts of a table; an unreadable part is renamed *.bad (K2403 logged), never deleted."""
    d = os.path.join(store_dir, table)
    if not os.path.isdir(d):
        return None
    parts = []
    for name in sorted(os.listdir(d)):
        if not (name.startswith("part-") and name.endswith(".parquet")):
            continue
        path = os.path.join(d, name)
        try:
            parts.append(pq.read_table(path))
        except Exception as e:  # any unreadable file: quarantine it and rerun its units
            if not quarantine:
                raise error_for(2403, f"{path}: unreadable part ({e})", path=path, cause=e) from e
            os.replace(path, path + ".bad")
            log.warning("K2403 POPGEN_STORE_CORRUPT: %s is unreadable (%s); quarantined as %s.bad, its units rerun",
                        path, e, name)
    if not parts:
        return None
    return pa.concat_tables(parts, promote_options="permissive")


@dataclasses.dataclass
class SweepReport:
    sweep_id: str
    cells: int
    failed: dict          # cell_id -> error code
    executed: int         # runs simulated by this call
    reused: int           # runs found committed
    commits: int

    @property
    def exit_code(self) -> int:
        return 3 if self.failed else 0


class Sweep:
    def __init__(self, spec: Any, store: str) -> None:
        self.spec = load_spec(spec)
        self.store = os.path.abspath(store)
        self.cells = cells_of(self.spec)
        self.horizon = _horizon(self.spec)
        # Memory estimates of every cell before any run (§6.3).
        from kiln.popgen.model import DEFAULT_MAX_MEMORY

        for p in self.cells:
            est = p.memory_estimate()
            if est > DEFAULT_MAX_MEMORY:
                raise error_for(2202, f"cell {p.cell_id()} needs an estimated {est} bytes per replicate, over "
                                      f"{DEFAULT_MAX_MEMORY}", estimate=est)
        self.id = sweep_id(self.spec)

    # ---- store ------------------------------------------------------------------------------
    def _open(self):
        from kiln import _kiln

        os.makedirs(self.store, exist_ok=True)
        sj = os.path.join(self.store, "sweep.json")
        root, ns = os.path.split(self.store)
        st = _kiln.PopgenPartStore(root, ns, WRITER_KEY, True)  # takes the lock first: K2401
        try:
            if os.path.exists(sj):
                try:
                    with open(sj) as f:
                        old = json.load(f)
                except (OSError, ValueError) as e:
                    raise error_for(2403, f"{sj} is unreadable: {e}", path=sj, cause=e) from e
                if old.get("rng_schema") != RNG_SCHEMA:
                    raise error_for(2405, f"the store was written under rng_schema {old.get('rng_schema')}, "
                                          f"this kiln uses {RNG_SCHEMA}", stored=old.get("rng_schema"))
                if old["spec"] != self.spec and not _additive(old["spec"], self.spec):
                    raise error_for(2402, "the sweep spec changed in a non-additive way (only extra replicates, "
                                          "grid values or T values may be added on resume)", store=self.store)
            from kiln import __version__

            _write_atomic(sj, json.dumps({"format": "kiln.popgen.sweep/1", "spec": self.spec, "sweep_id": self.id,
                                          "kiln_version": __version__, "rng_schema": RNG_SCHEMA}, indent=1))
        except BaseException:
            st.close()
            raise
        return st

    def run(self, executor: str = "local", address: str | None = None, workers: int | None = None,
            progress: Any = False, max_retries: int = 3, commit_records: int = COMMIT_RECORDS,
            commit_seconds: float = COMMIT_SECONDS) -> SweepReport:
        if executor not in ("local", "dask"):
            raise error_for(2107, f"executor={executor!r} is not one of local, dask", parameter="executor")
        if executor == "dask":
            from kiln.popgen.distributed import _distributed

            _distributed()  # K2501 before the store is touched
        st = self._open()
        try:
            return _Driver(self, st, executor, address, workers, progress, max_retries, commit_records,
                           commit_seconds).run()
        finally:
            st.close()


class _Driver:
    def __init__(self, sweep: Sweep, st, executor, address, workers, progress, max_retries, commit_records,
                 commit_seconds):
        self.sw, self.st, self.executor, self.address = sweep, st, executor, address
        self.workers, self.progress, self.max_retries = workers, progress, max_retries
        self.commit_records, self.commit_seconds = commit_records, commit_seconds
        self.pending: dict[str, list] = {t: [] for t in TABLES}
        self.pending_rows = 0
        self.last_commit = time.monotonic()
        rec = st.latest_record()
        self.seq = json.loads(rec)["seq"] + 1 if rec else 0
        self.commits = 0
        self.executed = 0
        self.client = None
        self.queued: dict[str, list] = {}  # cell_id -> its units' futures (dask, task "runs")

    # ---- committing -------------------------------------------------------------------------
    def add(self, table: str, data: pa.Table) -> None:
        self.pending[table].append(data)
        if table == "runs":
            self.pending_rows += data.num_rows

    def maybe_commit(self, force: bool = False) -> None:
        due = self.pending_rows >= self.commit_records or time.monotonic() - self.last_commit >= self.commit_seconds
        if force or due:
            self.commit()

    def commit(self) -> None:
        tables = []
        for name in TABLES:
            if self.pending[name]:
                t = pa.concat_tables(self.pending[name], promote_options="permissive")
                tables.append((name, t))
        if not tables:
            return
        record = {"format": "kiln.popgen.commit/1", "sweep_id": self.sw.id, "seq": self.seq,
                  "rows": {n: t.num_rows for n, t in tables}}
        self.st.commit(self.seq, json.dumps(record), tables)
        self.seq += 1
        self.commits += 1
        self.pending = {t: [] for t in TABLES}
        self.pending_rows = 0
        self.last_commit = time.monotonic()

    # ---- running ----------------------------------------------------------------------------
    def run(self) -> SweepReport:
        from kiln.popgen.progress import make_bar

        sw = self.sw
        store = sw.store
        runs = read_table(store, "runs", quarantine=True)
        for t in ("generations", "thresholds", "cells"):
            read_table(store, t, quarantine=True)
        done: dict[tuple, dict] = {}
        if runs is not None:
            for r in runs.select(["cell_id", "task", "T", "replicate", "outcome", "t_ext", "error_code"]).to_pylist():
                done[(r["cell_id"], r["task"], _tbits(r["T"]), r["replicate"])] = r
        cells_t = read_table(store, "cells")
        finished = {}
        if cells_t is not None:
            for r in cells_t.to_pylist():
                finished[r["cell_id"]] = r
        reused = len(done)
        task = sw.spec["sweep"]["task"]
        failed: dict = {}
        total = self._total()
        bar = make_bar(self.progress, total, "runs")
        bar.update(min(reused, total))
        self.bar = bar
        try:
            if self.executor == "dask":
                from kiln.popgen.distributed import client_for

                self._client_cm = client_for(self.address, self.workers)
                self.client = self._client_cm.__enter__()
                if task == "runs":
                    self._queue_all_cells(done)
            for idx, p in enumerate(sw.cells):
                cid = p.cell_id()
                if cid in finished and finished[cid]["status"] == "done" and task == "threshold":
                    continue
                bar.set_postfix_str(f"cell {idx + 1}/{len(sw.cells)}")
                model, seed = self._cell_model(p)
                try:
                    if task == "runs":
                        code = self._runs_cell(model, seed, cid, done)
                    else:
                        code = self._threshold_cell(model, seed, cid, done)
                except KilnError as e:
                    if isinstance(e, KeyboardInterrupt):
                        raise
                    code = e.code
                if code is not None:
                    failed[cid] = code
                prev = finished.get(cid)
                status = "failed" if code else "done"
                if prev is None or prev["status"] != status or prev.get("error_code") != code:
                    self.add("cells", pa.table({"cell_id": [cid], "cell_index": pa.array([idx], pa.int64()),
                                                "params": [p.canonical_json(exclude=("T",))],
                                                "status": [status], "error_code": pa.array([code], pa.utf8())}))
                self.maybe_commit(force=task == "threshold")
            if task == "threshold":
                self._cost()
            self.commit()
        except KeyboardInterrupt as e:
            self.commit()  # SIGINT commits what is pending (§6.3); the CLI exits 130
            if getattr(e, "number", None) == 2207:
                raise
            raise error_for(2207, "the sweep was interrupted; committed work is kept and a rerun resumes",
                            store=store) from e
        finally:
            bar.close()
            if self.client is not None:
                self._client_cm.__exit__(None, None, None)
        return SweepReport(sw.id, len(sw.cells), failed, self.executed, reused, self.commits)

    def _total(self) -> int:
        spec = self.sw.spec
        if spec["sweep"]["task"] == "runs":
            return len(self.sw.cells) * len(spec["runs"]["T"]) * int(spec["runs"]["replicates"])
        return 0

    def _exec_units(self, model, units: list[list[dict]], record: str):
        """Runs units locally (native pool) or on Dask; yields (unit index, runs, generations)."""
        if self.executor == "dask":
            from kiln.popgen.distributed import run_units

            yield from run_units(self.client, model, units, {"record": record}, self.max_retries)
            return
        for i, specs in enumerate(units):
            try:
                runs, gens, _ = model.run_specs(specs, record=record, workers=self.workers)
            except KeyboardInterrupt as e:
                part = getattr(e, "partial", None)
                if part is not None:  # Ctrl-C mid-unit: its completed runs are committed too
                    keep = [k for k, c in enumerate(part.runs.column("error_code").to_pylist()) if c != "K2207"]
                    if keep:
                        yield i, part.runs.take(keep), [part.generations[k] for k in keep]
                raise
            yield i, runs, gens

    def _tag(self, runs: pa.Table, task: str) -> pa.Table:
        return runs.append_column("task", pa.array([task] * runs.num_rows, pa.utf8()))

    def _cell_model(self, p) -> tuple:
        sw = self.sw.spec["sweep"]
        return Nunney2003(p, backend=sw["backend"]), cell_seed(int(sw["seed"]), p, bool(sw["common_random_numbers"]))

    def _runs_units(self, model, seed, cid, done, unit_runs: int = UNIT_RUNS) -> list[list[dict]]:
        spec = self.sw.spec["runs"]
        units = []
        for T in spec["T"]:
            todo = [r for r in range(int(spec["replicates"])) if (cid, "runs", _tbits(float(T)), r) not in done]
            for i in range(0, len(todo), unit_runs):
                units.append(model.specs(seed, todo[i:i + unit_runs], [float(T)], self.sw.horizon))
        return units

    def _queue_all_cells(self, done) -> None:
        """Dask, task "runs": every cell's units go to the cluster at once, in cell order, so workers
        never wait at a cell boundary for the last unit of a cell. Cells are still consumed and
        committed in order."""
        from kiln.popgen.distributed import submit_units

        record = self.sw.spec["runs"]["record"]
        for p in self.sw.cells:
            model, seed = self._cell_model(p)
            units = self._runs_units(model, seed, p.cell_id(), done, DASK_UNIT_RUNS)
            self.queued[p.cell_id()] = submit_units(self.client, model, units, {"record": record}, self.max_retries)

    def _runs_cell(self, model, seed, cid, done) -> str | None:
        record = self.sw.spec["runs"]["record"]
        if cid in self.queued:
            from kiln.popgen.distributed import collect_units

            completed = collect_units(self.queued.pop(cid), self.max_retries)
        else:
            completed = self._exec_units(model, self._runs_units(model, seed, cid, done), record)
        code = None
        for _, runs, gens in completed:
            self.add("runs", self._tag(runs, "runs"))
            for g in gens:
                if g is not None:
                    self.add("generations", g.append_column("cell_id", pa.array([cid] * g.num_rows, pa.utf8())))
            errs = [c for c in runs.column("error_code").to_pylist() if c]
            code = code or (errs[0] if errs else None)
            self.executed += runs.num_rows
            self.bar.update(runs.num_rows)
            self.maybe_commit()
        if code is None:  # committed earlier rows of this cell may hold its runtime error
            for k, r in done.items():
                if k[0] == cid and r.get("error_code"):
                    return r["error_code"]
        return code

    def _threshold_cell(self, model, seed, cid, done) -> str | None:
        from kiln.popgen.threshold import estimate_threshold

        sw = self.sw.spec["sweep"]
        method = sw["method"]
        task = f"threshold:{method}"

        def runner(specs):
            # Replay committed outcomes; run only the missing ones (deterministic design, §6.3).
            missing = [s for s in specs if (cid, task, _tbits(s["params_obj"].T), s["replicate"]) not in done]
            fresh = {}
            if missing:
                for _, runs, _ in self._exec_units(model, [missing], "outcome"):
                    self.add("runs", self._tag(runs, task))
                    self.executed += runs.num_rows
                    for r in runs.select(["T", "replicate", "outcome", "t_ext", "error_code"]).to_pylist():
                        fresh[(_tbits(r["T"]), r["replicate"])] = r
                self.maybe_commit(force=True)  # every round boundary
            rows = []
            for s in specs:
                k = (_tbits(s["params_obj"].T), s["replicate"])
                rows.append(fresh.get(k) or done[(cid, task) + k])
            return pa.Table.from_pylist([{"outcome": r["outcome"], "t_ext": r["t_ext"]} for r in rows],
                                        schema=pa.schema([("outcome", pa.utf8()), ("t_ext", pa.int64())]))

        opts = dict(sw.get("options", {}))
        if method == "nunney2003":
            opts["early_stop"] = False  # a stored run set must not depend on scheduling (§3.1)
            res = estimate_threshold(model, method=method, seed=seed, horizon=self.sw.horizon, runner=runner, **opts)
            rows = [{"kind": "nunney2003", "p": None, "C": res.C, "ci_lo": None, "ci_hi": None,
                     "status": res.status, "runs": res.runs}]
        else:
            res = estimate_threshold(model, method="tp", seed=seed, horizon=self.sw.horizon, runner=runner, **opts)
            rows = [{"kind": "tp", "p": r["p"], "C": r["T_p"], "ci_lo": r["ci_lo"], "ci_hi": r["ci_hi"],
                     "status": res.status, "runs": res.runs} for r in res.thresholds.to_pylist()]
        base = {k: v for k, v in model.params.to_dict().items() if k != "T"}
        out = [{"cell_id": cid, **{k: (str(v) if v is not None else None) if k in OPTIONS else v
                                   for k, v in base.items()}, **r} for r in rows]
        self.add("thresholds", pa.Table.from_pylist(out))
        return None

    def _cost(self) -> None:
        from kiln.popgen.regress import regress_cost

        pending = self.pending["thresholds"]
        stored = read_table(self.sw.store, "thresholds")
        tabs = ([stored] if stored is not None else []) + pending
        if not tabs:
            return
        t = pa.concat_tables(tabs, promote_options="permissive")
        if len(set(t.column("n").to_pylist())) < 3:
            return
        try:
            fit = regress_cost(t.drop_columns([c for c in ("cell_id",) if c in t.column_names]))
        except KilnError:
            return
        self.add("cost", fit.table())


class Store:
    """Read access to a results store: runs, generations, thresholds, cost and cells tables."""

    def __init__(self, path: str) -> None:
        self.path = os.path.abspath(path)
        sj = os.path.join(self.path, "sweep.json")
        try:
            with open(sj) as f:
                self.meta = json.load(f)
        except (OSError, ValueError) as e:
            raise error_for(2403, f"{sj} is unreadable: {e}", path=sj, cause=e) from e
        self.cell_order = {p.cell_id(): i for i, p in enumerate(cells_of(self.meta["spec"]))}

    def _sorted(self, t: pa.Table | None, keys) -> pa.Table | None:
        if t is None:
            return None
        idx = pa.array([self.cell_order.get(c, 1 << 30) for c in t.column("cell_id").to_pylist()], pa.int64())
        t = t.append_column("_cell", idx)
        t = t.sort_by([("_cell", "ascending")] + [(k, "ascending") for k in keys])
        return t.drop_columns(["_cell"])

    def runs(self) -> pa.Table | None:
        """All runs in input order (cell, T, replicate), whatever the executor or commit order."""
        return self._sorted(read_table(self.path, "runs"), ["task", "T", "replicate"])

    def generations(self) -> pa.Table | None:
        return self._sorted(read_table(self.path, "generations"), ["T", "replicate", "generation"])

    def thresholds(self) -> pa.Table | None:
        t = read_table(self.path, "thresholds")
        return None if t is None else self._sorted(t, ["kind"])

    def cost(self) -> pa.Table | None:
        return read_table(self.path, "cost")

    def cells(self) -> pa.Table | None:
        t = read_table(self.path, "cells")
        if t is None:
            return None
        # The newest status row of each cell wins (a rerun cell appends a new row).
        latest = {}
        for r in t.to_pylist():
            latest[r["cell_id"]] = r
        return pa.Table.from_pylist(sorted(latest.values(), key=lambda r: r["cell_index"]))


def open_store(path: str) -> Store:
    return Store(path)
