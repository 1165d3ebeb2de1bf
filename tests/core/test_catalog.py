"""The error catalog and its generator (specs/formula.md B.1.2-B.1.4, world.md §7.2).

Rule tests run the generator's validator on a temporary copy of errors/catalog.toml with one
deliberate violation each, so every rule is shown to fail when broken.
"""
from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CATALOG = REPO / "errors" / "catalog.toml"
LOCK = REPO / "errors" / "catalog.lock"

# specs/world.md §7.2, copied by hand so that the catalog is checked against the spec, not itself.
WORLD_7_2 = {
    0: "ARCT_OK", 1: "ARCT_ERR_ARROW", 2: "ARCT_ERR_PANIC", 3: "ARCT_ERR_NULL_POINTER",
    4: "ARCT_ERR_OUTPUT_NOT_EMPTY", 5: "ARCT_ERR_INVALID_UTF8", 6: "ARCT_ERR_BAD_HANDLE",
    7: "ARCT_ERR_ABI_VERSION", 8: "ARCT_ERR_INVALID_ARGUMENT", 9: "ARCT_ERR_BUFFER_TOO_SMALL",
    10: "ARCT_ERR_OUT_OF_MEMORY", 100: "ARCT_ERR_STEP_ALREADY_IN_FLIGHT", 101: "ARCT_ERR_NO_STEP_IN_FLIGHT",
    102: "ARCT_ERR_STEP_TABLE_MISMATCH", 103: "ARCT_ERR_PARTIAL_TICK", 104: "ARCT_ERR_MUTATION_DURING_STEP",
    105: "ARCT_ERR_WORLD_POISONED", 150: "ARCT_ERR_UNKNOWN_TABLE", 151: "ARCT_ERR_TABLE_NOT_ACTIVE",
    152: "ARCT_ERR_TABLE_SCHEMA_CONFLICT", 153: "ARCT_ERR_INVALID_SCHEMA", 154: "ARCT_ERR_MISSING_COLUMN",
    155: "ARCT_ERR_COLUMN_TYPE", 156: "ARCT_ERR_UNEXPECTED_COLUMN", 157: "ARCT_ERR_NULL_VALUE",
    158: "ARCT_ERR_INVALID_NAME", 200: "ARCT_ERR_STORE_READ", 201: "ARCT_ERR_STORE_APPEND",
    202: "ARCT_ERR_STORE_OPEN", 203: "ARCT_ERR_STORE_LOCKED", 204: "ARCT_ERR_STORE_CORRUPT",
    205: "ARCT_ERR_WORLD_EXISTS", 206: "ARCT_ERR_WORLD_NOT_FOUND", 250: "ARCT_ERR_BUFFER_STATE",
    251: "ARCT_ERR_UNKNOWN_ENTITY", 252: "ARCT_ERR_ENTITY_EXISTS", 253: "ARCT_ERR_INVALID_ENTITY_ID",
    254: "ARCT_ERR_ROW_COUNT", 255: "ARCT_ERR_ENTITY_IDS_EXHAUSTED", 300: "ARCT_ERR_SCHEMA_MISMATCH",
    301: "ARCT_ERR_METADATA_COLUMN", 302: "ARCT_ERR_ROW_COUNT_CHANGED", 350: "ARCT_ERR_RUNTIME_REENTRANT",
    351: "ARCT_ERR_WORLD_BUSY", 400: "ARCT_ERR_PROCESSOR_FAILED", 401: "ARCT_ERR_UNKNOWN_PROCESSOR",
    402: "ARCT_ERR_PROCESSOR_CONFIG",
}
WORLD_PYTHON_ONLY = {500: "WORLD_COMPONENT_INVALID", 501: "WORLD_COMPONENT_CONFLICT",
                     502: "WORLD_COMPONENT_NOT_PRESENT", 503: "WORLD_COMPONENT_UNKNOWN", 504: "WORLD_HOOK_FAILED"}
