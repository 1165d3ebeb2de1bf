"""Python exception classes of the catalog (formula B.1.5, world §8.8) and kiln.errors.error_for."""
from __future__ import annotations

import json
import pickle
import warnings

import pytest

import kiln
import kiln.errors as ke
import kiln.world.errors as we
from kiln.errors import ErrorCatalog, KilnError, KilnWarning, error_for, make_error
from kiln.errors._generated import CLASSES, ENGINE_CLASSES

# world §8.8, copied by hand: class -> (codes, builtin (or None), parent class name).
WORLD_8_8 = {
    "ArrowInterfaceError": ({1, 3, 4, 5, 6, 7, 9}, None, "WorldError"),
    "InvalidArgumentError": ({8, 158, 253}, ValueError, "WorldError"),
    "RowCountError": ({254}, ValueError, "InvalidArgumentError"),
    "WorldMemoryError": ({10}, MemoryError, "WorldError"),
    "InternalError": ({2, 105, 250}, None, "WorldError"),
    "StepStateError": ({100, 101, 102, 104, 350, 351}, RuntimeError, "WorldError"),
    "PartialTickError": ({103}, RuntimeError, "WorldError"),
    "UnknownTableError": ({150, 151}, LookupError, "WorldError"),
    "SchemaError": ({152, 153, 154, 155, 156, 157}, TypeError, "WorldError"),
    "StoreError": ({200, 201, 202, 203, 204, 205, 206}, OSError, "WorldError"),
    "UnknownEntityError": ({251}, LookupError, "WorldError"),
    "EntityExistsError": ({252}, ValueError, "WorldError"),
    "EntityIdsExhaustedError": ({255}, OverflowError, "WorldError"),
    "ProcessedBatchError": ({300, 301, 302}, TypeError, "WorldError"),
    "ProcessorError": ({400}, RuntimeError, "WorldError"),
    "UnknownProcessorError": ({401}, LookupError, "WorldError"),
    "ProcessorConfigError": ({402}, ValueError, "WorldError"),
    "ComponentError": ({500, 501, 503}, TypeError, "WorldError"),
    "ComponentNotPresentError": ({502}, LookupError, "WorldError"),
    "HookError": ({504}, RuntimeError, "WorldError"),
}
ENGINES = ["WorldError", "CoreError", "PopgenError", "ArenaError", "FormulaError", "AnnealError",
           "BenchError", "KilnInternalError"]


def raisable_numbers():
    return sorted(CLASSES)


# ---- hierarchy ------------------------------------------------------------------------------

def test_roots():
    assert kiln.KilnError is KilnError and kiln.KilnWarning is KilnWarning
    assert issubclass(KilnError, Exception) and issubclass(KilnWarning, UserWarning)
    assert not issubclass(KilnError, Warning)


def test_engine_classes():
    for name in ENGINES:
        module = we if name == "WorldError" else ke
        cls = getattr(module, name)
        assert cls.__bases__ == (KilnError,), name
        assert cls.__module__ == ("kiln.world.errors" if name == "WorldError" else "kiln.errors")
    assert set(ENGINE_CLASSES) == {"world", "core", "popgen", "arena", "formula", "anneal", "bench", "internal"}
    assert not hasattr(ke, "WorldError")   # its home is kiln.world.errors


@pytest.mark.parametrize("name", sorted(WORLD_8_8))
def test_world_classes_follow_8_8(name):
    numbers, builtin, parent = WORLD_8_8[name]
    cls = getattr(we, name)
    assert cls.__module__ == "kiln.world.errors"
    assert issubclass(cls, we.WorldError) and issubclass(cls, getattr(we, parent))
    if builtin is not None:
        assert issubclass(cls, builtin)
    assert set(cls.numbers) == numbers
    for number in numbers:
        assert CLASSES[number] is cls
    assert name in we.__all__


def test_every_world_code_has_a_class():
    assert set(n for n in CLASSES if n < 1000) == set().union(*(v[0] for v in WORLD_8_8.values()))
    assert 0 not in CLASSES          # ARCT_OK is never raised


def test_row_count_error_is_an_invalid_argument_error():
    assert issubclass(we.RowCountError, we.InvalidArgumentError)
    assert we.RowCountError.__bases__ == (we.InvalidArgumentError,)


def test_no_builtin_for_multi_purpose_world_classes():
    for name in ("ArrowInterfaceError", "InternalError"):
        assert getattr(we, name).__bases__ == (we.WorldError,)


