"""The ``kiln`` command line (console script ``kiln = "kiln.cli:main"``, also ``python -m kiln``).

One entry point with subcommands (specs/README "kiln command-line subcommands"): ``explain``,
``bench`` (``<suite>``, ``compare``, ``check``), ``world recover`` and ``popgen ...``. Each
subcommand is registered in :data:`SUBCOMMANDS` as ``"module:function"``; the function receives the
argparse sub-parsers object, adds its parser and sets ``handler`` (``args -> int`` exit status)
with ``parser.set_defaults(handler=...)``. Registration functions must be cheap to import: do heavy
imports inside the handler, so that ``kiln explain`` stays fast.

Exit statuses: 0 success, 1 the command's own failure, 2 usage errors and unknown codes.
"""
from __future__ import annotations

import argparse
import importlib
import json
import sys
from typing import Callable, Optional, Sequence

# name -> "module:register_function". Other engines add their lines here:
#   "bench":  "kiln.bench.cli:register"    kiln bench <suite> | compare | check   (formula C.1, C.2)
#   "world":  "kiln.world.cli:register"    kiln world recover ROOT                (world §8.2)
#   "popgen": "kiln.popgen.cli:register"   kiln popgen run | threshold | sweep | plot | validate
SUBCOMMANDS: dict[str, str] = {
    "explain": "kiln.cli:register_explain",
    "bench": "kiln.bench.cli:register",
    "world": "kiln.world.cli:register",
    "popgen": "kiln.popgen.cli:register",
    "tour": "kiln.tour:register",
}


def register_explain(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    parser = subparsers.add_parser(
        "explain", help="explain an error code (K0251, 251, world:251 or a name)",
        description="Print the catalog entry of an error code: name, category, Python class, message "
                    "template, explanation and documentation URL. CODE may be K0251, k0251, 251, "
                    "world:251, or a symbolic or C name such as ARCT_ERR_UNKNOWN_ENTITY.")
    parser.add_argument("code", nargs="?", metavar="CODE", help="the code or name to explain")
    parser.add_argument("--json", action="store_true", help="print the entry (or the list) as JSON")
    parser.add_argument("--list", action="store_true", help="list every code instead of explaining one")
    parser.add_argument("--category", metavar="C",
                        help="with --list: only this category or its areas (e.g. world, world.store)")
    parser.set_defaults(handler=_run_explain, parser=parser)


def _run_explain(args: argparse.Namespace) -> int:
    from kiln.errors import ErrorCatalog, explain, explain_json, lookup
    from kiln.errors._base import KilnError

    if args.list:
        if args.code:
            args.parser.error("give either CODE or --list")
        entries = [e for e in ErrorCatalog.builtin().entries
                   if not args.category or e.category == args.category
                   or (e.category or "").startswith(args.category + ".")]
        if args.json:
            print(json.dumps([{"code": e.code, "name": e.name, "category": e.category,
                               "summary": e.summary, "retired": e.retired} for e in entries], indent=2))
        else:
            width = max((len(e.name) for e in entries), default=0)
            for e in entries:
                retired = f"  (retired {e.retired})" if e.retired else ""
                print(f"{e.code}  {e.name.ljust(width)}  {(e.category or '').ljust(16)}  {e.summary}{retired}")
        if not entries:
            print(f"kiln explain: no codes in category {args.category!r}", file=sys.stderr)
            return 2
        return 0
    if args.category:
        args.parser.error("--category needs --list")
    if not args.code:
        args.parser.error("give a CODE (e.g. K0251) or --list")
    try:
        lookup(args.code)
    except KilnError as exc:      # K1504 with the nearest codes
        print(f"kiln explain: {exc}", file=sys.stderr)
        return 2
    print(explain_json(args.code) if args.json else explain(args.code), end="" if not args.json else "\n")
    return 0


def _load_registration(target: str) -> Callable[..., None]:
    module, _, function = target.partition(":")
    return getattr(importlib.import_module(module), function)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kiln", description="Kiln: native simulation cores behind a Pythonic API.")
    parser.add_argument("--version", action="version", version=_version())
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    for target in SUBCOMMANDS.values():
        _load_registration(target)(subparsers)
    return parser


def _version() -> str:
    try:
        from kiln import __version__
    except ImportError:   # kiln/__init__ refuses a wrong pyarrow; the CLI can still say who it is
        return "kiln"
    return f"kiln {__version__}"


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the ``kiln`` command line; returns the exit status (the console script exits with it)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(handler(args) or 0)
    except BrokenPipeError:       # `kiln explain --list | head`
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
