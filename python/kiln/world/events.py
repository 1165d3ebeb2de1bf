"""Hook events (specs/world.md §6.5).

Handlers registered with ``world.on(EventType, handler)`` receive one of these frozen dataclasses.
Every event carries the ``world_id`` of the world that fired it.
"""
from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "Event",
    "PreTick",
    "PostTick",
    "OnSpawn",
    "OnDespawn",
    "OnComponentAdded",
    "OnComponentRemoved",
    "EVENT_TYPES",
]


@dataclass(frozen=True)
class Event:
    """Base of every world event."""

    world_id: str


@dataclass(frozen=True)
class PreTick(Event):
    """Before a step does anything; ``tick`` is the tick about to execute.

    Mutations made by a handler are part of that tick; a raising handler prevents the step.
    """

    tick: int


@dataclass(frozen=True)
class PostTick(Event):
    """After a tick completed and the processors' deferred commands were applied.

    ``tick`` is the tick just completed (the same number as its ``PreTick``) [D17].
    """

    tick: int
    rows_written: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class OnSpawn(Event):
    """A spawn was staged (fired even if the spawn is cancelled later); ``components`` are the
    component classes of the entity in signature order."""

    entity_id: int
    components: tuple[type, ...]


@dataclass(frozen=True)
class OnDespawn(Event):
    """A despawn was accepted (also a spawn-cancel)."""

    entity_id: int


@dataclass(frozen=True)
class OnComponentAdded(Event):
    """``add_components`` changed the signature; ``components`` are the newly added classes."""

    entity_id: int
    components: tuple[type, ...]


@dataclass(frozen=True)
class OnComponentRemoved(Event):
    """``remove_components`` changed the signature; ``component_types`` are the removed classes."""

    entity_id: int
    component_types: tuple[type, ...]


EVENT_TYPES = (PreTick, PostTick, OnSpawn, OnDespawn, OnComponentAdded, OnComponentRemoved)
