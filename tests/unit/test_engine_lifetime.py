"""The runtime's execution engines (allocator, worker pool, arena freer) live until the
process ends: buffers are freed through the allocator's code by finalizers that may
run after Python has dropped module globals during shutdown. Here the allocator's
cache entry is dropped on purpose before a result buffer dies; with a collectable
engine that call jumped into unmapped code (SIGSEGV)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = r"""
import gc
import dexpy
from dexpy.backend import alloc, parallel
m = dexpy.loads("def f(n:Nat) -> (Fin n)=>Float = for i. n_to_f (ordinal i) * 2.0")
x = m.f(1 << 20)                 # a 4 MB result buffer, freed through the allocator
y = m.f(1 << 20)
assert float(x[3]) == 6.0
alloc.allocator.cache_clear()    # what module teardown does to the cached engines
parallel.pool.cache_clear()
gc.collect()
del x
gc.collect()
z = m.f(1 << 20)                 # compiled code still allocates and runs in parallel
assert float(z[5]) == 10.0
cycle = [y]
cycle.append(cycle)              # freed by the final garbage collection
print("ok")
"""


def test_buffers_outlive_engine_references() -> None:
    r = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                       cwd=ROOT, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip() == "ok"
