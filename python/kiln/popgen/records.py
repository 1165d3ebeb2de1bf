"""Arrow schemas of §4 shared by both backends, and the run table assembly."""
from __future__ import annotations

import pyarrow as pa

from kiln.popgen.params import RNG_SCHEMA, Params

OUTCOME_FIELDS = [
    pa.field("replicate", pa.uint64(), False), pa.field("T", pa.float64(), False),
    pa.field("horizon", pa.int64(), False), pa.field("outcome", pa.utf8(), False),
    pa.field("persisted", pa.bool_(), False), pa.field("t_ext", pa.int64()),
    pa.field("extinction_cause", pa.utf8()), pa.field("error_code", pa.utf8()),
    pa.field("generations_simulated", pa.int64(), False), pa.field("final_N", pa.int64(), False),
    pa.field("min_N", pa.int64(), False), pa.field("total_births", pa.int64(), False),
    pa.field("total_mutations", pa.int64(), False), pa.field("mean_N_over_K", pa.float64()),
    pa.field("mean_msd", pa.float64()), pa.field("mean_var_total", pa.float64()),
    pa.field("substitutions", pa.list_(pa.int64()), False),
]
OUTCOME_SCHEMA = pa.schema(OUTCOME_FIELDS)

SETTINGS_FIELDS = [
    pa.field("K", pa.int64()), pa.field("n", pa.int64()), pa.field("R", pa.float64()), pa.field("u", pa.float64()),
    pa.field("M", pa.float64()), pa.field("offspring_dist", pa.utf8()), pa.field("mating", pa.utf8()),
    pa.field("mutation", pa.utf8()), pa.field("allele_min", pa.int64()), pa.field("allele_max", pa.int64()),
    pa.field("female_fraction", pa.float64()), pa.field("locus_phase", pa.utf8()),
    pa.field("optimum_offset", pa.float64()), pa.field("initial_size", pa.int64()),
    pa.field("initial_allele", pa.int64()), pa.field("burn_in", pa.int64()), pa.field("quasi_extinction", pa.int64()),
]

RUNS_SCHEMA = pa.schema(
    [pa.field("seed", pa.uint64(), False), pa.field("cell_id", pa.utf8(), False)]
    + OUTCOME_FIELDS[:3] + SETTINGS_FIELDS + OUTCOME_FIELDS[3:]
    + [pa.field("backend", pa.utf8()), pa.field("kiln_version", pa.utf8()), pa.field("rng_schema", pa.int32()),
       pa.field("wall_s", pa.float64())])


def generation_schema(n: int, record: str) -> pa.Schema:
    f = [pa.field("replicate", pa.uint64(), False), pa.field("T", pa.float64(), False),
         pa.field("generation", pa.int64(), False), pa.field("theta", pa.float64(), False),
         pa.field("births", pa.int64()), pa.field("mutations", pa.int64(), False),
         pa.field("mutations_blocked", pa.int64(), False), pa.field("mean_w", pa.float64()),
         pa.field("survivors", pa.int64(), False), pa.field("females", pa.int64(), False),
         pa.field("males", pa.int64(), False), pa.field("fecundity", pa.float64()),
         pa.field("mean_lag", pa.float64()), pa.field("msd", pa.float64()), pa.field("var_total", pa.float64())]
    if record == "full":
        f += [pa.field("mean_av", pa.list_(pa.float64(), n)), pa.field("lag", pa.list_(pa.float64(), n)),
              pa.field("var_av", pa.list_(pa.float64(), n)),
              pa.field("substitutions", pa.list_(pa.int64(), n), False),
              pa.field("segregating", pa.list_(pa.int32(), n), False)]
    return pa.schema(f)


def runs_table(specs: list[dict], outcomes: pa.Table, backend: str, wall_s: list[float]) -> pa.Table:
    """Identity and settings columns around the backend's outcome columns, in RUNS_SCHEMA order."""
    from kiln import __version__

    cols: dict[str, list] = {f.name: [] for f in SETTINGS_FIELDS}
    seeds, cells = [], []
    for s in specs:
        p: Params = s["params_obj"]
        seeds.append(s["seed"])
        cells.append(p.cell_id())
        for f in SETTINGS_FIELDS:
            cols[f.name].append(getattr(p, f.name))
    arrays = {"seed": pa.array(seeds, pa.uint64()), "cell_id": pa.array(cells, pa.utf8())}
    for name in ("replicate", "T", "horizon"):
        arrays[name] = outcomes.column(name)
    for f in SETTINGS_FIELDS:
        arrays[f.name] = pa.array(cols[f.name], f.type)
    for f in OUTCOME_FIELDS[3:]:
        arrays[f.name] = outcomes.column(f.name)
    m = len(specs)
    arrays["backend"] = pa.array([backend] * m, pa.utf8())
    arrays["kiln_version"] = pa.array([__version__] * m, pa.utf8())
    arrays["rng_schema"] = pa.array([RNG_SCHEMA] * m, pa.int32())
    arrays["wall_s"] = pa.array(wall_s, pa.float64())
    return pa.table([arrays[f.name] for f in RUNS_SCHEMA], schema=RUNS_SCHEMA)
