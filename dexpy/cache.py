"""The on-disk compile cache: object code per compiled module.

Entries live in `$XDG_CACHE_HOME/dexpy` (default `~/.cache/dexpy`), created
with mode 0700. `DEXPY_CACHE=0` turns the cache off. An object file is keyed by
a SHA-256 of its LLVM IR text, the optimization level, dexpy's version (plus a
hash of the backend's own sources, so an edited compiler never reuses stale
code), the LLVM version and the host CPU name and features. Every entry
carries a checksum of its contents: a truncated, corrupt or foreign entry is
ignored (and rebuilt by the caller), never a crash. Writes go to a temporary
file renamed into place, so concurrent processes never see half an entry.

An installed package also carries a read-only layer, `dexpy/data/cache`: the
checked prelude (with its dialect layers) and library modules, built with the
package (`dexpy/stdlib_cache.py`, run by setup.py), so that a fresh install's
first run does not check the prelude again. `load` looks there when the user's
cache has no entry; nothing is ever written there. Its entries are keyed like
the user's, by dexpy's sources and the files' texts: a stale one is never found.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
from functools import cache
from pathlib import Path

MAGIC = b"DEXPYOBJ1\n"


def enabled() -> bool:
    return os.environ.get("DEXPY_CACHE", "1").strip() not in ("0", "off", "no", "false")


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "dexpy"


@cache
def compiler_version() -> str:
    """dexpy's version plus a hash of the code generator's sources."""
    from . import __version__
    h = hashlib.sha256(__version__.encode())
    here = Path(__file__).parent
    for rel in ("backend/jit.py", "backend/llvmgen.py", "backend/parallel.py", "cache.py"):
        try:
            h.update((here / rel).read_bytes())
        except OSError:
            pass
    return h.hexdigest()[:16]


@cache
def target_id() -> str:
    """The LLVM version and host CPU (name and features) that object code is built for."""
    import llvmlite.binding as llvm
    return "|".join([".".join(map(str, llvm.llvm_version_info)), llvm.get_process_triple(),
                     llvm.get_host_cpu_name(), llvm.get_host_cpu_features().flatten()])


@cache
def sources_hash() -> str:
    """A hash of every dexpy source file (what a Simp function's lowering depends on)."""
    h = hashlib.sha256()
    here = Path(__file__).parent
    for src in sorted(here.rglob("*.py")):
        h.update(str(src.relative_to(here)).encode() + b"\0")
        try:
            h.update(src.read_bytes())
        except OSError:
            pass
    return h.hexdigest()


def function_key(simp: bytes, opt_level: int) -> str:
    """The key of a Simp function's LLVM IR: the function (serialized), dexpy's sources,
    the target, the switches and the optimization level (quick-tier code skips the
    Imp passes that only make code faster)."""
    h = hashlib.sha256()
    for part in (compiler_version(), sources_hash(), target_id(), _codegen_switches(),
                 str(opt_level)):
        h.update(part.encode())
        h.update(b"\0")
    h.update(simp)
    return h.hexdigest()


CODEGEN_SWITCHES = ("DEXPY_FP_CONTRACT", "DEXPY_REASSOC", "DEXPY_NO_INTERCHANGE",
                    "DEXPY_PREFER_256", "DEXPY_NO_PEEL", "DEXPY_NO_FORWARD", "DEXPY_UNSAFE_INDEX",
                    "DEXPY_COMPILE_THREADS", "DEXPY_REUSE", "DEXPY_NO_FILL_FUSION")
"""Environment variables that change the code generated for a Simp function."""


def _codegen_switches() -> str:
    return ";".join(f"{k}={os.environ.get(k, '')}" for k in CODEGEN_SWITCHES)


def object_key(ir_text: str, opt_level: int) -> str:
    h = hashlib.sha256()
    for part in (compiler_version(), target_id(), str(opt_level)):
        h.update(part.encode())
        h.update(b"\0")
    h.update(ir_text.encode())
    return h.hexdigest()


def file_path(kind: str, name: str) -> Path | None:
    """A path in the cache for a file another library manages (the parser tables), or
    None when the cache is off or cannot be created."""
    if not enabled():
        return None
    d = _dir(kind)
    return None if d is None else d / name


def _dir(kind: str) -> Path | None:
    root = cache_dir()
    try:
        root.mkdir(mode=0o700, parents=True, exist_ok=True)
        d = root / kind
        d.mkdir(mode=0o700, exist_ok=True)
        return d
    except OSError:
        return None


def shipped_dir() -> Path:
    """The read-only layer built with an installed package (absent in a checkout)."""
    return Path(__file__).resolve().parent / "data" / "cache"


def load(kind: str, key: str) -> bytes | None:
    """The payload stored under `key`, or None (missing, disabled, corrupt)."""
    if not enabled():
        return None
    for root in (cache_dir(), shipped_dir()):
        try:
            data = (root / kind / key).read_bytes()
        except OSError:
            continue
        payload = _checked(data)
        if payload is not None:
            return payload
    return None


def _checked(data: bytes) -> bytes | None:
    """An entry's payload if its checksum holds."""
    head = len(MAGIC) + 64
    if len(data) < head or not data.startswith(MAGIC):
        return None
    digest, payload = data[len(MAGIC):head], data[head:]
    if hashlib.sha256(payload).hexdigest().encode() != digest:
        return None
    return payload


def store(kind: str, key: str, payload: bytes) -> None:
    """Stores `payload` under `key` (silently does nothing if the cache is unusable)."""
    if not enabled():
        return
    d = _dir(kind)
    if d is None:
        return
    data = MAGIC + hashlib.sha256(payload).hexdigest().encode() + payload
    try:
        fd, tmp = tempfile.mkstemp(dir=d, prefix=".tmp-")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, d / key)
    except OSError:
        try:
            os.unlink(tmp)
        except (OSError, UnboundLocalError):
            pass
