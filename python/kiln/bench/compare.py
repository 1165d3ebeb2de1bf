"""Comparing benchmark runs and judging targets (specs/formula.md C.2).

``kiln bench compare A.json B.json`` matches the cases of two records files and gives, per case,
the ratio r of medians (r > 1 always means B is worse), its 95 % bootstrap interval, the two-sided
Mann–Whitney U p-value and a verdict. ``kiln bench check RUN.json`` judges the machine-checkable
targets of a run; it is the only place where performance targets are enforced.
"""
from __future__ import annotations

import argparse
import fnmatch
import json
import sys
import tomllib
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence

import numpy as np

from kiln.bench.stats import mann_whitney, ratio_ci
from kiln.errors import KilnError, make_error

SCHEMA = "kiln.bench/1"
ALPHA = 0.01
MIN_EFFECT = 0.05
MIN_SAMPLES = 5


# -- records ----------------------------------------------------------------------------------------
def read_records(path: str) -> list[dict]:
    """Records of a JSON Lines file or a JSON array; K6001 / K6002 name file and line."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise make_error(6001, path=str(path), line=0, detail=str(exc)) from None
    stripped = text.lstrip()
    items: list[tuple[int, Any]] = []

    def strict(v: str):
        raise ValueError(f"{v} is not valid strict JSON")

    if stripped.startswith("["):
        try:
            data = json.loads(text, parse_constant=strict)
        except ValueError as exc:
            raise make_error(6001, path=str(path), line=getattr(exc, "lineno", 0) or 0, detail=str(exc)) from None
        items = [(i + 1, r) for i, r in enumerate(data)]
    else:
        for lineno, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                items.append((lineno, json.loads(line, parse_constant=strict)))
            except ValueError as exc:
                raise make_error(6001, path=str(path), line=lineno, detail=str(exc)) from None
    out = []
    for lineno, r in items:
        if not isinstance(r, dict) or "schema" not in r:
            raise make_error(6001, path=str(path), line=lineno, detail="not a kiln.bench record (no schema)")
        if r["schema"] != SCHEMA:
            raise make_error(6002, path=str(path), line=lineno, schema=str(r["schema"]))
        for key in ("name", "kiln", "unit", "per"):
            if key not in r:
                raise make_error(6001, path=str(path), line=lineno, detail=f"missing field {key!r}")
        out.append(r)
    return out


def _subjects(r: dict, include_peers: bool) -> Iterable[tuple[str, dict]]:
    yield r["kiln"].get("impl", "kiln"), r["kiln"]
    if include_peers:
        for name, m in (r.get("peers") or {}).items():
            if isinstance(m, dict):
                yield name, m


def verdict(a: Sequence[float], b: Sequence[float], better: str = "lower", *, alpha: float = ALPHA,
            min_effect: float = MIN_EFFECT, name: str = "", impl: str = "") -> dict:
    """Compare baseline samples a with current samples b (C.2)."""
    if len(a) < MIN_SAMPLES or len(b) < MIN_SAMPLES:
        return {"ratio": None, "ratio_ci": None, "p": None, "verdict": "insufficient"}
    ma, mb = float(np.median(a)), float(np.median(b))
    r = (mb / ma) if better == "lower" else (ma / mb)
    # r's interval: bootstraps of B over A (A over B when higher is better), as ratio_ci's peer/kiln.
    ci = ratio_ci(b, a, name, impl + ":B", impl + ":A", higher_is_better=better != "lower")
    _, p = mann_whitney(a, b)
    if p >= alpha:
        v = "no change"
    elif r >= 1 + min_effect:
        v = "regressed"
    elif r <= 1 / (1 + min_effect):
        v = "improved"
    else:
        v = "within noise"
    return {"ratio": r, "ratio_ci": ci, "p": p, "verdict": v}


def compare(a: list[dict], b: list[dict], *, alpha: float = ALPHA, min_effect: float = MIN_EFFECT,
            filter: Optional[str] = None, include_peers: bool = False) -> list[dict]:
    """One row per (case, implementation) present in both runs, sorted by name."""
    index = {}
    for r in a:
        for impl, m in _subjects(r, include_peers):
            index[(r["name"], impl)] = (r, m)
    rows = []
    for r in b:
        if filter and not fnmatch.fnmatch(r["name"], filter):
            continue
        for impl, m in _subjects(r, include_peers):
            if (r["name"], impl) not in index:
                continue
            ra, ma = index[(r["name"], impl)]
            row = {"name": r["name"], "impl": impl, "a": ma.get("value"), "b": m.get("value"),
                   "correct": bool(r.get("correct", True)) and ma.get("correct") is not False and m.get("correct") is not False}
            same = (ra["unit"], ra["per"], ra.get("params")) == (r["unit"], r["per"], r.get("params"))
            if not same or not row["correct"] or not ma.get("samples") or not m.get("samples"):
                row.update({"ratio": None, "ratio_ci": None, "p": None, "verdict": "incomparable"})
            else:
                row.update(verdict(ma["samples"], m["samples"], m.get("better", "lower"), alpha=alpha,
                                   min_effect=min_effect, name=r["name"], impl=impl))
            rows.append(row)
    rows.sort(key=lambda x: (x["name"], x["impl"]))
    return rows


def _fmt(v: Any, digits: int = 4) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.{digits}g}"
    return str(v)


def render(rows: list[dict], fmt: str, warnings: list[str]) -> str:
    if fmt == "json":
        return json.dumps({"warnings": warnings, "rows": rows}, allow_nan=False, indent=1, sort_keys=True)
    cols = ["case", "impl", "A", "B", "ratio", "95% CI", "p", "verdict", "correct"]
    body = [[r["name"], r["impl"], _fmt(r["a"]), _fmt(r["b"]), _fmt(r["ratio"]),
             "-" if not r["ratio_ci"] else f"[{_fmt(r['ratio_ci'][0])}, {_fmt(r['ratio_ci'][1])}]",
             _fmt(r["p"], 3), r["verdict"], str(r["correct"]).lower()] for r in rows]
    lines = [f"warning: {w}" for w in warnings]
    if fmt == "markdown":
        lines += ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
        lines += ["| " + " | ".join(row) + " |" for row in body]
    else:
        widths = [max(len(c), *(len(row[i]) for row in body)) if body else len(c) for i, c in enumerate(cols)]
        lines.append("  ".join(c.ljust(w) for c, w in zip(cols, widths)))
        lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths)) for row in body]
    return "\n".join(lines)


def _env_warnings(a: list[dict], b: list[dict]) -> list[str]:
    out = []
    ea = (a[0].get("env") or {}) if a else {}
    eb = (b[0].get("env") or {}) if b else {}
    for key in ("machine_fingerprint", "build_type", "cxx_flags"):
        if ea.get(key) != eb.get(key):
            out.append(f"{key} differs between the runs ({ea.get(key)!r} vs {eb.get(key)!r})")
    return out


def compare_main(argv: Sequence[str]) -> int:
    ap = argparse.ArgumentParser(prog="kiln bench compare", description="Compare two benchmark records files.")
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--alpha", type=float, default=ALPHA)
    ap.add_argument("--min-effect", type=float, default=MIN_EFFECT)
    ap.add_argument("--filter", default=None, help="glob on case names (formula/S1.*)")
    ap.add_argument("--include-peers", action="store_true")
    ap.add_argument("--format", choices=("text", "markdown", "json"), default="text")
    ap.add_argument("--fail-on-regression", action="store_true")
    args = ap.parse_args(list(argv))
    try:
        a, b = read_records(args.a), read_records(args.b)
    except KilnError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    rows = compare(a, b, alpha=args.alpha, min_effect=args.min_effect, filter=args.filter,
                   include_peers=args.include_peers)
    print(render(rows, args.format, _env_warnings(a, b)))
    if args.fail_on_regression:
        bad = any(r["verdict"] == "regressed" for r in rows)
        incorrect = any(not r["correct"] for r in rows if r["impl"] in ("kiln",) or r["impl"].startswith("kiln"))
        return 1 if bad or incorrect else 0
    return 0


# -- targets ---------------------------------------------------------------------------------------
def _load_targets(path: str) -> list[dict]:
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise make_error(6003, path=str(path), detail=str(exc)) from None
    targets = data.get("target", [])
    for t in targets:
        if not {"id", "case", "peer", "min_ratio"} <= t.keys():
            raise make_error(6003, path=str(path), detail=f"target {t!r} needs id, case, peer and min_ratio")
    return targets


def check(records: list[dict], targets: Optional[list[dict]] = None) -> list[dict]:
    """Judge targets: from the file when given, else the `target` lists of the records."""
    by_name = {r["name"]: r for r in records}
    results = []
    if targets is None:
        for r in records:
            for t in r.get("target") or []:
                if isinstance(t, dict) and "peer" in t and "min_ratio" in t:
                    targets_r = dict(t, id=f"{r['name']}:{t['peer']}", case=r["name"])
                    results.append(_judge(targets_r, r))
        return results
    for t in targets:
        r = by_name.get(t["case"])
        if r is None:
            run_ids = {x.get("run_id") for x in records}
            raise make_error(6004, id=t["id"], missing=t["case"], run_id=", ".join(sorted(map(str, run_ids))))
        results.append(_judge(t, r))
    return results


def _judge(t: dict, r: dict) -> dict:
    ratio = (r.get("ratio") or {}).get(t["peer"])
    peer = (r.get("peers") or {}).get(t["peer"]) or {}
    if r.get("quick"):
        status, ok = "not judged (quick run)", None
    elif t["min_ratio"] is None:  # a "report" target: the ratio is shown, there is no gate
        status, ok = "report", None
    elif ratio is None:
        status, ok = f"missed: peer {t['peer']} {peer.get('note') or 'has no ratio'}", False
    else:
        ok = ratio >= t["min_ratio"] and bool(r.get("correct"))
        status = "pass" if ok else "missed"
    return {"id": t["id"], "case": r["name"], "peer": t["peer"], "min_ratio": t["min_ratio"], "ratio": ratio,
            "pass": ok, "status": status}


def check_main(argv: Sequence[str]) -> int:
    ap = argparse.ArgumentParser(prog="kiln bench check", description="Judge the targets of a benchmark run.")
    ap.add_argument("run")
    ap.add_argument("--targets", default=None, help="targets TOML ([[target]] id, case, peer, min_ratio)")
    args = ap.parse_args(list(argv))
    try:
        records = read_records(args.run)
        targets = _load_targets(args.targets) if args.targets else None
        results = check(records, targets)
    except KilnError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    for res in results:
        print(f"{res['status']:<10} {res['id']}  ratio={_fmt(res['ratio'])}  min={res['min_ratio']}")
    return 1 if any(res["pass"] is False for res in results) else 0
