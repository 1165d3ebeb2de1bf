"""The ``kiln.bench/1`` record: one JSON object per benchmark case (specs/formula.md C.1)."""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import platform
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence, TextIO

import numpy as np

from kiln.bench.stats import ratio_ci, summarize

SCHEMA = "kiln.bench/1"
_RUN_ID = str(uuid.uuid4())


@dataclass
class Measurement:
    """One implementation's samples for a case. `value` is their median."""

    impl: str
    samples: list
    unit: str = "s"
    better: str = "lower"
    version: Optional[str] = None
    correct: Optional[bool] = None
    note: Optional[str] = None
    available: bool = True
    extra: dict = field(default_factory=dict)

    @classmethod
    def unavailable(cls, impl: str, note: str = "unavailable") -> "Measurement":
        return cls(impl=impl, samples=[], available=False, note=note)

    def as_dict(self, name: str, work_count: float) -> dict:
        if not self.available or not self.samples:
            return {"impl": self.impl, "version": self.version, "value": None, "unit": self.unit,
                    "better": self.better, "samples": [], "summary": None, "correct": self.correct,
                    "note": self.note or "unavailable"}
        summary = summarize(self.samples, name, self.impl, work_count)
        return {"impl": self.impl, "version": self.version, "value": summary["median"], "unit": self.unit,
                "better": self.better, "samples": [float(s) for s in self.samples], "summary": summary,
                "correct": self.correct, "note": self.note}


def _git(*args: str) -> Optional[str]:
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        return subprocess.run(["git", *args], cwd=here, capture_output=True, text=True, timeout=5,
                              check=True).stdout.strip()
    except Exception:  # not a checkout, or git missing: the field is simply unknown
        return None


def _cpu_model() -> Optional[str]:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def _memory_bytes() -> Optional[int]:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        return None


def _version(module: str) -> Optional[str]:
    try:
        mod = __import__(module)
        return getattr(mod, "__version__", None)
    except Exception:
        return None


_ENV_CACHE: Optional[dict] = None


def environment(peers: Sequence[str] = ()) -> dict:
    """Machine, build and library versions; `machine_fingerprint` omits the host name."""
    global _ENV_CACHE
    if _ENV_CACHE is None:
        import kiln

        cpu, mem = _cpu_model(), _memory_bytes()
        logical = os.cpu_count()
        try:
            affinity = sorted(os.sched_getaffinity(0))
        except AttributeError:
            affinity = None
        dirty = _git("status", "--porcelain")
        _ENV_CACHE = {
            "kiln_version": kiln.__version__,
            "git_commit": _git("rev-parse", "HEAD"),
            "git_dirty": None if dirty is None else bool(dirty),
            "build_type": "Release",
            "compiler": "g++",
            "cxx_flags": "-O3 -ffp-contract=off",
            "python": platform.python_version(),
            "numpy": _version("numpy"),
            "pyarrow": _version("pyarrow"),
            "os": platform.platform(),
            "cpu_model": cpu,
            "logical_cpus": logical,
            "affinity": affinity,
            "memory_bytes": mem,
            "threads": len(affinity) if affinity else logical,
            "machine_fingerprint": hashlib.sha256(f"{cpu}|{logical}|{mem}".encode()).hexdigest(),
        }
    env = dict(_ENV_CACHE)
    for p in peers:
        env[p] = _version(p)
    return env


def make_record(*, bench: str, case: str, params: dict, kiln: Measurement, peers: dict, correctness: dict,
                correct: bool, quick: bool, unit: str = "s", per: str = "tick", work: Optional[dict] = None,
                target: Any = None, extra: Optional[dict] = None, seed: int = 0,
                env_peers: Sequence[str] = ()) -> dict:
    """Builds a complete record; ratios are peer ÷ kiln (> 1: kiln faster) with bootstrap CIs."""
    name = f"{bench}/{case}"
    work = work or {"unit": per, "count": 1}
    count = float(work.get("count") or 1)
    ratios, cis = {}, {}
    kiln_value = kiln.as_dict(name, count)
    for peer_name, m in peers.items():
        if not m.available or not m.samples or not kiln.samples:
            ratios[peer_name], cis[peer_name] = None, None
            continue
        pv, kv = float(np.median(m.samples)), float(np.median(kiln.samples))
        higher = kiln.better == "higher"
        ratios[peer_name] = (kv / pv if higher else pv / kv) if pv > 0 and kv > 0 else None
        cis[peer_name] = ratio_ci(m.samples, kiln.samples, name, m.impl, kiln.impl, higher)
    record = {
        "schema": SCHEMA,
        "bench": bench,
        "case": case,
        "name": name,
        "params": params,
        "seed": seed,
        "quick": quick,
        "unit": unit,
        "per": per,
        "work": work,
        "kiln": kiln_value,
        "peers": {k: m.as_dict(name, count) for k, m in peers.items()},
        "ratio": ratios,
        "ratio_ci": cis,
        "target": target if target is not None else [],
        "pass": None,
        "correctness": correctness,
        "correct": bool(correct),
        "extra": extra or {},
        "env": environment(env_peers),
        "run_id": _RUN_ID,
        "timestamp": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    return record


def write_record(record: dict, out: Optional[TextIO] = None, out_path: Optional[str] = None) -> None:
    """Prints the record as one strict-JSON line (and appends it to `out_path`)."""
    line = json.dumps(record, allow_nan=False, separators=(",", ":"))
    print(line, file=out or sys.stdout, flush=True)
    if out_path:
        with open(out_path, "a", encoding="utf-8") as f:
            f.write(line + "\n")
