"""The standard library, checked when the package is built.

`python -m dexpy.stdlib_cache DEST` checks the prelude (today's, and with each
dialect's layer) and imports every library module once after it, with a private
cache directory, then copies the resulting `prelude` and `module` entries to
DEST. setup.py runs it into `dexpy/data/cache` of the build, so an installed
package starts with its standard library checked, as compilers ship theirs
compiled: a fresh install's first `dexpy FILE` does not spend ~0.8 s checking
the prelude again (`cache.load` reads that layer after the user's cache).

The entries are ordinary cache entries: keyed by dexpy's sources and the files'
texts (library files by their place in lib/, `toplevel._portable`), so they
serve any copy of the same package and are never found by another one. They
hold checked, evaluated Dex values (Core terms, numbers, arrays): no machine
code, nothing that depends on the CPU.
"""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

KINDS = ("prelude", "module")
"""The cache entries shipped: what checking the library produces."""


def library_modules() -> list[str]:
    """The modules of lib/ (today's Dex)."""
    from .resources import lib_dir
    return sorted(p.stem for p in lib_dir().glob("*.dx"))


def build(dest: Path) -> int:
    """Checks the library with a private cache, copies its entries into `dest`;
    returns the number of entries."""
    from . import cache
    from .source import SourceFile
    from .toplevel import Session
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["XDG_CACHE_HOME"] = tmp
        os.environ.pop("DEXPY_CACHE", None)
        for dialect in (None, "2021", "2022"):
            for module in [None, *library_modules()]:
                session = Session(dialect=dialect, tiered=True)
                if module is not None:
                    text = f"import {module}\n"
                    for _block, out in session.run_source(SourceFile("<stdlib>", text)):
                        if out:     # a library module that does not check: ship nothing of it
                            print(f"dexpy: library module {module} ({dialect or 'today'}): "
                                  + " ".join(out)[:200], file=sys.stderr)
        count = 0
        for kind in KINDS:
            src = cache.cache_dir() / kind
            if src.is_dir():
                shutil.copytree(src, dest / kind, dirs_exist_ok=True)
                count += sum(1 for _ in src.iterdir())
        return count


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m dexpy.stdlib_cache DEST", file=sys.stderr)
        return 2
    dest = Path(argv[0])
    dest.mkdir(parents=True, exist_ok=True)
    print(f"dexpy: standard library checked: {build(dest)} cache entries in {dest}",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
