"""dexpy: the Dex array language, type-checked in Python and compiled to native code via LLVM.

The Python API (dexpy.api, imported on first use so that `import dexpy` stays
cheap): `load(path)` / `loads(source)` give a `Module` whose top-level values
and functions are attributes; `eval(expr)` evaluates an expression to an `Atom`
(upstream's API, as `Module(source)`); `grad`, `vjp`, `jvp` differentiate
functions. See docs/api.md.
"""
from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_API_NAMES = ("load", "loads", "eval", "Module", "Atom", "Function", "Specialization", "DexError",
              "DexRuntimeError", "grad", "vjp", "jvp", "value_and_grad", "Record", "Constructor")
__all__ = ["__version__", *_API_NAMES]


def __getattr__(name: str) -> Any:
    if name == "grad":            # dexpy.api.grad is the module of grad, vjp, jvp
        from .api.grad import grad
        return grad
    if name in _API_NAMES:
        from . import api
        return getattr(api, name)
    raise AttributeError(f"module 'dexpy' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_API_NAMES))
