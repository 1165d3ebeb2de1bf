"""ECS microbenchmarks in the ecs_bench_suite shape (specs/world.md §11.5).

Five workloads, each on Kiln native (subject), the Kiln reference (`reference`), esper (`esper`,
Python processors iterating entities) and Kiln native on a Parquet store (`kiln:parquet`). Setup =
spawns + one step (tick 0 stores the raw rows, untimed); the timed region is `steps` steps.
"""
from __future__ import annotations

import gc
import shutil
import tempfile
import time
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np
import pyarrow.compute as pc

import kiln
import kiln.world as kw
from kiln.bench import Measurement, make_record

LETTERS = [chr(ord("A") + i) for i in range(26)]


def _component(name: str) -> type:
    cls = type(name, (), {"__annotations__": {"value": float}, "value": 0.0})
    return kiln.component(cls)


COMPONENTS = {name: _component(name) for name in LETTERS}
Data = _component("Data")
A, B, C, D, E = (COMPONENTS[x] for x in "ABCDE")


@dataclass
class Outcome:
    seconds: list        # per-step wall times
    correct: bool
    detail: dict


def _timed_steps(step: Callable[[], None], steps: int) -> list:
    out = []
    gc.collect()
    gc.disable()
    try:
        for _ in range(steps):
            t = time.perf_counter()
            step()
            out.append(time.perf_counter() - t)
    finally:
        gc.enable()
    return out


def _formula(assign: dict, name: str):
    if not hasattr(kw, "Formula"):
        raise RuntimeError("kiln.world.Formula is not available (kiln.formula is not built)")
    return kw.Formula(assign, name=name)


# ---------------------------------------------------------------- Kiln (native / reference)

def kiln_packed(world: kw.World, n: int, steps: int) -> Outcome:
    world.spawn_batch({c: {"value": 1.0} for c in (A, B, C, D, E)}, entity_ids=np.arange(1, n + 1, dtype=np.int32))
    for c in (A, B, C, D, E):
        col = f"{c.__name__.lower()}__value"
        world.add_processor(_formula({col: f"{col} * 2"}, f"double_{col}"))
    world.step()
    secs = _timed_steps(world.step, steps)
    last = world.query(A, B, C, D, E)
    want = 2.0 ** steps
    ok = last.num_rows == n and all(pc.all(pc.equal(last[f"{x}__value"], want)).as_py() for x in "abcde")
    return Outcome(secs, ok, {"expected_value": want})


def kiln_simple(world: kw.World, n: int, steps: int) -> Outcome:
    init = {"A": 1.0, "B": 2.0, "C": 3.0, "D": 4.0, "E": 5.0}
    groups = [(A, B), (A, B, C), (A, B, C, D), (A, B, C, E)]
    for group in groups:
        world.spawn_batch({c: {"value": np.full(n, init[c.__name__])} for c in group})
    for x, y in (("a", "b"), ("c", "d"), ("c", "e")):
        world.add_processor(_formula({f"{x}__value": f"{y}__value", f"{y}__value": f"{x}__value"}, f"swap_{x}{y}"))
    world.step()
    secs = _timed_steps(world.step, steps)
    odd = steps % 2 == 1
    ok = True
    live = world.live_tables()
    for group in groups:
        rows = live.get(world.table_name(*group))  # exactly this signature (queries union supersets)
        names = {c.__name__ for c in group}
        exp = dict(init)
        if odd:
            exp["A"], exp["B"] = init["B"], init["A"]
            if "D" in names:
                exp["C"], exp["D"] = init["D"], init["C"]
            if "E" in names:
                exp["C"], exp["E"] = init["E"], init["C"]
        ok = ok and rows is not None and rows.num_rows == n and all(
            (rows.column(f"{m.lower()}__value").to_numpy() == exp[m]).all() for m in names)
    return Outcome(secs, ok, {"odd_steps": odd})


