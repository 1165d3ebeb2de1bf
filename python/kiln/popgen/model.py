"""The model object (`Nunney2003`), single runs and `simulate_many` (popgen §6.2)."""
from __future__ import annotations

import dataclasses
import math
import os
from typing import Any, Iterable

import pyarrow as pa

from kiln.errors import error_for
from kiln.popgen.params import HorizonRule, Params, StopRule, check_record, check_seed, resolve_horizon
from kiln.popgen.records import runs_table

BACKENDS = ("native", "reference")
DEFAULT_MAX_MEMORY = 2 << 30
DEFAULT_MAX_RECORD = 256 << 20


def default_workers() -> int:
    """kiln.get_num_threads() semantics (specs/README.md): KILN_NUM_THREADS, else usable CPUs."""
    env = os.environ.get("KILN_NUM_THREADS")
    if env and env.isdigit() and int(env) > 0:
        return int(env)
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - non-Linux
        return os.cpu_count() or 1


def _backend(name: str):
    if name == "native":
        from kiln.popgen import _native

        return _native
    if name == "reference":
        from kiln.popgen import reference

        return reference
    raise error_for(2107, f"backend={name!r} is not one of native, reference", parameter="backend")


class RunRecord:
    """One run's §4.2 record: attribute access to the columns of a one-row table."""

    def __init__(self, table: pa.Table) -> None:
        self.table = table

    def __getattr__(self, name: str) -> Any:
        if name != "table" and name in self.table.column_names:
            return self.table.column(name)[0].as_py()
        raise AttributeError(name)

    def as_dict(self) -> dict:
        return self.table.to_pylist()[0]

    def __repr__(self) -> str:
        return f"RunRecord(outcome={self.outcome!r}, t_ext={self.t_ext}, final_N={self.final_N})"


@dataclasses.dataclass
class RunResult:
    record: RunRecord
    generations: pa.Table | None
    final_population: pa.Table | None = None


@dataclasses.dataclass
class BatchResult:
    runs: pa.Table
    generations: list  # per run: pa.Table or None


class Nunney2003:
    """The Nunney (2003) moving-optimum model on one backend."""

    def __init__(self, params: Params | dict, backend: str = "native") -> None:
        self.params = params if isinstance(params, Params) else Params(**params)
        self.backend = backend
        self._impl = _backend(backend)

    def run(self, seed: int = 0, horizon: Any = 5000, record: str = "full", replicate: int = 0,
            record_every: int = 1, final_population: bool = False, stop: StopRule | None = None,
            T: float | None = None, max_memory_bytes: int = DEFAULT_MAX_MEMORY,
            max_record_bytes: int = DEFAULT_MAX_RECORD) -> RunResult:
        b = self.run_many(seed=seed, replicates=[replicate], T=None if T is None else [T], horizon=horizon,
                          record=record, record_every=record_every, final_population=final_population,
                          stop=stop, workers=1, max_memory_bytes=max_memory_bytes,
                          max_record_bytes=max_record_bytes, _keep_pop=True)
        return RunResult(RunRecord(b.runs), b.generations[0], b._pops[0])

    def specs(self, seed: int, replicates: Iterable[int], T: Iterable[float] | None, horizon: Any,
              group: Any = None) -> list[dict]:
        seed = check_seed("seed", seed)
        out = []
        Ts = [self.params.T] if T is None else list(T)
        for Tv in Ts:
            p = self.params if Tv == self.params.T else self.params.replace(T=Tv)
            H = resolve_horizon(horizon, p.T)
            for rep in replicates:
                out.append({"params_obj": p, "params": p.to_native(), "seed": seed,
                            "replicate": check_seed("replicate", rep), "horizon": H,
                            "group": -1 if group is None else group})
        return out

    def run_specs(self, specs: list[dict], *, record: str = "outcome", record_every: int = 1,
                  final_population: bool = False, stop: StopRule | None = None, workers: int | None = None,
                  max_memory_bytes: int = DEFAULT_MAX_MEMORY, max_record_bytes: int = DEFAULT_MAX_RECORD,
                  stop_group_on_extinction: bool = False, cancel: Any = None):
        check_record(record)
        if isinstance(record_every, bool) or not isinstance(record_every, int) or record_every < 1:
            raise error_for(2104, f"record_every={record_every!r} must be an integer >= 1", parameter="record_every")
        workers = default_workers() if workers is None else int(workers)
        _check_limits(specs, record, record_every, max_memory_bytes, max_record_bytes)
        from kiln.popgen.cancel import Interrupted

        try:
            outcomes, gens, pops, wall = self._impl.run_many(
                specs, record=record, record_every=record_every, final_population=final_population, stop=stop,
                max_memory_bytes=max_memory_bytes, max_record_bytes=max_record_bytes, workers=workers,
                stop_group_on_extinction=stop_group_on_extinction, cancel=cancel)
        except Interrupted as it:
            outcomes, gens, pops, wall = it.results
            partial = BatchResult(runs_table(specs, outcomes, self.backend, wall), gens)
            partial._pops = pops  # type: ignore[attr-defined]
            done = sum(1 for c in partial.runs.column("error_code").to_pylist() if c != "K2207")
            if isinstance(it.exc, KeyboardInterrupt) and not hasattr(it.exc, "number"):
                exc = error_for(2207, f"interrupted: {done} of {len(specs)} runs completed and are kept in "
                                      f".partial; the others carry K2207", completed=done, total=len(specs))
                exc.partial = partial
                raise exc from it.exc
            try:  # another signal handler's exception (SIGTERM -> SystemExit, say) passes through as is
                it.exc.partial = partial
            except AttributeError:  # pragma: no cover - an exception type without a __dict__
                pass
            raise it.exc
        return runs_table(specs, outcomes, self.backend, wall), gens, pops

    def run_many(self, seed: int, replicates: Any, T: Any = None, horizon: Any = None, record: str = "outcome",
                 record_every: int = 1, final_population: bool = False, stop: StopRule | None = None,
                 workers: int | None = None, max_memory_bytes: int = DEFAULT_MAX_MEMORY,
                 max_record_bytes: int = DEFAULT_MAX_RECORD, cancel: Any = None,
                 _keep_pop: bool = False) -> BatchResult:
        reps = range(replicates) if isinstance(replicates, int) else replicates
        if horizon is None:
            horizon = HorizonRule()
        specs = self.specs(seed, reps, T, horizon)
        runs, gens, pops = self.run_specs(specs, record=record, record_every=record_every,
                                          final_population=final_population, stop=stop, workers=workers,
                                          max_memory_bytes=max_memory_bytes, max_record_bytes=max_record_bytes,
                                          cancel=cancel)
        b = BatchResult(runs, gens)
        b._pops = pops  # type: ignore[attr-defined]
        return b


