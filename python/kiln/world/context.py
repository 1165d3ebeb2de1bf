"""The processor context and its deferred commands (specs/world.md §6.3) [D24].

Processors cannot mutate the world while a tick runs (104). Instead ``ctx`` records commands:

* they are validated when called, against the state at the start of the tick plus the earlier
  commands of this tick, so an invalid command raises inside the processor and fails the tick;
* spawned ids are reserved immediately through the kernel's ``reserve_ids`` (allowed while a
  split-step epoch is open), so ``ctx.spawn`` can return them;
* after the tick completes they are applied in call order, as if issued between this step and
  the next, firing their hooks; if the tick fails they are discarded and their ids become gaps.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Optional, Sequence

import numpy as np
import pyarrow.compute as pc

from kiln.errors import error_for
from kiln.world.components import component_spec
from kiln.world.conversion import as_entity_ids

__all__ = ["Context", "DeferredCommands"]


class _SimulatedRegistry:
    """Entity → component names as the tick's commands have left it so far.

    Start-of-tick entities stay in sorted numpy arrays (cheap vectorised lookups even for large
    worlds); entities spawned by commands live in a dict (their ids are fresh reservations).
    """

    def __init__(self, ids: np.ndarray, codes: np.ndarray, signatures: list[frozenset[str]]) -> None:
        self._ids = ids
        self._codes = codes.astype(np.int64)  # -1 = gone
        self._sigs = list(signatures)
        self._sig_code = {s: i for i, s in enumerate(self._sigs)}
        self._new: dict[int, int] = {}

    def code_of(self, sig: frozenset[str]) -> int:
        code = self._sig_code.get(sig)
        if code is None:
            code = len(self._sigs)
            self._sigs.append(sig)
            self._sig_code[sig] = code
        return code

    def codes(self, ids: np.ndarray) -> np.ndarray:
        """Signature code per id (-1: not registered now)."""
        out = np.full(len(ids), -1, dtype=np.int64)
        if len(self._ids):
            pos = np.minimum(np.searchsorted(self._ids, ids), len(self._ids) - 1)
            hit = self._ids[pos] == ids
            out[hit] = self._codes[pos[hit]]
        if self._new:
            for i in np.flatnonzero(out < 0):
                out[i] = self._new.get(int(ids[i]), -1)
        return out

    def signature(self, code: int) -> frozenset[str]:
        return self._sigs[code]

    def set(self, ids: np.ndarray, codes: np.ndarray) -> None:
        if len(self._ids):
            pos = np.minimum(np.searchsorted(self._ids, ids), len(self._ids) - 1)
            hit = self._ids[pos] == ids
            self._codes[pos[hit]] = codes[hit]
        else:
            hit = np.zeros(len(ids), dtype=bool)
        for i in np.flatnonzero(~hit):
            self._new[int(ids[i])] = int(codes[i])


@dataclass(frozen=True)
class _Command:
    kind: str
    args: tuple


class DeferredCommands:
    """The commands of one step, shared by the contexts of all its tables."""

    def __init__(self, world: Any) -> None:
        self._world = world  # the World; used for planning now and applying later
        self._commands: list[_Command] = []
        self._registry: Optional[_SimulatedRegistry] = None

    def __len__(self) -> int:
        return len(self._commands)

    # -- validation state ---------------------------------------------------------------------

    def _sim(self) -> _SimulatedRegistry:
        if self._registry is None:
            mutations = self._world._mutations
            reg = mutations.kernel.registry()
            ids = reg.column("entity_id").to_numpy(zero_copy_only=False).astype(np.int32)
            encoded = pc.dictionary_encode(reg.column("table"))
            names = encoded.dictionary.to_pylist()
            sigs = [frozenset(mutations.layout(n).component_names) for n in names]
            codes = encoded.indices.to_numpy(zero_copy_only=False) if len(ids) else np.zeros(0, np.int64)
            self._registry = _SimulatedRegistry(ids, np.asarray(codes), sigs)
        return self._registry

    def _alive_codes(self, ids: np.ndarray) -> np.ndarray:
        codes = self._sim().codes(ids)
        if (codes < 0).any():
            bad = int(ids[np.flatnonzero(codes < 0)[0]])
            raise error_for(251, f"entity {bad} is not registered at this point of the tick (never spawned, "
                                 f"or despawned before or during this tick)", entity_id=bad)
        return codes

    # -- commands -----------------------------------------------------------------------------

    def spawn(self, components: Sequence[Any]) -> int:
        plan = self._world._mutations.plan_spawn(components)
        ids = self._reserve(1)
        self._record_spawn(plan, ids)
        return int(ids[0])

    def spawn_batch(self, data: Any, components: Optional[Sequence[type]], entity_ids: Any) -> np.ndarray:
        if entity_ids is not None:
            raise error_for(8, "ctx.spawn_batch() assigns ids itself (they are reserved immediately); "
                               "entity_ids is not supported inside processors")
        plan = self._world._mutations.plan_spawn_batch(data, components, None)
        n = plan.batch.num_rows
        ids = self._reserve(n) if n else np.zeros(0, dtype=np.int32)
        self._record_spawn(plan, ids)
        return ids

    def _reserve(self, n: int) -> np.ndarray:
        first = int(self._world._mutations.kernel.reserve_ids(n))
        return np.arange(first, first + n, dtype=np.int32)

    def _record_spawn(self, plan: Any, ids: np.ndarray) -> None:
        from dataclasses import replace as dc_replace

        plan = dc_replace(plan, entity_ids=ids)
        sim = self._sim()
        sig = frozenset(plan.layout.component_names)
        sim.set(ids, np.full(len(ids), sim.code_of(sig), dtype=np.int64))
        self._commands.append(_Command("spawn", (plan,)))

    def despawn(self, ids: Any) -> None:
        arr = as_entity_ids(ids)
        if arr.size:
            self._alive_codes(arr)
            self._sim().set(arr, np.full(len(arr), -1, dtype=np.int64))
        self._commands.append(_Command("despawn", (arr,)))

    def update(self, ids: Any, components: Sequence[Any]) -> None:
        arr, names = self._structural(ids, components, instances=True)
        self._require_present(arr, names, "update")
        self._commands.append(_Command("update", (arr, tuple(components))))

    def add_components(self, ids: Any, components: Sequence[Any]) -> None:
        arr, names = self._structural(ids, components, instances=True)
        if arr.size:
            sim = self._sim()
            codes = self._alive_codes(arr)
            new = np.array([sim.code_of(sim.signature(int(c)) | names) for c in codes], dtype=np.int64)
            sim.set(arr, new)
        self._commands.append(_Command("add_components", (arr, tuple(components))))

    def remove_components(self, ids: Any, types_: Sequence[Any]) -> None:
        arr, names = self._structural(ids, types_, instances=False)
        self._require_present(arr, names, "remove")
        if arr.size:
            sim = self._sim()
            codes = sim.codes(arr)
            new = np.array([sim.code_of(sim.signature(int(c)) - names) for c in codes], dtype=np.int64)
            sim.set(arr, new)
        self._commands.append(_Command("remove_components", (arr, tuple(types_))))

    def _structural(self, ids: Any, components: Sequence[Any], *, instances: bool) -> tuple[np.ndarray, frozenset[str]]:
        arr = as_entity_ids(ids)
        names: list[str] = []
        for c in components:
            if instances and isinstance(c, type):
                raise error_for(500, f"pass component instances, not the class {c.__name__}")
            if not instances and not isinstance(c, type):
                raise error_for(500, f"pass component classes, not a {type(c).__name__} instance")
            spec = component_spec(c)
            if spec.name in names:
                raise error_for(501, f"component {spec.cls.__name__} is given twice")
            names.append(spec.name)
        return arr, frozenset(names)

    def _require_present(self, arr: np.ndarray, names: frozenset[str], verb: str) -> None:
        if not arr.size:
            return
        sim = self._sim()
        codes = self._alive_codes(arr)
        for code in np.unique(codes):
            missing = names - sim.signature(int(code))
            if missing:
                entity = int(arr[np.flatnonzero(codes == code)[0]])
                raise error_for(502, f"entity {entity} has no {sorted(missing)[0]} component to {verb}",
                                entity_id=entity)

    # -- application --------------------------------------------------------------------------

    def apply(self) -> Optional[BaseException]:
        """Apply every command in call order through the world's mutation path.

        Returns the first ``HookError`` raised by a handler (commands after it still apply, since
        the tick they belong to has completed); any other error propagates.
        """
        mutations = self._world._mutations
        first_hook_error: Optional[BaseException] = None
        for cmd in self._commands:
            try:
                if cmd.kind == "spawn":
                    mutations.execute_spawn(cmd.args[0])
                elif cmd.kind == "despawn":
                    mutations.despawn(cmd.args[0])
                elif cmd.kind == "update":
                    mutations.update(*cmd.args)
                elif cmd.kind == "add_components":
                    mutations.add_components(*cmd.args)
                elif cmd.kind == "remove_components":
                    mutations.remove_components(*cmd.args)
            except Exception as exc:  # noqa: BLE001 - only hook failures are deferred
                if getattr(exc, "number", None) != 504:
                    raise
                if first_hook_error is None:
                    first_hook_error = exc
        self._commands.clear()
        return first_hook_error


class Context:
    """What a processor receives besides its batch.

    ``world_id``, ``run_id``, ``tick`` (being executed), ``table`` (the batch's table),
    ``params`` (keyword arguments of ``step``/``run``), ``resources`` (the world's dict) and
    deferred commands that take effect after the tick (see the module docstring).
    """

    __slots__ = ("world_id", "run_id", "tick", "table", "params", "resources", "_commands")

    def __init__(self, *, world_id: str, run_id: str, tick: int, table: str, params: Mapping[str, Any],
                 resources: dict, commands: DeferredCommands) -> None:
        self.world_id = world_id
        self.run_id = run_id
        self.tick = tick
        self.table = table
        self.params = params
        self.resources = resources
        self._commands = commands

    def spawn(self, *components: Any) -> int:
        """Spawn one entity after this tick; its id is returned now."""
        return self._commands.spawn(components)

    def spawn_batch(self, data: Any, /, *, components: Optional[Sequence[type]] = None,
                    entity_ids: Any = None) -> np.ndarray:
        """Columnar spawn after this tick (both forms of ``World.spawn_batch``); ids returned now."""
        return self._commands.spawn_batch(data, components, entity_ids)

    def despawn(self, ids: Any) -> None:
        """Despawn after this tick (ids must be registered at this point of the tick: 251)."""
        self._commands.despawn(ids)

    def update(self, ids: Any, *components: Any) -> None:
        """Overlay component values after this tick."""
        self._commands.update(ids, components)

    def add_components(self, ids: Any, *components: Any) -> None:
        """Add (or replace) components after this tick."""
        self._commands.add_components(ids, components)

    def remove_components(self, ids: Any, *component_types: type) -> None:
        """Remove components after this tick (every type must be present: 502)."""
        self._commands.remove_components(ids, component_types)

    def __repr__(self) -> str:
        return (f"Context(world_id={self.world_id!r}, run_id={self.run_id!r}, tick={self.tick}, "
                f"table={self.table!r})")
