"""Drop-in replacement for PyAgent's ``BenchmarkCore`` (specs/formula.md C.2, "PyAgent compat").

Pure Python by design (formula K2): each call does a few float operations, less than the cost of
crossing into native code. Behaviour, dict shapes included, is the source's, with one deviation:
the baseline (a naive left-to-right mean) is clamped into [min, max] of the latencies, so that
[0.1, 0.1, 0.1] gives 0.1 rather than 0.10000000000000002 and the source's own property
min <= baseline <= max always holds. New code should use :mod:`kiln.bench.stats`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

__all__ = ["BenchmarkResult", "BenchmarkCore", "calculate_baseline", "check_regression", "score_efficiency"]


@dataclass(frozen=True)
class BenchmarkResult:
    """One agent run: latency in milliseconds, tokens produced, success flag."""

    agent_id: str
    latency_ms: float
    token_count: int
    success: bool


def calculate_baseline(results: Sequence[BenchmarkResult]) -> float:
    """Mean latency of the results (success ignored), 0.0 for none; clamped into [min, max]."""
    if not results:
        return 0.0
    latencies = [r.latency_ms for r in results]
    mean = sum(latencies) / len(latencies)
    return min(max(mean, min(latencies)), max(latencies))


def check_regression(current_latency: float, baseline: float, threshold: float = 0.1) -> dict:
    """``{"regression", "delta_percentage", "limit"}`` with delta = (current - baseline) / baseline;
    ``{"regression": False, "delta": 0.0}`` when the baseline is not positive."""
    if baseline <= 0:
        return {"regression": False, "delta": 0.0}
    delta = (current_latency - baseline) / baseline
    return {"regression": delta > threshold, "delta_percentage": delta * 100, "limit": threshold * 100}


def score_efficiency(result: BenchmarkResult) -> float:
    """Latency per token (lower is better); 0.0 without tokens."""
    if result.token_count > 0:
        return result.latency_ms / result.token_count
    return 0.0


class BenchmarkCore:
    """The source's class: every method is static, so it works on the class and on instances."""

    calculate_baseline = staticmethod(calculate_baseline)
    check_regression = staticmethod(check_regression)
    score_efficiency = staticmethod(score_efficiency)
