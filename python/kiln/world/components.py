"""Components: ``@kiln.component`` classes and their Arrow columns (specs/world.md §2.2).

A component is a dataclass (``slots=True``, not frozen, defaults allowed) whose type hints map to
Arrow types. The kernel never sees classes: to it a component is a run of prefixed columns
(``Position.x`` → ``position__x``). This module owns that translation and the process-wide
registry of components by lowercase name (one registration per name, so a column prefix is never
ambiguous across the process [D14]).
"""
from __future__ import annotations

import dataclasses
import sys
import types
import typing
from dataclasses import dataclass
from typing import Annotated, Any, Optional, Union, get_args, get_origin

import pyarrow as pa

from kiln.errors import error_for

__all__ = [
    "ComponentSpec",
    "component",
    "component_spec",
    "is_component",
    "lookup_component",
    "arrow_type_for_hint",
]

#: Class attribute holding the :class:`ComponentSpec` of a decorated class.
SPEC_ATTR = "__kiln_component__"

# Process-wide registry: component name (lowercase class name) → class.
_REGISTRY: dict[str, type] = {}

_SCALARS: dict[type, pa.DataType] = {
    # bool first in spirit: bool is a subclass of int, so lookups below use exact identity.
    bool: pa.bool_(),
    int: pa.int64(),
    float: pa.float64(),
    str: pa.string(),
    bytes: pa.binary(),
}


@dataclass(frozen=True)
class ComponentSpec:
    """What the world needs to know about one component class.

    ``fields`` are the unprefixed Arrow fields (used when the class is nested as a struct);
    ``columns`` are the prefixed table columns; a tag has no ``field_names`` and one
    ``<name>__tag`` column.
    """

    cls: type
    name: str
    field_names: tuple[str, ...]
    fields: tuple[pa.Field, ...]
    columns: tuple[pa.Field, ...]
    defaults: dict[str, Any]

    @property
    def is_tag(self) -> bool:
        return not self.field_names

    @property
    def prefix(self) -> str:
        return self.name + "__"

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.columns)

    def column_for(self, field_name: str) -> str:
        return self.prefix + field_name

    def has_default(self, field_name: str) -> bool:
        return field_name in self.defaults

    def default(self, field_name: str) -> Any:
        """The declared default of a field (a fresh value when it has a default_factory)."""
        d = self.defaults[field_name]
        return d.default_factory() if isinstance(d, _Factory) else d

    def values(self, instance: Any) -> list[Any]:
        """Column values of one instance, in column order (a tag is always ``True``)."""
        if self.is_tag:
            return [True]
        return [to_plain(getattr(instance, f)) for f in self.field_names]


@dataclass(frozen=True)
class _Factory:
    default_factory: Any


def _component_error(number: int, message: str, **details: Any) -> Exception:
    return error_for(number, message, **details)


