"""kiln.world quickstart (specs/world.md §8.9): a counter, four ticks, history, resume.

Usage: python examples/world_quickstart.py [DATA_DIR]
DATA_DIR defaults to a fresh temporary directory. The backend is the native kernel unless
KILN_WORLD_BACKEND=reference selects the pure-Python one.

Prints:
    [3]
    [0, 1, 2, 3] [0, 1, 2, 3]
    5 [4]
"""
import os
import sys
import tempfile

import pyarrow.compute as pc

import kiln
import kiln.world as kw

BACKEND = os.environ.get("KILN_WORLD_BACKEND", "native")


@kiln.component
class Counter:
    value: int = 0


@kw.processor(Counter)
def increment(batch, ctx):
    return kw.replace(batch, counter__value=pc.add(batch["counter__value"], 1))


def main(data_dir: str) -> None:
    with kw.World(store=data_dir, namespace="quickstart", backend=BACKEND) as w:  # new UUIDv7 ids
        wid, rid = w.world_id, w.run_id
        w.add_processor(increment)
        e = w.spawn(Counter())
        w.run(4)                                  # ticks 0..3; tick 0 stores the raw value
        print(w.query(Counter)["counter__value"].to_pylist())          # [3]
        h = w.history(Counter, entity_ids=[e])
        print(h["tick"].to_pylist(), h["counter__value"].to_pylist())  # [0, 1, 2, 3] [0, 1, 2, 3]

    w2 = kw.World.open(data_dir, "quickstart", world_id=wid, run_id=rid, backend=BACKEND)  # resume
    w2.add_processor(increment)
    w2.run(1)
    print(w2.tick, w2.query(Counter)["counter__value"].to_pylist())     # 5 [4]
    w2.close()


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(sys.argv[1])
    else:
        with tempfile.TemporaryDirectory(prefix="kiln_quickstart_") as tmp:
            main(tmp)
