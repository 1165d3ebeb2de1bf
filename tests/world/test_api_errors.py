"""Errors raised through the API carry the catalog attributes and survive pickling
(specs/world.md §8.8; §12 item 61)."""
from __future__ import annotations

import pickle

import pyarrow as pa

import kiln
import kiln.world as kw

from api_support import Position, Velocity, backend, make_world  # noqa: F401


def _raise(fn):
    try:
        fn()
    except kiln.KilnError as exc:
        return exc
    raise AssertionError("no error raised")


def test_errors_carry_catalog_attributes_builtins_and_pickle(backend):
    @kw.processor(Position)
    def boom(batch, ctx):
        raise ValueError("inner")

    with make_world(backend) as w:
        w.spawn(Position(0.0, 0.0))
        w.step()
        cases = [
            (lambda: w.despawn(99), 251, kw.errors.UnknownEntityError, LookupError),
            (lambda: w.reserve_ids(0), 8, kw.errors.InvalidArgumentError, ValueError),
            (lambda: w.spawn_batch({Position: {"x": [1.0], "y": ["z"]}}), 155, kw.errors.SchemaError, TypeError),
            (lambda: w.spawn_reserved(1, Position(0.0, 0.0)), 252, kw.errors.EntityExistsError, ValueError),
            (lambda: w.remove_components(1, Velocity), 502, kw.errors.ComponentNotPresentError, LookupError),
            (lambda: w.remove_processor(boom), 401, kw.errors.UnknownProcessorError, LookupError),
            (lambda: w.run(-1), 8, kw.errors.InvalidArgumentError, ValueError),
        ]
        for fn, number, cls, builtin in cases:
            exc = _raise(fn)
            assert isinstance(exc, cls) and isinstance(exc, builtin) and isinstance(exc, kw.errors.WorldError)
            assert exc.number == number == exc.abi_code
            assert exc.code == f"K{number:04d}"
            assert isinstance(exc.name, str) and exc.name
            assert isinstance(exc.details, dict)
            clone = pickle.loads(pickle.dumps(exc))
            assert type(clone) is type(exc) and clone.number == exc.number and str(clone) == str(exc)

        w.add_processor(boom)
        exc = _raise(w.step)
        assert isinstance(exc, kw.errors.ProcessorError) and isinstance(exc, RuntimeError)
        assert exc.number == 400
        assert exc.details["processor"] == "boom" and exc.details["tick"] == 1
        assert exc.details["table"] == w.table_name(Position)
        assert isinstance(exc.__cause__, ValueError)
        assert pickle.loads(pickle.dumps(exc)).number == 400


def test_errors_name_the_offending_thing(backend):
    with make_world(backend) as w:
        assert "position__y" in str(_raise(lambda: w.spawn_batch({Position: {"x": [1.0]}})))
        assert "42" in str(_raise(lambda: w.despawn(42)))
        t = pa.table({"position__x": [1.0], "position__y": [1.0], "velocity__q": [1.0]})
        assert "velocity__q" in str(_raise(lambda: w.spawn_batch(t, components=[Position])))
