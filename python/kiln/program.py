"""``kiln.Program``: the shared program representation of kiln.formula and kiln.anneal
(specs/anneal.md §2.1). Items are 16-byte records mirrored by ``ITEM_DTYPE``; the pool holds the
f64 constants. Formulas expose their compiled program as ``Formula.program``."""
from __future__ import annotations

import dataclasses

import numpy as np

from kiln import _opcodes as opcodes

ITEM_DTYPE = np.dtype([("token", "<u4"), ("pos", "<u2"), ("op", "u1"), ("flags", "u1"),
                       ("arg0", "<i2"), ("arg1", "<i2"), ("weight", "<f4")])
assert ITEM_DTYPE.itemsize == 16


@dataclasses.dataclass(frozen=True, eq=False)
class Program:
    """An arith program: ``items`` (ITEM_DTYPE array), ``pool`` (float64 constants), the number
    of scalar inputs ``n_vars`` and list inputs ``n_lists``."""

    items: np.ndarray
    pool: np.ndarray
    n_vars: int
    n_lists: int = 0
    isa: str = "arith"
    domain: str = "f64"

    @classmethod
    def from_bytes(cls, items: bytes, pool: bytes, n_vars: int, n_lists: int = 0) -> "Program":
        it = np.frombuffer(items, dtype=ITEM_DTYPE).copy()
        pl = np.frombuffer(pool, dtype="<f8").copy()
        it.flags.writeable = False
        pl.flags.writeable = False
        return cls(it, pl, int(n_vars), int(n_lists))

    def items_bytes(self) -> bytes:
        return np.ascontiguousarray(self.items, dtype=ITEM_DTYPE).tobytes()

    def pool_bytes(self) -> bytes:
        return np.ascontiguousarray(self.pool, dtype="<f8").tobytes()

    def check(self) -> None:
        """Well-formedness (anneal §3.3); raises CORE_INVALID_ARGUMENT naming the item."""
        from kiln import _kiln

        _kiln._program_check(self.items_bytes(), self.pool_bytes(), self.n_vars, self.n_lists)

    def ops(self) -> list[str]:
        """Opcode names of the items (tests refer to names, not numbers)."""
        return [opcodes.NAMES[int(o)] for o in self.items["op"]]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Program):
            return NotImplemented
        return (self.items_bytes() == other.items_bytes() and self.pool_bytes() == other.pool_bytes()
                and (self.n_vars, self.n_lists, self.isa, self.domain)
                == (other.n_vars, other.n_lists, other.isa, other.domain))

    def __hash__(self) -> int:
        return hash((self.items_bytes(), self.pool_bytes(), self.n_vars, self.n_lists))

    def __len__(self) -> int:
        return len(self.items)
