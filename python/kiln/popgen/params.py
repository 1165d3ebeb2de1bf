"""Model parameters (popgen §2.9) and their validation (§9).

Validation happens here, before any allocation, for both backends; the native kernel checks every
range again (kiln::popgen::Validate), with the same codes, for callers that bypass Python.
"""
from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import math
import numbers
from typing import Any

import numpy as np

from kiln.errors import error_for

RNG_SCHEMA = 1

OPTIONS = {
    "offspring_dist": ("poisson", "stochastic_rounding"),
    "mating": ("per_offspring", "per_female"),
    "mutation": ("up", "symmetric"),
    "locus_phase": ("synchronous", "staggered"),
}
RECORDS = ("outcome", "summary", "full")
_INT32 = (-(2**31), 2**31 - 1)

FIELDS = ("K", "n", "R", "u", "M", "T", "offspring_dist", "mating", "mutation", "allele_min", "allele_max",
          "female_fraction", "locus_phase", "optimum_offset", "initial_size", "initial_allele", "burn_in",
          "quasi_extinction")


def _err(number: int, message: str, **details: Any) -> Exception:
    return error_for(number, message, **details)


def _as_int(name: str, value: Any) -> int:
    if isinstance(value, (bool, np.bool_)):
        raise _err(2102, f"{name} must be an integer, not a bool", parameter=name, value=repr(value))
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        v = float(value)
        if not math.isfinite(v):
            raise _err(2103, f"{name}={v!r} must be finite", parameter=name, value=repr(v))
        if v != int(v):
            raise _err(2102, f"{name}={v!r} is not an integer", parameter=name, value=repr(v))
        return int(v)
    raise _err(2102, f"{name} must be an integer, not {type(value).__name__}", parameter=name, value=repr(value))


def _as_float(name: str, value: Any, allow_inf: bool = False) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise _err(2102, f"{name} must be a number, not {type(value).__name__}", parameter=name, value=repr(value))
    v = float(value)
    if math.isnan(v) or (math.isinf(v) and not (allow_inf and v > 0)):
        raise _err(2103, f"{name}={v!r} must be finite", parameter=name, value=repr(v))
    return v


def _range(name: str, value: Any, valid: str) -> Exception:
    return _err(2104, f"{name}={value!r} is outside {valid}", parameter=name, value=repr(value), valid=valid)


@dataclasses.dataclass(frozen=True)
class HorizonRule:
    """H(T) = min(max(ceil(cycles*T), min_generations), max_generations) (§2.7)."""

    cycles: float = 20.0
    min_generations: int = 5000
    max_generations: int = 10_000_000

    def __post_init__(self) -> None:
        c = _as_float("cycles", self.cycles)
        lo = _as_int("min_generations", self.min_generations)
        hi = _as_int("max_generations", self.max_generations)
        if not 1 <= c <= 1e4:
            raise _err(2201, f"HorizonRule cycles={c!r} is outside [1, 10^4]", parameter="cycles")
        if lo > hi:
            raise _err(2201, "HorizonRule min_generations > max_generations", parameter="min_generations")
        if lo < 1 or hi > 10**8:
            raise _err(2201, "HorizonRule generations must lie in 1..10^8", parameter="max_generations")
        object.__setattr__(self, "cycles", c)
        object.__setattr__(self, "min_generations", lo)
        object.__setattr__(self, "max_generations", hi)

    def __call__(self, T: float) -> int:
        if not math.isfinite(T):
            raise _err(2201, "a HorizonRule needs a finite T; use an integer horizon with T = inf", parameter="horizon")
        return int(min(max(math.ceil(self.cycles * T), self.min_generations), self.max_generations))

    def to_json(self) -> dict:
        return {"rule": [self.cycles, self.min_generations, self.max_generations]}


