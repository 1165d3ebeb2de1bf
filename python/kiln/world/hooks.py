"""Hook registration and firing (specs/world.md §6.5).

Handlers of one event type run synchronously, in registration order, on the thread executing the
operation. Exceptions are never swallowed [D18]: a ``PreTick`` handler that raises stops the step
before it does anything; any other handler raises after its operation has taken effect, so the
remaining handlers still run and ``HookError`` (504, ``operation_completed=True``) follows with
the first exception as ``__cause__``.
"""
from __future__ import annotations

import itertools
import threading
from typing import Any, Callable, Iterable

from kiln.errors import error_for
from kiln.world.events import EVENT_TYPES, PreTick
from kiln.world.results import HookHandle

__all__ = ["HookRegistry"]


class HookRegistry:
    """The handlers of one world.

    ``token`` identifies the owning world so that a handle of another world is rejected (8).
    """

    def __init__(self, token: object) -> None:
        self._token = token
        self._handlers: dict[type, list[HookHandle]] = {t: [] for t in EVENT_TYPES}
        self._ids = itertools.count(1)
        self._local = threading.local()

    # -- registration -------------------------------------------------------------------------

    def on(self, event_type: type, handler: Callable[[Any], Any]) -> HookHandle:
        if event_type not in self._handlers:
            names = ", ".join(t.__name__ for t in EVENT_TYPES)
            raise error_for(8, f"unknown event type {event_type!r}; expected one of {names}")
        if not callable(handler):
            raise error_for(8, f"hook handler must be callable, got {type(handler).__name__}")
        handle = HookHandle(id=next(self._ids), event_type=event_type, handler=handler, world_token=self._token)
        self._handlers[event_type].append(handle)
        return handle

    def off(self, handle: HookHandle) -> None:
        """Remove a registration; removing it twice is a no-op, another world's handle is 8."""
        if not isinstance(handle, HookHandle):
            raise error_for(8, f"off() takes a HookHandle, got {type(handle).__name__}")
        if handle.world_token is not self._token:
            raise error_for(8, f"hook handle {handle.id} belongs to another world")
        handlers = self._handlers.get(handle.event_type, [])
        for i, h in enumerate(handlers):
            if h is handle:
                del handlers[i]
                return

    def has(self, event_type: type) -> bool:
        return bool(self._handlers[event_type])

    # -- firing -------------------------------------------------------------------------------

    @property
    def depth(self) -> int:
        """How many handlers are running on the calling thread (a handler may not step)."""
        return getattr(self._local, "depth", 0)

    def fire(self, event: Any) -> None:
        self.fire_all(type(event), (event,))

    def fire_all(self, event_type: type, events: Iterable[Any]) -> None:
        """Fire every event of ``events`` (all of one type) to the current handlers.

        ``events`` may be a generator: it is consumed only if handlers exist, so per-entity
        events cost nothing without handlers.
        """
        if not self._handlers[event_type]:
            return
        handlers = list(self._handlers[event_type])  # a handler may call off() while we iterate
        first: tuple[BaseException, HookHandle, Any] | None = None
        for event in events:
            for handle in handlers:
                exc = self._call(handle, event)
                if exc is None:
                    continue
                if event_type is PreTick:
                    raise self._hook_error(event, handle, exc, completed=False) from exc
                if first is None:
                    first = (exc, handle, event)
        if first is not None:
            exc, handle, event = first
            raise self._hook_error(event, handle, exc, completed=True) from exc

    def _call(self, handle: HookHandle, event: Any) -> Exception | None:
        self._local.depth = self.depth + 1
        try:
            handle.handler(event)
        except Exception as exc:  # noqa: BLE001 - re-raised as HookError by the caller
            return exc
        finally:
            self._local.depth -= 1
        return None

    @staticmethod
    def _hook_error(event: Any, handle: HookHandle, exc: BaseException, *, completed: bool) -> Exception:
        name = type(event).__name__
        handler = getattr(handle.handler, "__qualname__", repr(handle.handler))
        outcome = "the operation completed" if completed else "the step did not run"
        err = error_for(
            504,
            f"{name} handler {handler} raised {type(exc).__name__}: {exc} ({outcome})",
            event=name,
            operation_completed=completed,
        )
        return err