# formula B.1.1 / B.1.6: codes this catalog must define now.
REQUIRED_OTHER = {
    1000: "CORE_ERROR", 1001: "CORE_INVALID_ARGUMENT", 1002: "CORE_OUT_OF_MEMORY", 1003: "CORE_CANCELLED",
    1501: "CATALOG_PARSE", 1502: "CATALOG_DUPLICATE", 1503: "CATALOG_CODE_FORMAT", 1504: "CATALOG_UNKNOWN_CODE",
    1505: "CATALOG_LOCK_VIOLATION", 1506: "CATALOG_TEMPLATE",
    6000: "BENCH_ERROR", 6001: "BENCH_RECORD_INVALID", 6002: "BENCH_SCHEMA_VERSION", 6003: "BENCH_TARGET_FILE",
    6004: "BENCH_TARGET_INPUT_MISSING", 6101: "STATS_LENGTH_MISMATCH", 6102: "STATS_EMPTY",
    6103: "STATS_NONFINITE", 6104: "STATS_INVALID_QUANTILE", 6105: "STATS_UNSUPPORTED_TYPE",
    6106: "STATS_DEGENERATE", 9000: "INTERNAL_ERROR", 9001: "NATIVE_EXCEPTION", 9002: "NOT_IMPLEMENTED",
}
B16_MESSAGES = {
    1501: "{path}:{line}: {detail}", 1502: "{path}: {what} {value} is defined twice",
    1503: "{path}: code {code} does not match {format}", 1504: "no error {query} in catalog {catalog}{suggestion}",
    1505: "code {code} ({name}) {problem}", 1506: "{code}: {problem} with placeholder {placeholder}",
    6001: "{path} line {line}: {detail}", 6002: "{path} line {line}: schema {schema} is not supported",
    6003: "{path}: {detail}", 6004: "target {id} needs {missing} in run {run_id}",
    6101: "x has {n} values and y has {m}", 6102: "{stat} of an empty input",
    6103: "input contains {kind} at index {index}", 6104: "quantile {q} is outside [0, 1]",
    6105: "expected a 1-D real array, got {type}", 6106: "{stat} is undefined: {reason}",
}


