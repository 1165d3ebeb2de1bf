"""Store configuration objects for :class:`kiln.world.World`.

These are plain value objects; the kernels (native and reference) read them when a world opens.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal, Optional, Union

_COMPRESSIONS = ("zstd", "snappy", "lz4", "none")
_DURABILITIES = ("process", "fsync")


def _invalid(message: str) -> Exception:
    from kiln.errors import error_for  # late import: kiln.errors imports nothing from here

    return error_for(8, message)


@dataclass(frozen=True)
class ParquetStore:
    """An append-only Parquet history under ``root`` (specs/world.md §5).

    ``flush_every_ticks`` batches k ticks per part; ``durability="fsync"`` adds fsyncs around the
    commit point; compression is one of zstd (default, level 1), snappy, lz4, none.
    """

    root: Union[str, "os.PathLike[str]"]
    flush_every_ticks: int = 1
    durability: Literal["process", "fsync"] = "process"
    compression: Literal["zstd", "snappy", "lz4", "none"] = "zstd"
    compression_level: int = 1

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", os.fspath(self.root))
        if not isinstance(self.flush_every_ticks, int) or self.flush_every_ticks < 1:
            raise _invalid(f"flush_every_ticks must be an integer >= 1, got {self.flush_every_ticks!r}")
        if self.durability not in _DURABILITIES:
            raise _invalid(f"durability must be one of {_DURABILITIES}, got {self.durability!r}")
        if self.compression not in _COMPRESSIONS:
            raise _invalid(f"compression must be one of {_COMPRESSIONS}, got {self.compression!r}")
        if not isinstance(self.compression_level, int):
            raise _invalid(f"compression_level must be an integer, got {self.compression_level!r}")


@dataclass(frozen=True)
class MemoryStore:
    """History kept in memory: all ticks (``retain_ticks=None``), the last N, or none (0)."""

    retain_ticks: Optional[int] = None

    def __post_init__(self) -> None:
        if self.retain_ticks is not None and (not isinstance(self.retain_ticks, int) or self.retain_ticks < 0):
            raise _invalid(f"retain_ticks must be None or an integer >= 0, got {self.retain_ticks!r}")


StoreSpec = Union[ParquetStore, MemoryStore]


def resolve_store(store: object) -> StoreSpec:
    """Turn the ``store=`` argument of ``World`` into a store object (specs/world.md §8.2)."""
    if store is None or store == ":memory:":
        return MemoryStore()
    if isinstance(store, (ParquetStore, MemoryStore)):
        return store
    if isinstance(store, (str, os.PathLike)):
        return ParquetStore(store)
    raise _invalid(f"store must be None, ':memory:', a path, ParquetStore or MemoryStore; got {type(store).__name__}")
