"""Error catalogs as data: Kiln's own, and foreign ones such as PyAgent's (specs/formula.md B.2).

:class:`ErrorCatalog` reads a catalog from TOML or JSON and answers lookups by code or name.
Kiln's own catalog (generated ``_catalog.json``) is :meth:`ErrorCatalog.builtin`; it is what
``kiln explain`` and :func:`kiln.errors.lookup` use.

Two schemas share the loader:

* Kiln style (``errors/catalog.toml``): header ``code_prefix`` / ``code_digits`` and entries with
  ``number`` and ``name``; the code is ``prefix + zero-padded number`` (``K0251``).
* Foreign style: header ``code_pattern`` (a regex the whole code matches), ``default_code``,
  ``doc_url`` (a template with ``{code}`` / ``{anchor}``), ``unknown_description`` and optional
  ``[[category]]`` tables (``name``, ``range = [first, last]``); entries with ``code`` and ``name``,
  optionally ``summary``, ``category`` and ``number``.

Invalid files raise K1501 (parse / schema), K1502 (duplicate) or K1503 (code format) with the file
and line.
"""
from __future__ import annotations

import functools
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Iterator, Mapping, Optional, Union

__all__ = ["ErrorEntry", "ErrorCatalog"]

_BUILTIN_JSON = Path(__file__).with_name("_catalog.json")
_KILN_NAME_RE = re.compile(r"^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*$")


@dataclass(frozen=True)
class ErrorEntry:
    """One catalog entry. Fields a catalog does not provide are ``None`` (or empty)."""

    code: str                               # printed form: "K0251", "PA-1001"
    name: str                               # symbolic name: "ARCT_ERR_UNKNOWN_ENTITY", "FileSystemError"
    number: Optional[int] = None            # 251; for foreign codes the digits of the code
    category: Optional[str] = None
    summary: Optional[str] = None
    message: Optional[str] = None           # message template with {placeholders}
    explanation: Optional[str] = None
    params: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}), hash=False)
    severity: str = "error"
    builtins: tuple[str, ...] = ()
    since: Optional[str] = None
    retired: Optional[str] = None
    c_name: Optional[str] = None
    py_class: Optional[str] = None
    py_module: Optional[str] = None
    doc_url: Optional[str] = None
    anchor: Optional[str] = None
    example_error: Optional[str] = None
    example_fixed: Optional[str] = None

    @property
    def qualified_class(self) -> Optional[str]:
        """``"kiln.world.errors.UnknownEntityError"``, or None for success codes and foreign entries."""
        return f"{self.py_module}.{self.py_class}" if self.py_class and self.py_module else None

    def as_dict(self) -> dict[str, Any]:
        out = {k: getattr(self, k) for k in self.__dataclass_fields__}
        out["params"] = dict(self.params)
        out["builtins"] = list(self.builtins)
        return out


def _catalog_error(number: int, **params: Any) -> Exception:
    from kiln.errors import make_error   # late: kiln.errors imports this module

    return make_error(number, **params)


