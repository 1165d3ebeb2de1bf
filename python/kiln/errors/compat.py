"""Drop-in replacement for PyAgent's ``ErrorMappingCore`` (specs/formula.md B.2).

Pure Python by design (formula K2): every call is one dict lookup, which is faster than a call
into native code would be. The data comes from the shipped catalog ``catalogs/pyagent.toml``, so
``ERROR_CODES == ErrorCatalog.load("pyagent.toml").as_dict()``; the behaviour, quirks included,
is the source's:

* :func:`get_error_code` matches names exactly (case- and whitespace-sensitive) and returns
  ``"PA-0000"`` for anything else;
* :func:`get_error_documentation_link` appends the code to the base URL without validating it;
* :func:`describe_error` returns ``"Name: summary"`` for the three codes that have a summary and
  ``"Unknown System Error"`` for every other code, known or not.
"""
from __future__ import annotations

from typing import Optional

from kiln.errors.catalog import ErrorCatalog

__all__ = ["ERROR_CODES", "DEFAULT_CODE", "DOCS_BASE_URL", "ErrorMappingCore", "get_error_code",
           "get_error_documentation_link", "describe_error"]

_CATALOG = ErrorCatalog.load("pyagent.toml")

#: Exception name -> "PA-xxxx" code, the 16 pairs in the source's order (a real ``dict``).
ERROR_CODES: dict[str, str] = _CATALOG.as_dict()
DEFAULT_CODE: str = _CATALOG.default_code or "PA-0000"
DOCS_BASE_URL = "https://docs.pyagent.ai/errors/"
_DESCRIPTIONS: dict[str, str] = {e.code: f"{e.name}: {e.summary}" for e in _CATALOG.entries if e.summary}
_UNKNOWN = _CATALOG.unknown_description


def get_error_code(exception_name: str) -> str:
    """The PA code of an exception name (exact match), else ``"PA-0000"``."""
    return ERROR_CODES.get(exception_name, DEFAULT_CODE)


def get_error_documentation_link(error_code: str) -> str:
    """Troubleshooting URL: the base URL followed by the code, unvalidated (as the source)."""
    return f"{DOCS_BASE_URL}{error_code}"


def describe_error(error_code: str) -> str:
    """``"Name: summary"`` for PA-1001, PA-2001 and PA-4002; ``"Unknown System Error"`` otherwise."""
    return _DESCRIPTIONS.get(error_code, _UNKNOWN)


class ErrorMappingCore:
    """The source's class: ``ERROR_CODES`` plus classmethods ``get_code``,
    ``get_troubleshooting_link`` and ``describe_error``; instances have ``name = "ErrorMapping"``."""

    ERROR_CODES: dict[str, str] = ERROR_CODES

    def __init__(self, repo_root: Optional[str] = None) -> None:
        self.name = "ErrorMapping"
        self.repo_root = repo_root

    @classmethod
    def get_code(cls, exception_name: str) -> str:
        return cls.ERROR_CODES.get(exception_name, DEFAULT_CODE)

    @classmethod
    def get_troubleshooting_link(cls, error_code: str) -> str:
        return get_error_documentation_link(error_code)

    @classmethod
    def describe_error(cls, error_code: str) -> str:
        return describe_error(error_code)
