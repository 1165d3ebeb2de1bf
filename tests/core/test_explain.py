"""kiln.errors.lookup / explain and the `kiln explain` command (formula B.1.5, D.25; world §7.2)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import kiln.errors as ke
from kiln.cli import SUBCOMMANDS, main
from kiln.errors import CatalogUnknownCodeError, ErrorCatalog, explain, lookup

REPO = Path(__file__).resolve().parents[2]
SPELLINGS_251 = ["K0251", "k0251", "251", "world:251", "ARCT_ERR_UNKNOWN_ENTITY", "arct_err_unknown_entity", 251]


@pytest.mark.parametrize("query", SPELLINGS_251)
def test_lookup_spellings(query):
    entry = lookup(query)
    assert (entry.code, entry.number, entry.name, entry.c_name) == (
        "K0251", 251, "ARCT_ERR_UNKNOWN_ENTITY", "ARCT_ERR_UNKNOWN_ENTITY")


def test_explain_is_the_same_for_every_spelling():
    texts = {explain(q) for q in SPELLINGS_251}
    assert len(texts) == 1
    text = texts.pop()
    for part in ("K0251 ARCT_ERR_UNKNOWN_ENTITY", "world.entity", "kiln.world.errors.UnknownEntityError",
                 "LookupError", "{detail}", "Erroneous example", "https://kiln.dev/docs/errors.html#k0251"):
        assert part in text


def test_explain_other_blocks():
    assert lookup("core:1504").name == "CATALOG_UNKNOWN_CODE"
    assert lookup("STATS_NONFINITE").code == "K6103"
    assert "no error {query} in catalog {catalog}{suggestion}" in explain("K1504")
    assert "severity  success" in explain("ARCT_OK")


@pytest.mark.parametrize("query", ["K9998", "9998", "world:1001", "core:251", "NO_SUCH_ERROR", "", "K02510"])
def test_unknown_codes_raise_k1504(query):
    with pytest.raises(CatalogUnknownCodeError) as exc:
        lookup(query)
    err = exc.value
    assert isinstance(err, LookupError) and err.code == "K1504"
    assert str(err).startswith(f"K1504 CATALOG_UNKNOWN_CODE: no error {query} in catalog kiln")


def test_unknown_code_suggests_the_nearest():
    with pytest.raises(CatalogUnknownCodeError) as exc:
        lookup("K9998")
    assert exc.value.details["nearest"] == ["K9002", "K9001", "K9000"]
    with pytest.raises(CatalogUnknownCodeError) as exc:
        lookup("ARCT_ERR_UNKNWON_ENTITY")
    assert exc.value.details["nearest"][0] == "K0251"
    with pytest.raises(CatalogUnknownCodeError) as exc:
        lookup("world:1001")                     # suggestions stay in the world block
    assert all(int(code[1:]) < 1000 for code in exc.value.details["nearest"])


def test_every_world_code_is_explainable():
    """world §12 item 55: every §7.2 code has an entry that `kiln explain` prints."""
    world = [e for e in ErrorCatalog.builtin().entries if e.number < 1000]
    assert len(world) == 52
    for e in world:
        assert explain(e.code).startswith(f"{e.code} {e.name}\n")
        if e.c_name:
            assert explain(e.c_name) == explain(e.code)
        assert explain(f"world:{e.number}") == explain(e.code)


def test_retired_codes_say_so(monkeypatch):
    catalog = ErrorCatalog.builtin()
    entry = catalog.lookup(9001)
    retired = type(entry)(**{**entry.__dict__, "retired": "0.3"})
    monkeypatch.setattr(catalog, "_by_number", {**catalog._by_number, 9001: retired})
    assert "no longer emitted since 0.3" in explain("9001")


# ---- the command line -----------------------------------------------------------------------

def test_cli_explain(capsys):
    assert main(["explain", "K0251"]) == 0
    assert capsys.readouterr().out == explain("K0251")


def test_cli_explain_json(capsys):
    assert main(["explain", "world:251", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["code"] == "K0251" and data["py_class"] == "UnknownEntityError" and data["builtins"] == ["LookupError"]


def test_cli_unknown_code_exits_2(capsys):
    assert main(["explain", "K9998"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "K1504" in captured.err and "K9000" in captured.err


def test_cli_list(capsys):
    assert main(["explain", "--list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(ErrorCatalog.builtin().entries)
    assert main(["explain", "--list", "--category", "world.store"]) == 0
    assert [line.split()[0] for line in capsys.readouterr().out.splitlines()] == [f"K0{n}" for n in range(200, 207)]
    assert main(["explain", "--list", "--category", "bench", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 11
    assert main(["explain", "--list", "--category", "nothing"]) == 2


def test_cli_usage_errors_exit_2(capsys):
    for argv in (["explain"], ["explain", "K0251", "--list"], ["explain", "K0251", "--category", "core"],
                 ["no-such-command"]):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 2
    assert main([]) == 2


def test_cli_registry_has_room_for_other_commands():
    assert SUBCOMMANDS["explain"] == "kiln.cli:register_explain"


def test_python_dash_m_kiln():
    env = {**os.environ, "PYTHONPATH": str(REPO / "python")}
    ok = subprocess.run([sys.executable, "-m", "kiln", "explain", "ARCT_ERR_UNKNOWN_ENTITY"],
                        capture_output=True, text=True, env=env)
    assert ok.returncode == 0 and ok.stdout == explain("K0251")
    bad = subprocess.run([sys.executable, "-m", "kiln", "explain", "K9998"], capture_output=True, text=True, env=env)
    assert bad.returncode == 2 and "K1504" in bad.stderr


def test_catalog_is_consistent_with_error_for():
    for entry in ErrorCatalog.builtin().entries:
        if entry.severity == "success":
            continue
        err = ke.error_for(entry.number, "m")
        assert (err.code, err.name, err.summary, err.doc_url) == (entry.code, entry.name, entry.summary, entry.doc_url)
