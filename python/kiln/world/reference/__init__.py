"""The pure-Python reference world (specs/world.md §9.1).

``ReferenceKernel`` implements the internal kernel interface (docs/dev/kernel-interface.md)
with pyarrow only; the store-level functions below serve the shared Python layer
(``kiln.world.recover``, ``list_worlds``, ``published_tick``, ``read_ledger``).
Nothing here needs the native extension.
"""
from kiln.world.reference.kernel import ReferenceKernel
from kiln.world.reference.parquet_store import (
    RecoveryReport,
    WorldInfo,
    list_worlds,
    published_tick,
    read_ledger_table,
    recover,
)

__all__ = [
    "RecoveryReport",
    "ReferenceKernel",
    "WorldInfo",
    "list_worlds",
    "published_tick",
    "read_ledger_table",
    "recover",
]
