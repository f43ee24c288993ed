"""Where the prelude, the library modules and the grammar live.

A source checkout (or an editable install) has them at the repository root; a
non-editable install has them copied into dexpy/data by setup.py.
"""
from __future__ import annotations

from pathlib import Path

_PKG = Path(__file__).resolve().parent


def _root() -> Path:
    checkout = _PKG.parent
    if (checkout / "prelude.dx").is_file() and (checkout / "grammar").is_dir():
        return checkout
    return _PKG / "data"


def prelude_path() -> Path:
    """The prelude source file."""
    return _root() / "prelude.dx"


def grammar_path(name: str = "dex.lark") -> Path:
    """A grammar file of the grouping stage."""
    return _root() / "grammar" / name


def lib_dir() -> Path:
    """The folder of standard library modules (`import complex` finds complex.dx here)."""
    return _root() / "lib"


def dialect2021_prelude_path() -> Path:
    """The 2021 dialect's prelude layer, read after the prelude (docs/dialects.md)."""
    return _root() / "lib" / "dialect2021" / "prelude.dx"


def dialect2022_prelude_path() -> Path:
    """The 2022-23 dialect's prelude layer: the names of that time's prelude that
    today's lacks (docs/dialects.md)."""
    return _root() / "lib" / "dialect2022" / "prelude.dx"
