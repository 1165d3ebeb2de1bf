"""kiln.popgen: the Nunney (2003) moving-optimum population model and threshold estimation.

See docs/popgen.md and specs/popgen.md. Both backends ("native", the C++ kernel, and "reference",
the numpy reference) implement one protocol; estimators, sweeps, store and plots are Python.
"""
from kiln.popgen.cancel import CancelToken
from kiln.popgen.model import BatchResult, Nunney2003, RunRecord, RunResult, simulate_many
from kiln.popgen.params import RNG_SCHEMA, HorizonRule, Params, StopRule

__all__ = ["BatchResult", "CancelToken", "HorizonRule", "Nunney2003", "Params", "RNG_SCHEMA", "RunRecord", "RunResult",
           "StopRule", "simulate_many", "estimate_threshold", "regress_cost", "Sweep", "open_store",
           "plot_persistence", "plot_cost"]


def __getattr__(name):  # lazy: thresholds, sweeps and plots load only when used
    if name in ("estimate_threshold", "ThresholdResult"):
        from kiln.popgen import threshold

        return getattr(threshold, name)
    if name in ("regress_cost", "CostFit"):
        from kiln.popgen import regress

        return getattr(regress, name)
    if name in ("Sweep", "open_store"):
        from kiln.popgen import sweep

        return getattr(sweep, name)
    if name in ("plot_persistence", "plot_cost"):
        from kiln.popgen import plots

        return getattr(plots, name)
    raise AttributeError(name)
