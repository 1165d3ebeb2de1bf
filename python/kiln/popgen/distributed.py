"""Dask distributed execution (popgen §6.4): units are tasks calling the kernel in worker processes.

Results return to the driver and are reassembled in input order, so tables are identical to the
local executor's. A unit whose worker is lost is retried by the scheduler up to `max_retries`
times, then reported as K2502.
"""
from __future__ import annotations

import contextlib
from typing import Any

import pyarrow as pa

from kiln.errors import error_for

CONNECT_TIMEOUT_S = 30


def _distributed():
    try:
        import distributed  # noqa: F401
    except ImportError as e:  # the optional extra kiln[dask]
        raise error_for(2501, "executor='dask' needs dask.distributed: pip install 'kiln[dask]'",
                        cause=e) from e
    return distributed


@contextlib.contextmanager
def client_for(address: str | None = None, workers: int | None = None):
    """A Client on `address`, or on a new LocalCluster of `workers` single-threaded processes."""
    distributed = _distributed()
    from kiln.popgen.model import default_workers

    if address is not None:
        try:
            client = distributed.Client(address, timeout=CONNECT_TIMEOUT_S)
        except (OSError, TimeoutError) as e:
            raise error_for(2503, f"the Dask scheduler at {address} is unreachable within {CONNECT_TIMEOUT_S} s",
                            address=address, cause=e) from e
        try:
            yield client
        finally:
            client.close()
        return
    n = default_workers() if workers is None else int(workers)
    with distributed.LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=":0",
                                  silence_logs=40) as cluster, distributed.Client(cluster) as client:
        yield client


def _unit(params, backend: str, light_specs: list, options: dict) -> tuple:
    """Runs in the worker: one thread, so Dask's process count is the parallelism."""
    from kiln.popgen.model import Nunney2003

    model = Nunney2003(params, backend=backend)  # the validated Params object itself: M and u stay exact
    specs = []
    for s in light_specs:
        specs += model.specs(s["seed"], [s["replicate"]], [s["T"]], s["horizon"])
    runs, gens, _ = model.run_specs(specs, workers=1, **options)
    return runs, gens


def _light(specs: list[dict]) -> list[dict]:
    return [{"seed": s["seed"], "replicate": s["replicate"], "T": s["params_obj"].T, "horizon": s["horizon"]}
            for s in specs]


def submit_units(client, model, units: list[list[dict]], options: dict, max_retries: int = 3) -> list:
    """Queues every unit on the cluster now; collect_units() gathers them later."""
    params = model.params
    return [client.submit(_unit, params, model.backend, _light(specs), options, retries=max_retries, pure=False)
            for specs in units]


def collect_units(futures: list, max_retries: int = 3):
    """Yields (unit index, runs table, generations) as the submitted units complete (any order)."""
    distributed = _distributed()
    index = {f: i for i, f in enumerate(futures)}
    for fut in distributed.as_completed(list(futures)):
        i = index[fut]
        try:
            runs, gens = fut.result()
        except distributed.client.FutureCancelledError as e:  # pragma: no cover - cancelled by shutdown
            raise error_for(2502, f"unit {i} was cancelled", unit=i, cause=e) from e
        except Exception as e:
            if getattr(e, "number", None) is not None:  # a catalog error from the kernel: pass it on
                raise
            raise error_for(2502, f"unit {i} failed on more than max_retries={max_retries} workers: {e}",
                            unit=i, cause=e) from e
        yield i, runs, gens


def run_units(client, model, units: list[list[dict]], options: dict, max_retries: int = 3):
    """Yields (unit index, runs table, generations) as units complete (any order)."""
    yield from collect_units(submit_units(client, model, units, options, max_retries), max_retries)


def dask_run_many(model, seed, replicates, T, horizon, record, workers, address=None, max_retries=3,
                  progress=False, **kw: Any):
    from kiln.popgen.model import BatchResult
    from kiln.popgen.params import HorizonRule

    reps = range(replicates) if isinstance(replicates, int) else replicates
    specs = model.specs(seed, reps, T, HorizonRule() if horizon is None else horizon)
    unit_size = 32
    units = [specs[i:i + unit_size] for i in range(0, len(specs), unit_size)]
    out: list = [None] * len(units)
    options = {"record": record, **kw}
    bar = _bar(progress, len(specs))
    with client_for(address, workers) as client:
        for i, runs, gens in run_units(client, model, units, options, max_retries):
            out[i] = (runs, gens)
            bar.update(runs.num_rows)
    bar.close()
    runs = pa.concat_tables([o[0] for o in out]) if out else None
    gens = [g for o in out for g in o[1]]
    return BatchResult(runs, gens)


def spec_runner(model, workers=None, address=None, max_retries=3):
    """A runner for round-based estimators: one cluster for the whole estimate."""
    state: dict = {}

    def run(specs):
        if "client" not in state:
            state["cm"] = client_for(address, workers)
            state["client"] = state["cm"].__enter__()
        per = max(1, len(specs) // max(1, len(state["client"].scheduler_info()["workers"])))
        units = [specs[i:i + per] for i in range(0, len(specs), per)]
        out: list = [None] * len(units)
        for i, runs, _ in run_units(state["client"], model, units, {"record": "outcome"}, max_retries):
            out[i] = runs
        return pa.concat_tables(out)

    def close():
        if "cm" in state:
            state["cm"].__exit__(None, None, None)
            state.clear()

    run.close = close  # type: ignore[attr-defined]
    return run


def _bar(progress, total):
    from kiln.popgen.progress import make_bar

    return make_bar(progress, total, "runs")