class ErrorCatalog:
    """A loaded error catalog: entries in table order plus lookups by code, number and name."""

    def __init__(self, entries: list[ErrorEntry], *, name: str = "catalog",
                 code_prefix: Optional[str] = None, code_digits: Optional[int] = None,
                 code_pattern: Optional[str] = None, default_code: Optional[str] = None,
                 doc_url_template: Optional[str] = None, unknown_description: str = "Unknown error",
                 categories: Optional[list[tuple[str, Optional[int], Optional[int]]]] = None,
                 owners: Optional[list[tuple[str, int, int]]] = None) -> None:
        self.name = name
        self.code_prefix = code_prefix
        self.code_digits = code_digits
        self.code_pattern = code_pattern
        self.default_code = default_code
        self.doc_url_template = doc_url_template
        self.unknown_description = unknown_description
        self._entries = tuple(entries)
        self._categories = tuple(categories or ())
        self._owners = tuple(owners or ())
        self._by_code = {e.code.upper(): e for e in entries}
        self._by_name = {e.name: e for e in entries}
        self._by_upper_name: dict[str, ErrorEntry] = {}
        self._by_number: dict[int, ErrorEntry] = {}
        for e in entries:
            self._by_upper_name.setdefault(e.name.upper(), e)
            if e.c_name:
                self._by_upper_name.setdefault(e.c_name.upper(), e)
            if e.number is not None:
                self._by_number.setdefault(e.number, e)

    # ---- construction ----------------------------------------------------------------------

    @classmethod
    @functools.cache
    def builtin(cls) -> "ErrorCatalog":
        """Kiln's own catalog (every K code), loaded once from the generated ``_catalog.json``."""
        return cls.load(_BUILTIN_JSON, name="kiln")

    @classmethod
    def load(cls, path: Union[str, "os.PathLike[str]"], *, name: Optional[str] = None) -> "ErrorCatalog":
        """Read a catalog from TOML or JSON (by suffix ``.json``; anything else is TOML).

        A relative path that does not exist is also looked up among the shipped catalogs
        (``kiln/errors/catalogs/``), so ``ErrorCatalog.load("pyagent.toml")`` works anywhere.
        """
        p = Path(path)
        if not p.exists() and not p.is_absolute():
            shipped = Path(__file__).with_name("catalogs") / p
            if shipped.exists():
                p = shipped
        display = str(path)
        try:
            text = p.read_text(encoding="utf-8")
        except OSError as exc:
            raise _catalog_error(1501, path=display, line=0, detail=f"cannot read: {exc}") from exc
        if p.suffix.lower() == ".json":
            try:
                data = json.loads(text)
            except json.JSONDecodeError as exc:
                raise _catalog_error(1501, path=display, line=exc.lineno, detail=exc.msg) from None
            lines: list[int] = []
        else:
            import tomllib   # imported here: most processes never load a TOML catalog

            try:
                data = tomllib.loads(text)
            except tomllib.TOMLDecodeError as exc:
                match = re.search(r"\(at line (\d+), column \d+\)", str(exc))
                raise _catalog_error(1501, path=display, line=int(match.group(1)) if match else 0,
                                     detail=str(exc)) from None
            lines = _table_lines(text, "error")
            if isinstance(data.get("error"), list) and len(lines) != len(data["error"]):
                lines = []     # never report a wrong line; 0 means "unknown"
        if not isinstance(data, dict):
            raise _catalog_error(1501, path=display, line=1, detail="a catalog is a table (object) at top level")
        return cls._from_data(data, display, lines, name or p.stem)

    @classmethod
    def _from_data(cls, data: dict[str, Any], path: str, lines: list[int], name: str) -> "ErrorCatalog":
        def line_of(index: int) -> int:
            return lines[index] if index < len(lines) else 0

        raw_errors = data.get("error", data.get("errors", []))
        if not isinstance(raw_errors, list):
            raise _catalog_error(1501, path=path, line=1, detail="'error' must be an array of tables")
        kiln_style = "code_prefix" in data
        if not kiln_style and "code_pattern" not in data:
            raise _catalog_error(1501, path=path, line=1,
                                 detail="a catalog declares code_prefix/code_digits or code_pattern")
        docs_base = data.get("docs_base")
        if docs_base is None:
            from kiln.errors._generated import DOCS_BASE as docs_base
        template = data.get("doc_url")
        categories = []
        for raw in data.get("category", []):
            if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
                raise _catalog_error(1501, path=path, line=0, detail="each [[category]] needs a name")
            rng = raw.get("range")
            if rng is not None and (not isinstance(rng, list) or len(rng) != 2
                                    or not all(isinstance(v, int) for v in rng)):
                raise _catalog_error(1501, path=path, line=0,
                                     detail=f"category {raw['name']}: range must be [first, last]")
            categories.append((raw["name"], rng[0] if rng else None, rng[1] if rng else None))

        pattern = None
        if kiln_style:
            prefix, digits = data["code_prefix"], data.get("code_digits", 4)
            fmt = f"{prefix} + {digits} digits"
        else:
            try:
                pattern = re.compile(data["code_pattern"])
            except re.error as exc:
                raise _catalog_error(1501, path=path, line=1, detail=f"code_pattern: {exc}") from None
            fmt = data["code_pattern"]

        entries: list[ErrorEntry] = []
        seen_codes: set[str] = set()
        seen_names: set[str] = set()
        for index, raw in enumerate(raw_errors):
            line = raw.get("line", line_of(index)) if isinstance(raw, dict) else line_of(index)
            if not isinstance(raw, dict):
                raise _catalog_error(1501, path=path, line=line, detail="an error entry must be a table")
            required = ("number", "name") if kiln_style else ("code", "name")
            for key in required:
                if key not in raw:
                    raise _catalog_error(1501, path=path, line=line, detail=f"error entry has no {key}")
            entry_name = raw["name"]
            if not isinstance(entry_name, str) or not entry_name:
                raise _catalog_error(1501, path=path, line=line, detail="error name must be a non-empty string")
            if kiln_style:
                number = raw["number"]
                if not isinstance(number, int) or isinstance(number, bool) or not 0 <= number < 10 ** digits:
                    raise _catalog_error(1503, path=path, code=str(number), format=fmt)
                if not _KILN_NAME_RE.match(entry_name):
                    raise _catalog_error(1503, path=path, code=entry_name, format="SCREAMING_SNAKE_CASE")
                code = f"{prefix}{number:0{digits}d}"
            else:
                code = raw["code"]
                if not isinstance(code, str) or not pattern.fullmatch(code):
                    raise _catalog_error(1503, path=path, code=str(code), format=fmt)
                number = raw.get("number")
                if number is None:
                    digits_found = re.findall(r"\d+", code)
                    number = int(digits_found[-1]) if digits_found else None
            if code.upper() in seen_codes:
                raise _catalog_error(1502, path=path, what="code", value=code)
            if entry_name in seen_names:
                raise _catalog_error(1502, path=path, what="name", value=entry_name)
            seen_codes.add(code.upper())
            seen_names.add(entry_name)
            category = raw.get("category")
            if category is None and number is not None:
                category = next((n for n, lo, hi in categories
                                 if lo is not None and hi is not None and lo <= number <= hi), None)
            anchor = raw.get("anchor") or code.lower()
            doc_url = raw.get("doc_url")
            if doc_url is None and template:
                doc_url = template.format(docs_base=docs_base, code=code, anchor=anchor)
            builtin = raw.get("builtins", raw.get("builtin", ()))
            entries.append(ErrorEntry(
                code=code, name=entry_name, number=number, category=category,
                summary=_strip(raw.get("summary")), message=raw.get("message"),
                explanation=_strip(raw.get("explanation")),
                params=MappingProxyType(dict(raw.get("params") or {})),
                severity=raw.get("severity", "error"),
                builtins=(builtin,) if isinstance(builtin, str) else tuple(builtin),
                since=raw.get("since"), retired=raw.get("retired"), c_name=raw.get("c_name"),
                py_class=raw.get("py_class"), py_module=raw.get("py_module"), doc_url=doc_url,
                anchor=anchor, example_error=raw.get("example_error"),
                example_fixed=raw.get("example_fixed")))

        owners = [(o["engine"], o["first"], o["last"]) for o in data.get("owners", [])]
        if not owners and kiln_style and data.get("code_prefix") == "K":
            # errors/catalog.toml itself: the owner blocks are Kiln's (formula B.1.1).
            owners = list(cls.builtin()._owners)
        return cls(entries, name=name,
                   code_prefix=data.get("code_prefix"), code_digits=data.get("code_digits"),
                   code_pattern=data.get("code_pattern"), default_code=data.get("default_code"),
                   doc_url_template=template,
                   unknown_description=data.get("unknown_description", "Unknown error"),
                   categories=categories or None, owners=owners or None)

    # ---- queries ---------------------------------------------------------------------------

    @property
    def entries(self) -> tuple[ErrorEntry, ...]:
        """Every entry, in table order."""
        return self._entries

    @property
    def categories(self) -> tuple[str, ...]:
        """Category names: the declared ``[[category]]`` tables, else the entries' categories."""
        if self._categories:
            return tuple(name for name, _, _ in self._categories)
        return tuple(dict.fromkeys(e.category for e in self._entries if e.category))

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[ErrorEntry]:
        return iter(self._entries)

    def __contains__(self, code_or_name: object) -> bool:
        return isinstance(code_or_name, (str, int)) and self.lookup(code_or_name) is not None

    def __repr__(self) -> str:
        return f"<ErrorCatalog {self.name!r}: {len(self._entries)} entries>"

    def lookup(self, code_or_name: Union[str, int]) -> Optional[ErrorEntry]:
        """The entry for a code (``K0251``, ``k0251``, ``PA-1001``), a number (``251``, ``"251"``),
        an owner-qualified number (``world:251``) or a symbolic / C name; None if nothing matches.
        Names match exactly first, then case-insensitively."""
        if isinstance(code_or_name, bool):
            return None
        if isinstance(code_or_name, int):
            return self._by_number.get(code_or_name)
        query = str(code_or_name).strip()
        if not query:
            return None
        hit = self._by_code.get(query.upper()) or self._by_name.get(query)
        if hit is not None:
            return hit
        number = self._parse_number(query)
        if number is not None:
            return self._by_number.get(number)
        return self._by_upper_name.get(query.upper())

    def _parse_number(self, query: str) -> Optional[int]:
        if query.isdigit():
            return int(query)
        if self.code_prefix and query[:len(self.code_prefix)].upper() == self.code_prefix.upper() \
                and query[len(self.code_prefix):].isdigit():
            return int(query[len(self.code_prefix):])
        owner, sep, rest = query.partition(":")
        if sep and rest.strip().isdigit():
            number = int(rest.strip())
            for engine, first, last in self._owners:
                if engine == owner.strip().lower():
                    return number if first <= number <= last else None
        return None

    def code_for(self, name: str, default: Optional[str] = None) -> Optional[str]:
        """The code of the entry named exactly ``name`` (case-sensitive); else ``default``, or
        the catalog's ``default_code`` when ``default`` is None."""
        entry = self._by_name.get(name) if isinstance(name, str) else None
        if entry is not None:
            return entry.code
        return default if default is not None else self.default_code

    def doc_url(self, code: str) -> Optional[str]:
        """Documentation URL of a code (or name); for a well-formed code that is not in the
        catalog, the catalog's URL template applied to it; otherwise None."""
        entry = self.lookup(code)
        if entry is not None:
            return entry.doc_url
        if self.doc_url_template and isinstance(code, str) and self.code_pattern \
                and re.fullmatch(self.code_pattern, code):
            return self.doc_url_template.format(code=code, anchor=code.lower(), docs_base="")
        return None

    def describe(self, code: str) -> str:
        """``"Name: summary"`` for an entry with a summary; otherwise ``unknown_description``."""
        entry = self.lookup(code)
        if entry is not None and entry.summary:
            return f"{entry.name}: {entry.summary}"
        return self.unknown_description

    def as_dict(self) -> dict[str, str]:
        """name -> code for every entry, in table order."""
        return {e.name: e.code for e in self._entries}

    def nearest(self, query: Union[str, int], n: int = 3) -> list[ErrorEntry]:
        """Entries closest to an unknown query: by number distance for numeric queries, by name
        similarity otherwise (used for the K1504 suggestion)."""
        text = str(query).strip()
        number = query if isinstance(query, int) and not isinstance(query, bool) else None
        if number is None:
            digits = re.findall(r"\d+", text)
            if digits and not re.search(r"[A-Za-z]{3,}", text.split(":")[-1]):
                number = int(digits[-1])
        if number is not None:
            numbered = [e for e in self._entries if e.number is not None]
            owner, sep, _ = text.partition(":")
            ranges = [(first, last) for engine, first, last in self._owners if sep and engine == owner.strip().lower()]
            if ranges:   # "world:1001" -> suggest world codes, not core ones
                numbered = [e for e in numbered if ranges[0][0] <= e.number <= ranges[0][1]] or numbered
            return sorted(numbered, key=lambda e: (abs(e.number - number), e.number))[:n]
        import difflib   # only on the error path

        names = {e.name.upper(): e for e in self._entries}
        names.update({e.c_name.upper(): e for e in self._entries if e.c_name})
        close = difflib.get_close_matches(text.upper(), list(names), n=n, cutoff=0.5)
        return list(dict.fromkeys(names[c] for c in close))


def _table_lines(text: str, header: str) -> list[int]:
    """1-based lines of the ``[[header]]`` tables, skipping multi-line strings (tomllib keeps no
    positions; the same scan as errors/generate.py)."""
    pattern = re.compile(r"^\s*\[\[\s*" + re.escape(header) + r"\s*\]\]\s*(?:#.*)?$")
    found: list[int] = []
    delimiter: Optional[str] = None
    for number, line in enumerate(text.splitlines(), start=1):
        if delimiter is None and pattern.match(line):
            found.append(number)
            continue
        pos = 0
        while True:
            if delimiter is None:
                hits = [(line.find(d, pos), d) for d in ("'''", '"""') if line.find(d, pos) >= 0]
                if not hits:
                    break
                pos, delimiter = min(hits)
                pos += 3
            else:
                end = line.find(delimiter, pos)
                if end < 0:
                    break
                delimiter, pos = None, end + 3
    return found


def _strip(text: Optional[str]) -> Optional[str]:
    return text.strip() if isinstance(text, str) else text
