"""Component-selected reads over several tables (specs/world.md §8.6) and ``LedgerScan``.

A read names component classes, not tables: it covers every table whose signature contains all
of them, projected to the base columns plus the requested components' columns (components in
signature order, whatever the argument order), tables concatenated in name order, rows as stored
(tick order). No components → every table, base columns only. No matching table → an empty table
with the projected schema, not an error [D19].

Tables are matched by component *name*, so ledgers whose classes are not defined in this process
(another program's, or a resumed world before its classes are imported) can still be read.
"""
from __future__ import annotations

import os
from typing import Any, Callable, Iterable, Iterator, Optional, Sequence

import numpy as np
import pyarrow as pa

from kiln.errors import error_for
from kiln.world.components import ComponentSpec, component_spec
from kiln.world.conversion import as_entity_ids
from kiln.world.tables import BASE_FIELDS, TableLayout, layout_from_schema

__all__ = ["ReadRequest", "LedgerScan", "normalize_ticks", "normalize_entity_ids", "store_table_layouts"]

#: ``read(layout, **filters) -> pa.Table`` — one table's rows with its full schema.
TableReader = Callable[..., pa.Table]


def normalize_ticks(ticks: Any) -> dict[str, Any]:
    """``ticks`` as the kernel's filter keywords: ``ticks=[...]`` or inclusive ``tick_range``.

    An int is one tick; a ``range`` with step 1 is the inclusive range ``[start, stop - 1]``
    (other steps are expanded); any other iterable of ints is a list.
    """
    if ticks is None:
        return {"ticks": None, "tick_range": None}
    if isinstance(ticks, bool):
        raise error_for(8, "ticks must be an int, a list of ints or a range, got bool")
    if isinstance(ticks, (int, np.integer)):
        return {"ticks": [int(ticks)], "tick_range": None}
    if isinstance(ticks, range):
        if ticks.step == 1:
            if len(ticks) == 0:
                return {"ticks": [], "tick_range": None}
            return {"ticks": None, "tick_range": (ticks.start, ticks.stop - 1)}
        return {"ticks": list(ticks), "tick_range": None}
    try:
        values = list(np.asarray(ticks).reshape(-1)) if isinstance(ticks, np.ndarray) else list(ticks)
    except TypeError as exc:
        raise error_for(8, f"ticks must be an int, a list of ints or a range, got {type(ticks).__name__}") from exc
    out = []
    for v in values:
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
            raise error_for(8, f"ticks must hold integers, got {v!r}")
        out.append(int(v))
    return {"ticks": out, "tick_range": None}


def normalize_entity_ids(entity_ids: Any) -> Optional[list[int]]:
    """``None`` (no predicate), or a list (a present empty list matches nothing)."""
    if entity_ids is None:
        return None
    return as_entity_ids(entity_ids, allow_duplicates=True, what="entity_ids").tolist()


class ReadRequest:
    """One component selection: which tables, which columns, which schema."""

    def __init__(self, components: Sequence[Any]) -> None:
        specs: list[ComponentSpec] = []
        for c in components:
            if not isinstance(c, type):
                raise error_for(500, f"reads take component classes, got a {type(c).__name__} instance")
            spec = component_spec(c)
            if any(s.name == spec.name for s in specs):
                raise error_for(501, f"component {spec.cls.__name__} is given twice")
            specs.append(spec)
        self.specs = sorted(specs, key=lambda s: s.cls.__name__)
        fields = list(BASE_FIELDS)
        for spec in self.specs:
            fields.extend(spec.columns)
        self.schema = pa.schema(fields)
        self.names = [s.name for s in self.specs]

    def select(self, layouts: Iterable[TableLayout]) -> list[TableLayout]:
        return sorted((lay for lay in layouts if lay.has_all(self.names)), key=lambda lay: lay.name.encode("utf-8"))

    def project(self, table: pa.Table, layout: TableLayout) -> pa.Table:
        try:
            columns = [table.column(name) for name in self.schema.names]
            return pa.Table.from_arrays(columns, schema=self.schema)
        except (KeyError, pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise error_for(155, f"table {layout.name} stores the requested components with other columns "
                                 f"or types than this process defines: {exc}", table=layout.name) from exc

    def empty(self) -> pa.Table:
        return self.schema.empty_table()

    def read_all(self, layouts: Iterable[TableLayout], read: TableReader, **filters: Any) -> pa.Table:
        parts = [self.project(read(lay, **filters), lay) for lay in self.select(layouts)]
        parts = [p for p in parts if p.num_rows] or [self.empty()]
        return parts[0] if len(parts) == 1 else pa.concat_tables(parts)

    def batches(self, layouts: Iterable[TableLayout], read: TableReader, **filters: Any) -> Iterator[pa.RecordBatch]:
        for lay in self.select(layouts):
            table = self.project(read(lay, **filters), lay)
            yield from table.to_batches()


class LedgerScan:
    """A lazy, re-readable ledger read (``World.scan``).

    Every ``__arrow_c_stream__`` call starts a fresh, independent stream (DuckDB may scan twice);
    ``to_table()`` and ``to_batches()`` read everything at once.
    """

    def __init__(self, request: ReadRequest, layouts: Callable[[], list[TableLayout]], read: TableReader,
                 filters: dict[str, Any]) -> None:
        self._request = request
        self._layouts = layouts
        self._read = read
        self._filters = filters

    @property
    def schema(self) -> pa.Schema:
        return self._request.schema

    def _reader(self) -> pa.RecordBatchReader:
        return pa.RecordBatchReader.from_batches(
            self.schema, self._request.batches(self._layouts(), self._read, **self._filters))

    def __arrow_c_schema__(self) -> Any:
        return self.schema.__arrow_c_schema__()

    def __arrow_c_stream__(self, requested_schema: Any = None) -> Any:
        return self._reader().__arrow_c_stream__(requested_schema)

    def to_table(self) -> pa.Table:
        return self._request.read_all(self._layouts(), self._read, **self._filters)

    def to_batches(self) -> list[pa.RecordBatch]:
        return list(self._reader())

    def __repr__(self) -> str:
        return f"LedgerScan(schema=<{', '.join(self.schema.names)}>)"


def store_table_layouts(root: str, namespace: str, cache: Optional[dict[str, TableLayout]] = None) -> list[TableLayout]:
    """Layouts of every table directory of a Parquet namespace, from a visible part's stored schema.

    Only ``part-*.parquet`` files are opened (staged ``_tmp-…`` files never), and only their
    footers. A table's schema never changes (§5.3, 152), so ``cache`` may keep results.
    """
    import pyarrow.parquet as pq

    base = os.path.join(os.fspath(root), namespace)
    try:
        entries = sorted(os.listdir(base))
    except FileNotFoundError:
        return []
    except NotADirectoryError as exc:
        raise error_for(202, f"{base} is not a directory") from exc
    out = []
    for name in entries:
        if name.startswith(("_", ".")):
            continue
        if cache is not None and name in cache:
            out.append(cache[name])
            continue
        directory = os.path.join(base, name)
        if not os.path.isdir(directory):
            continue
        parts = sorted(f for f in os.listdir(directory) if f.startswith("part-") and f.endswith(".parquet"))
        if not parts:
            continue
        try:
            schema = pq.read_schema(os.path.join(directory, parts[0]))
        except (OSError, pa.ArrowInvalid) as exc:
            raise error_for(200, f"cannot read the schema of {os.path.join(directory, parts[0])}: {exc}",
                            table=name) from exc
        layout = layout_from_schema(name, schema)
        if cache is not None:
            cache[name] = layout
        out.append(layout)
    return out