def to_plain(value: Any) -> Any:
    """Turn nested dataclass instances (struct values) and tuples into what pyarrow converts."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [to_plain(v) for v in value]
    return value


def _split_optional(hint: Any) -> tuple[Any, bool]:
    """``T | None`` / ``Optional[T]`` → ``(T, True)``; anything else → ``(hint, False)``."""
    origin = get_origin(hint)
    if origin is Union or origin is types.UnionType:
        args = get_args(hint)
        non_none = [a for a in args if a is not type(None)]
        if len(non_none) == 1 and len(args) == 2:
            return non_none[0], True
    return hint, False


def arrow_type_for_hint(hint: Any, *, where: str = "hint", _stack: tuple[type, ...] = ()) -> tuple[pa.DataType, bool]:
    """Map one type hint to ``(Arrow type, nullable)`` as the table of §2.2 says.

    Raises ``ComponentError`` (500) for anything the table does not list.
    """
    origin = get_origin(hint)
    if origin is Annotated:
        base, *extras = get_args(hint)
        given = [e for e in extras if isinstance(e, pa.DataType)]
        if len(given) != 1:
            raise _component_error(
                500, f"{where}: Annotated[...] needs exactly one pyarrow DataType, got {extras!r}")
        # Nullability follows T; T itself need not be a mappable hint (the DataType decides).
        _, nullable = _split_optional(base)
        return given[0], nullable

    inner, nullable = _split_optional(hint)
    if nullable:
        arrow_type, _ = arrow_type_for_hint(inner, where=where, _stack=_stack)
        return arrow_type, True
    if origin is Union or origin is types.UnionType:
        raise _component_error(500, f"{where}: unsupported union hint {hint!r} (only T | None is allowed)")

    if isinstance(hint, type) and hint in _SCALARS:
        return _SCALARS[hint], False
    if origin is list:
        args = get_args(hint)
        if len(args) != 1:
            raise _component_error(500, f"{where}: list hints need one item type, got {hint!r}")
        item_type, item_nullable = arrow_type_for_hint(args[0], where=f"{where} item", _stack=_stack)
        return pa.list_(pa.field("item", item_type, item_nullable)), False
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        if hint in _stack:
            raise _component_error(500, f"{where}: {hint.__name__} contains itself")
        spec = getattr(hint, SPEC_ATTR, None)
        if spec is not None and spec.cls is hint:
            if spec.is_tag:
                raise _component_error(500, f"{where}: tag component {hint.__name__} has no fields to nest")
            return pa.struct(list(spec.fields)), False
        fields = _fields_of(hint, _stack + (hint,))
        if not fields:
            raise _component_error(500, f"{where}: dataclass {hint.__name__} has no fields to nest")
        return pa.struct([f for _, f, _ in fields]), False
    raise _component_error(500, f"{where}: unsupported type hint {hint!r}")


def _resolve_hints(cls: type) -> dict[str, Any]:
    """Type hints of ``cls`` with ``Annotated`` kept.

    Classes defined inside functions may name other local classes in string annotations
    (``from __future__ import annotations``); the caller frames' locals make those resolvable.
    """
    try:
        return typing.get_type_hints(cls, include_extras=True)
    except NameError:
        localns: dict[str, Any] = {}
        frame = sys._getframe(1)
        while frame is not None:
            for key, value in frame.f_locals.items():
                localns.setdefault(key, value)
            frame = frame.f_back
        try:
            return typing.get_type_hints(cls, localns=localns, include_extras=True)
        except Exception as exc:  # noqa: BLE001 - reported as a component definition error
            raise _component_error(500, f"cannot resolve the type hints of {cls.__name__}: {exc}") from exc
    except Exception as exc:  # noqa: BLE001
        raise _component_error(500, f"cannot resolve the type hints of {cls.__name__}: {exc}") from exc


def _fields_of(cls: type, stack: tuple[type, ...]) -> list[tuple[str, pa.Field, Any]]:
    """``(field name, unprefixed Arrow field, dataclass default marker)`` per dataclass field."""
    hints = _resolve_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        hint = hints.get(f.name, f.type)
        arrow_type, nullable = arrow_type_for_hint(hint, where=f"{cls.__name__}.{f.name}", _stack=stack)
        if f.default is not dataclasses.MISSING:
            default: Any = f.default
        elif f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
            default = _Factory(f.default_factory)  # type: ignore[misc]
        else:
            default = dataclasses.MISSING
        out.append((f.name, pa.field(f.name, arrow_type, nullable), default))
    return out


def _build_spec(cls: type) -> ComponentSpec:
    name = cls.__name__.lower()
    fields = _fields_of(cls, (cls,))
    if fields:
        columns = tuple(pa.field(name + "__" + n, f.type, f.nullable) for n, f, _ in fields)
    else:
        # A tag still needs a column: otherwise different tags would share schemas, table names
        # and column-based processor matches [D13].
        columns = (pa.field(name + "__tag", pa.bool_(), False),)
    return ComponentSpec(
        cls=cls,
        name=name,
        field_names=tuple(n for n, _, _ in fields),
        fields=tuple(f for _, f, _ in fields),
        columns=columns,
        defaults={n: d for n, _, d in fields if d is not dataclasses.MISSING},
    )


def component(cls: type | None = None, /):
    """Class decorator: make ``cls`` a world component.

    The class becomes a dataclass (``slots=True``, mutable, defaults allowed); its Arrow columns
    are derived from its type hints. Re-decorating a class of an already registered name
    replaces the registration if the columns are equal (module reload) and raises
    ``ComponentError`` (501) otherwise. Unsupported hints and ``__`` in the class name raise
    ``ComponentError`` (500); in every error case nothing is registered.
    """
    if cls is None:
        return component
    if not isinstance(cls, type):
        raise _component_error(500, f"@kiln.component decorates classes, got {cls!r}")
    if "__" in cls.__name__:
        raise _component_error(
            500, f"component class name {cls.__name__!r} contains '__'; column prefixes must split uniquely")
    if "__slots__" in cls.__dict__ and dataclasses.is_dataclass(cls):
        new_cls = cls  # already a slotted dataclass (e.g. decorated twice)
    else:
        new_cls = dataclasses.dataclass(cls, slots=True)
    spec = _build_spec(new_cls)

    existing = _REGISTRY.get(spec.name)
    if existing is not None:
        old = getattr(existing, SPEC_ATTR)
        if not pa.schema(list(old.columns)).equals(pa.schema(list(spec.columns))):
            raise _component_error(
                501,
                f"component name {spec.name!r} is already registered by {existing.__module__}."
                f"{existing.__qualname__} with different columns "
                f"({_describe(old.columns)} vs {_describe(spec.columns)})",
            )
    setattr(new_cls, SPEC_ATTR, spec)
    _REGISTRY[spec.name] = new_cls
    return new_cls


def _describe(columns: tuple[pa.Field, ...]) -> str:
    return ", ".join(f"{f.name}: {f.type}{'' if f.nullable else ' not null'}" for f in columns)


def is_component(obj: Any) -> bool:
    """True for a component class or an instance of one."""
    cls = obj if isinstance(obj, type) else type(obj)
    spec = getattr(cls, SPEC_ATTR, None)
    return spec is not None and spec.cls is cls


def component_spec(obj: Any) -> ComponentSpec:
    """The spec of a component class or instance; ``ComponentError`` (500) for anything else."""
    cls = obj if isinstance(obj, type) else type(obj)
    spec = getattr(cls, SPEC_ATTR, None)
    if spec is None or spec.cls is not cls:
        what = cls.__name__ if isinstance(obj, type) else f"a {cls.__name__} instance"
        raise _component_error(500, f"{what} is not a @kiln.component class")
    return spec


def lookup_component(name: str) -> Optional[type]:
    """The registered class of a component name (lowercase or as ``__name__``), or ``None``."""
    return _REGISTRY.get(name.lower())
