"""The 21 ErrorMappingCore tests of PyAgent (tests/unit/test_error_mapping_core.py), reproduced
against kiln.errors.compat as specs/formula.md B.2 lists them."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kiln.errors.compat import (ERROR_CODES, ErrorMappingCore, describe_error, get_error_code,
                                get_error_documentation_link)

BASE = "https://docs.pyagent.ai/errors/"
KEYS = st.sampled_from(sorted(ERROR_CODES))


# ---- basic behaviour (5) ----------------------------------------------------------------------

def test_known_exception_maps_to_its_code():
    assert get_error_code("FileSystemError") == "PA-1001"
    assert ErrorMappingCore.get_code("FileSystemError") == "PA-1001"


def test_unknown_exception_maps_to_default():
    assert get_error_code("UnknownError") == "PA-0000"
    assert ErrorMappingCore.get_code("UnknownError") == "PA-0000"


def test_documentation_link():
    link = get_error_documentation_link("PA-1001")
    assert link == BASE + "PA-1001" and "PA-1001" in link
    assert ErrorMappingCore.get_troubleshooting_link("PA-1001") == link


def test_describe_known_error():
    text = describe_error("PA-1001")
    assert "FileSystemError" in text and "workspace" in text.lower()
    assert ErrorMappingCore.describe_error("PA-1001") == text


def test_describe_unknown_error():
    assert "Unknown" in describe_error("PA-9999")


# ---- the five groups (5) ----------------------------------------------------------------------

def test_group_infrastructure():
    assert [get_error_code(n) for n in ("FileSystemError", "NetworkTimeout", "DiskFull", "PermissionsDenied")] == [
        "PA-1001", "PA-1002", "PA-1003", "PA-1004"]


def test_group_model():
    assert [get_error_code(n) for n in ("ModelTimeout", "InvalidResponse", "ContextWindowExceeded",
                                        "RateLimitExceeded")] == ["PA-2001", "PA-2002", "PA-2003", "PA-2004"]


def test_group_logic():
    assert [get_error_code(n) for n in ("DecompositionFailure", "CircularDependency", "InfiniteLoopDetected")] == [
        "PA-3001", "PA-3002", "PA-3003"]


def test_group_security():
    assert [get_error_code(n) for n in ("UnauthorizedAccess", "SafetyFilterTriggered", "SensitiveDataExposure")] == [
        "PA-4001", "PA-4002", "PA-4003"]


def test_group_configuration():
    assert [get_error_code(n) for n in ("ManifestMismatch", "EnvVarMissing")] == ["PA-5001", "PA-5002"]


# ---- properties (5) ----------------------------------------------------------------------------

@given(KEYS)
def test_every_key_maps_to_a_pa_code(name):
    code = get_error_code(name)
    assert len(code) == 7 and code.startswith("PA-")


@given(KEYS)
def test_every_value_has_prefix_and_four_digits(name):
    prefix, digits = ERROR_CODES[name].split("-")
    assert prefix == "PA" and len(digits) == 4 and digits.isdigit()


@settings(max_examples=200)
@given(st.text())
def test_repeated_calls_agree(name):
    assert get_error_code(name) == get_error_code(name) == ErrorMappingCore.get_code(name)


@given(st.sampled_from(sorted(ERROR_CODES.values()) + ["PA-0000", "PA-9999"]))
def test_links_start_with_base_and_contain_the_code(code):
    link = get_error_documentation_link(code)
    assert link.startswith(BASE) and code in link


@pytest.mark.parametrize("code", ["PA-1001", "PA-2001", "PA-3001", "PA-4001", "PA-5001", "PA-9999"])
def test_describe_returns_non_empty_text(code):
    text = describe_error(code)
    assert isinstance(text, str) and text


# ---- edge cases (6) ----------------------------------------------------------------------------

def test_empty_name():
    assert get_error_code("") == "PA-0000"


def test_names_are_case_sensitive():
    assert get_error_code("filesystemerror") == "PA-0000"
    assert get_error_code("FILESYSTEMERROR") == "PA-0000"


def test_names_are_not_stripped():
    assert get_error_code("FileSystemError ") == "PA-0000"


def test_codes_are_unique():
    assert len(set(ERROR_CODES.values())) == len(ERROR_CODES) == 16


def test_names_are_unique():
    assert len(set(ERROR_CODES)) == len(ERROR_CODES) and type(ERROR_CODES) is dict


def test_numeric_parts_in_range():
    assert all(1000 <= int(code.split("-")[1]) <= 9999 for code in ERROR_CODES.values())


def test_instance_and_class_attribute():
    core = ErrorMappingCore()
    assert core.name == "ErrorMapping" and ErrorMappingCore.ERROR_CODES is ERROR_CODES
    assert ErrorMappingCore(repo_root="/tmp").repo_root == "/tmp"
