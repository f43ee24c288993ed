"""dexpy: the Dex array language, type-checked in Python and compiled to native code via LLVM."""
from __future__ import annotations

__version__ = "0.1.0"
