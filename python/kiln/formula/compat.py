"""PyAgent compatibility: ``FormulaEngineCore`` reproduced bit for bit, quirks included
(specs/formula.md A.5). The main API (kiln.formula) fixes what is reproduced here; this module
exists so that migrating callers get the same numbers.

Contract: nothing here raises an ``Exception``; every swallowed failure is logged at DEBUG on
the logger ``kiln.formula.compat`` with its catalog code (K4601-K4604), so the cause is
recoverable. Deviations from the source, both documented in the spec: complex results become
0.0 (the declared type is float), and evaluation gives up at a fixed depth of 1,000 levels (the
source's RecursionError depended on the caller's stack).

Two paths, one behaviour: when every variable is a str-keyed float or int64-range int and the
substituted text uses only ``0-9 . e E + - * / ( ) ^``, space and tab, the native fast path
(``kiln::formula::compat``) substitutes, parses and evaluates in one call; everything else, and
whatever the fast path defers (complex powers, deep nesting, very long integer literals), runs the
Python algorithm below. ``tests/formula/test_compat_fastpath.py`` keeps the two identical.
"""
from __future__ import annotations

import ast
import logging
import operator
import re
from typing import Any, Optional

from kiln import _kiln

log = logging.getLogger("kiln.formula.compat")

_AVG = re.compile(r"AVG\(\{(\w+)\}\)")
_PLACEHOLDER = re.compile(r"\{(\w+)\}")
MAX_DEPTH = 1000
_BINOPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
           ast.Pow: operator.pow, ast.BitXor: operator.xor}
_UNARY = {ast.UAdd: operator.pos, ast.USub: operator.neg}


class _Reject(Exception):
    """A construct outside the whitelist (K4601)."""


def _log(number: int, detail: str) -> float:
    name = {4601: "FORMULA_COMPAT_REJECTED", 4602: "FORMULA_COMPAT_ARITHMETIC", 4603: "FORMULA_COMPAT_COMPLEX",
            4604: "FORMULA_COMPAT_AVG"}[number]
    log.debug("K%d %s: compat returned 0.0: %s", number, name, detail)
    return 0.0


def _evaluate(node: ast.AST) -> Any:
    """The source's recursive whitelist walk, restated iteratively with a fixed depth limit."""
    # work items: (node, depth) to visit, or (op, None) markers to apply
    work: list = [(node, 0)]
    vals: list = []
    while work:
        item, depth = work.pop()
        if depth is None:
            kind, fn = item
            if kind == "bin":
                b = vals.pop()
                a = vals.pop()
                vals.append(fn(a, b))
            else:
                vals.append(fn(vals.pop()))
            continue
        if depth > MAX_DEPTH:
            raise _Reject(f"nested deeper than {MAX_DEPTH} levels")
        if isinstance(item, ast.Constant) and type(item.value) in (int, float, bool):
            vals.append(float(item.value))
        elif isinstance(item, ast.BinOp) and type(item.op) in _BINOPS:
            work.append((("bin", _BINOPS[type(item.op)]), None))
            work.append((item.right, depth + 1))
            work.append((item.left, depth + 1))
        elif isinstance(item, ast.UnaryOp) and type(item.op) in _UNARY:
            work.append((("un", _UNARY[type(item.op)]), None))
            work.append((item.operand, depth + 1))
        else:
            raise _Reject(f"{type(item).__name__} is not allowed")
    return vals[0]


def calculate_logic(formula: Any, variables: Any = None) -> float:
    """The source's ``calculate_logic``: AVG short-circuit, textual substitution of ``{name}``,
    then whitelisted Python arithmetic; any failure is 0.0 (logged)."""
    try:
        r = _kiln.compat_calculate(formula, variables)
    except Exception:  # noqa: BLE001 - the contract: never raise; the Python path decides
        r = None
    if r.__class__ is float:
        return r
    if r is not None:
        return _log(r, "rejected or failed on the native fast path (a Python evaluator would raise)")
    return calculate_python(formula, variables)


def calculate_python(formula: Any, variables: Any = None) -> float:
    """``calculate_logic`` by the Python algorithm alone (the reference of the fast path)."""
    try:
        if not isinstance(formula, str):
            return _log(4601, f"formula is {type(formula).__name__}, not str")
        if variables is None:
            variables = {}
        if "AVG(" in formula:
            m = _AVG.search(formula)
            if m:
                values = variables.get(m.group(1), [])
                if isinstance(values, list) and values:
                    return sum(values) / len(values)
            return _log(4604, "AVG( present but AVG({name}) of a non-empty list is not")
        text = formula
        for name, value in variables.items():
            text = text.replace(f"{{{name}}}", str(value))
        try:
            tree = ast.parse(text, mode="eval")
        except (SyntaxError, ValueError, MemoryError, RecursionError) as exc:
            return _log(4601, f"{type(exc).__name__}: {exc}")
        try:
            result = _evaluate(tree.body)
        except _Reject as exc:
            return _log(4601, str(exc))
        except (ArithmeticError, TypeError, ValueError) as exc:
            return _log(4602, f"{type(exc).__name__}: {exc}")
        if isinstance(result, complex):
            return _log(4603, f"complex result {result!r}")
        return float(result)
    except Exception as exc:  # noqa: BLE001 - the contract: never raise
        return _log(4602, f"{type(exc).__name__}: {exc}")


def validate_logic(formula: Any) -> dict:
    """The source's ``validate_logic``: ``{"is_valid": bool, "error": str | None}``."""
    try:
        if "+++" in formula or "***" in formula or "---" in formula:
            return {"is_valid": False, "error": "Invalid operator sequence"}
        test = _PLACEHOLDER.sub("1", formula)
        if _kiln.compat_accepts(test):
            return {"is_valid": True, "error": None}
        ast.parse(test, mode="eval")
        return {"is_valid": True, "error": None}
    except SyntaxError as exc:
        return {"is_valid": False, "error": str(exc)}
    except Exception as exc:  # noqa: BLE001
        _log(4601, f"{type(exc).__name__}: {exc}")
        return {"is_valid": False, "error": str(exc)}


class FormulaEngineCore:
    """Drop-in ``FormulaEngineCore`` with the shell conveniences ``define``/``calculate``."""

    def __init__(self) -> None:
        self.formulas: dict[str, str] = {}

    def calculate_logic(self, formula: Any, variables: Any = None) -> float:
        return calculate_logic(formula, variables)

    def validate_logic(self, formula: Any) -> dict:
        return validate_logic(formula)

    def define(self, name: str, formula: str) -> None:
        try:
            self.formulas[name] = formula
        except Exception as exc:  # noqa: BLE001 - unhashable names: logged, never raised
            _log(4601, f"define: {type(exc).__name__}: {exc}")

    def calculate(self, formula_or_name: Any, variables: Optional[dict] = None) -> float:
        try:
            formula = self.formulas.get(formula_or_name, formula_or_name)
        except TypeError:
            formula = formula_or_name
        return calculate_logic(formula, variables or {})

    def validate_formula(self, formula: Any) -> bool:
        return bool(validate_logic(formula)["is_valid"])


__all__ = ["FormulaEngineCore", "calculate_logic", "calculate_python", "validate_logic"]
