"""The native kernel's column cache: freed large column buffers kept for reuse.

A tick allocates its new columns fresh, and fresh memory costs a page fault per page on first
touch; the system allocator hands pages back soon after a world closes, so every new world,
replicate or benchmark trial would fault them in again. The native kernel therefore allocates
its per-tick columns from a pool that keeps freed buffers of at least 1 MiB (up to a byte limit,
256 MiB by default) and reuses them for requests of the same size. Only the native backend uses
it; the memory stays with the process until the limit is lowered.
"""
from __future__ import annotations

from kiln.errors import error_for

__all__ = ["buffer_cache_stats", "set_buffer_cache_limit"]


def buffer_cache_stats() -> dict:
    """``limit_bytes``, ``cached_bytes`` (kept now), ``hits`` and ``misses`` (large requests)."""
    from kiln import _kiln

    return dict(_kiln.buffer_cache_stats())


def set_buffer_cache_limit(limit_bytes: int) -> None:
    """Most bytes kept for reuse; lowering it frees the excess at once, 0 turns the cache off."""
    if isinstance(limit_bytes, bool) or not isinstance(limit_bytes, int) or limit_bytes < 0:
        raise error_for(8, f"set_buffer_cache_limit() needs an integer number of bytes >= 0, got {limit_bytes!r}")
    from kiln import _kiln

    _kiln.set_buffer_cache_limit(int(limit_bytes))
