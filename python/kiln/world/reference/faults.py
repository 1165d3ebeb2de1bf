"""The testing fault plan of specs/world.md §7.8.

A plan is a comma-separated list of ``action:point[:table][@n]``:

* action ``fail``: the operation at that point fails with an injected I/O error (ENOSPC);
  at point ``internal`` it raises an unexpected exception instead (code 2, world poisoned 105);
* action ``crash``: the process receives SIGKILL right after the operation succeeded;
* points: ``stage`` (write of a table's staged part), ``record`` (commit-point rename),
  ``publish`` (a table's part rename), ``done`` (record marked done), ``read`` (a store read),
  ``internal`` (an internal checkpoint passed by every state-changing kernel call);
* the table qualifier restricts ``stage``/``publish``; each entry fires once, on the n-th
  matching occurrence (default 1).

Operations call :meth:`FaultPlan.check` before they run (which raises for ``fail``) and
:meth:`FaultPlan.after` once they succeeded (which kills the process for ``crash``).
"""
from __future__ import annotations

import errno
import os
import re
import signal
from dataclasses import dataclass
from typing import List, Optional

__all__ = ["FaultPlan", "InjectedIOError", "InjectedInternalError", "POINTS"]

POINTS = ("stage", "record", "publish", "done", "read", "internal")
_TABLE_POINTS = ("stage", "publish")
_ENTRY = re.compile(
    r"^(?P<action>fail|crash):(?P<point>[a-z]+)(?::(?P<table>[A-Za-z0-9_.\-]{1,200}))?(?:@(?P<n>[0-9]+))?$"
)


class InjectedIOError(OSError):
    """The I/O error a ``fail`` entry injects (errno ENOSPC)."""

    def __init__(self, point: str, table: Optional[str] = None) -> None:
        where = f"{point}" + (f" of table {table}" if table else "")
        super().__init__(errno.ENOSPC, f"{os.strerror(errno.ENOSPC)} (injected fault at {where})")
        self.point = point


class InjectedInternalError(RuntimeError):
    """The unexpected exception ``fail:internal`` injects."""


@dataclass
class _Entry:
    action: str
    point: str
    table: Optional[str]
    n: int
    seen: int = 0
    fired: bool = False


class FaultPlan:
    """A parsed fault plan; an empty plan never fires."""

    def __init__(self, plan: str = "") -> None:
        self.text = plan
        self._entries: List[_Entry] = self._parse(plan)

    @staticmethod
    def _parse(plan: str) -> List[_Entry]:
        if not isinstance(plan, str):
            raise ValueError(f"fault plan must be a string, got {type(plan).__name__}")
        entries: List[_Entry] = []
        if plan.strip() == "":
            return entries
        for raw in plan.split(","):
            item = raw.strip()
            m = _ENTRY.match(item)
            if m is None:
                raise ValueError(f"bad fault plan entry {item!r}: expected action:point[:table][@n]")
            point = m.group("point")
            if point not in POINTS:
                raise ValueError(f"bad fault plan entry {item!r}: unknown point {point!r} (one of {', '.join(POINTS)})")
            table = m.group("table")
            if table is not None and point not in _TABLE_POINTS:
                raise ValueError(f"bad fault plan entry {item!r}: a table qualifier applies only to stage and publish")
            n = int(m.group("n")) if m.group("n") is not None else 1
            if n < 1:
                raise ValueError(f"bad fault plan entry {item!r}: @n needs n >= 1")
            entries.append(_Entry(m.group("action"), point, table, n))
        return entries

    def __bool__(self) -> bool:
        return bool(self._entries)

    def _fire(self, point: str, table: Optional[str]) -> Optional[str]:
        action = None
        for e in self._entries:
            if e.fired or e.point != point:
                continue
            if e.table is not None and e.table != table:
                continue
            e.seen += 1
            if e.seen == e.n:
                e.fired = True
                if action is None or e.action == "fail":
                    action = e.action
        return action

    def check(self, point: str, table: Optional[str] = None) -> bool:
        """Count one occurrence of ``point``; raise for ``fail``; return True for ``crash``."""
        if not self._entries:
            return False
        action = self._fire(point, table)
        if action == "fail":
            if point == "internal":
                raise InjectedInternalError("injected internal fault (fault plan fail:internal)")
            raise InjectedIOError(point, table)
        return action == "crash"

    @staticmethod
    def after(crash: bool) -> None:
        """Kill the process (SIGKILL) if the occurrence checked before was a ``crash``."""
        if crash:
            os.kill(os.getpid(), signal.SIGKILL)