def _check_limits(specs, record, record_every, max_memory_bytes, max_record_bytes) -> None:
    """K2203 and K2202 before anything is allocated (§9); the kernel checks again."""
    for s in specs:
        p: Params = s["params_obj"]
        row = {"outcome": 0, "summary": 14 * 8, "full": 14 * 8 + p.n * (8 * 4 + 4)}[record]
        rows = (s["horizon"] + p.burn_in) // record_every + 2
        rb = rows * row
        if rb > max_record_bytes:
            suggest = (s["horizon"] + p.burn_in) * row // max(max_record_bytes, 1) + 1
            raise error_for(2203, f"the generation table would take {rb} bytes, over max_record_bytes="
                                  f"{max_record_bytes}; use record_every >= {suggest}", estimate=rb,
                            record_every=suggest)
        est = p.memory_estimate(rb)
        if est > max_memory_bytes:
            per = 16.0 * p.n + 6.0
            budget = max_memory_bytes - rb - (1 << 20)
            k_fit = max(0, int((math.sqrt(max(budget / per - 1024, 0) + 8) - math.sqrt(8)) ** 2 / 2))
            raise error_for(2202, f"one replicate needs an estimated {est} bytes, over max_memory_bytes="
                                  f"{max_memory_bytes}; the largest K that fits is about {k_fit}",
                            estimate=est, largest_K=k_fit)


def simulate_many(model: Nunney2003, seed: int, replicates: Any, T: Any = None, horizon: Any = None,
                  record: str = "outcome", workers: int | None = None, executor: str = "local",
                  progress: bool = False, **kw: Any) -> BatchResult:
    """Many replicates over T values; rows in input order (T, replicate), identical for any workers.

    `cancel=popgen.CancelToken()` stops the batch when cancelled (from another thread): completed
    runs are returned and the rest carry K2207. Ctrl-C raises K2207 with the same `.partial`."""
    if executor not in ("local", "dask"):
        raise error_for(2107, f"executor={executor!r} is not one of local, dask", parameter="executor")
    if executor == "dask":
        if kw.get("cancel") is not None:
            raise error_for(2107, "cancel= needs executor='local'; a Dask batch is cancelled through its client",
                            parameter="cancel")
        from kiln.popgen.distributed import dask_run_many

        return dask_run_many(model, seed, replicates, T, horizon, record, workers, **kw)
    if not progress:
        return model.run_many(seed, replicates, T, horizon, record=record, workers=workers, **kw)
    from kiln.popgen.progress import chunked_run

    return chunked_run(model, seed, replicates, T, horizon, record, workers, **kw)