@pytest.mark.parametrize("number", raisable_numbers())
def test_class_derives_from_engine_area_and_builtins(number):
    entry = ErrorCatalog.builtin().lookup(number)
    cls = CLASSES[number]
    assert issubclass(cls, KilnError)
    engine = entry.category.split(".")[0]
    assert issubclass(cls, ENGINE_CLASSES[engine])
    for builtin in entry.builtins:
        assert issubclass(cls, getattr(__import__("builtins"), builtin)), (number, builtin)
    if "." in entry.category and entry.py_module == "kiln.errors":
        area = engine.capitalize() + entry.category.split(".")[1].capitalize() + "Error"
        assert issubclass(cls, getattr(ke, area)), (number, area)
    assert f"{cls.__module__}.{cls.__name__}" == entry.qualified_class


def test_core_classes():
    assert issubclass(ke.CoreStoreLockedError, ke.CoreStoreError)
    assert issubclass(ke.CoreStoreLockedError, BlockingIOError)
    assert issubclass(ke.CatalogUnknownCodeError, LookupError)
    assert issubclass(ke.StatsUnsupportedTypeError, TypeError)
    assert not issubclass(ke.StatsUnsupportedTypeError, ValueError)
    assert issubclass(ke.KilnNotImplementedError, NotImplementedError)
    assert issubclass(ke.CoreVersionMismatchError, ImportError)


def test_generic_codes_are_their_engine_classes():
    assert (ke.CoreError.code, ke.CoreError.number, ke.CoreError.name) == ("K1000", 1000, "CORE_ERROR")
    assert type(error_for(1000, "x")) is ke.CoreError
    assert type(error_for(6000, "x")) is ke.BenchError
    assert type(error_for(9000, "x")) is ke.KilnInternalError
    # an area class must not inherit its engine's generic code
    assert ke.CoreStoreError.code is None and ke.CoreStoreError.number is None
    assert we.WorldError.code is None and ke.PopgenError.code is None


# ---- class and instance attributes ----------------------------------------------------------

@pytest.mark.parametrize("number", raisable_numbers())
def test_instance_attributes_and_str(number):
    entry = ErrorCatalog.builtin().lookup(number)
    err = error_for(number, "the message", extra=1)
    assert (err.code, err.number, err.abi_code, err.name) == (entry.code, number, number, entry.name)
    assert (err.category, err.summary, err.doc_url) == (entry.category, entry.summary, entry.doc_url)
    assert err.message == "the message" and err.details == {"extra": 1}
    assert str(err) == f"{entry.code} {entry.name}: the message"
    assert err.doc_url == f"https://kiln.dev/docs/errors.html#{entry.code.lower()}"


def test_class_attributes_of_single_code_classes():
    cls = we.UnknownEntityError
    assert (cls.code, cls.number, cls.abi_code, cls.name) == ("K0251", 251, 251, "ARCT_ERR_UNKNOWN_ENTITY")
    assert cls.category == "world.entity" and cls.summary and cls.doc_url.endswith("#k0251")
    assert ke.CatalogUnknownCodeError.code == "K1504"


def test_shared_class_binds_the_specific_code():
    assert we.StoreError.code is None and we.StoreError.numbers == (200, 201, 202, 203, 204, 205, 206)
    err = error_for(203, "locked by pid 7", errno=11, path="/data")
    assert type(err) is we.StoreError and isinstance(err, OSError)
    assert (err.code, err.number, err.name, err.category) == ("K0203", 203, "ARCT_ERR_STORE_LOCKED", "world.store")
    assert err.errno == 11 and err.path == "/data"
    assert str(err) == "K0203 ARCT_ERR_STORE_LOCKED: locked by pid 7"


def test_world_details_attributes():
    err = error_for(251, "entity 42 is not registered (world_id=w, run_id=r, tick=3)",
                    world_id="w", run_id="r", tick=3, entity_id=42)
    assert (err.world_id, err.run_id, err.tick, err.table, err.entity_id) == ("w", "r", 3, None, 42)
    assert isinstance(err, LookupError)


def test_partial_tick_error_attributes():
    cause = OSError(28, "No space left on device")
    err = error_for(103, "tick 2 partly published", tick=2, committed_tables=1, cause=cause)
    assert isinstance(err, we.PartialTickError) and isinstance(err, RuntimeError)
    assert (err.tick, err.committed_tables, err.cause) == (2, 1, cause)
    assert err.__cause__ is cause


