"""Progress reporting (popgen §6.5): a tqdm bar on a TTY, else a one-line status every 10 s.

Bars are off when stderr is not a TTY, when the caller passes progress=False, or with
KILN_NO_PROGRESS=1; the status lines keep long CI and batch-scheduler logs readable.
"""
from __future__ import annotations

import os
import sys
import time

STATUS_EVERY_S = 10.0


def bars_enabled(progress) -> bool:
    if not progress or os.environ.get("KILN_NO_PROGRESS", "") not in ("", "0"):
        return False
    return sys.stderr.isatty()


class _StatusLine:
    """The non-TTY form: `desc: done/total` at most every 10 s, and once at the end."""

    def __init__(self, total, desc, enabled):
        self.n, self.total, self.desc, self.enabled = 0, total, desc, enabled
        self._last = time.monotonic()
        self.postfix = ""

    def update(self, k=1):
        self.n += k
        if self.enabled and time.monotonic() - self._last >= STATUS_EVERY_S:
            self._emit()

    def set_postfix_str(self, s):
        self.postfix = s

    def _emit(self):
        self._last = time.monotonic()
        extra = f" {self.postfix}" if self.postfix else ""
        print(f"{self.desc}: {self.n}/{self.total}{extra}", file=sys.stderr, flush=True)

    def close(self):
        if self.enabled:
            self._emit()


def make_bar(progress, total, desc="runs"):
    if bars_enabled(progress):
        from tqdm import tqdm

        return tqdm(total=total, desc=desc, file=sys.stderr, dynamic_ncols=True)
    # progress=True without a TTY (or with KILN_NO_PROGRESS) still reports, as status lines.
    return _StatusLine(total, desc, bool(progress))


def chunked_run(model, seed, replicates, T, horizon, record, workers, chunk: int = 64, **kw):
    """simulate_many with a bar: the same specs, run in chunks; rows stay in input order."""
    import pyarrow as pa

    from kiln.popgen.model import BatchResult
    from kiln.popgen.params import HorizonRule

    reps = range(replicates) if isinstance(replicates, int) else replicates
    specs = model.specs(seed, reps, T, HorizonRule() if horizon is None else horizon)
    bar = make_bar(True, len(specs))
    tables, gens = [], []
    try:
        for i in range(0, len(specs), chunk):
            try:
                runs, g, _ = model.run_specs(specs[i:i + chunk], record=record, workers=workers, **kw)
            except KeyboardInterrupt as e:  # K2207: its .partial covers this chunk; add the earlier ones
                part = getattr(e, "partial", None)
                if part is not None:
                    e.partial = BatchResult(pa.concat_tables(tables + [part.runs]), gens + part.generations)
                raise
            tables.append(runs)
            gens += g
            bar.update(runs.num_rows)
    finally:
        bar.close()
    return BatchResult(pa.concat_tables(tables), gens)
