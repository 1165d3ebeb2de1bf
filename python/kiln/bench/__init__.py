"""Kiln benchmarks: the shared ``kiln.bench/1`` record (specs/formula.md C.1) and its statistics.

``python -m kiln.bench <suite> [--quick] [--only IDS] [--out FILE]`` runs the drivers of a suite
(from a source checkout: ``bench/<suite>/``); every case prints one JSON record per line.
"""
from kiln.bench.record import Measurement, environment, make_record, write_record
from kiln.bench.stats import bootstrap_ci, ratio_ci, summarize

__all__ = ["Measurement", "environment", "make_record", "write_record", "bootstrap_ci", "ratio_ci", "summarize"]
