"""Components, signatures and table names (specs/world.md §2.2–§2.4; §12 items 1–4)."""
from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass
from typing import Annotated, Optional

import pyarrow as pa
import pytest

import kiln
import kiln.world as kw
from kiln.world.tables import BASE_FIELDS, layout_for

from api_support import Label, Marker, Position, Velocity, assert_code, backend, make_world  # noqa: F401

# Pinned with pyarrow 26.0.x; a change of pyarrow's schema rendering must fail here instead of
# silently renaming every table (§2.4).
GOLDEN_EMPTY = "a_0c_sc9d39492bc29713c"
GOLDEN_POSITION = "a_1c_sa85ab0c4bb96f38f"
GOLDEN_POSITION_VELOCITY = "a_2c_s11ebd32e9f8822ca"


@dataclass
class Inner:
    a: int
    b: Optional[str]


@kiln.component
class ApiEverything:
    i: int
    f: float = 1.0
    b: bool = False
    s: str = ""
    by: bytes = b""
    li: list[float] = dataclasses.field(default_factory=list)
    lo: list[Optional[int]] = dataclasses.field(default_factory=list)
    inner: Inner = dataclasses.field(default_factory=lambda: Inner(1, None))
    pos: Position = dataclasses.field(default_factory=lambda: Position(0.0, 0.0))
    opt: Optional[int] = None
    pipe: int | None = None
    f32: Annotated[float, pa.float32()] = 0.0
    vec3: Annotated[Optional[list[float]], pa.list_(pa.float32(), 3)] = None


def test_golden_table_names():
    assert layout_for(()).name == GOLDEN_EMPTY
    assert layout_for((Position,)).name == GOLDEN_POSITION
    assert layout_for((Position, Velocity)).name == GOLDEN_POSITION_VELOCITY


def test_table_name_is_the_documented_hash():
    import hashlib

    layout = layout_for((Velocity, Position))
    bare = pa.schema([pa.field(f.name, f.type, f.nullable) for f in layout.schema])
    expected = "a_2c_s" + hashlib.sha256(str(bare).encode("utf-8")).hexdigest()[:16]
    assert layout.name == expected
    assert re.fullmatch(r"a_\d+c_s[0-9a-f]{16}", layout.name)


def test_signature_is_order_invariant(backend):
    with make_world(backend) as w:
        assert w.table_name(Position, Velocity) == w.table_name(Velocity, Position)
        a = w.spawn(Position(0.0, 0.0), Velocity(1.0, 1.0))
        b = w.spawn(Velocity(1.0, 1.0), Position(0.0, 0.0))
        reg = w.registry()
        assert reg["table"].to_pylist() == [w.table_name(Position, Velocity)] * 2
        assert reg["entity_id"].to_pylist() == [a, b]


def test_hint_mapping():
    cols = {f.name: f for f in layout_for((ApiEverything,)).schema}
    assert cols["apieverything__i"] == pa.field("apieverything__i", pa.int64(), False)
    assert cols["apieverything__f"].type == pa.float64() and not cols["apieverything__f"].nullable
    assert cols["apieverything__b"].type == pa.bool_()
    assert cols["apieverything__s"].type == pa.string()
    assert cols["apieverything__by"].type == pa.binary()
    assert cols["apieverything__li"].type == pa.list_(pa.field("item", pa.float64(), False))
    assert cols["apieverything__lo"].type == pa.list_(pa.field("item", pa.int64(), True))
    assert cols["apieverything__inner"].type == pa.struct(
        [pa.field("a", pa.int64(), False), pa.field("b", pa.string(), True)])
    assert cols["apieverything__pos"].type == pa.struct(
        [pa.field("x", pa.float64(), False), pa.field("y", pa.float64(), False)])
    assert cols["apieverything__opt"].nullable and cols["apieverything__opt"].type == pa.int64()
    assert cols["apieverything__pipe"].nullable
    assert cols["apieverything__f32"] == pa.field("apieverything__f32", pa.float32(), False)
    assert cols["apieverything__vec3"] == pa.field("apieverything__vec3", pa.list_(pa.float32(), 3), True)
    # Declaration order, after the five base columns.
    names = layout_for((ApiEverything,)).schema.names
    assert names[:5] == [f.name for f in BASE_FIELDS]
    assert names[5:] == ["apieverything__" + f.name for f in dataclasses.fields(ApiEverything)]


def test_component_is_a_slotted_mutable_dataclass_with_defaults():
    assert dataclasses.is_dataclass(ApiEverything)
    assert hasattr(ApiEverything, "__slots__")
    e = ApiEverything(3)
    e.f = 2.5  # not frozen
    assert (e.i, e.f, e.s) == (3, 2.5, "")
    with pytest.raises(AttributeError):
        e.not_a_field = 1  # slots


