"""Where the C ABI library and headers are installed (specs/world.md §7.1).

The wheel ships ``libkiln_arct.so.2`` in ``kiln/lib/`` and every header in ``kiln.get_include()``.
These functions only compute the paths; they do not check that the files exist (a source
checkout without a native build has none).
"""
from __future__ import annotations

import os

__all__ = ["c_library_path", "c_include_dir", "C_LIBRARY_NAME"]

#: The SONAME carries the ABI version (``ARCT_ABI_VERSION`` 2).
C_LIBRARY_NAME = "libkiln_arct.so.2"


def c_library_path() -> str:
    """Absolute path of ``libkiln_arct.so.2`` inside the installed package."""
    import kiln

    return os.path.join(kiln._native_dir(), "lib", C_LIBRARY_NAME)


def c_include_dir() -> str:
    """Directory holding ``arct.h`` (the same as ``kiln.get_include()``)."""
    import kiln

    return kiln.get_include()