def resolve_horizon(horizon: Any, T: float) -> int:
    """The integer H of a run at interval T (K2201 when invalid)."""
    if isinstance(horizon, HorizonRule):
        return horizon(T)
    try:
        H = _as_int("horizon", horizon)
    except Exception as exc:
        if getattr(exc, "number", None) in (2102, 2103):
            raise _err(2201, f"horizon={horizon!r} is not an integer in 1..10^8", parameter="horizon") from exc
        raise
    if not 1 <= H <= 10**8:
        raise _err(2201, f"horizon={H} is outside 1..10^8", parameter="horizon", value=H)
    return H


@dataclasses.dataclass(frozen=True)
class StopRule:
    """End a run early (outcome "stopped") below min_N adults or above max_msd (§4.2)."""

    min_N: int | None = None
    max_msd: float | None = None


@dataclasses.dataclass(frozen=True, init=False)
class Params:
    """The Nunney (2003) model parameters, keywords only; frozen. Exactly one of u and M."""

    K: int
    n: int
    R: float
    u: float
    M: float
    T: float
    offspring_dist: str
    mating: str
    mutation: str
    allele_min: int | None
    allele_max: int | None
    female_fraction: float
    locus_phase: str
    optimum_offset: float
    initial_size: int
    initial_allele: int
    burn_in: int
    quasi_extinction: int

    def __init__(self, **kw: Any) -> None:
        for name, value in _validate(kw).items():
            object.__setattr__(self, name, value)

    @property
    def r(self) -> float:
        return math.log1p((self.R - 2.0) / 2.0)

    def replace(self, **kw: Any) -> "Params":
        d = self.to_dict()
        d.pop("M")  # u is kept (exact); a new u or M in kw replaces it
        if "u" in kw or "M" in kw:
            d.pop("u")
        d.update(kw)
        return Params(**d)

    def to_dict(self) -> dict:
        return {f: getattr(self, f) for f in FIELDS}

    def to_native(self) -> dict:
        d = self.to_dict()
        d.pop("M")
        return d

    def canonical_json(self, exclude: tuple = ()) -> str:
        d = {k: v for k, v in self.to_dict().items() if k not in exclude}
        if "T" in d:
            d["T"] = "inf" if math.isinf(d["T"]) else d["T"]
        return json.dumps(d, sort_keys=True, separators=(",", ":"))

    def cell_id(self) -> str:
        """First 16 hex digits of SHA-256 of the canonical parameter JSON (§4.2)."""
        # T is a run variable (thresholds scan it), so a cell is every other parameter.
        return hashlib.sha256(self.canonical_json(exclude=("T",)).encode()).hexdigest()[:16]

    def memory_estimate(self, record_bytes: int = 0) -> int:
        m = max(self.K, self.initial_size)
        cap = 2.0 * m + 8.0 * math.sqrt(2.0 * m) + 1024.0
        return int(cap * (16.0 * self.n + 6.0)) + record_bytes + (1 << 20)