@pytest.fixture(scope="module")
def gen():
    """errors/generate.py imported as a module (it is a script, not part of the package)."""
    spec = importlib.util.spec_from_file_location("kiln_errors_generate", REPO / "errors" / "generate.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module      # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def data():
    return tomllib.loads(CATALOG.read_text(encoding="utf-8"))


@pytest.fixture
def tmp_repo(tmp_path):
    """A throw-away repository root holding copies of the catalog and its lock."""
    (tmp_path / "errors").mkdir()
    shutil.copy(CATALOG, tmp_path / "errors" / "catalog.toml")
    shutil.copy(LOCK, tmp_path / "errors" / "catalog.lock")
    return tmp_path


def edit(root: Path, old: str, new: str, count: int = 1) -> None:
    path = root / "errors" / "catalog.toml"
    text = path.read_text(encoding="utf-8")
    assert text.count(old) >= count, f"test setup: {old!r} not found"
    path.write_text(text.replace(old, new, count), encoding="utf-8")


def problems(gen, root: Path) -> list:
    with pytest.raises(gen.CatalogError) as exc:
        gen.load(root / "errors" / "catalog.toml", root / "errors" / "catalog.lock")
    return exc.value.problems


def codes(gen, root: Path) -> set[str]:
    return {p.code for p in problems(gen, root)}


# ---- freshness and artefacts ----------------------------------------------------------------

def test_committed_artefacts_are_fresh():
    result = subprocess.run([sys.executable, str(REPO / "errors" / "generate.py"), "--check"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_check_detects_a_stale_artefact_and_generate_repairs_it(gen, tmp_repo):
    assert gen.main(["--root", str(tmp_repo)]) == 0          # writes every artefact into the copy
    assert gen.main(["--root", str(tmp_repo), "--check"]) == 0
    edit(tmp_repo, 'summary = "An entity id given to a world operation is not registered."',
         'summary = "An entity id is not registered in the world."')
    assert gen.main(["--root", str(tmp_repo), "--check"]) == 1
    assert gen.main(["--root", str(tmp_repo)]) == 0
    assert gen.main(["--root", str(tmp_repo), "--check"]) == 0
    assert "An entity id is not registered in the world." in (tmp_repo / "docs" / "errors.md").read_text()


def test_check_reports_the_stale_files(gen, tmp_repo, capsys):
    assert gen.main(["--root", str(tmp_repo)]) == 0
    (tmp_repo / "cpp/src/kiln/core/error_codes.h").write_text("// edited by hand\n")
    (tmp_repo / "docs/errors.md").unlink()
    capsys.readouterr()
    assert gen.main(["--root", str(tmp_repo), "--check"]) == 1
    err = capsys.readouterr().err
    assert "stale: cpp/src/kiln/core/error_codes.h" in err and "missing: docs/errors.md" in err


def test_adding_a_code_is_just_toml(gen, tmp_repo):
    """formula D.21: a new row regenerates every artefact and extends the lock, nothing else."""
    with open(tmp_repo / "errors" / "catalog.toml", "a", encoding="utf-8") as f:
        f.write('''
[[error]]
number = 1301
name = "CORE_RNG_EXAMPLE"
category = "core.rng"
builtin = "ValueError"
params = { key = "int", reason = "str" }
message = "bad key {key}: {reason}"
summary = "An example code."
explanation = "Example."
since = "0.2"
''')
    assert gen.main(["--root", str(tmp_repo)]) == 0
    assert "1301  CORE_RNG_EXAMPLE" in (tmp_repo / "errors/catalog.lock").read_text()
    header = (tmp_repo / "cpp/src/kiln/core/error_codes.h").read_text()
    assert "CORE_RNG_EXAMPLE = 1301" in header
    assert "inline ::kiln::core::Status core_rng_example(std::int64_t key, std::string_view reason)" in header
    assert "#define KILN_E_CORE_RNG_EXAMPLE" in (tmp_repo / "cpp/src/kiln/capi/kiln_errors.h").read_text()
    py = (tmp_repo / "python/kiln/errors/_generated.py").read_text()
    assert "class CoreRngError(CoreError):" in py                           # the new area class
    assert "class CoreRngExampleError(CoreRngError, ValueError):" in py
    assert '<a id="k1301"></a>' in (tmp_repo / "docs/errors.md").read_text()


# ---- the contents required by the specs -----------------------------------------------------

def test_world_block_is_exactly_world_7_2(data):
    world = {e["number"]: e for e in data["error"] if e["number"] < 1000}
    assert {n: e["name"] for n, e in world.items()} == {**WORLD_7_2, **WORLD_PYTHON_ONLY}
    for number, name in WORLD_7_2.items():
        assert world[number].get("c_name") == name
    for number in WORLD_PYTHON_ONLY:
        assert "c_name" not in world[number]
    assert not any(e["name"] == "WORLD_ERROR" for e in data["error"])


def test_required_core_bench_internal_codes(data):
    names = {e["number"]: e["name"] for e in data["error"]}
    for number, name in REQUIRED_OTHER.items():
        assert names.get(number) == name


def test_messages_of_b16(data):
    messages = {e["number"]: e["message"] for e in data["error"]}
    for number, message in B16_MESSAGES.items():
        assert messages[number] == message, number


def test_header_is_b12(data):
    assert (data["schema"], data["code_prefix"], data["code_digits"], data["doc_url"]) == (
        1, "K", 4, "{docs_base}/errors.html#{anchor}")


def test_every_entry_is_complete(data):
    for e in data["error"]:
        assert e["summary"].strip() and e["explanation"].strip() and e["since"] == "0.1", e["name"]
        assert re.match(r"^(world|core|popgen|formula|bench|internal)(\.[a-z_]+)?$", e["category"]), e["name"]
    for e in data["error"]:
        if 0 < e["number"] < 1000:
            assert e["params"] == {"detail": "str"} and e["message"] == "{detail}", e["name"]
            assert e.get("py_module") == "kiln.world.errors", e["name"]


def test_generator_problem_wording_matches_the_catalog(gen, data):
    messages = {e["number"]: (e["name"], e["message"]) for e in data["error"]}
    for number, (name, template) in gen.PROBLEM_TEMPLATES.items():
        assert messages[number] == (name, template)


def test_lock_lists_every_code_with_its_category(gen, data):
    locked = {n: (name, cat) for n, name, cat in gen.read_lock(LOCK)}
    assert locked == {e["number"]: (e["name"], e["category"]) for e in data["error"]}


def test_c_headers(data):
    c_header = (REPO / "cpp/src/kiln/capi/kiln_errors.h").read_text()
    arct = (REPO / "cpp/src/kiln/capi/arct_status.h").read_text()
    cpp = (REPO / "cpp/src/kiln/core/error_codes.h").read_text()
    for e in data["error"]:
        assert re.search(rf"^#define KILN_E_{e['name']} +{e['number']}$", c_header, re.M), e["name"]
        assert f"  {e['name']} = {e['number']}," in cpp
    enum = dict((name, int(n)) for name, n in re.findall(r"^  (ARCT_\w+) += (\d+)", arct, re.M))
    assert enum == {name: n for n, name in WORLD_7_2.items()}
    assert "typedef enum arct_status" in arct
    assert "const char* kiln_error_name(int32_t code);" in c_header
    assert "const char* kiln_error_doc_url(int32_t code);" in c_header
    assert 'inline ::kiln::core::Status arct_err_unknown_entity(std::string_view detail)' in cpp
    assert 'inline ::kiln::core::Status stats_length_mismatch(std::int64_t n, std::int64_t m)' in cpp
    assert 'stats_invalid_quantile(double q)' in cpp
    assert "arct_ok(" not in cpp          # success has no factory


STAND_IN_STATUS = """#pragma once
#include <cstdint>
#include <string>
#include <utility>
namespace kiln::core {
class Status {
 public:
  Status(std::int32_t code, std::string message) : code_(code), message_(std::move(message)) {}
  static Status OK() { return Status(0, {}); }
  std::int32_t code() const { return code_; }
  const std::string& message() const { return message_; }
 private:
  std::int32_t code_;
  std::string message_;
};
}  // namespace kiln::core
"""


@pytest.mark.skipif(shutil.which("g++") is None or shutil.which("gcc") is None, reason="no C/C++ compiler")
def test_generated_headers_compile_warning_free(tmp_path):
    """error_codes.h with g++ -std=c++20 -Wall -Wextra -Werror; the C headers as C99 (syntax only)."""
    (tmp_path / "kiln" / "core").mkdir(parents=True)
    (tmp_path / "kiln" / "core" / "status.h").write_text(STAND_IN_STATUS)
    (tmp_path / "use.cc").write_text(
        '#include "kiln/core/error_codes.h"\n'
        'static_assert(kiln::core::errors::find(251)->number == 251);\n'
        'static_assert(kiln::core::errors::find_by_name("CORE_ERROR")->number == 1000);\n'
        'int main() { return kiln::core::errors::arct_err_unknown_entity("x").code() == 251 ? 0 : 1; }\n')
    (tmp_path / "use.c").write_text('#include "kiln/capi/kiln_errors.h"\n#include "kiln/capi/arct_status.h"\n'
                                    'int f(void) { arct_status s = ARCT_ERR_UNKNOWN_ENTITY; '
                                    'return (int)s == KILN_E_ARCT_ERR_UNKNOWN_ENTITY; }\n')
    include = ["-I", str(tmp_path), "-I", str(REPO / "cpp" / "src")]
    for cmd in (["g++", "-std=c++20", "-Wall", "-Wextra", "-Werror", "-fsyntax-only", *include, str(tmp_path / "use.cc")],
                ["g++", "-std=c++20", "-Wall", "-Wextra", "-Werror", "-fsyntax-only", *include,
                 str(REPO / "cpp/src/kiln/capi/kiln_errors.cc")],
                ["gcc", "-std=c99", "-pedantic", "-Wall", "-Wextra", "-Werror", "-fsyntax-only", *include,
                 str(tmp_path / "use.c")]):
        result = subprocess.run(cmd, capture_output=True, text=True)
        assert result.returncode == 0, result.stderr


def test_catalog_json_matches_the_toml(data):
    js = json.loads((REPO / "python/kiln/errors/_catalog.json").read_text())
    assert [e["number"] for e in js["errors"]] == sorted(e["number"] for e in data["error"])
    assert js["docs_base"] == "https://kiln.dev/docs"
    by_number = {e["number"]: e for e in js["errors"]}
    assert by_number[251]["doc_url"] == "https://kiln.dev/docs/errors.html#k0251"
    assert by_number[251]["py_class"] == "UnknownEntityError"
    assert by_number[0]["py_class"] is None


# ---- rules (B.1.4), each on a copy with one violation ----------------------------------------

def test_the_real_catalog_is_valid(gen):
    cat = gen.load(CATALOG, LOCK)
    assert len(cat.entries) == len({e.number for e in cat.entries})


def test_renamed_code_fails(gen, tmp_repo):
    edit(tmp_repo, 'name = "ARCT_ERR_UNKNOWN_ENTITY"\nc_name = "ARCT_ERR_UNKNOWN_ENTITY"',
         'name = "ARCT_ERR_NO_SUCH_ENTITY"\nc_name = "ARCT_ERR_NO_SUCH_ENTITY"')
    found = problems(gen, tmp_repo)
    assert any(p.code == "K1505" and "K0251 (ARCT_ERR_UNKNOWN_ENTITY) was renamed to ARCT_ERR_NO_SUCH_ENTITY"
               in str(p) for p in found)


def test_renumbered_code_fails(gen, tmp_repo):
    edit(tmp_repo, "number = 1003\n", "number = 1004\n")
    found = problems(gen, tmp_repo)
    assert any(p.code == "K1505" and "K1003 (CORE_CANCELLED) was renumbered to K1004" in str(p) for p in found)


def test_deleted_code_fails(gen, tmp_repo):
    path = tmp_repo / "errors" / "catalog.toml"
    text = path.read_text()
    start = text.index("[[error]]\nnumber = 9001")
    end = text.index("[[error]]\nnumber = 9002")
    path.write_text(text[:start] + text[end:])
    found = problems(gen, tmp_repo)
    assert any(p.code == "K1505" and "K9001 (NATIVE_EXCEPTION) disappeared" in str(p) for p in found)


def test_retiring_instead_of_deleting_is_allowed(gen, tmp_repo):
    edit(tmp_repo, 'message = "unexpected exception in native code: {detail}"',
         'message = "unexpected exception in native code: {detail}"\nretired = "0.2"')
    assert gen.main(["--root", str(tmp_repo)]) == 0
    cpp = (tmp_repo / "cpp/src/kiln/core/error_codes.h").read_text()
    assert "NATIVE_EXCEPTION = 9001" in cpp and "native_exception(" not in cpp   # no factory any more
    docs = (tmp_repo / "docs/errors.md").read_text()
    assert "### K9001 `NATIVE_EXCEPTION` (retired)" in docs and "no longer emitted since 0.2" in docs


def test_changed_category_fails(gen, tmp_repo):
    edit(tmp_repo, 'name = "CORE_CANCELLED"\ncategory = "core"', 'name = "CORE_CANCELLED"\ncategory = "core.runtime"')
    found = problems(gen, tmp_repo)
    assert any(p.code == "K1505" and "changed category from core to core.runtime" in str(p) for p in found)


def test_number_in_reserved_block_fails(gen, tmp_repo):
    edit(tmp_repo, "number = 9002\n", "number = 7002\n")
    found = problems(gen, tmp_repo)
    assert any(p.code == "K1505" and "reserved block 7000-8999" in str(p) for p in found)


def test_category_outside_owner_fails(gen, tmp_repo):
    edit(tmp_repo, 'name = "CORE_CANCELLED"\ncategory = "core"', 'name = "CORE_CANCELLED"\ncategory = "bench"')
    assert "K1501" in codes(gen, tmp_repo)


def test_duplicate_number_and_name_fail(gen, tmp_repo):
    edit(tmp_repo, "number = 1003\n", "number = 1002\n")
    edit(tmp_repo, 'name = "STATS_EMPTY"', 'name = "STATS_NONFINITE"')
    found = [str(p) for p in problems(gen, tmp_repo)]
    assert any("K1502" in p and "number 1002 is defined twice" in p for p in found)
    assert any("K1502" in p and "name STATS_NONFINITE is defined twice" in p for p in found)


def test_bad_name_format_fails(gen, tmp_repo):
    edit(tmp_repo, 'name = "CORE_CANCELLED"', 'name = "core-cancelled"')
    assert "K1503" in codes(gen, tmp_repo)


def test_undeclared_placeholder_fails(gen, tmp_repo):
    edit(tmp_repo, 'message = "x has {n} values and y has {m}"', 'message = "x has {n} values and y has {k}"')
    found = [str(p) for p in problems(gen, tmp_repo)]
    assert any(p.startswith("K1506 CATALOG_TEMPLATE: K6101: the message uses an undeclared parameter "
                            "with placeholder {k}") for p in found)
    assert any("K6101: a declared parameter is never used with placeholder {m}" in p for p in found)


def test_format_spec_fails(gen, tmp_repo):
    edit(tmp_repo, 'message = "quantile {q} is outside [0, 1]"', 'message = "quantile {q:.3f} is outside [0, 1]"')
    assert "K1506" in codes(gen, tmp_repo)


def test_missing_explanation_fails_with_its_line(gen, tmp_repo):
    path = tmp_repo / "errors" / "catalog.toml"
    text = path.read_text()
    start = text.index("[[error]]\nnumber = 9002")
    block_end = text.index("since", start)
    block = text[start:block_end]
    cut = block.index("explanation = '''")
    path.write_text(text[:start] + block[:cut] + text[block_end:])
    line = text[:start].count("\n") + 1
    found = [str(p) for p in problems(gen, tmp_repo)]
    assert any(p == f"K1501 CATALOG_PARSE: errors/catalog.toml:{line}: error NOT_IMPLEMENTED has no explanation"
               for p in found), found


def test_toml_syntax_error_reports_the_line(gen, tmp_repo):
    edit(tmp_repo, 'name = "CORE_CANCELLED"', 'name = "CORE_CANCELLED')
    found = problems(gen, tmp_repo)
    assert len(found) == 1 and found[0].code == "K1501" and re.search(r"catalog\.toml:\d+:", str(found[0]))


def test_builtin_on_a_generic_code_fails(gen, tmp_repo):
    edit(tmp_repo, 'name = "CORE_ERROR"\ncategory = "core"', 'name = "CORE_ERROR"\ncategory = "core"\nbuiltin = "ValueError"')
    found = [str(p) for p in problems(gen, tmp_repo)]
    assert any("generic code of class CoreError" in p for p in found)


def test_shared_class_with_different_builtins_fails(gen, tmp_repo):
    edit(tmp_repo, 'category = "world.store"\nbuiltin = "OSError"', 'category = "world.store"\nbuiltin = "ValueError"')
    found = [str(p) for p in problems(gen, tmp_repo)]
    assert any("shares class StoreError" in p for p in found)


def test_unknown_builtin_and_param_type_fail(gen, tmp_repo):
    edit(tmp_repo, 'builtin = "NotImplementedError"', 'builtin = "NotAnError"')
    edit(tmp_repo, 'params = { q = "float" }', 'params = { q = "double" }')
    found = [str(p) for p in problems(gen, tmp_repo)]
    assert any("'NotAnError' is not a builtin exception class" in p for p in found)
    assert any("param q has type 'double'" in p for p in found)


def test_cpp_keyword_params_are_mangled(gen, tmp_repo):
    with open(tmp_repo / "errors" / "catalog.toml", "a", encoding="utf-8") as f:
        f.write('\n[[error]]\nnumber = 1101\nname = "CORE_ARROW_EXAMPLE"\ncategory = "core.arrow"\n'
                'params = { char = "str", default = "int" }\nmessage = "{char}/{default} {{literal}}"\n'
                'summary = "s"\nexplanation = "e"\nsince = "0.2"\n')
    assert gen.main(["--root", str(tmp_repo)]) == 0
    cpp = (tmp_repo / "cpp/src/kiln/core/error_codes.h").read_text()
    assert "core_arrow_example(std::string_view char_, std::int64_t default_)" in cpp
    assert 'msg_ += " {literal}";' in cpp
