"""The on-disk cache of top-level blocks' Simp functions (a warm `dexpy script` skips
simplification, AD included, for every block it has run before).

`Chain` is a hash of everything a session has evaluated: its root is the prelude's
cache key (the prelude's text and dexpy's sources), then each block's file, offset and
text, each imported file's contents, and the type of each top-level value computed
(a table's size may come from run-time data, e.g. a file read). A block's Simp
function depends only on these: the simplifier reads the environment and the values'
types, never their data. So the chain's hash, with the `DEXPY_*` switches that change
the compiler's output, keys the block's function. An entry also holds the session's
name supply after simplifying, restored on a hit, so the fresh names of later blocks
are the ones the cached functions were built with.

Entries are written only for blocks that compile a function (not for types or static
values); a missing, corrupt or inconsistent entry is a miss. `DEXPY_CHECK=1` and
`DEXPY_CACHE=0` bypass the cache.
"""
from __future__ import annotations

import hashlib
import os
import pickle

from . import cache
from .errors import checks_enabled
from .names import NameSupply
from .simp.ir import SimpFunction

_RUN_TIME_ONLY = {"DEXPY_NUM_THREADS", "DEXPY_CACHE", "DEXPY_DEBUG", "DEXPY_QUICK", "DEXPY_CHECK",
                  "DEXPY_DATA", "DEXPY_ARENA_LIMIT", "DEXPY_REUSE"}


def _switches() -> str:
    return ";".join(f"{k}={v}" for k, v in sorted(os.environ.items())
                    if k.startswith("DEXPY_") and k not in _RUN_TIME_ONLY)


class Chain:
    """The hash of a session's history (None: not cached, e.g. a session without the
    prelude)."""

    def __init__(self, root: str | None = None) -> None:
        self.key = root

    def add(self, *parts: object) -> None:
        if self.key is None:
            return
        h = hashlib.sha256(self.key.encode())
        for p in parts:
            b = p if isinstance(p, bytes) else str(p).encode()
            h.update(len(b).to_bytes(8, "little"))
            h.update(b)
        self.key = h.hexdigest()

    def _entry(self) -> str | None:
        if self.key is None or checks_enabled() or not cache.enabled():
            return None
        return hashlib.sha256(f"{self.key}\0{_switches()}".encode()).hexdigest()

    def load(self, names: NameSupply) -> SimpFunction | None:
        """The cached function of the block being evaluated (restoring the name
        supply), or None."""
        key = self._entry()
        blob = cache.load("simp", key) if key is not None else None
        if blob is None:
            return None
        try:
            next_uid = int.from_bytes(blob[:8], "little")
            fn = pickle.loads(blob[8:])
        except Exception:  # noqa: BLE001 -- a corrupt or stale entry: simplify again
            return None
        if not isinstance(fn, SimpFunction) or next_uid < names.next_uid:
            return None
        names.next_uid = next_uid
        return fn

    def store(self, fn: SimpFunction, names: NameSupply) -> None:
        key = self._entry()
        if key is None:
            return
        from .backend.run import simp_bytes
        try:
            blob = names.next_uid.to_bytes(8, "little") + simp_bytes(fn)
        except Exception:  # noqa: BLE001 -- caching is an optimization only
            return
        cache.store("simp", key, blob)
