"""kiln.errors.ErrorCatalog / ErrorEntry (specs/formula.md B.2, D.26)."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from kiln.errors import (CatalogCodeFormatError, CatalogDuplicateError, CatalogParseError, ErrorCatalog,
                         ErrorEntry, compat)

REPO = Path(__file__).resolve().parents[2]
PYAGENT_HEADER = '''schema = 1
code_pattern = "PA-[0-9]{4}"
default_code = "PA-0000"
doc_url = "https://docs.pyagent.ai/errors/{code}"
unknown_description = "Unknown System Error"
'''


def write(tmp_path, text, name="cat.toml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_pyagent_catalog():
    cat = ErrorCatalog.load("pyagent.toml")
    assert len(cat) == 16 and len(cat.entries) == 16
    assert cat.default_code == "PA-0000" and cat.unknown_description == "Unknown System Error"
    assert cat.categories == ("Infrastructure & I/O", "Model & AI", "Logic & Reasoning",
                              "Security & Compliance", "Configuration")
    e = cat.lookup("PA-1001")
    assert isinstance(e, ErrorEntry) and e.name == "FileSystemError" and e.category == "Infrastructure & I/O"
    assert e.summary == "The workspace could not be accessed." and e.number == 1001
    assert cat.lookup("FileSystemError") is e and cat.lookup("pa-1001") is e
    assert cat.lookup("PA-0000") is None and cat.lookup("Nope") is None
    assert cat.lookup("PA-4003").category == "Security & Compliance"
    assert [e.summary is not None for e in cat.entries].count(True) == 3


def test_pyagent_queries():
    cat = ErrorCatalog.load("pyagent.toml")
    assert cat.code_for("DiskFull") == "PA-1003"
    assert cat.code_for("diskfull") == "PA-0000"                 # exact, falls back to default_code
    assert cat.code_for("diskfull", default="X") == "X"
    assert cat.doc_url("PA-2001") == "https://docs.pyagent.ai/errors/PA-2001"
    assert cat.doc_url("PA-9999") == "https://docs.pyagent.ai/errors/PA-9999"   # well-formed, unknown
    assert cat.doc_url("garbage") is None
    assert cat.describe("PA-2001") == "ModelTimeout: The LLM backend did not respond in time."
    assert cat.describe("PA-1002") == "Unknown System Error"
    assert cat.describe("PA-0000") == "Unknown System Error"
    assert list(cat.as_dict().items())[:2] == [("FileSystemError", "PA-1001"), ("NetworkTimeout", "PA-1002")]


def test_compat_error_codes_is_the_catalog():
    assert type(compat.ERROR_CODES) is dict and len(compat.ERROR_CODES) == 16
    assert compat.ERROR_CODES == ErrorCatalog.load("pyagent.toml").as_dict()
    assert list(compat.ERROR_CODES) == list(ErrorCatalog.load("pyagent.toml").as_dict())


def test_entry_is_frozen():
    e = ErrorCatalog.builtin().lookup("K0251")
    assert dataclasses.is_dataclass(e)
    with pytest.raises(dataclasses.FrozenInstanceError):
        e.name = "X"
    assert hash(e) == hash(ErrorCatalog.builtin().lookup(251))


def test_builtin_catalog():
    cat = ErrorCatalog.builtin()
    assert cat is ErrorCatalog.builtin() and cat.name == "kiln"
    assert cat.lookup("world:251").code == "K0251" and cat.lookup(251).name == "ARCT_ERR_UNKNOWN_ENTITY"
    assert cat.lookup("formula:251") is None
    assert "world" in cat.categories[0] and "K0251" in cat and "K9998" not in cat
    assert cat.as_dict()["ARCT_OK"] == "K0000"
    assert cat.describe("K0251") == "ARCT_ERR_UNKNOWN_ENTITY: An entity id given to a world operation is not registered."


def test_kiln_toml_loads_like_the_generated_json():
    toml_cat = ErrorCatalog.load(REPO / "errors" / "catalog.toml")
    built = ErrorCatalog.builtin()
    assert [e.code for e in toml_cat] == [e.code for e in built]
    for a, b in zip(toml_cat, built):
        assert (a.name, a.category, a.message, a.summary, a.doc_url, a.explanation) == (
            b.name, b.category, b.message, b.summary, b.doc_url, b.explanation)


def test_json_catalog(tmp_path):
    data = {"code_pattern": "E[0-9]{3}", "doc_url": "https://x/{anchor}", "default_code": "E000",
            "error": [{"code": "E001", "name": "Boom", "summary": "It went boom."}]}
    cat = ErrorCatalog.load(write(tmp_path, json.dumps(data), "c.json"))
    assert cat.lookup("e001").doc_url == "https://x/e001" and cat.describe("E001") == "Boom: It went boom."


def test_parse_error_has_file_and_line(tmp_path):
    path = write(tmp_path, PYAGENT_HEADER + '\n[[error]]\ncode = "PA-1001\nname = "X"\n')
    with pytest.raises(CatalogParseError) as exc:
        ErrorCatalog.load(path)
    assert exc.value.code == "K1501" and isinstance(exc.value, ValueError)
    assert str(exc.value).startswith(f"K1501 CATALOG_PARSE: {path}:8:")


def test_missing_key_has_file_and_line(tmp_path):
    path = write(tmp_path, PYAGENT_HEADER + '\n[[error]]\ncode = "PA-1001"\nname = "A"\n\n[[error]]\ncode = "PA-1002"\n')
    with pytest.raises(CatalogParseError) as exc:
        ErrorCatalog.load(path)
    assert str(exc.value) == f"K1501 CATALOG_PARSE: {path}:11: error entry has no name"


def test_duplicate_code_and_name(tmp_path):
    path = write(tmp_path, PYAGENT_HEADER + '[[error]]\ncode = "PA-1001"\nname = "A"\n[[error]]\ncode = "PA-1001"\nname = "B"\n')
    with pytest.raises(CatalogDuplicateError, match=r"K1502 .*: code PA-1001 is defined twice"):
        ErrorCatalog.load(path)
    path = write(tmp_path, PYAGENT_HEADER + '[[error]]\ncode = "PA-1001"\nname = "A"\n[[error]]\ncode = "PA-1002"\nname = "A"\n')
    with pytest.raises(CatalogDuplicateError, match="name A is defined twice"):
        ErrorCatalog.load(path)


def test_code_format(tmp_path):
    path = write(tmp_path, PYAGENT_HEADER + '[[error]]\ncode = "PA-10011"\nname = "A"\n')
    with pytest.raises(CatalogCodeFormatError) as exc:
        ErrorCatalog.load(path)
    assert str(exc.value) == f"K1503 CATALOG_CODE_FORMAT: {path}: code PA-10011 does not match PA-[0-9]{{4}}"
    kiln_style = 'schema = 1\ncode_prefix = "K"\ncode_digits = 4\n[[error]]\nnumber = 12345\nname = "X"\n'
    with pytest.raises(CatalogCodeFormatError):
        ErrorCatalog.load(write(tmp_path, kiln_style))


def test_missing_file_and_missing_schema(tmp_path):
    with pytest.raises(CatalogParseError):
        ErrorCatalog.load(tmp_path / "absent.toml")
    with pytest.raises(CatalogParseError, match="code_prefix/code_digits or code_pattern"):
        ErrorCatalog.load(write(tmp_path, '[[error]]\ncode = "A"\nname = "B"\n'))