def test_base_columns_and_empty_signature(backend):
    schema = layout_for(()).schema
    assert [(f.name, f.type, f.nullable) for f in schema] == [
        ("world_id", pa.string(), False), ("run_id", pa.string(), False), ("entity_id", pa.int32(), False),
        ("tick", pa.int32(), False), ("is_active", pa.bool_(), False)]
    with make_world(backend) as w:
        e = w.spawn()
        w.step()
        live = w.live_tables()
        assert list(live) == [GOLDEN_EMPTY]
        assert live[GOLDEN_EMPTY].schema.names == [f.name for f in BASE_FIELDS]
        assert live[GOLDEN_EMPTY]["entity_id"].to_pylist() == [e]


def test_column_names_and_tag_column():
    schema = layout_for((Position, Marker, Label)).schema
    assert schema.names[5:] == ["label__text", "marker__tag", "position__x", "position__y"]
    assert schema.field("marker__tag") == pa.field("marker__tag", pa.bool_(), False)


def test_signature_metadata():
    schema = layout_for((Velocity, Position)).schema
    assert json.loads(schema.metadata[b"kiln.signature"]) == ["Position", "Velocity"]


def test_tag_value_is_true(backend):
    with make_world(backend) as w:
        w.spawn(Marker(), Position(1.0, 2.0))
        w.step()
        assert w.query(Marker)["marker__tag"].to_pylist() == [True]


def test_different_tags_give_different_tables():
    @kiln.component
    class ApiTagA:
        pass

    @kiln.component
    class ApiTagB:
        pass

    assert layout_for((ApiTagA,)).name != layout_for((ApiTagB,)).name


@pytest.mark.parametrize("hint", [dict, set, complex, list, "tuple[int, int]", "int | str", "dict[str, int]"])
def test_unsupported_hint_is_500_and_not_registered(hint):
    from kiln.world.components import lookup_component

    namespace: dict = {}
    annotation = eval(hint) if isinstance(hint, str) else hint  # noqa: S307 - test input
    cls = type("ApiBadHint", (), {"__annotations__": {"v": annotation}})
    with pytest.raises(kw.errors.ComponentError) as exc:
        kiln.component(cls)
    assert_code(exc, 500)
    assert lookup_component("apibadhint") is None
    del namespace


def test_double_underscore_in_name_is_500():
    cls = type("Api__Bad", (), {"__annotations__": {"v": int}})
    with pytest.raises(kw.errors.ComponentError) as exc:
        kiln.component(cls)
    assert_code(exc, 500)
    assert "__" in str(exc.value)


def test_same_name_equal_schema_replaces_and_different_schema_is_501():
    from kiln.world.components import lookup_component

    @kiln.component
    class ApiReloaded:
        v: float

    first = ApiReloaded

    @kiln.component
    class ApiReloaded:  # noqa: F811 - a module reload defines the class again
        v: float

    assert lookup_component("apireloaded") is ApiReloaded and ApiReloaded is not first

    with pytest.raises(kw.errors.ComponentError) as exc:
        @kiln.component
        class apireloaded:  # same component name, different schema
            v: int
    assert_code(exc, 501)
    assert lookup_component("apireloaded") is ApiReloaded


def test_nested_component_and_dataclass_values_round_trip(backend):
    with make_world(backend) as w:
        e = w.spawn(ApiEverything(7, li=[1.0, 2.0], lo=[None, 3], inner=Inner(5, "q"), pos=Position(1.0, 2.0),
                                  vec3=[1.0, 2.0, 3.0]))
        w.step()
        row = w.query(ApiEverything).to_pylist()[0]
        assert row["entity_id"] == e
        assert row["apieverything__i"] == 7
        assert row["apieverything__li"] == [1.0, 2.0]
        assert row["apieverything__lo"] == [None, 3]
        assert row["apieverything__inner"] == {"a": 5, "b": "q"}
        assert row["apieverything__pos"] == {"x": 1.0, "y": 2.0}
        assert row["apieverything__opt"] is None
        assert row["apieverything__vec3"] == [1.0, 2.0, 3.0]


def test_component_given_twice_is_501(backend):
    with make_world(backend) as w:
        with pytest.raises(kw.errors.ComponentError) as exc:
            w.spawn(Position(0.0, 0.0), Position(1.0, 1.0))
        assert_code(exc, 501)
        assert w.registry().num_rows == 0


def test_non_component_is_rejected(backend):
    @dataclass
    class NotAComponent:
        v: int = 0

    with make_world(backend) as w:
        with pytest.raises(kw.errors.ComponentError) as exc:
            w.spawn(NotAComponent())
        assert_code(exc, 500)
        with pytest.raises(kw.errors.ComponentError):
            w.spawn(Position)  # a class, not an instance


def test_kiln_component_is_kiln_world_component():
    assert kw.component is kiln.world.components.component
    assert callable(kiln.component)
