"""Signatures, table schemas and table names (specs/world.md §2.1, §2.3, §2.4).

The Python layer decides table names; the kernel accepts any valid name. A table is described by
a :class:`TableLayout`: its name, its registered schema and the component names of its signature.
Layouts come either from component classes (spawns, migrations) or from a schema the kernel or a
store returns (resumed worlds, ledgers written elsewhere); the second kind may name components
whose classes are not defined in this process.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterable, Optional

import pyarrow as pa

from kiln.errors import error_for
from kiln.world.components import component_spec, lookup_component

__all__ = [
    "BASE_FIELDS",
    "BASE_NAMES",
    "BASE_SCHEMA",
    "SIGNATURE_KEY",
    "TableLayout",
    "layout_for",
    "layout_from_schema",
    "signature_of",
    "table_name_for_schema",
]

BASE_FIELDS = (
    pa.field("world_id", pa.string(), False),
    pa.field("run_id", pa.string(), False),
    pa.field("entity_id", pa.int32(), False),
    pa.field("tick", pa.int32(), False),
    pa.field("is_active", pa.bool_(), False),
)
BASE_NAMES = tuple(f.name for f in BASE_FIELDS)
BASE_SCHEMA = pa.schema(list(BASE_FIELDS))

#: Schema metadata key holding the JSON list of the signature's class ``__name__``s.
SIGNATURE_KEY = b"kiln.signature"


def signature_of(classes: Iterable[type]) -> tuple[type, ...]:
    """Sorted signature of component classes (code-point order of ``__name__``).

    A component given twice raises ``ComponentError`` (501): one entity holds one value per
    component.
    """
    specs = [component_spec(c) for c in classes]
    seen: dict[str, type] = {}
    for spec in specs:
        if spec.name in seen:
            raise error_for(501, f"component {spec.cls.__name__} is given twice")
        seen[spec.name] = spec.cls
    return tuple(sorted((s.cls for s in specs), key=lambda c: c.__name__))


def table_name_for_schema(schema: pa.Schema, n_components: int) -> str:
    """``a_{N}c_s{H}``: H = first 16 hex digits of SHA-256 of ``str(schema)`` without metadata."""
    bare = pa.schema([pa.field(f.name, f.type, f.nullable) for f in schema])
    digest = hashlib.sha256(str(bare).encode("utf-8")).hexdigest()[:16]
    return f"a_{n_components}c_s{digest}"


@dataclass(frozen=True)
class TableLayout:
    """One table as the Python layer sees it.

    ``component_names`` are lowercase component names in signature order; ``class_names`` the
    corresponding ``__name__``s as stored in the schema metadata.
    """

    name: str
    schema: pa.Schema
    component_names: tuple[str, ...]
    class_names: tuple[str, ...]

    @property
    def component_columns(self) -> pa.Schema:
        """The schema without the five base columns (what spawn/migrate batches carry)."""
        return pa.schema([f for f in self.schema if f.name not in BASE_NAMES])

    def columns_of(self, component_name: str) -> list[pa.Field]:
        prefix = component_name + "__"
        return [f for f in self.schema if f.name.startswith(prefix)]

    def has_all(self, component_names: Iterable[str]) -> bool:
        mine = set(self.component_names)
        return all(n in mine for n in component_names)

    def classes(self) -> tuple[type, ...]:
        """The component classes of the signature; ``ComponentError`` (503) if one is undefined."""
        out = []
        for cname in self.class_names:
            cls = lookup_component(cname)
            if cls is None:
                raise error_for(
                    503,
                    f"table {self.name} names component {cname!r}, which is not defined in this "
                    f"process; define its @kiln.component class before using the table",
                    table=self.name,
                )
            out.append(cls)
        return tuple(out)

    def classes_or_names(self) -> tuple[object, ...]:
        """Like :meth:`classes`, but an undefined component stays as its class name (for listings)."""
        return tuple(lookup_component(c) or c for c in self.class_names)


@lru_cache(maxsize=None)
def _layout_for_signature(signature: tuple[type, ...]) -> TableLayout:
    specs = [component_spec(c) for c in signature]
    fields = list(BASE_FIELDS)
    for spec in specs:
        fields.extend(spec.columns)
    class_names = tuple(c.__name__ for c in signature)
    schema = pa.schema(fields, metadata={SIGNATURE_KEY: json.dumps(list(class_names)).encode("utf-8")})
    return TableLayout(
        name=table_name_for_schema(schema, len(signature)),
        schema=schema,
        component_names=tuple(s.name for s in specs),
        class_names=class_names,
    )


def layout_for(classes: Iterable[type]) -> TableLayout:
    """The table of a set of component classes (order-invariant)."""
    return _layout_for_signature(signature_of(classes))


def layout_from_schema(name: str, schema: pa.Schema) -> TableLayout:
    """Rebuild a layout from a registered or stored schema.

    The signature comes from the ``kiln.signature`` metadata; a schema without it (a table
    registered through the C ABI, say) falls back to the distinct column prefixes.
    """
    class_names: Optional[tuple[str, ...]] = None
    meta = schema.metadata or {}
    raw = meta.get(SIGNATURE_KEY)
    if raw is not None:
        try:
            decoded = json.loads(raw.decode("utf-8"))
            if isinstance(decoded, list) and all(isinstance(x, str) for x in decoded):
                class_names = tuple(decoded)
        except (UnicodeDecodeError, ValueError):
            class_names = None
    if class_names is None:
        prefixes: list[str] = []
        for f in schema:
            if f.name in BASE_NAMES or "__" not in f.name:
                continue
            p = f.name.split("__", 1)[0]
            if p not in prefixes:
                prefixes.append(p)
        class_names = tuple(prefixes)
    return TableLayout(
        name=name,
        schema=schema,
        component_names=tuple(c.lower() for c in class_names),
        class_names=class_names,
    )
