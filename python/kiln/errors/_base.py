"""The two roots of every Kiln exception and warning, and the behaviour they share.

Every catalog class (generated into :mod:`kiln.errors._generated`) derives from :class:`KilnError`
or :class:`KilnWarning`. The catalog attributes (``code``, ``number``, ``name``, ...) are plain
class attributes written by the generator; an instance of a class shared by several codes (the
world's ``StoreError`` covers K0200-K0206) receives the attributes of its own code when
:func:`kiln.errors.error_for` binds it.
"""
from __future__ import annotations

import math
from typing import Any, ClassVar, Optional

# RFC 9457 members (plus "code", which Kiln adds); a details key with one of these names is
# emitted as "detail_<key>" so it never overwrites a standard member.
_PROBLEM_MEMBERS = frozenset({"type", "title", "status", "detail", "instance", "code"})


class _Alias:
    """A read-only alias that works on the class and on instances (``abi_code`` -> ``number``)."""

    def __init__(self, target: str) -> None:
        self.target = target

    def __get__(self, obj: Any, objtype: Optional[type] = None) -> Any:
        return getattr(objtype if obj is None else obj, self.target)


class _CatalogMixin:
    """Catalog attributes, details, ``str``, RFC 9457 problem details and pickling.

    Shared by :class:`KilnError` and :class:`KilnWarning`. ``__slots__ = ()`` keeps the mixin
    layout-free, so it combines with any builtin exception (``OSError``, ``MemoryError``, ...).
    """

    __slots__ = ()

    # Catalog attributes: every generated class sets all of them, so nothing leaks from a parent.
    numbers: ClassVar[tuple[int, ...]] = ()
    code: Optional[str] = None
    number: Optional[int] = None
    abi_code = _Alias("number")
    name: Optional[str] = None
    category: Optional[str] = None
    severity: str = "error"
    summary: Optional[str] = None
    doc_url: Optional[str] = None

    # Names of details keys mirrored as attributes, declared per class; merged along the MRO.
    _detail_attrs: ClassVar[tuple[str, ...]] = ()
    _all_detail_attrs: ClassVar[tuple[str, ...]] = ()

    message: str
    details: dict[str, Any]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        merged: list[str] = []
        for klass in reversed(cls.__mro__):
            for attr in vars(klass).get("_detail_attrs", ()):
                if attr not in merged:
                    merged.append(attr)
        cls._all_detail_attrs = tuple(merged)

    def __init__(self, message: str = "", /, **details: Any) -> None:
        # Positional-only ``message``: a details key may be called anything, even "message".
        super().__init__(message)
        self.message = message
        self.details = details
        for attr in self._all_detail_attrs:
            setattr(self, attr, details.get(attr))
        cause = details.get("cause")
        if isinstance(cause, BaseException) and self.__cause__ is None:
            self.__cause__ = cause

    def _bind(self, number: int) -> None:
        """Give this instance the catalog attributes of ``number`` (one of its class's codes)."""
        from kiln.errors._generated import ENTRIES

        if number not in self.numbers:
            raise ValueError(f"{type(self).__name__} does not cover error number {number}")
        code, name, category, severity, summary, doc_url = ENTRIES[number]
        self.number, self.code, self.name, self.category = number, code, name, category
        self.severity, self.summary, self.doc_url = severity, summary, doc_url

    def __str__(self) -> str:
        if self.code is None:
            return self.message
        return f"{self.code} {self.name}: {self.message}"

    def to_problem(self, status: Optional[int] = None) -> dict[str, Any]:
        """RFC 9457 problem details: type = doc URL, title = summary, detail = message,
        optional status, plus ``code`` and the details as extension members (JSON-safe)."""
        problem: dict[str, Any] = {
            "type": self.doc_url or "about:blank",
            "title": self.summary or type(self).__name__,
            "detail": self.message,
        }
        if status is not None:
            problem["status"] = int(status)
        if self.code is not None:
            problem["code"] = self.code
        for key, value in self.details.items():
            problem[f"detail_{key}" if key in _PROBLEM_MEMBERS else key] = _json_safe(value)
        return problem

    def __reduce__(self) -> tuple:
        # Rebuild through the class and its number rather than BaseException's (cls, args): the
        # details are keyword arguments, OSError's args have another meaning, and a shared class
        # must get its specific code back. __dict__ carries notes and any attributes set later.
        state = {k: v for k, v in self.__dict__.items()}
        return (_restore, (type(self), self.number, self.message, self.details), state)


def _restore(cls: type, number: Optional[int], message: str, details: dict[str, Any]) -> Any:
    """Unpickle a catalog exception (module-level so that pickle can find it)."""
    exc = cls(message, **details)
    if number is not None and exc.number != number:
        exc._bind(number)
    return exc


def _json_safe(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)   # JSON has no NaN or Infinity
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset, range)):
        return [_json_safe(v) for v in value]
    if isinstance(value, BaseException):
        return str(value) if isinstance(value, _CatalogMixin) else f"{type(value).__name__}: {value}"
    return str(value)


class KilnError(_CatalogMixin, Exception):
    """Base class of every Kiln error.

    Engine classes derive from it (``kiln.world.errors.WorldError``, :class:`CoreError`,
    :class:`PopgenError`, :class:`ArenaError`, :class:`FormulaError`, :class:`AnnealError`,
    :class:`BenchError`, :class:`KilnInternalError`), area classes from those, and each code's
    class from its area class and its builtin (``except LookupError`` still works).

    Class and instance attributes: ``code`` ("K0251"), ``number`` (alias ``abi_code``),
    ``name``, ``category``, ``severity``, ``summary``, ``doc_url``; instances add ``message``,
    ``details`` and the typed attributes of their class, which mirror keys of ``details``.
    ``str(err)`` is ``"K0251 ARCT_ERR_UNKNOWN_ENTITY: <message>"``.
    """

    __module__ = "kiln.errors"


class KilnWarning(_CatalogMixin, UserWarning):
    """Base class of every Kiln warning (catalog entries with ``severity = "warning"``)."""

    __module__ = "kiln.errors"
    severity = "warning"
