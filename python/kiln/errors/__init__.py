"""Kiln's error catalog in Python: exception classes, the error factory and ``explain``.

Every Kiln error has a code ``K`` + four digits (``K0251``) defined once in ``errors/catalog.toml``
(specs/formula.md part B). This package holds

* the roots :class:`KilnError` and :class:`KilnWarning` and the generated classes of every engine
  except the world's, which live in :mod:`kiln.world.errors`;
* :func:`error_for` -- the one factory every engine (and the nanobind error translator) uses to
  turn a catalog number and a message into the right exception instance;
* :func:`make_error` (render the catalog message from parameters), :func:`warn`;
* :func:`lookup` and :func:`explain` (what ``kiln explain`` prints), and the catalog API
  :class:`ErrorCatalog` / :class:`ErrorEntry`.

Example::

    >>> from kiln.errors import error_for
    >>> err = error_for(251, "entity 42 is not registered", entity_id=42)
    >>> str(err)
    'K0251 ARCT_ERR_UNKNOWN_ENTITY: entity 42 is not registered'
    >>> isinstance(err, LookupError), err.entity_id
    (True, 42)
"""
from __future__ import annotations

import json
import operator
import textwrap
import warnings
from typing import Any, Union

from kiln.errors._base import KilnError, KilnWarning
from kiln.errors._generated import *  # noqa: F401,F403  (every class whose home is kiln.errors)
from kiln.errors._generated import CLASSES as _CLASSES
from kiln.errors._generated import DOCS_BASE
from kiln.errors._generated import ENTRIES as _ENTRIES
from kiln.errors._generated import KilnInternalError
from kiln.errors._generated import __all__ as _GENERATED_CLASSES
from kiln.errors.catalog import ErrorCatalog, ErrorEntry

INTERNAL_ERROR = 9000
CATALOG_UNKNOWN_CODE = 1504


def error_for(number: int, message: str, /, **details: Any) -> KilnError:
    """The exception instance for catalog error ``number`` with ``message`` and ``details``.

    The class is the code's catalog class (a shared class such as the world's ``StoreError`` gets
    the specific code bound to the instance); details keys that the class declares become
    attributes, and a ``cause`` exception becomes ``__cause__``. An unknown number, or the success
    code 0, gives a :class:`KilnInternalError` (K9000) that keeps the original number, message and
    details in its ``details``. Warning codes return their :class:`KilnWarning` instance.
    """
    number = operator.index(number)
    cls = _CLASSES.get(number)
    if cls is None:
        what = "means success and cannot be raised" if number in _ENTRIES else "is not in the Kiln error catalog"
        return KilnInternalError(
            f"error number {number} {what}; original message: {message}",
            unknown_number=number, original_message=message, original_details=details)
    exc = cls(message, **details)
    if exc.number != number:
        exc._bind(number)
    return exc


def render(number: int, /, **params: Any) -> str:
    """The catalog message of ``number`` rendered with ``params`` (floats as ``repr``, exactly as the
    C++ factories render them). Missing parameters raise TypeError."""
    entry = ErrorCatalog.builtin().lookup(operator.index(number))
    if entry is None:
        raise KeyError(f"no catalog error has number {number}")
    missing = [p for p in entry.params if p not in params]
    if missing:
        raise TypeError(f"{entry.code} {entry.name} needs the parameter(s) {', '.join(missing)}")
    return (entry.message or "").format_map({k: params[k] for k in entry.params})


def make_error(number: int, /, **params: Any) -> KilnError:
    """Like :func:`error_for`, with the message rendered from the catalog template: ``params`` are
    the template's parameters plus any extra details (``make_error(1201, path=p, detail=d,
    errno=13)``)."""
    return error_for(number, render(number, **params), **params)


def warn(number: int, message: str, /, *, stacklevel: int = 2, **details: Any) -> None:
    """Issue the catalog warning ``number`` through :mod:`warnings`."""
    warning = error_for(number, message, **details)
    if not isinstance(warning, Warning):
        raise TypeError(f"{warning.code} {warning.name} is an error, not a warning")
    warnings.warn(warning, stacklevel=stacklevel)


def lookup(query: Union[str, int]) -> ErrorEntry:
    """The catalog entry for ``K0251``, ``k0251``, ``251``, ``world:251``, a symbolic name or a C
    name. Raises :class:`CatalogUnknownCodeError` (K1504, a LookupError) with the nearest codes."""
    catalog = ErrorCatalog.builtin()
    entry = catalog.lookup(query)
    if entry is None:
        nearest = catalog.nearest(query)
        suggestion = "; nearest: " + ", ".join(f"{e.code} {e.name}" for e in nearest) if nearest else ""
        raise make_error(CATALOG_UNKNOWN_CODE, query=str(query), catalog=catalog.name, suggestion=suggestion,
                         nearest=[e.code for e in nearest])
    return entry


def explain(code: Union[str, int]) -> str:
    """The text ``kiln explain CODE`` prints: code, name, category, Python class, template,
    summary, explanation and documentation URL. Raises K1504 for an unknown code."""
    e = lookup(code)
    head = f"{e.code} {e.name}"
    rows = [("category", e.category or "")]
    if e.severity != "error":
        rows.append(("severity", e.severity))
    if e.c_name:
        rows.append(("C name", e.c_name))
    if e.qualified_class:
        builtins = f" ({', '.join(e.builtins)})" if e.builtins else ""
        rows.append(("Python", e.qualified_class + builtins))
    rows.append(("message", e.message or ""))
    rows.append(("since", e.since or ""))
    if e.retired:
        rows.append(("retired", f"no longer emitted since {e.retired}"))
    width = max(len(k) for k, _ in rows)
    lines = [head, "=" * len(head), ""]
    if e.retired:
        lines += [f"This code is no longer emitted since {e.retired}.", ""]
    lines += [f"{k.ljust(width)}  {v}" for k, v in rows]
    lines += ["", textwrap.fill(e.summary or "", width=100), "", (e.explanation or "").strip(), "",
              f"Documentation: {e.doc_url}"]
    return "\n".join(lines) + "\n"


def explain_json(code: Union[str, int]) -> str:
    """The entry as JSON (``kiln explain --json``)."""
    return json.dumps(lookup(code).as_dict(), indent=2, ensure_ascii=False)


__all__ = [
    "DOCS_BASE",
    "ErrorCatalog",
    "ErrorEntry",
    "KilnError",
    "KilnWarning",
    "error_for",
    "explain",
    "explain_json",
    "lookup",
    "make_error",
    "render",
    "warn",
    *_GENERATED_CLASSES,
]
