"""Kiln: native simulation cores behind a Pythonic API.

pyarrow is imported first: the native extension links the Arrow C++ libraries shipped in the
pinned pyarrow wheel, and they must already be loaded (and be the same minor version) before the
extension is imported.
"""
from __future__ import annotations

import pyarrow as _pa

PYARROW_REQUIRED = "26.0"

if ".".join(_pa.__version__.split(".")[:2]) != PYARROW_REQUIRED:
    raise ImportError(
        f"kiln needs pyarrow {PYARROW_REQUIRED}.x (its native code links Arrow C++ "
        f"{PYARROW_REQUIRED}), but pyarrow {_pa.__version__} is installed; "
        f"run: pip install 'pyarrow=={PYARROW_REQUIRED}.*'"
    )

__version__ = "0.1.0"

from kiln.errors import KilnError, KilnWarning  # noqa: E402
from kiln._threads import get_num_threads, set_num_threads  # noqa: E402


def __getattr__(name: str):
    # kiln.Program / kiln.ITEM_DTYPE load numpy-backed code only when asked for.
    if name in ("Program", "ITEM_DTYPE"):
        from kiln import program

        return getattr(program, name)
    raise AttributeError(f"module 'kiln' has no attribute {name!r}")


def component(cls=None, /):
    """Decorate a class as a world component (see :func:`kiln.world.component`)."""
    from kiln.world.components import component as _component

    return _component(cls) if cls is not None else _component


def _native_dir() -> str:
    """Where the compiled parts are installed: beside the extension module (in an editable install
    that is site-packages/kiln, not the source tree this file lives in)."""
    import importlib.util
    import os

    spec = importlib.util.find_spec("kiln._kiln")
    origin = spec.origin if spec is not None else None
    return os.path.dirname(origin) if origin else os.path.dirname(os.path.abspath(__file__))


def get_include() -> str:
    """Directory holding every installed Kiln C/C++ header (``kiln/capi/arct.h``, ...)."""
    import os

    return os.path.join(_native_dir(), "include")


__all__ = ["ITEM_DTYPE", "KilnError", "KilnWarning", "Program", "component", "get_include", "get_num_threads",
           "set_num_threads", "__version__"]
