"""The process-wide thread count (specs README "Thread-count API"): ``kiln.get_num_threads()`` /
``kiln.set_num_threads(n)``. Default: the CPUs this process may run on, or ``KILN_NUM_THREADS``.
Every engine's ``threads=None`` means this value."""
from __future__ import annotations

import operator
import os
import threading

_lock = threading.Lock()
_num_threads: int | None = None


def _default() -> int:
    env = os.environ.get("KILN_NUM_THREADS")
    if env:
        try:
            n = int(env)
            if n >= 1:
                return n
        except ValueError:
            pass
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - non-Linux
        return max(1, os.cpu_count() or 1)


def get_num_threads() -> int:
    """The size of the core thread pool."""
    global _num_threads
    n = _num_threads
    if n is not None:  # set once, then only replaced whole: a plain read is safe
        return n
    with _lock:
        if _num_threads is None:
            _num_threads = _default()
        return _num_threads


def set_num_threads(n: int) -> None:
    """Set the size of the core thread pool (n >= 1)."""
    global _num_threads
    n = operator.index(n)
    if n < 1:
        from kiln.errors import make_error

        raise make_error(1001, detail=f"set_num_threads: n must be >= 1, got {n}")
    with _lock:
        _num_threads = n


def resolve(threads: int | None) -> int:
    """An engine's ``threads`` argument: None means get_num_threads()."""
    if threads is None:
        return get_num_threads()
    t = operator.index(threads)
    if t < 1:
        from kiln.errors import make_error

        raise make_error(1001, detail=f"threads must be >= 1 or None, got {t}")
    return t