def _validate(kw: dict) -> dict:
    unknown = [k for k in kw if k not in FIELDS]
    if unknown:
        k = unknown[0]
        near = difflib.get_close_matches(k, FIELDS, n=1)
        hint = f"; did you mean {near[0]!r}?" if near else ""
        raise _err(2106, f"unknown parameter {k!r}{hint}", parameter=k, suggestion=near[0] if near else "")
    for req in ("K", "n"):
        if kw.get(req) is None:
            raise _err(2101, f"parameter {req} is required", parameter=req)
    has_u, has_M = kw.get("u") is not None, kw.get("M") is not None
    if has_u and has_M:
        raise _err(2105, "give exactly one of u and M (M = 2Ku)", parameter="u")
    if not (has_u or has_M):
        raise _err(2101, "one of u or M is required (M = 2Ku)", parameter="u")
    out: dict[str, Any] = {}
    # Same order as kiln::popgen::Validate: types and finiteness, then ranges, then conflicts.
    K = _as_int("K", kw["K"])
    n = _as_int("n", kw["n"])
    R = _as_float("R", kw.get("R", 10.0))
    u = _as_float("u", kw["u"]) if has_u else None
    M = _as_float("M", kw["M"]) if has_M else None
    T = _as_float("T", kw.get("T", math.inf), allow_inf=True)
    for name in OPTIONS:
        v = kw.get(name, OPTIONS[name][0])
        if not isinstance(v, str) or v not in OPTIONS[name]:
            raise _err(2107, f"{name}={v!r} is not one of {', '.join(OPTIONS[name])}", parameter=name,
                       value=repr(v))
        out[name] = v
    amin = None if kw.get("allele_min") is None else _as_int("allele_min", kw["allele_min"])
    amax = None if kw.get("allele_max") is None else _as_int("allele_max", kw["allele_max"])
    ff = _as_float("female_fraction", kw.get("female_fraction", 0.5))
    off = _as_float("optimum_offset", kw.get("optimum_offset", 0.0))
    init = None if kw.get("initial_size") is None else _as_int("initial_size", kw["initial_size"])
    ia = _as_int("initial_allele", kw.get("initial_allele", 0))
    burn = _as_int("burn_in", kw.get("burn_in", 0))
    qe = _as_int("quasi_extinction", kw.get("quasi_extinction", 0))
    if not 2 <= K <= 10**8:
        raise _range("K", K, "2..10^8")
    if not 1 <= n <= 32:
        raise _range("n", n, "1..32")
    if not R > 2.0:
        raise _range("R", R, "2 < R <= 1000 (R must exceed 2 so that r = ln(R/2) > 0)")
    if R > 1000.0:
        raise _range("R", R, "2 < R <= 1000")
    if has_M:
        if not 0.0 <= M <= 2 * K:
            raise _range("M", M, "[0, 2K]")
        u = M / (2 * K)
    else:
        if not 0.0 <= u <= 1.0:
            raise _range("u", u, "[0, 1]")
        M = 2 * K * u
    if T < 0.01 or (math.isfinite(T) and T > 1e12):
        raise _range("T", T, "[0.01, 1e12] or inf")
    if not 0.0 < ff < 1.0:
        raise _range("female_fraction", ff, "(0, 1)")
    if abs(off) > 1e6:
        raise _range("optimum_offset", off, "|x| <= 1e6")
    if init is not None and not 2 <= init <= 2 * K:
        raise _range("initial_size", init, "2..2K")
    if not 0 <= burn <= 10**7:
        raise _range("burn_in", burn, "0..10^7")
    if not 0 <= qe < K:
        raise _range("quasi_extinction", qe, "0..K-1")
    for name, v in (("allele_min", amin), ("allele_max", amax), ("initial_allele", ia)):
        if v is not None and not _INT32[0] <= v <= _INT32[1]:
            raise _range(name, v, "int32")
    if amin is not None and amax is not None and amin >= amax:
        raise _err(2105, f"allele_min={amin} must be below allele_max={amax}", parameter="allele_min")
    if (amin is not None and ia < amin) or (amax is not None and ia > amax):
        raise _err(2105, f"initial_allele={ia} lies outside the allele bounds", parameter="initial_allele")
    out.update(K=K, n=n, R=R, u=u, M=M, T=T, allele_min=amin, allele_max=amax, female_fraction=ff,
               optimum_offset=off, initial_size=K if init is None else init, initial_allele=ia, burn_in=burn,
               quasi_extinction=qe)
    return out


def check_seed(name: str, value: Any) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise _err(2204, f"{name} must be an integer in [0, 2^64), not {value!r}", parameter=name)
    v = int(value)
    if not 0 <= v < 2**64:
        raise _err(2204, f"{name}={v} is outside [0, 2^64)", parameter=name, value=str(v))
    return v


def check_record(record: Any) -> str:
    if record not in RECORDS:
        raise _err(2107, f"record={record!r} is not one of outcome, summary, full", parameter="record")
    return record
