"""kiln.formula's main API (specs/formula.md A.3.4): compile, Formula, evaluate, validate, the LRU
compile cache. The compiled object is native (kiln._kiln.FormulaBase); this module adds options,
pickling, equality, columns and the Program view."""
from __future__ import annotations

import collections
import dataclasses
import math
import threading
from typing import Any, Mapping, Optional

from kiln import _kiln
from kiln.formula import _columns
from kiln.errors import FormulaError, KilnError, make_error

MODES = ("ieee", "strict")


@dataclasses.dataclass(frozen=True)
class Limits:
    """Compile limits (A.2.6): defaults and the maximum each may be raised to."""

    max_length: int = 65536        # <= 16 MiB
    max_depth: int = 256           # <= 256
    max_nodes: int = 10000         # <= 65,535
    max_args: int = 255            # <= 255
    max_name_bytes: int = 255      # <= 255

    def as_tuple(self) -> tuple[int, int, int, int, int]:
        return (self.max_length, self.max_depth, self.max_nodes, self.max_args, self.max_name_bytes)


_DEFAULT_LIMITS = Limits()


def _norm_limits(limits: Any) -> Limits:
    if limits is None:
        return _DEFAULT_LIMITS
    if isinstance(limits, Limits):
        lim = limits
    elif isinstance(limits, Mapping):
        try:
            lim = Limits(**limits)
        except TypeError as exc:
            raise make_error(4106, option="limits", reason=str(exc)) from None
    else:
        raise make_error(4106, option="limits", reason=f"expected kiln.formula.Limits or a mapping, got {type(limits).__name__}")
    for name, value in dataclasses.asdict(lim).items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1 or value > 2**31:
            raise make_error(4106, option=name, reason=f"must be a positive integer, got {value!r}")
    return lim


def _norm_constants(constants: Any) -> tuple[tuple[str, float], ...]:
    if not constants:
        return ()
    items = constants.items() if isinstance(constants, Mapping) else constants
    out = []
    for name, value in items:
        if not isinstance(name, str):
            raise make_error(4106, option="constants", reason=f"constant names are str, got {type(name).__name__}")
        if isinstance(value, (str, bytes, complex)) or value is None:
            raise make_error(4106, option="constants", reason=f"the value of {name!r} is not a real number")
        try:
            v = float(value)
        except (TypeError, ValueError, OverflowError):
            raise make_error(4106, option="constants", reason=f"the value of {name!r} is not a real number") from None
        out.append((name, v))
    return tuple(out)


def _check_text(text: Any) -> str:
    if not isinstance(text, str):
        raise make_error(4000, detail=f"a formula is a str, got {type(text).__name__}")
    return text


class Formula(_kiln.FormulaBase):
    """A compiled formula: immutable, hashable, equal by (text, options), picklable and shareable
    between threads. ``f(*values)`` binds in ``f.variables`` order; ``f.evaluate(mapping, **kw)``
    by name (names the formula does not use are ignored)."""

    def __init__(self, text: str, *, mode: str = "ieee", constants: Any = None, limits: Any = None,
                 fold: bool = True) -> None:
        text = _check_text(text)
        if mode not in MODES:
            raise make_error(4106, option="mode", reason=f'must be "ieee" or "strict", got {mode!r}')
        lim = _norm_limits(limits)
        consts = _norm_constants(constants)
        super().__init__(text, mode, bool(fold), lim.as_tuple(), list(consts))
        self._key = (text, mode, bool(fold), lim, consts)
        self._program = None

    # -- identity ---------------------------------------------------------------------------
    @property
    def options(self) -> dict:
        text, mode, fold, lim, consts = self._key
        return {"mode": mode, "fold": fold, "limits": lim, "constants": dict(consts)}

    @property
    def limits(self) -> Limits:
        return self._key[3]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Formula):
            return NotImplemented
        return self._key == other._key

    def __hash__(self) -> int:
        return hash(self._key)

    def __reduce__(self):
        text, mode, fold, lim, consts = self._key
        return (_rebuild, (text, mode, fold, dataclasses.astuple(lim), consts))

    def __repr__(self) -> str:
        extra = "" if self.mode == "ieee" else f", mode={self.mode!r}"
        return f"kiln.formula.Formula({self.text!r}{extra})"

    def __setattr__(self, name: str, value: Any) -> None:
        if name in ("_key", "_program") and name not in self.__dict__ or name == "_program":
            object.__setattr__(self, name, value)
            return
        raise AttributeError("Formula objects are immutable")

    # -- program ------------------------------------------------------------------------------
    @property
    def program(self):
        """The shared ``kiln.Program`` this formula compiles to."""
        if self._program is None:
            from kiln.program import Program

            object.__setattr__(self, "_program", Program.from_bytes(self._items, self._pool, self._n_vars, self._n_lists))
        return self._program

    # -- columns ------------------------------------------------------------------------------
    def evaluate_columns(self, data: Any = None, /, *, out: Any = None, threads: Optional[int] = None, **scalars: Any):
        """Evaluate over columns (A.3.5): a mapping of names to numpy arrays or pyarrow
        Arrays/ChunkedArrays, a pyarrow Table/RecordBatch, or any Arrow PyCapsule exporter."""
        return _columns.evaluate_columns(self, data, out=out, threads=threads, scalars=scalars)


