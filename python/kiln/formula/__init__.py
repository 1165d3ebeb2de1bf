"""kiln.formula: a safe expression engine — compile once, evaluate many, scalar and columnar
(specs/formula.md part A).

    >>> import kiln.formula as kf
    >>> f = kf.compile("x**2 + y")
    >>> f(3, 1)
    10.0
"""
from __future__ import annotations

from kiln.errors import FormulaError
from kiln.formula._formula import (Formula, Limits, Validation, cache_info, compile, evaluate, set_cache_size,
                                   validate)


def __getattr__(name: str):
    if name in ("RuleSet", "compile_rules"):
        from kiln.formula import rules

        return getattr(rules, name)
    raise AttributeError(f"module 'kiln.formula' has no attribute {name!r}")


__all__ = ["Formula", "FormulaError", "Limits", "RuleSet", "Validation", "cache_info", "compile", "compile_rules",
           "evaluate", "set_cache_size", "validate"]