def test_processor_and_hook_error_attributes():
    err = error_for(400, "processor move failed on table t at tick 5", processor="move", table="t", tick=5)
    assert (err.processor, err.table, err.tick) == ("move", "t", 5)
    hook = error_for(504, "handler failed", event="OnSpawn", operation_completed=True)
    assert (hook.event, hook.operation_completed) == ("OnSpawn", True)
    assert error_for(504, "x").operation_completed is None


def test_error_for_unknown_number_is_internal():
    err = error_for(7777, "what is this", a=1)
    assert type(err) is ke.KilnInternalError and err.code == "K9000" and err.number == 9000
    assert err.details == {"unknown_number": 7777, "original_message": "what is this", "original_details": {"a": 1}}
    assert "7777" in str(err) and "what is this" in str(err)
    ok = error_for(0, "fine")
    assert type(ok) is ke.KilnInternalError and ok.details["unknown_number"] == 0
    with pytest.raises(TypeError):
        error_for("251", "numbers only")


def test_details_may_use_any_key():
    err = error_for(1504, "m", message="not the message", number=5, name="n")
    assert err.message == "m" and err.number == 1504 and err.name == "CATALOG_UNKNOWN_CODE"
    assert err.details == {"message": "not the message", "number": 5, "name": "n"}


def test_direct_construction():
    err = we.UnknownEntityError("entity 3 is gone", entity_id=3)
    assert err.code == "K0251" and err.entity_id == 3
    shared = we.StoreError("something")
    assert shared.code is None and str(shared) == "something"


# ---- pickling -------------------------------------------------------------------------------

@pytest.mark.parametrize("number", raisable_numbers())
def test_pickle_roundtrip(number):
    err = error_for(number, f"message {number}", world_id="w", tick=3, items=[1, 2])
    err.add_note("a note")
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is type(err)
    assert (back.code, back.number, back.name, back.message) == (err.code, err.number, err.name, err.message)
    assert back.details == err.details and str(back) == str(err)
    assert back.__notes__ == ["a note"]
    for attr in type(err)._all_detail_attrs:
        assert getattr(back, attr) == getattr(err, attr)


def test_world_classes_pickle_through_kiln_world_errors():
    data = pickle.dumps(error_for(203, "locked", errno=11))
    assert b"kiln.world.errors" in data and b"StoreError" in data
    back = pickle.loads(data)
    assert back.errno == 11 and back.code == "K0203"
    assert pickle.loads(pickle.dumps(we.SchemaError)) is we.SchemaError


def test_pickle_keeps_the_cause():
    err = error_for(103, "partial", tick=4, committed_tables=2, cause=ValueError("disk"))
    back = pickle.loads(pickle.dumps(err))
    assert isinstance(back.cause, ValueError) and back.__cause__ is back.cause


# ---- problem details, make_error, warnings --------------------------------------------------

def test_to_problem():
    err = error_for(251, "entity 42 is not registered", entity_id=42, cause=KeyError(42), type="x")
    problem = err.to_problem(status=404)
    assert problem["type"] == "https://kiln.dev/docs/errors.html#k0251"
    assert problem["title"] == err.summary and problem["detail"] == err.message
    assert problem["status"] == 404 and problem["code"] == "K0251" and problem["entity_id"] == 42
    assert problem["detail_type"] == "x"          # never overwrites a standard member
    json.dumps(problem)                            # JSON-safe, exceptions included
    assert "status" not in err.to_problem()


def test_make_error_renders_the_template():
    err = make_error(6101, n=3, m=2)
    assert str(err) == "K6101 STATS_LENGTH_MISMATCH: x has 3 values and y has 2"
    assert err.details == {"n": 3, "m": 2}
    assert make_error(6104, q=95.0).message == "quantile 95.0 is outside [0, 1]"
    io = make_error(1201, path="/p", detail="denied", errno=13)
    assert isinstance(io, OSError) and io.errno == 13 and io.path == "/p"
    with pytest.raises(TypeError, match="needs the parameter"):
        make_error(6101, n=3)


def test_warn_refuses_error_codes():
    with pytest.raises(TypeError):
        ke.warn(251, "not a warning")


def test_kiln_warning_mechanics():
    class ExampleWarning(KilnWarning):
        numbers = (4999,)
        code, number, name = "K4999", 4999, "EXAMPLE_WARNING"

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.warn(ExampleWarning("careful", row=3))
    (w,) = caught
    assert w.category is ExampleWarning and str(w.message) == "K4999 EXAMPLE_WARNING: careful"
    assert w.message.details == {"row": 3} and w.message.severity == "warning"
