"""Test-only hooks (specs/world.md §7.8); not covered by the stability promise."""
from __future__ import annotations

from typing import Any

from kiln.errors import error_for

__all__ = ["set_fault_plan"]


def set_fault_plan(world: Any, plan: str) -> None:
    """Inject store faults into ``world``: comma-separated ``action:point[:table][@n]``.

    Actions ``fail`` (injected ENOSPC) and ``crash`` (SIGKILL after the operation); points
    ``stage``, ``record``, ``publish``, ``done``, ``read``, ``internal``. ``""`` clears the plan;
    bad syntax raises ``InvalidArgumentError`` (8).
    """
    if not isinstance(plan, str):
        raise error_for(8, f"a fault plan is a string, got {type(plan).__name__}")
    kernel = world._live_kernel()
    kernel.set_fault_plan(plan)
