"""Entity mutations on top of the kernel primitives (specs/world.md §3.4–§3.6, §8.3).

The kernel knows tables and prefixed columns; this module turns component instances and columnar
input into exactly typed batches, picks the target table of every entity and calls the kernel
once per target table. Operations that may need several kernel calls (update, add/remove
components) validate and build *every* batch before the first call, so a bad id, component or
value changes nothing (all-or-nothing per call).

Update and migration read an entity's **latest visible state**: its staged row if it has one,
else its live-snapshot row (the kernel registry says which).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Optional, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from kiln.errors import error_for
from kiln.world.components import ComponentSpec, component_spec
from kiln.world.conversion import (
    as_entity_ids,
    as_table,
    broadcast_column,
    check_no_nulls,
    coerce_column,
    column_from_values,
    is_array_like,
)
from kiln.world.events import OnComponentAdded, OnComponentRemoved, OnDespawn, OnSpawn
from kiln.world.hooks import HookRegistry
from kiln.world.tables import BASE_NAMES, TableLayout, layout_for, layout_from_schema

__all__ = ["Mutations", "SpawnPlan"]


@dataclass(frozen=True)
class SpawnPlan:
    """A validated spawn: the target table, its exactly typed component batch and, for explicit-id
    spawns, the ids. Deferred ``ctx`` spawns keep plans until the tick completes."""

    layout: TableLayout
    batch: pa.RecordBatch
    classes: tuple[type, ...]
    entity_ids: Optional[np.ndarray] = None


def _instances(components: Sequence[Any], what: str) -> list[ComponentSpec]:
    specs = []
    for c in components:
        if isinstance(c, type):
            spec = component_spec(c)  # 500 if not a component at all
            raise error_for(500, f"{what} takes component instances; got the class {spec.cls.__name__} "
                                 f"(did you mean {spec.cls.__name__}()?)")
        specs.append(component_spec(c))
    return specs


def _component_types(types_: Sequence[Any], what: str) -> list[ComponentSpec]:
    specs = []
    for t in types_:
        if not isinstance(t, type):
            raise error_for(500, f"{what} takes component classes; got a {type(t).__name__} instance")
        specs.append(component_spec(t))
    names = [s.name for s in specs]
    for i, n in enumerate(names):
        if n in names[:i]:
            raise error_for(501, f"component {specs[i].cls.__name__} is given twice")
    return specs


def _assemble(layout: TableLayout, columns: Mapping[str, pa.Array]) -> pa.RecordBatch:
    """The component batch of ``layout`` from arrays keyed by column name (nulls checked)."""
    schema = layout.component_columns
    arrays = []
    for field in schema:
        array = columns.get(field.name)
        if array is None:
            raise error_for(154, f"missing column {field.name} for table {layout.name}",
                            column=field.name, table=layout.name)
        arrays.append(array)
    batch = pa.RecordBatch.from_arrays(arrays, schema=schema)
    check_no_nulls(batch)
    return batch


def _rows_without_columns(n: int) -> pa.RecordBatch:
    """An ``n``-row batch with no columns: the component batch of the empty signature."""
    return pa.RecordBatch.from_struct_array(pa.repeat(pa.scalar({}, type=pa.struct([])), n))


class Mutations:
    """Mutation operations of one world (shared by ``World`` methods and ``ctx`` commands)."""

    def __init__(self, kernel: Any, hooks: HookRegistry, world_id: str) -> None:
        self.kernel = kernel
        self.hooks = hooks
        self.world_id = world_id
        self._layouts: dict[str, TableLayout] = {}
        self._registered: set[str] = set()

    # -- tables -------------------------------------------------------------------------------

    def layout(self, name: str) -> TableLayout:
        """The layout of a table registered in the kernel (150 if unknown)."""
        layout = self._layouts.get(name)
        if layout is None:
            layout = layout_from_schema(name, self.kernel.table_schema(name))
            self._layouts[name] = layout
        return layout

    def ensure_registered(self, layout: TableLayout) -> None:
        if layout.name in self._registered:
            return
        self.kernel.register_table(layout.name, layout.schema)
        self._registered.add(layout.name)
        self._layouts[layout.name] = layout

    # -- building batches ---------------------------------------------------------------------

    def plan_spawn(self, components: Sequence[Any]) -> SpawnPlan:
        """One entity from component instances (none → the empty signature)."""
        specs = _instances(components, "spawn()")
        layout = layout_for([s.cls for s in specs])
        columns: dict[str, pa.Array] = {}
        for spec, instance in zip(specs, components):
            for field, value in zip(spec.columns, spec.values(instance)):
                columns[field.name] = broadcast_column(value, field, 1)
        return SpawnPlan(layout, self._with_rows(layout, columns, 1), layout.classes())

    def plan_spawn_batch(self, data: Any, components: Optional[Sequence[type]],
                         entity_ids: Any) -> SpawnPlan:
        """Either form of ``spawn_batch`` (§8.3) → a plan (nothing staged yet)."""
        ids = None if entity_ids is None else as_entity_ids(entity_ids, allow_duplicates=True,
                                                            what="entity_ids")
        if components is not None:
            return self._plan_from_data(data, components, ids)
        if not isinstance(data, Mapping):
            raise error_for(8, "spawn_batch() takes {ComponentClass: {field: values}} or data with "
                               "components=[...]; got " + type(data).__name__)
        return self._plan_from_mapping(data, ids)

    def _plan_from_mapping(self, columns: Mapping[Any, Any], ids: Optional[np.ndarray]) -> SpawnPlan:
        specs = _component_types(list(columns.keys()), "spawn_batch()")
        layout = layout_for([s.cls for s in specs])
        given: list[tuple[ComponentSpec, Mapping[str, Any]]] = []
        for spec in specs:
            values = columns[spec.cls]
            if not isinstance(values, Mapping):
                raise error_for(8, f"spawn_batch(): the value for {spec.cls.__name__} must map field "
                                   f"names to arrays, got {type(values).__name__}")
            for key in values:
                if key not in spec.field_names:
                    col = spec.prefix + str(key)
                    raise error_for(156, f"unexpected column {col}: {spec.cls.__name__} has no field {key!r}",
                                    column=col, table=layout.name)
            given.append((spec, values))

        lengths = {len(v) for _, values in given for v in values.values() if is_array_like(v)}
        if len(lengths) > 1:
            raise error_for(254, f"spawn_batch(): columns have different lengths {sorted(lengths)}",
                            expected=min(lengths), actual=max(lengths))
        if lengths:
            n = lengths.pop()
        elif ids is not None:
            n = len(ids)
        else:
            raise error_for(8, "spawn_batch(): cannot infer the number of entities from scalars alone; "
                               "give at least one array or entity_ids")

        out: dict[str, pa.Array] = {}
        for spec, values in given:
            if spec.is_tag:
                out[spec.columns[0].name] = broadcast_column(True, spec.columns[0], n)
                continue
            for fname, field in zip(spec.field_names, spec.columns):
                if fname in values:
                    v = values[fname]
                    out[field.name] = (column_from_values(v, field) if is_array_like(v)
                                       else broadcast_column(v, field, n))
                elif spec.has_default(fname):
                    out[field.name] = broadcast_column(spec.default(fname), field, n)
                else:
                    raise error_for(154, f"missing column {field.name}: {spec.cls.__name__}.{fname} has no "
                                         f"default", column=field.name, table=layout.name)
        return SpawnPlan(layout, self._with_rows(layout, out, n), layout.classes(), ids)

    def _plan_from_data(self, data: Any, components: Sequence[type], ids: Optional[np.ndarray]) -> SpawnPlan:
        specs = _component_types(list(components), "spawn_batch()")
        layout = layout_for([s.cls for s in specs])
        table = as_table(data)
        wanted = {f.name: f for f in layout.component_columns}
        for name in table.column_names:
            if name not in wanted:
                why = "a base column, written by the kernel" if name in BASE_NAMES else "not a column of the table"
                raise error_for(156, f"unexpected column {name} ({why})", column=name, table=layout.name)
        n = table.num_rows
        out: dict[str, pa.Array] = {}
        for spec in specs:
            if spec.is_tag:
                field = spec.columns[0]
                out[field.name] = (coerce_column(table.column(field.name), field)
                                   if field.name in table.column_names else broadcast_column(True, field, n))
                continue
            for fname, field in zip(spec.field_names, spec.columns):
                if field.name in table.column_names:
                    out[field.name] = coerce_column(table.column(field.name), field)
                elif spec.has_default(fname):
                    out[field.name] = broadcast_column(spec.default(fname), field, n)
                else:
                    raise error_for(154, f"missing column {field.name}", column=field.name, table=layout.name)
        return SpawnPlan(layout, self._with_rows(layout, out, n), layout.classes(), ids)

    @staticmethod
    def _with_rows(layout: TableLayout, columns: Mapping[str, pa.Array], n: int) -> pa.RecordBatch:
        if len(layout.component_columns) == 0:
            return _rows_without_columns(n)
        return _assemble(layout, columns)

    # -- spawns -------------------------------------------------------------------------------

    def execute_spawn(self, plan: SpawnPlan) -> np.ndarray:
        """Stage a planned spawn (one kernel call) and fire ``OnSpawn`` per entity."""
        self.ensure_registered(plan.layout)
        if plan.entity_ids is None:
            ids = np.asarray(self.kernel.spawn(plan.layout.name, plan.batch), dtype=np.int32)
        else:
            self.kernel.spawn_with_ids(plan.layout.name, plan.batch, plan.entity_ids)
            ids = plan.entity_ids
        classes = plan.classes
        self.hooks.fire_all(OnSpawn, (OnSpawn(self.world_id, int(e), classes) for e in ids))
        return ids

    def reserve_ids(self, n: Any) -> range:
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
            raise error_for(8, f"reserve_ids(n) needs an integer n >= 1, got {n!r}")
        first = int(self.kernel.reserve_ids(int(n)))
        return range(first, first + int(n))

    # -- despawn ------------------------------------------------------------------------------

    def despawn(self, ids: Any) -> None:
        arr = as_entity_ids(ids)
        if arr.size == 0:
            return
        self.kernel.despawn(arr)
        self.hooks.fire_all(OnDespawn, (OnDespawn(self.world_id, int(e)) for e in arr))

    # -- migrations ---------------------------------------------------------------------------

    def locate(self, ids: np.ndarray) -> tuple[list[tuple[str, np.ndarray]], np.ndarray]:
        """Group ``ids`` by current table (first-appearance order) and say which are staged.

        Returns ``([(table, positions into ids)], staged mask)``; 251 names the first unknown id.
        """
        reg = self.kernel.registry()
        reg_ids = reg.column("entity_id").to_numpy(zero_copy_only=False)
        if len(reg_ids) == 0:
            raise error_for(251, f"entity {int(ids[0])} is not registered", entity_id=int(ids[0]))
        pos = np.minimum(np.searchsorted(reg_ids, ids), len(reg_ids) - 1)
        found = reg_ids[pos] == ids
        if not found.all():
            bad = int(ids[np.flatnonzero(~found)[0]])
            raise error_for(251, f"entity {bad} is not registered", entity_id=bad)
        staged = reg.column("staged").to_numpy(zero_copy_only=False)[pos].astype(bool)
        encoded = pc.dictionary_encode(reg.column("table").take(pa.array(pos)))
        codes = encoded.indices.to_numpy(zero_copy_only=False)
        names = encoded.dictionary.to_pylist()
        groups = [(names[k], np.flatnonzero(codes == k)) for k in range(len(names))]
        return groups, staged

    def current_rows(self, table: str, ids: np.ndarray, staged: np.ndarray) -> pa.Table:
        """Latest visible rows of ``ids`` (all in ``table``), in the order of ``ids``."""
        parts = []
        if staged.any():
            parts.append(self.kernel.query(table, "staged", entity_ids=ids[staged].tolist()))
        if (~staged).any():
            parts.append(self.kernel.query(table, "live", entity_ids=ids[~staged].tolist()))
        rows = parts[0] if len(parts) == 1 else pa.concat_tables(parts)
        index = pc.index_in(pa.array(ids, type=pa.int32()), value_set=rows.column("entity_id"))
        if index.null_count:
            missing = int(ids[np.flatnonzero(np.asarray(index.is_null()))[0]])
            raise error_for(250, f"entity {missing} is registered in table {table} but has neither a staged "
                                 f"nor a live row", entity_id=missing, table=table)
        return rows.take(index)

    def update(self, ids: Any, components: Sequence[Any]) -> None:
        """Overlay component values on the latest visible rows; same-table migration [D4]."""
        specs = _instances(components, "update()")
        _check_distinct(specs)

        def target(current: tuple[type, ...], entity: int) -> tuple[type, ...]:
            names = {component_spec(c).name for c in current}
            for spec in specs:
                if spec.name not in names:
                    raise error_for(502, f"entity {entity} has no {spec.cls.__name__} component to update",
                                    entity_id=entity)
            return current

        self._migrate(ids, target, specs, components, added_event=False)

    def add_components(self, ids: Any, components: Sequence[Any]) -> None:
        """Sorted union of signatures; values of present components are replaced [D15]."""
        specs = _instances(components, "add_components()")
        _check_distinct(specs)

        def target(current: tuple[type, ...], entity: int) -> tuple[type, ...]:
            names = {component_spec(c).name for c in current}
            return current + tuple(s.cls for s in specs if s.name not in names)

        self._migrate(ids, target, specs, components, added_event=True)

    def remove_components(self, ids: Any, types_: Sequence[Any]) -> None:
        """Sorted difference of signatures; every type must be present (502) [D15]."""
        specs = _component_types(types_, "remove_components()")
        removing = {s.name for s in specs}

        def target(current: tuple[type, ...], entity: int) -> tuple[type, ...]:
            names = {component_spec(c).name for c in current}
            for spec in specs:
                if spec.name not in names:
                    raise error_for(502, f"entity {entity} has no {spec.cls.__name__} component to remove",
                                    entity_id=entity)
            return tuple(c for c in current if component_spec(c).name not in removing)

        self._migrate(ids, target, [], [], added_event=False, removed=tuple(s.cls for s in specs))

    def _migrate(self, ids: Any, target: Callable[[tuple[type, ...], int], tuple[type, ...]],
                 specs: Sequence[ComponentSpec], instances: Sequence[Any], *, added_event: bool,
                 removed: tuple[type, ...] = ()) -> None:
        arr = as_entity_ids(ids)
        if arr.size == 0:
            return
        groups, staged = self.locate(arr)
        if not specs and not removed:
            return  # nothing to change; the ids were still validated

        # Build every batch first: nothing reaches the kernel unless all of them are valid.
        pieces: dict[str, list[tuple[np.ndarray, pa.RecordBatch]]] = {}
        layouts: dict[str, TableLayout] = {}
        added: dict[int, tuple[type, ...]] = {}
        given = {s.name: (s, inst) for s, inst in zip(specs, instances)}
        for table, positions in groups:
            source = self.layout(table)
            current_classes = source.classes()
            group_ids = arr[positions]
            new_classes = target(current_classes, int(group_ids[0]))
            dest = layout_for(new_classes)
            rows = self.current_rows(table, group_ids, staged[positions])
            n = len(group_ids)
            columns: dict[str, pa.Array] = {}
            for cls in dest.classes():
                spec = component_spec(cls)
                if spec.name in given:
                    gspec, inst = given[spec.name]
                    for field, value in zip(gspec.columns, gspec.values(inst)):
                        columns[field.name] = broadcast_column(value, field, n)
                else:
                    for field in spec.columns:
                        columns[field.name] = coerce_column(rows.column(field.name), field)
            batch = self._with_rows(dest, columns, n)
            pieces.setdefault(dest.name, []).append((positions, batch))
            layouts[dest.name] = dest
            if added_event:
                old = {component_spec(c).name for c in current_classes}
                new = tuple(s.cls for s in specs if s.name not in old)
                if new:
                    for e in group_ids:
                        added[int(e)] = new

        calls = []
        for name, parts in pieces.items():
            positions = np.concatenate([p for p, _ in parts])
            order = np.argsort(positions, kind="stable")
            if len(parts) == 1:
                batch = parts[0][1]
            else:
                batch = pa.concat_batches([b for _, b in parts]).take(pa.array(order))
            calls.append((layouts[name], batch, arr[positions[order]]))

        for layout, batch, call_ids in calls:
            self.ensure_registered(layout)
        for layout, batch, call_ids in calls:
            self.kernel.migrate(layout.name, batch, call_ids)

        if added:
            self.hooks.fire_all(OnComponentAdded, (OnComponentAdded(self.world_id, int(e), added[int(e)])
                                                   for e in arr if int(e) in added))
        if removed:
            self.hooks.fire_all(OnComponentRemoved, (OnComponentRemoved(self.world_id, int(e), removed)
                                                     for e in arr))


def _check_distinct(specs: Iterable[ComponentSpec]) -> None:
    seen: set[str] = set()
    for spec in specs:
        if spec.name in seen:
            raise error_for(501, f"component {spec.cls.__name__} is given twice")
        seen.add(spec.name)