def kiln_fragmented(world: kw.World, n: int, steps: int) -> Outcome:
    m = max(n // 10, 1)
    for letter in LETTERS:
        world.spawn_batch({COMPONENTS[letter]: {"value": np.ones(m)}, Data: {"value": np.ones(m)}})
    world.add_processor(_formula({"data__value": "data__value * 2"}, "double_data"))
    world.add_processor(_formula({"z__value": "z__value * 2"}, "double_z"))
    world.step()
    secs = _timed_steps(world.step, steps)
    data = world.query(Data)
    z = world.query(COMPONENTS["Z"])
    sd, sz = pc.sum(data["data__value"]).as_py(), pc.sum(z["z__value"]).as_py()
    ok = sd == 26 * m * 2.0 ** steps and sz == m * 2.0 ** steps
    return Outcome(secs, ok, {"sum_data": sd, "sum_z": sz, "per_letter": m})


def kiln_entity_cycle(world: kw.World, n: int, steps: int) -> Outcome:
    @kw.processor(A, name="spawn_b")
    def spawn_b(batch, ctx):
        active = int(pc.sum(batch["is_active"]).as_py() or 0)
        if active:
            ctx.spawn_batch({B: {"value": np.zeros(active)}})
        return batch

    @kw.processor(B, name="despawn_b")
    def despawn_b(batch, ctx):
        ids = batch["entity_id"].filter(batch["is_active"]).to_numpy()
        if len(ids):
            ctx.despawn(ids)
        return batch

    world.spawn_batch({A: {"value": np.zeros(n)}})
    world.add_processor(spawn_b)
    world.add_processor(despawn_b)
    world.step()
    secs = _timed_steps(world.step, steps)
    a = world.live(A).num_rows
    b = sum(t.num_rows for name, t in world.live_tables().items() if name == world.table_name(B))
    ok = a == n and (b == 2 * n if steps >= 3 else True)
    return Outcome(secs, ok, {"active_a": a, "active_b": b})


def kiln_add_remove(world: kw.World, n: int, steps: int) -> Outcome:
    @kw.processor(A, name="add_b")
    def add_b(batch, ctx):
        # Matches both tables (A) and (A, B); only entities without B get it.
        if batch.schema.get_field_index("b__value") < 0:
            ids = batch["entity_id"].filter(batch["is_active"]).to_numpy()
            if len(ids):
                ctx.add_components(ids, B(0.0))
        return batch

    @kw.processor(A, B, name="remove_b")
    def remove_b(batch, ctx):
        ids = batch["entity_id"].filter(batch["is_active"]).to_numpy()
        if len(ids):
            ctx.remove_components(ids, B)
        return batch

    world.spawn_batch({A: {"value": np.zeros(n)}})
    world.add_processor(add_b)
    world.add_processor(remove_b)
    world.step()
    counts = []

    def step():
        world.step()
        live = world.live_tables()
        ids = np.concatenate([t.column("entity_id").to_numpy() for t in live.values()]) if live else np.array([])
        counts.append((len(ids), len(np.unique(ids))))

    secs = _timed_steps(step, steps)
    ok = all(total == n and unique == n for total, unique in counts)
    return Outcome(secs, ok, {"active_rows_per_tick": [c[0] for c in counts[:5]]})


KILN_WORKLOADS = {"packed_iteration": kiln_packed, "simple_iteration": kiln_simple,
                  "fragmented_iteration": kiln_fragmented, "entity_cycle": kiln_entity_cycle,
                  "add_remove": kiln_add_remove}


# ---------------------------------------------------------------- esper

class _Val:
    __slots__ = ("value",)

    def __init__(self, v: float) -> None:
        self.value = v


def _esper_types() -> dict:
    return {name: type(f"E{name}", (_Val,), {"__slots__": ()}) for name in LETTERS + ["Data"]}


def esper_workload(name: str, n: int, steps: int) -> Outcome:
    import esper

    T = _esper_types()
    world_name = f"ecs_bench__{name}"
    esper.switch_world(world_name)
    esper.clear_database()

    class Double(esper.Processor):
        def __init__(self, t):
            self.t = t

        def process(self):
            for _, c in esper.get_component(self.t):
                c.value *= 2

    if name == "packed_iteration":
        for _ in range(n):
            esper.create_entity(*(T[x](1.0) for x in "ABCDE"))
        for x in "ABCDE":
            esper.add_processor(Double(T[x]))
    elif name == "simple_iteration":
        init = {"A": 1.0, "B": 2.0, "C": 3.0, "D": 4.0, "E": 5.0}
        for group in ("AB", "ABC", "ABCD", "ABCE"):
            for _ in range(n):
                esper.create_entity(*(T[x](init[x]) for x in group))

        class Swap(esper.Processor):
            def __init__(self, x, y):
                self.x, self.y = T[x], T[y]

            def process(self):
                for _, (a, b) in esper.get_components(self.x, self.y):
                    a.value, b.value = b.value, a.value

        for x, y in (("A", "B"), ("C", "D"), ("C", "E")):
            esper.add_processor(Swap(x, y))
    elif name == "fragmented_iteration":
        m = max(n // 10, 1)
        for letter in LETTERS:
            for _ in range(m):
                esper.create_entity(T[letter](1.0), T["Data"](1.0))
        esper.add_processor(Double(T["Data"]))
        esper.add_processor(Double(T["Z"]))
    elif name == "entity_cycle":
        for _ in range(n):
            esper.create_entity(T["A"](0.0))

        class SpawnB(esper.Processor):
            def process(self):
                for _ in list(esper.get_component(T["A"])):
                    esper.create_entity(T["B"](0.0))

        class DespawnB(esper.Processor):
            def process(self):
                for ent, _ in list(esper.get_component(T["B"])):
                    esper.delete_entity(ent)

        esper.add_processor(DespawnB())
        esper.add_processor(SpawnB())
    elif name == "add_remove":
        for _ in range(n):
            esper.create_entity(T["A"](0.0))

        class AddRemove(esper.Processor):
            def process(self):
                with_b = [e for e, _ in esper.get_components(T["A"], T["B"])]
                without = [e for e, _ in esper.get_component(T["A"]) if not esper.has_component(e, T["B"])]
                for e in with_b:
                    esper.remove_component(e, T["B"])
                for e in without:
                    esper.add_component(e, T["B"](0.0))

        esper.add_processor(AddRemove())
    esper.process()  # setup step, untimed
    secs = _timed_steps(esper.process, steps)
    # Check the same invariants as the Kiln side.
    if name == "packed_iteration":
        want = 2.0 ** (steps + 1)  # esper has no raw first tick: the setup step doubled too
        ok = all(c.value == want for x in "ABCDE" for _, c in esper.get_component(T[x]))
    elif name == "fragmented_iteration":
        m = max(n // 10, 1)
        sd = sum(c.value for _, c in esper.get_component(T["Data"]))
        ok = sd == 26 * m * 2.0 ** (steps + 1)
    elif name == "entity_cycle":
        ok = len(esper.get_component(T["A"])) == n
    elif name == "add_remove":
        ok = len(esper.get_component(T["A"])) == n
    else:
        ok = True
    esper.switch_world("default")
    esper.delete_world(world_name)
    return Outcome(secs, ok, {})


def run_workload(name: str, n: int, steps: int, quick: bool, trials: int) -> dict:
    def kiln_run(backend: str, store_kind: str) -> Outcome:
        outs = []
        for trial in range(trials + 1):
            root = tempfile.mkdtemp(prefix="kiln-ecs-")
            try:
                store = kw.MemoryStore() if store_kind == "memory" else kw.ParquetStore(root)
                w = kw.World(store, f"ecs_bench__{name}", f"ecs-{name}", "run", backend=backend)
                outs.append(KILN_WORKLOADS[name](w, n, steps))
                w.close()
            finally:
                shutil.rmtree(root, ignore_errors=True)
        measured = outs[1:]
        return Outcome([s for o in measured for s in o.seconds], all(o.correct for o in outs), measured[-1].detail)

    native = kiln_run("native", "memory")
    reference = kiln_run("reference", "memory")
    parquet = kiln_run("native", "parquet")
    try:
        esper_outs = [esper_workload(name, n, steps) for _ in range(trials + 1)][1:]
        esper_m = Measurement("esper", [s for o in esper_outs for s in o.seconds],
                              correct=all(o.correct for o in esper_outs), version=_esper_version())
    except ImportError:
        esper_m = Measurement.unavailable("esper")
    correct = native.correct and reference.correct and parquet.correct
    med = float(np.median(native.seconds))
    total_entities = {"packed_iteration": n, "simple_iteration": 4 * n, "fragmented_iteration": 26 * max(n // 10, 1),
                      "entity_cycle": n, "add_remove": n}[name]
    target = [{"peer": "esper", "min_ratio": 5.0 if n >= 10_000 and name in ("packed_iteration", "simple_iteration",
                                                                               "fragmented_iteration") else None,
               "text": "esper / kiln native >= 50"}]
    rec = make_record(
        bench="world", case=f"ecs/{name}/{n}", params={"workload": name, "n": n, "steps": steps},
        kiln=Measurement("kiln-native", native.seconds, correct=native.correct, version=kiln.__version__),
        peers={"reference": Measurement("kiln-reference", reference.seconds, correct=reference.correct),
               "esper": esper_m,
               "kiln:parquet": Measurement("kiln-native-parquet", parquet.seconds, correct=parquet.correct)},
        correctness={"method": "workload invariant", "native": native.detail, "reference_correct": reference.correct,
                     "parquet_correct": parquet.correct, "esper_correct": esper_m.correct, "correct": correct},
        correct=correct, quick=quick, per="step", work={"unit": "entities", "count": total_entities}, target=target,
        extra={"entities": total_entities, "steps": steps, "elapsed_s": float(sum(native.seconds)),
               "steps_per_sec": 1 / med if med else None, "entities_per_sec": total_entities / med if med else None},
        env_peers=("esper",))
    if not quick:
        gates = [t for t in rec["target"] if t["min_ratio"] is not None]
        rec["pass"] = all((rec["ratio"].get(t["peer"]) or 0) >= t["min_ratio"] for t in gates) if gates else None
    return rec


def _esper_version() -> Optional[str]:
    try:
        import importlib.metadata as md

        return md.version("esper")
    except Exception:
        return None
