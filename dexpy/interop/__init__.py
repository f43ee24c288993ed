"""Interoperation with other array frameworks: `dexpy.interop.jax` (needs `jax`)."""
