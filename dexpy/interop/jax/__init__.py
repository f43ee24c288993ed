"""JAX interop: Dex functions as JAX primitives, and JAX functions compiled by Dex.

    from dexpy.interop.jax import primitive, dexjit
    f = primitive(dexpy.loads(src).f)      # works under jax.jit, vmap, jvp, grad
    g = dexjit(jax_function)               # its jaxpr translated to Dex and compiled

See docs/jax.md. `primitive.py` holds the primitives and their rules, `callee.py` the
Dex-side specializations and wrappers, `xla_ffi.py` the XLA FFI handler (LLVM IR),
`jax2dex.py` and `jax_rules.py` the jaxpr -> Dex translation behind `compile.py` (dexjit).
"""
from __future__ import annotations

try:
    import jax as _jax  # noqa: F401
except ImportError as e:       # pragma: no cover -- depends on the environment
    raise ImportError("dexpy.interop.jax needs JAX: pip install 'dexpy[jax]' "
                      "(or pip install jax)") from e

from .compile import dexjit
from .primitive import primitive

__all__ = ["primitive", "dexjit"]
