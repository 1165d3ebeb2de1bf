"""``kiln bench table RUN.jsonl``: the Markdown ratio table of a benchmark run, as the docs show it.

One row per record: the case, Kiln's median with its unit, every peer's median, the ratios
(peer ÷ Kiln, > 1 means Kiln is faster), the targets as recorded, the verdict and the correctness
field. The engine docs paste this output with the command that produced the run, so a table is
never typed by hand.
"""
from __future__ import annotations

import argparse
import fnmatch
import sys
from typing import Any, Optional, Sequence

from kiln.bench.compare import read_records
from kiln.errors import KilnError

HEADER = ("| case | kiln (median) | peers (median) | ratio peer ÷ kiln | target | pass | correct |\n"
          "|---|---|---|---|---|---|---|")


def format_value(value: Optional[float], unit: str) -> str:
    """A median with a readable unit: seconds become ms / µs / ns, other units are kept."""
    if value is None:
        return "–"
    if unit == "s":
        for scale, name in ((1.0, "s"), (1e-3, "ms"), (1e-6, "µs")):
            if abs(value) >= scale:
                return f"{value / scale:.3g} {name}"
        return f"{value * 1e9:.3g} ns"
    return f"{value:.4g} {unit}"


def _targets(record: dict) -> str:
    target = record.get("target") or []
    if isinstance(target, str):  # a target stated in words (formula P2's linearity bound)
        return target
    parts = []
    for t in target:
        if t.get("min_ratio") is None:
            parts.append(t.get("text") or "report")
        else:
            parts.append(f"{t['peer']} ≥ {t['min_ratio']:.3g}")
    return "; ".join(parts) or "–"


def table_row(record: dict) -> str:
    unit = record.get("unit", "")
    per = record.get("per")
    kiln = record.get("kiln") or {}
    value = format_value(kiln.get("value"), unit) + (f"/{per}" if per and kiln.get("value") is not None else "")
    peers = ", ".join(f"{name} {format_value((m or {}).get('value'), unit)}"
                      for name, m in (record.get("peers") or {}).items()) or "–"
    ratios = ", ".join(f"{name} {r:.3g}×" for name, r in (record.get("ratio") or {}).items() if r is not None) or "–"
    verdict = record.get("pass")
    shown = "–" if verdict is None else ("yes" if verdict else "**no**")
    return (f"| `{record.get('case', record.get('name', '?'))}` | {value} | {peers} | {ratios} | {_targets(record)} | "
            f"{shown} | {str(record.get('correct')).lower()} |")


def table(records: Sequence[dict[str, Any]], pattern: str = "*") -> str:
    rows = [table_row(r) for r in records if fnmatch.fnmatch(r.get("case", ""), pattern)]
    return "\n".join([HEADER, *rows])


def table_main(argv: Sequence[str]) -> int:
    ap = argparse.ArgumentParser(prog="kiln bench table",
                                 description="Print the Markdown ratio table of one or more benchmark runs.")
    ap.add_argument("runs", nargs="+", help="kiln.bench/1 records files (JSON Lines or a JSON array)")
    ap.add_argument("--cases", default="*", help="only cases matching this glob (e.g. 'comparisons/*')")
    args = ap.parse_args(list(argv))
    try:
        records = [r for path in args.runs for r in read_records(path)]
    except KilnError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    print(table(records, args.cases))
    return 0
