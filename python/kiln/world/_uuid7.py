"""UUIDv7 text generation with a per-process monotonic counter (RFC 9562 §5.7, §6.2).

Layout: 48-bit Unix millisecond timestamp, version 7, a 42-bit counter spread over ``rand_a``
(12 bits) and the top 30 bits of ``rand_b`` (RFC 9562 §6.2 method 1, "fixed-length dedicated
counter bits"), variant ``10``, and 32 random bits. The counter is re-seeded with random bits
(its top bit cleared, so there is room to count) whenever the clock moves forward, and
incremented by one for every further UUID within the same millisecond. If the clock stands
still or steps backwards, the previous timestamp is reused; if the counter overflows, the
timestamp is advanced by one millisecond. Hence every UUID this process generates sorts
(as text or bytes) strictly after the previous one, which is what makes part names sort in
write order (specs/world.md §5.2).
"""
from __future__ import annotations

import os
import secrets
import threading
import time

__all__ = ["uuid7", "uuid7_bytes"]

_COUNTER_BITS = 42
_COUNTER_MAX = (1 << _COUNTER_BITS) - 1

_lock = threading.Lock()
_last_ms = -1
_counter = 0


def _reseed_after_fork() -> None:
    # The lock may have been held by another thread at fork time. The child keeps the
    # parent's (timestamp, counter) state, so it stays monotonic; the 32 random tail bits
    # keep its names distinct from the parent's.
    global _lock
    _lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reseed_after_fork)


def _next_fields() -> tuple[int, int]:
    global _last_ms, _counter
    now = time.time_ns() // 1_000_000
    with _lock:
        if now > _last_ms:
            _last_ms = now
            _counter = secrets.randbits(_COUNTER_BITS - 1)  # top counter bit clear (guard)
        else:
            _counter += 1
            if _counter > _COUNTER_MAX:
                _last_ms += 1
                _counter = secrets.randbits(_COUNTER_BITS - 1)
        return _last_ms, _counter


def uuid7_bytes() -> bytes:
    """Return the 16 bytes of a fresh, monotonically increasing UUIDv7."""
    ms, counter = _next_fields()
    rand_a = counter >> 30  # 12 bits
    rand_b_hi = counter & ((1 << 30) - 1)  # 30 bits
    rand_b = (rand_b_hi << 32) | secrets.randbits(32)  # 62 bits
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= rand_a << 64
    value |= 0b10 << 62
    value |= rand_b
    return value.to_bytes(16, "big")


def uuid7() -> str:
    """Return a fresh UUIDv7 in canonical lowercase text form."""
    h = uuid7_bytes().hex()
    return f"{h[0:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"
