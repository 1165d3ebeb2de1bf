"""`kiln bench table`: the Markdown ratio table the engine docs paste (one row per record)."""
from __future__ import annotations

import json
import subprocess
import sys

from kiln.bench import Measurement, make_record
from kiln.bench.table import format_value, table


def _record(case, kiln_s, peer_s, min_ratio=None, correct=True):
    target = [{"peer": "peer", "min_ratio": min_ratio, "text": "report" if min_ratio is None else None}]
    rec = make_record(bench="demo", case=case, params={}, kiln=Measurement("kiln-native", [kiln_s] * 5, correct=correct),
                      peers={"peer": Measurement("peer", [peer_s] * 5)}, correctness={"correct": correct},
                      correct=correct, quick=True, target=target)
    if min_ratio is not None:
        rec["pass"] = rec["ratio"]["peer"] >= min_ratio
    return rec


def test_values_get_readable_units():
    assert format_value(2.5e-6, "s") == "2.5 µs"
    assert format_value(0.0125, "s") == "12.5 ms"
    assert format_value(3.0, "s") == "3 s"
    assert format_value(4e-8, "s") == "40 ns"
    assert format_value(143.1, "ns") == "143.1 ns"
    assert format_value(None, "s") == "–"


def test_rows_show_medians_ratios_targets_and_verdicts():
    out = table([_record("a/fast", 1e-3, 4e-3, min_ratio=2.0), _record("a/slow", 1e-3, 1.5e-3, min_ratio=2.0),
                 _record("b/report", 2e-6, 2e-6)]).splitlines()
    assert out[0].startswith("| case |") and len(out) == 5
    assert out[2] == "| `a/fast` | 1 ms/tick | peer 4 ms | peer 4× | peer ≥ 2 | yes | true |"
    assert "peer 1.5×" in out[3] and "| **no** |" in out[3]
    assert "| report |" in out[4]


def test_a_target_in_words_is_shown_as_is():
    rec = _record("p/linear", 1e-3, 2e-3)
    rec["target"] = "time ratio 64 KiB / 8 KiB <= 10 (linear)"
    assert "| time ratio 64 KiB / 8 KiB <= 10 (linear) |" in table([rec])


def test_cases_filter_and_cli(tmp_path):
    path = tmp_path / "run.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in (_record("x/1", 1e-3, 2e-3), _record("y/1", 1e-3, 2e-3))))
    assert "y/1" not in table([json.loads(line) for line in path.read_text().splitlines()], "x/*")
    proc = subprocess.run([sys.executable, "-m", "kiln.bench", "table", str(path), "--cases", "y/*"],
                          capture_output=True, text=True)
    assert proc.returncode == 0 and "`y/1`" in proc.stdout and "`x/1`" not in proc.stdout
    bad = subprocess.run([sys.executable, "-m", "kiln.bench", "table", str(tmp_path / "missing.jsonl")],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "K6001" in bad.stderr
