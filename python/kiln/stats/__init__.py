"""kiln.stats — metric rollups done properly (specs/formula.md C.3).

```python
import kiln.stats as ks
ks.sum(x); ks.mean(x); ks.min(x); ks.max(x); ks.median(x); ks.p95(x); ks.p99(x)
ks.quantile(x, q); ks.stddev(x, ddof=1); ks.pearson(x, y)
ks.rollup(x, quantiles=(0.5, 0.95, 0.99)) -> ks.Rollup
```

Inputs: 1-D numpy arrays of any real dtype, pyarrow Arrays/ChunkedArrays (nulls skipped and
counted), sequences of numbers. Keyword-only ``skipna=False``, ``strict=False``, ``threads=None``.
Native and bitwise equal to :mod:`kiln.stats.reference` for any thread count;
:mod:`kiln.stats.compat` keeps the PyAgent rollup rules for migrating callers.
"""
from kiln.stats._api import (Rollup, max, mean, median, min, p95, p99, pearson, quantile, rollup, stddev,
                             sum)

__all__ = ["Rollup", "sum", "mean", "min", "max", "median", "p95", "p99", "quantile", "stddev", "pearson", "rollup"]
