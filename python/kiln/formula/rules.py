"""Update rules (specs/formula.md A.3.5): ``compile_rules("x = x + vx * dt; y = y + vy * dt")``.

Every right-hand side reads the *input* values (a simultaneous update), so rule order does not
matter; chain rule sets for sequential effects. ``RuleSet.apply`` returns a new batch sharing the
untouched columns zero-copy."""
from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Iterable, Optional

import pyarrow as pa

from kiln.errors import make_error
from kiln.formula._formula import Formula

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def _split_rules(text: str) -> list[tuple[int, int]]:
    """(start, end) code-point spans of the rules: separated by newlines or ';', '#' comments."""
    spans, start, i, n = [], 0, 0, len(text)
    while i < n:
        c = text[i]
        if c == "#":
            j = text.find("\n", i)
            j = n if j < 0 else j
            spans.append((start, i))
            start = i = j
            continue
        if c in "\n;":
            spans.append((start, i))
            start = i + 1
        elif c == "{":               # a placeholder may contain ';' or '#'
            j = text.find("}", i)
            if j > 0:
                i = j
        i += 1
    spans.append((start, n))
    return [(a, b) for a, b in spans if text[a:b].strip()]


def _assignment(text: str, a: int, b: int) -> Optional[int]:
    """Index of the '=' that assigns (not part of == <= >= !=), or None."""
    i = a
    while i < b:
        c = text[i]
        if c == "{":
            j = text.find("}", i, b)
            i = (j if j > 0 else b)
        elif c == "=":
            prev = text[i - 1] if i > a else ""
            nxt = text[i + 1] if i + 1 < b else ""
            if nxt != "=" and prev not in "=<>!":
                return i
            i += 1
        i += 1
    return None


class RuleSet:
    """Compiled update rules: ``targets`` in rule order, one Formula per target."""

    def __init__(self, rules: list[tuple[str, Formula]], reserved: frozenset) -> None:
        self._rules = rules
        self.reserved = reserved

    @property
    def targets(self) -> tuple[str, ...]:
        return tuple(t for t, _ in self._rules)

    @property
    def formulas(self) -> dict[str, Formula]:
        return dict(self._rules)

    @property
    def variables(self) -> tuple[str, ...]:
        seen: list[str] = []
        for _, f in self._rules:
            seen += [v for v in f.variables if v not in seen]
        return tuple(seen)

    def __iter__(self):
        return iter(self._rules)

    def __len__(self) -> int:
        return len(self._rules)

    def __repr__(self) -> str:
        body = "; ".join(f"{t} = {f.text.strip()}" for t, f in self._rules)
        return f"kiln.formula.RuleSet({body!r})"

    def apply(self, batch: Any, /, *, threads: Optional[int] = None, **scalars: Any):
        """Evaluate every rule on the input batch and return a new RecordBatch (or Table)."""
        if not isinstance(batch, (pa.RecordBatch, pa.Table)):
            if hasattr(batch, "__arrow_c_stream__"):
                batch = pa.table(batch)
            elif hasattr(batch, "__arrow_c_array__"):
                batch = pa.record_batch(batch)
            else:
                raise make_error(4305, name="batch", type=type(batch).__name__)
        schema = batch.schema
        results = {}
        for target, f in self._rules:
            idx = schema.get_field_index(target)
            if idx < 0:
                raise make_error(4503, name=target)
            field = schema.field(idx)
            if field.type != pa.float64():
                raise make_error(4504, name=target, type=str(field.type))
            used = {k: v for k, v in scalars.items() if k in f.variables and k not in schema.names}
            res = f.evaluate_columns(batch, threads=threads, **used)
            if not isinstance(res, (pa.Array, pa.ChunkedArray)):
                res = pa.array(res, type=pa.float64())
            if not field.nullable and res.null_count:
                raise make_error(4505, name=target, count=res.null_count)
            results[idx] = res
        cols = [results.get(i, batch.column(i)) for i in range(batch.num_columns)]
        if isinstance(batch, pa.Table):
            cols = [c if isinstance(c, pa.ChunkedArray) else pa.chunked_array([c]) for c in cols]
            return pa.Table.from_arrays(cols, schema=schema)
        return pa.RecordBatch.from_arrays(cols, schema=schema)


def compile_rules(text_or_mapping: Any, *, mode: str = "ieee", constants: Any = None, limits: Any = None,
                  fold: bool = True, reserved: Iterable[str] = ()) -> RuleSet:
    """Compile ``target = expression`` rules (newline or ';' separated, '#' comments; targets are
    identifiers or placeholders) or a mapping of target -> expression."""
    reserved = frozenset(reserved)
    rules: list[tuple[str, Formula]] = []
    where: dict[str, int] = {}

    def add(index: int, target: str, expr: str) -> None:
        if target in reserved:
            raise make_error(4506, name=target, position=0)
        if target in where:
            raise make_error(4502, name=target, first=where[target], second=index)
        where[target] = index
        rules.append((target, Formula(expr, mode=mode, constants=constants, limits=limits, fold=fold)))

    if isinstance(text_or_mapping, Mapping):
        for i, (target, expr) in enumerate(text_or_mapping.items(), 1):
            if not isinstance(target, str) or not isinstance(expr, str):
                raise make_error(4501, index=i, pos=0, position=0)
            add(i, target, expr)
        return RuleSet(rules, reserved)
    if not isinstance(text_or_mapping, str):
        raise make_error(4000, detail=f"rules are a str or a mapping, got {type(text_or_mapping).__name__}")
    text = text_or_mapping
    for i, (a, b) in enumerate(_split_rules(text), 1):
        eq = _assignment(text, a, b)
        lhs = text[a:eq].strip() if eq is not None else ""
        if lhs.startswith("{") and lhs.endswith("}") and len(lhs) > 2:
            target = lhs[1:-1]
        else:
            target = lhs
        first = a + len(text[a:b]) - len(text[a:b].lstrip())
        if eq is None or not target or (not lhs.startswith("{") and not _IDENT.match(target)):
            raise make_error(4501, index=i, pos=first, position=first, end=b)
        # Pad the expression with spaces so its error positions index the whole rule text.
        expr = " " * (eq + 1) + text[eq + 1:b]
        add(i, target, expr)
    return RuleSet(rules, reserved)


__all__ = ["RuleSet", "compile_rules"]
