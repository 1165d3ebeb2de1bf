"""Module-level store helpers (specs/world.md §8.2): reading a namespace without opening a world.

``list_worlds``, ``recover`` and ``published_tick`` delegate to the pure-Python store functions
of ``kiln.world.reference`` (the Parquet layout is identical for both backends, §9.1).
``read_ledger`` adds component selection on top of the per-table reader: it takes no lock and
admits only ticks up to the published watermark, so it is safe on a store another process is
writing.
"""
from __future__ import annotations

import os
from typing import Any, Optional, Sequence

import pyarrow as pa

from kiln.errors import error_for
from kiln.world.reads import ReadRequest, normalize_entity_ids, normalize_ticks, store_table_layouts
from kiln.world.tables import TableLayout, layout_from_schema

__all__ = ["list_worlds", "recover", "published_tick", "read_ledger"]


def _reference() -> Any:
    from kiln.world import reference

    return reference


def list_worlds(root: str | os.PathLike, namespace: str = "default") -> list:
    """Every (world_id, run_id) with commits in ``root/namespace``:
    ``WorldInfo(world_id, run_id, last_tick, next_entity_id, created_at)``."""
    return _reference().list_worlds(os.fspath(root), namespace)


def recover(root: str | os.PathLike, namespace: str = "default") -> Any:
    """Run crash recovery (§5.5) for every world of the namespace whose lock is free."""
    return _reference().recover(os.fspath(root), namespace)


def published_tick(root: str | os.PathLike, namespace: str, world_id: str, run_id: str) -> Optional[int]:
    """The last fully published tick of (world_id, run_id), or ``None`` before the first commit."""
    return _reference().published_tick(os.fspath(root), namespace, world_id, run_id)


def read_ledger(root: str | os.PathLike, namespace: str = "default", *, table: Optional[str] = None,
                components: Sequence[type] = (), world_id: str, run_id: str, ticks: Any = None,
                entity_ids: Any = None, active_only: bool = False) -> pa.Table:
    """Read committed rows of one world/run from a Parquet namespace (read-only, no lock).

    With ``table`` the rows of that table (all its columns, or only the base columns plus
    ``components`` if given); otherwise the component selection of ``World.history``: every
    table containing all ``components``, projected, in table-name order.
    """
    root = os.fspath(root)
    reference = _reference()
    filters = dict(world_id=world_id, run_id=run_id, entity_ids=normalize_entity_ids(entity_ids),
                   active_only=bool(active_only), **normalize_ticks(ticks))

    def read(layout: TableLayout, **f: Any) -> pa.Table:
        return reference.read_ledger_table(root, namespace, layout.name, **f)

    if table is not None:
        rows = reference.read_ledger_table(root, namespace, table, **filters)
        if not components:
            return rows
        request = ReadRequest(components)
        layout = layout_from_schema(table, rows.schema)
        if not layout.has_all(request.names):
            missing = [n for n in request.names if n not in layout.component_names]
            raise error_for(502, f"table {table} has no {missing[0]} component", table=table)
        return request.project(rows, layout)

    request = ReadRequest(components)
    return request.read_all(store_table_layouts(root, namespace), read, **filters)
