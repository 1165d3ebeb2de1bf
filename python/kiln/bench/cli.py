"""``python -m kiln.bench <suite> ...`` (= ``kiln bench <suite>``): runs a suite's drivers.

Drivers live in the source checkout under ``bench/<suite>/run.py`` and expose ``main(argv) -> int``.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import sys
from pathlib import Path
from typing import Optional, Sequence


def _bench_dir() -> Path:
    import kiln

    return Path(kiln.__file__).resolve().parents[2] / "bench"


def _suites() -> list:
    root = _bench_dir()
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / "run.py").is_file())


def run_suite(suite: str, argv: Sequence[str]) -> int:
    if suite in ("compare", "check"):
        from kiln.bench import compare as _compare

        return (_compare.compare_main if suite == "compare" else _compare.check_main)(argv)
    if suite == "table":
        from kiln.bench.table import table_main

        return table_main(argv)
    path = _bench_dir() / suite / "run.py"
    if not path.is_file():
        from kiln.errors import error_for

        known = ", ".join(_suites()) or "none found"
        raise error_for(6000, f"no benchmark suite {suite!r} (drivers are read from {path.parent.parent}, "
                              f"a source checkout; suites: {known})")
    spec = importlib.util.spec_from_file_location(f"kiln_bench_{suite}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return int(module.main(list(argv)) or 0)


def register(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    parser = subparsers.add_parser("bench", help="run a benchmark suite (kiln bench world --quick)",
                                   description="Runs a benchmark suite; each case prints one kiln.bench/1 "
                                               "JSON record per line.")
    parser.add_argument("suite", help="suite name (e.g. world)")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="options passed to the suite")
    parser.set_defaults(handler=lambda a: run_suite(a.suite, a.args))


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: python -m kiln.bench SUITE [--quick] [--only IDS] [--out FILE] ...")
        print("suites: " + (", ".join(_suites()) or "(none: run from a source checkout)"))
        print("tools: compare A.jsonl B.jsonl, check RUN.jsonl, table RUN.jsonl [--cases GLOB]")
        return 0 if argv else 2
    return run_suite(argv[0], argv[1:])
