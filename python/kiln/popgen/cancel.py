"""Stopping a running batch (popgen §6.1, K2207): a `CancelToken` the caller cancels from any
thread, and Ctrl-C (SIGINT) while a native batch runs.

The kernel checks the request between generations and before each replicate, so runs that
completed before it are returned unchanged and the rest end with outcome "error", error_code
K2207. A cancel through a token returns the batch normally; Ctrl-C raises K2207
(`POPGEN_CANCELLED`, a KeyboardInterrupt) whose `.partial` holds the same BatchResult, so no
finished run is lost either way.
"""
from __future__ import annotations


class CancelToken:
    """A cancel request shared by any number of batches (`simulate_many(..., cancel=token)`)."""

    def __init__(self) -> None:
        from kiln import _kiln

        self._source = _kiln.PopgenCancelSource()

    def cancel(self) -> None:
        """Ask every batch using this token to stop; thread-safe, idempotent."""
        self._source.cancel()

    @property
    def cancelled(self) -> bool:
        return self._source.cancelled

    def __repr__(self) -> str:
        return f"CancelToken(cancelled={self.cancelled})"


class Interrupted(Exception):
    """Internal: a backend was interrupted by a signal handler's exception after returning every
    completed run; `run_specs` turns it into K2207 with the partial results."""

    def __init__(self, exc: BaseException, results: tuple) -> None:
        super().__init__(repr(exc))
        self.exc, self.results = exc, results