def _rebuild(text: str, mode: str, fold: bool, limits: tuple, constants: tuple) -> Formula:
    return Formula(text, mode=mode, fold=fold, limits=Limits(*limits), constants=constants)


# -- the process-wide LRU compile cache -------------------------------------------------------
_cache_lock = threading.Lock()
_cache: "collections.OrderedDict[tuple, Formula]" = collections.OrderedDict()
_cache_size = 1024
# Default-option entries of the cache by text alone: evaluate()'s hit path is one str-keyed probe.
_fast: dict = {}


def set_cache_size(n: int = 1024) -> None:
    """Resize the compile cache shared by compile() and evaluate(); 0 disables it."""
    global _cache_size
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise make_error(4106, option="cache size", reason=f"must be an int >= 0, got {n!r}")
    with _cache_lock:
        _cache_size = n
        while len(_cache) > n:
            _evict()


def cache_info() -> dict:
    with _cache_lock:
        return {"size": len(_cache), "maxsize": _cache_size}


def compile(text: str, *, mode: str = "ieee", constants: Any = None, limits: Any = None, fold: bool = True) -> Formula:
    """Compile ``text`` to a Formula (through the LRU cache)."""
    if constants is None and limits is None and fold is True and type(text) is str:
        # The common case skips option normalisation: one dict probe (atomic under the GIL),
        # then the LRU bookkeeping under the lock.
        key = (text, mode, True, None, ())
        f = _cache.get(key)
        if f is not None:
            with _cache_lock:
                if key in _cache:
                    _cache.move_to_end(key)
            return f
    if _cache_size == 0:
        return Formula(text, mode=mode, constants=constants, limits=limits, fold=fold)
    try:
        key = (text, mode, bool(fold), _norm_limits(limits) if limits is not None else None,
               _norm_constants(constants))
        hash(key)
    except TypeError:
        return Formula(text, mode=mode, constants=constants, limits=limits, fold=fold)
    with _cache_lock:
        f = _cache.get(key)
        if f is not None:
            _cache.move_to_end(key)
            return f
    f = Formula(text, mode=mode, constants=constants, limits=limits, fold=fold)
    with _cache_lock:
        _cache[key] = f
        _cache.move_to_end(key)
        if key[1:] == ("ieee", True, None, ()):
            _fast[key[0]] = f
        while len(_cache) > _cache_size:
            _evict()
    return f


def _evict() -> None:
    """Drop the least recently used entry (caller holds the lock)."""
    key, _ = _cache.popitem(last=False)
    if key[1:] == ("ieee", True, None, ()):
        _fast.pop(key[0], None)


def evaluate(text: str, mapping: Optional[Mapping[str, Any]] = None, /, **values: Any) -> float:
    """One-shot evaluation through the compile cache (ieee mode)."""
    f = _fast.get(text) if type(text) is str else None
    if f is None:
        f = compile(text)
    if mapping is None:
        return f.evaluate(**values)
    return f.evaluate(mapping, **values)


# The native twin of evaluate() (no Python frame on a cache hit); same signature and semantics.
_kiln._formula_set_cache(_fast, compile)
_python_evaluate = evaluate
evaluate = _kiln._formula_evaluate


@dataclasses.dataclass(frozen=True)
class Validation:
    """Result of validate(): ok, the error (a KilnError or None) and the variables."""

    ok: bool
    error: Optional[KilnError]
    variables: tuple[str, ...]

    def __bool__(self) -> bool:
        return self.ok


def validate(text: Any, **options: Any) -> Validation:
    """Compile ``text`` and report; never raises."""
    try:
        f = compile(text, **options)
    except KilnError as exc:
        return Validation(False, exc, ())
    except Exception as exc:  # an option of the wrong kind: still never raises
        return Validation(False, make_error(4106, option="options", reason=f"{type(exc).__name__}: {exc}"), ())
    return Validation(True, None, tuple(f.variables))


def _isfinite(v: float) -> bool:
    return math.isfinite(v)


__all__ = ["Formula", "FormulaError", "Limits", "Validation", "cache_info", "compile", "evaluate",
           "set_cache_size", "validate"]
