"""The benchmark suite of ../shared/docs/BENCHMARKS.md: `python benchmarks/run.py`.

For every workload: dexpy's warm time (best and median of `--runs`, 2 threads
and 1 thread), each peer's time measured in the same run (numpy always; C
built with `gcc -O3 -march=native -fopenmp` when gcc exists; numba and JAX
when installed), the ratio dexpy / peer, the 1 -> 2 thread speedup, and the
compile time of the workload's function cold (cache off) and cached. Every
result is checked against the numpy reference before timing. Indexing is checked
by default (an index out of bounds is a run-time error, docs/cli.md); each workload
is also compiled and timed with the checks off (`DEXPY_UNSAFE_INDEX=1`): the
"unchecked" line and column, and the cost of the checks (checked / unchecked, both
through `run_compiled`, calls alternated; `--no-unchecked` skips it). A workload that
needs a feature dexpy lacks is reported as "not supported yet".

Each `bNN_*.dx` file defines its inputs and ends with a `result = ...` block:
that block is compiled once and timed; the rest is loaded once.
"""
from __future__ import annotations

import argparse
import ctypes
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from dexpy.backend import parallel  # noqa: E402
from dexpy.backend.run import compile_function, run_compiled  # noqa: E402


def timed(fn, runs: int) -> tuple[float, float]:
    ts = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return min(ts), statistics.median(ts)


def timed_pair(f, g, runs: int) -> tuple[float, float]:
    """Best times of `f` and `g` over 2 * `runs` calls each, run alternately (a loaded
    machine slows both alike)."""
    tf, tg = [], []
    for _ in range(2 * runs):
        for fn, ts in ((f, tf), (g, tg)):
            t = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t)
    return min(tf), min(tg)


# === dexpy side ===

class DexWorkload:
    def __init__(self, path: Path, sizes: dict[str, int] | None = None) -> None:
        from dexpy.source import SourceFile
        from dexpy.toplevel import Session
        text = path.read_text()
        for name, value in (sizes or {}).items():     # `--full`: BENCHMARKS.md's sizes
            text = re.sub(rf"^{name} = \d+$", f"{name} = {value}", text, flags=re.M)
        head, _, tail = text.partition("\nresult =")
        self.session = Session()
        for block, out in self.session.run_source(SourceFile(str(path), head + "\n")):
            if any(line.startswith(("Type error", "Error", "Parse error", "Compiler bug",
                                    "Runtime error")) for line in out):
                raise RuntimeError("\n".join(out))
        self.expr_src = "result =" + tail
        self.fn = self._simp()

    def _simp(self):
        from dexpy.infer.decls import Evaluate, elab_top
        from dexpy.simp import ir as S
        from dexpy.simplify import Simplifier
        from dexpy.simplify.constants import bind_constants
        from dexpy.source import SourceFile
        from dexpy.syntax.parse import parse_file
        (block,) = [b for b in parse_file(SourceFile("result", self.expr_src)) if b.decl]
        s = self.session
        action = elab_top(s.env, s.names, block.decl)
        assert isinstance(action, Evaluate)
        simp = Simplifier(s.env, s.names, s.value_types)
        value = simp.ev(action.core, {})
        result = simp.atom(value)
        fn = S.SimpFunction(tuple(simp.params.values()), S.Block(tuple(simp.b.lets), result))
        # compiled as the session compiles the block (`dexpy script`, the REPL): for the
        # values of the earlier top-level integers it uses as sizes
        fn, _ = bind_constants(fn, [s.values[p.name] for p in fn.params])
        self.params = fn.params
        return fn

    def value(self, name: str) -> np.ndarray:
        b = self.session.env.scope[name]
        return self.session.values[b.name].leaves[0]

    def compile_times(self) -> tuple[float, float]:
        old = os.environ.get("DEXPY_CACHE")
        os.environ["DEXPY_CACHE"] = "0"
        t = time.perf_counter()
        compile_function(self.fn)
        cold = time.perf_counter() - t
        os.environ["DEXPY_CACHE"] = "1"
        compile_function(self.fn)                         # fills the cache
        t = time.perf_counter()
        self.cf = compile_function(self.fn)
        cached = time.perf_counter() - t
        if old is None:
            del os.environ["DEXPY_CACHE"]
        else:
            os.environ["DEXPY_CACHE"] = old
        return cold, cached

    def runner(self):
        args = [self.session.values[p.name] for p in self.params]
        cf = self.cf
        return lambda: run_compiled(cf, args)[0].leaves[0]

    def unchecked_runner(self, env: dict[str, str]):
        """The workload's function compiled with `DEXPY_UNSAFE_INDEX=1` (no bounds
        checks; and the workload's other switches `env`), run on the same arguments;
        returns all its result leaves."""
        env = {**env, "DEXPY_UNSAFE_INDEX": "1"}
        old = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            cf = compile_function(self.fn)
        finally:
            for k, v in old.items():
                if v is None:
                    del os.environ[k]
                else:
                    os.environ[k] = v
        args = [self.session.values[p.name] for p in self.params]
        return lambda: run_compiled(cf, args)[0].leaves


# === peers ===

def build_c() -> ctypes.CDLL | None:
    gcc = shutil.which("gcc")
    if gcc is None:
        return None
    out = Path(tempfile.mkdtemp()) / "peers.so"
    r = subprocess.run([gcc, "-O3", "-march=native", "-fopenmp", "-shared", "-fPIC",
                        str(HERE / "peers.c"), "-o", str(out), "-lm"], capture_output=True)
    if r.returncode != 0:
        print("C peer build failed:", r.stderr.decode()[:500])
        return None
    lib = ctypes.CDLL(str(out))
    lib.fused.restype = ctypes.c_float
    lib.small_sum.restype = ctypes.c_float
    return lib


def ptr(a: np.ndarray) -> ctypes.c_void_p:
    return ctypes.c_void_p(a.ctypes.data)


def workloads(c: ctypes.CDLL | None):
    """(id, title, dx file, numpy peer, C peer or None, checker) per workload."""
    def b1(w):
        a, b = w.value("a"), w.value("b")
        n = a.shape[0]
        out = np.empty((n, n), np.float32)
        cpeer = (lambda: (c.matmul_ikj(ptr(a), ptr(b), ptr(out), ctypes.c_long(n)), out)[1]) \
            if c else None
        return (lambda: a @ b), {"C ikj": cpeer}, dict(rtol=1e-3, atol=1e-3)

    def b2(w):
        npix = int(w.value("npix"))

        def ref():
            j = np.arange(npix, dtype=np.float64)
            cr = -2.0 + 2.5 * j[None, :] / npix + np.zeros((npix, 1))
            ci = -1.25 + 2.5 * j[:, None] / npix + np.zeros((1, npix))
            zr, zi, cnt = np.zeros_like(cr), np.zeros_like(cr), np.zeros_like(cr)
            with np.errstate(all="ignore"):
                for _ in range(256):
                    zr2, zi2 = zr * zr, zi * zi
                    cnt += zr2 + zi2 <= 4.0
                    zr, zi = zr2 - zi2 + cr, 2.0 * zr * zi + ci
            return cnt
        out = np.empty((npix, npix), np.float64)
        cpeer = (lambda: (c.mandel(ptr(out), ctypes.c_long(npix)), out)[1]) if c else None
        # escape counts are chaotic at the set's boundary: a rounding difference (FMA
        # contraction, as gcc's peer does too) changes a few pixels in millions
        return ref, {"C scalar": cpeer}, dict(rtol=0, atol=0.5, bad_fraction=1e-5)

    def b3(w):
        x, y = w.value("x"), w.value("y")
        cpeer = (lambda: c.fused(ptr(x), ptr(y), ctypes.c_long(len(x)))) if c else None
        return (lambda: np.float32(np.sum(np.exp(-x * x) * y))), {"C strict": cpeer}, \
            dict(rtol=2e-2)

    def b8(w):
        xs = w.value("xs")
        xs64 = xs.astype(np.int64)
        bins = np.zeros(256, np.int64)
        cpeer = (lambda: (c.histogram(ptr(xs64), ctypes.c_long(len(xs)), ptr(bins)), bins)[1]) \
            if c else None
        return (lambda: np.bincount(xs, minlength=256)), {"C private bins": cpeer}, \
            dict(rtol=0)

    def b4(w):
        t0, p = w.value("temp0"), w.value("power")
        n, steps = t0.shape[0], int(w.value("steps"))
        up, dn = np.maximum(np.arange(n) - 1, 0), np.minimum(np.arange(n) + 1, n - 1)
        f = np.float32

        def ref():
            t = t0
            for _ in range(steps):
                c = t
                t = c + f(0.5) * (p + (c[dn, :] + c[up, :] - f(2) * c) * f(0.1)
                                  + (c[:, dn] + c[:, up] - f(2) * c) * f(0.1)
                                  + (f(80) - c) * f(0.0001))
            return t
        out, tmp = np.empty_like(t0), np.empty_like(t0)
        cpeer = (lambda: (c.hotspot(ptr(t0), ptr(p), ptr(out), ptr(tmp), ctypes.c_long(n),
                                    ctypes.c_long(steps)), out)[1]) if c else None
        return ref, {"C strict": cpeer}, dict(rtol=1e-4, atol=1e-3)

    def b5(w):
        x, c0 = w.value("x"), w.value("c0")
        iters = int(w.value("iters"))
        k, d = c0.shape

        def ref():
            cen = c0
            for _ in range(iters):
                a = ((x[:, None, :] - cen[None, :, :]) ** 2).sum(-1).argmin(1)
                counts = np.bincount(a, minlength=k).astype(np.float32)
                sums = np.stack([x[a == j].sum(0) for j in range(k)])
                cen = sums / np.maximum(counts, 1)[:, None]
            return cen
        out = np.empty_like(c0)
        cpeer = (lambda: (c.kmeans(ptr(x), ptr(c0), ptr(out), ctypes.c_long(x.shape[0]),
                                   ctypes.c_long(d), ctypes.c_long(k), ctypes.c_long(iters)),
                          out)[1]) if c else None
        return ref, {"C private sums": cpeer}, dict(rtol=1e-3, atol=1e-4)

    def b7(w):
        x0, steps = w.value("x0"), int(w.value("steps"))

        def ref():
            sigma, rho, beta, dt, sixth = 10.0, 28.0, 8.0 / 3.0, 1.0 / 100.0, 1.0 / 6.0
            x, y = x0.copy(), np.ones_like(x0)
            z = np.full_like(x0, float(np.float32(1.05)))

            def f(x, y, z):
                return sigma * (y - x), x * (rho - z) - y, x * y - beta * z
            for _ in range(steps):
                ax, ay, az = f(x, y, z)
                bx, by, bz = f(x + 0.5 * dt * ax, y + 0.5 * dt * ay, z + 0.5 * dt * az)
                cx, cy, cz = f(x + 0.5 * dt * bx, y + 0.5 * dt * by, z + 0.5 * dt * bz)
                ex, ey, ez = f(x + dt * cx, y + dt * cy, z + dt * cz)
                x = x + dt * sixth * (ax + 2.0 * bx + 2.0 * cx + ex)
                y = y + dt * sixth * (ay + 2.0 * by + 2.0 * cy + ey)
                z = z + dt * sixth * (az + 2.0 * bz + 2.0 * cz + ez)
            return x + y + z
        out = np.empty_like(x0)
        cpeer = (lambda: (c.rk4(ptr(x0), ptr(out), ctypes.c_long(len(x0)), ctypes.c_long(steps)),
                          out)[1]) if c else None
        return ref, {"C scalar": cpeer}, dict(rtol=1e-8)

    def b9(w):
        wt = w.value("w")
        rows, cols = wt.shape

        def ref():
            prev = wt[0]
            for r in range(1, rows):
                left = np.concatenate((prev[:1], prev[:-1]))
                right = np.concatenate((prev[1:], prev[-1:]))
                prev = wt[r] + np.minimum(prev, np.minimum(left, right))
            return prev
        out, tmp = np.empty(cols, np.int32), np.empty(cols, np.int32)
        cpeer = (lambda: (c.pathfinder(ptr(wt), ptr(out), ptr(tmp), ctypes.c_long(rows),
                                       ctypes.c_long(cols)), out)[1]) if c else None
        return ref, {"C": cpeer}, dict(rtol=0)

    def b10(w):
        return b10_call(w, c)

    def b6(w):
        return b6_mlp(w)

    return [
        ("B1", "matmul f32 pointful (n=512)", "b1_matmul.dx", b1),
        ("B1**", "matmul f32 `a ** b` (n=512)", "b1_matmul_prelude.dx", b1),
        ("B2", "Mandelbrot f64 512x512x256", "b2_mandelbrot.dx", b2),
        ("B3", "fused sum(exp(-x*x)*y) N=1e7", "b3_fused.dx", b3),
        ("B3+", "the same with DEXPY_REASSOC=1 (opt-in: reassociation inside chunks)",
         "b3_fused.dx", b3),
        ("B4", "hotspot stencil f32 512x512, 100 steps", "b4_hotspot.dx", b4),
        ("B5", "k-means 65536x34, k=8, 10 iters (yield_accum scatter)", "b5_kmeans.dx", b5),
        ("B6", "grad of an MLP 784-1024-1024-10, batch 2048, f32", "b6_mlp.dx", b6),
        ("B7", "RK4 Lorenz-63, 20000 systems x 200 steps, f64", "b7_rk4.dx", b7),
        ("B8", "histogram 1e7 -> 256 bins", "b8_histogram.dx", b8),
        ("B9", "pathfinder int32 100 rows x 1e5 cols", "b9_pathfinder.dx", b9),
        ("B10", "call overhead (sum of 1000 floats)", "b10_call.dx", b10),
    ]


def b6_mlp(w: DexWorkload):
    """B6: `grad` of the MLP's loss, all six parameter gradients (concatenated). The
    reference is numpy hand-written backprop; JAX `jit(grad)` is a peer when installed.
    Also times the forward pass alone (the loss) in dexpy and JAX: grad/forward."""
    ps = [w.value(n) for n in ("w1", "b1", "w2", "b2", "w3", "b3")]
    x, y = w.value("x"), w.value("y")
    cf, args = w.cf, [w.session.values[p.name] for p in w.params]
    grad = lambda: np.concatenate([a.ravel() for a in run_compiled(cf, args)[0].leaves])  # noqa: E731
    w.runner = lambda: grad             # checked against numpy: the gradients concatenated
    # timed as JAX's `jit(grad)` is: the six gradients computed, not copied into one
    w.timed_runner = lambda: (lambda: run_compiled(cf, args))

    def grads():
        w1, b1, w2, b2, w3, b3 = ps
        z1 = x @ w1 + b1
        h1 = np.maximum(z1, 0)
        z2 = h1 @ w2 + b2
        h2 = np.maximum(z2, 0)
        d = 2 * (h2 @ w3 + b3 - y)
        dz2 = (d @ w3.T) * (z2 >= 0)
        dz1 = (dz2 @ w2.T) * (z1 >= 0)
        return (x.T @ dz1, dz1.sum(0), h1.T @ dz2, dz2.sum(0), h2.T @ d, d.sum(0))
    ref = lambda: np.concatenate([g.ravel() for g in grads()])   # noqa: E731
    w.timed_ref = grads
    saved = w.expr_src, w.params
    w.expr_src = "b6_forward = loss params"
    fcf = compile_function(w._simp())
    fargs = [w.session.values[p.name] for p in w.params]
    w.expr_src, w.params = saved
    fwd = lambda: run_compiled(fcf, fargs)                       # noqa: E731
    parallel.set_num_threads(2)
    tf, tg = timed(fwd, 3)[0], timed(w.timed_runner(), 3)[0]
    print(f"  dexpy forward (loss) {tf*1e3:10.3f} ms; grad {tg*1e3:.3f} ms; "
          f"grad/forward {tg/tf:.2f} (target <= 4)")
    peers = {}
    jax_fns = _jax_mlp(ps, x, y)
    if jax_fns is not None:
        jgrad, jfwd, jvals = jax_fns
        ok = np.allclose(jvals(), ref(), rtol=1e-3, atol=1e-3)
        jg, jf = timed(jgrad, 3)[0], timed(jfwd, 3)[0]
        print(f"  JAX forward jit(loss) {jf*1e3:9.3f} ms; jit(grad) {jg*1e3:.3f} ms; "
              f"grad/forward {jg/jf:.2f}; JAX result {'ok' if ok else 'MISMATCH'}")
        peers["JAX jit(grad)"] = jgrad
    return ref, peers, dict(rtol=1e-3, atol=1e-3)


def _jax_mlp(ps, x, y):
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        return None

    def loss(p):
        w1, b1, w2, b2, w3, b3 = p
        h1 = jnp.maximum(x @ w1 + b1, 0)
        h2 = jnp.maximum(h1 @ w2 + b2, 0)
        return jnp.sum((h2 @ w3 + b3 - y) ** 2)
    pj = [jnp.asarray(a) for a in ps]
    g, f = jax.jit(jax.grad(loss)), jax.jit(loss)
    jax.block_until_ready(g(pj))
    jax.block_until_ready(f(pj))
    return (lambda: jax.block_until_ready(g(pj)), lambda: jax.block_until_ready(f(pj)),
            lambda: np.concatenate([np.asarray(a).ravel() for a in g(pj)]))


def b10_call(w: DexWorkload, c: ctypes.CDLL | None):
    """B10: `small_sum` called through the Python API (dexpy.load, a Function on a numpy
    array). Times are per call, best of several batches of calls; the overhead is the
    API call minus the C kernel's own time (the kernel looped inside C)."""
    import dexpy
    m = dexpy.load(HERE / "b10_call.dx")
    f, x = m.small_sum, m.x                    # x: a read-only view of the module's buffer
    n = len(x)
    api = lambda: f(x)                         # noqa: E731
    w.runner = lambda: api                     # the generic rows time the API call too
    per_call = lambda fn, calls=2000: min(_batch(fn, calls) for _ in range(15)) / calls  # noqa: E731
    top = w.cf
    args = [w.session.values[p.name] for p in w.params]
    t_api = per_call(api)
    print(f"  dexpy API f(x)          {t_api*1e6:8.2f} us per call")
    print(f"  dexpy run_compiled      {per_call(lambda: run_compiled(top, args))*1e6:8.2f} us "
          f"(the top level's path)")
    peers = {}
    if c:
        c.small_sum.restype = ctypes.c_float
        c.small_sum.argtypes = [ctypes.c_void_p, ctypes.c_long]
        c.small_sum_reps.restype = ctypes.c_float
        c.small_sum_reps.argtypes = [ctypes.c_void_p, ctypes.c_long, ctypes.c_long]
        addr = x.ctypes.data
        floor = lambda: c.small_sum(addr, n)   # noqa: E731 -- ctypes floor: pointer ready
        reps = 2000                            # batches as short as the others' (~2 ms)
        kernel = min(_batch(lambda: c.small_sum_reps(addr, n, reps), 1) for _ in range(15)) / reps
        t_floor = per_call(floor)
        print(f"  C kernel alone          {kernel*1e6:8.2f} us (looped inside C)")
        print(f"  C via ctypes (floor)    {t_floor*1e6:8.2f} us per call")
        print(f"  B10 overhead: dexpy API {(t_api - kernel)*1e6:.2f} us, ctypes "
              f"{(t_floor - kernel)*1e6:.2f} us (target <= 10 us)")
        peers["C via ctypes"] = floor
    for name, make in (("numba", _numba_sum), ("JAX", _jax_sum)):
        fn = make(x)
        if fn is not None:
            print(f"  {name + ' dispatch':23s} {per_call(fn)*1e6:8.2f} us per call")
            peers[name] = fn
    return (lambda: np.float32(x.sum())), peers, dict(rtol=1e-4)


def _batch(fn, calls: int) -> float:
    t = time.perf_counter()
    for _ in range(calls):
        fn()
    return time.perf_counter() - t


def _numba_sum(x: np.ndarray):
    try:
        import numba
    except ImportError:
        return None
    kernel = numba.njit(lambda a: a.sum())
    kernel(x)
    return lambda: kernel(x)


def _jax_sum(x: np.ndarray):
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        return None
    kernel = jax.jit(jnp.sum)
    xj = jnp.asarray(x)
    kernel(xj).block_until_ready()
    return lambda: kernel(xj).block_until_ready()


FULL_SIZES: dict[str, dict[str, int]] = {
    "B1": {"n": 1024}, "B1**": {"n": 1024}, "B2": {"npix": 2048},
    "B3": {"n": 100_000_000}, "B3+": {"n": 100_000_000},
    "B4": {"n": 1024, "steps": 360}, "B5": {"npts": 204_800, "iters": 20},
    "B7": {"m": 100_000, "steps": 1000}, "B8": {"n": 100_000_000},
    "B9": {"rows": 1000, "cols": 1_000_000},
}
"""`--full`: the sizes of BENCHMARKS.md (B6 and B10 already run at them). B3 and B8
need ~1-2 GB, B9 ~8 GB (its 4 GB input and numpy's reference), and the numpy peers
take seconds per run at these sizes."""


def other_peers() -> list[str]:
    missing = []
    for mod in ("numba", "jax"):
        try:
            __import__(mod)
        except ImportError:
            missing.append(mod)
    return missing


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--only", nargs="*", help="workload ids, e.g. B1 B1** B8")
    ap.add_argument("--no-unchecked", dest="unchecked", action="store_false",
                    help="skip timing each workload again with DEXPY_UNSAFE_INDEX=1")
    ap.add_argument("--full", action="store_true",
                    help="BENCHMARKS.md's sizes instead of the scaled-down ones")
    args = ap.parse_args()
    c = build_c()
    if c is None:
        print("C peer: skipped (no gcc)")
    for m in other_peers():
        print(f"{m} peer: skipped (not installed)")
    print(f"threads available: {parallel.default_threads()}; times best/median of {args.runs}")
    rows = []
    for wid, title, dx, make in workloads(c):
        if args.only and wid not in args.only:
            continue
        if dx is None:
            print(f"\n{wid} {title}: not supported yet")
            rows.append((wid, "not supported yet"))
            continue
        if args.full and wid in FULL_SIZES:
            title += "  [full size: " + ", ".join(f"{k}={v}" for k, v in FULL_SIZES[wid].items()) + "]"
        print(f"\n{wid} {title}")
        opt_in = wid.endswith("+")      # compiled with the reassociation opt-in
        if opt_in:
            os.environ["DEXPY_REASSOC"] = "1"
        try:
            w = DexWorkload(HERE / dx, FULL_SIZES.get(wid) if args.full else None)
            cold, cached = w.compile_times()
        except Exception as e:          # a missing feature: report, go on
            print(f"  not supported yet ({type(e).__name__}: {str(e).splitlines()[0][:100]})")
            rows.append((wid, "not supported yet"))
            continue
        finally:
            if opt_in:
                del os.environ["DEXPY_REASSOC"]
        ref, peers, tol = make(w)
        run = w.runner()
        timed_run = w.timed_runner() if hasattr(w, "timed_runner") else run
        want = np.asarray(ref())
        got = np.asarray(run()).reshape(want.shape)
        tol = dict(tol)
        bad = tol.pop("bad_fraction", 0.0)
        close = np.isclose(got.astype(np.float64), want.astype(np.float64),
                           **{"rtol": 1e-5, "atol": 0, **tol})
        ok = bool(np.mean(~close) <= bad)
        print(f"  checked against numpy: {'ok' if ok else 'MISMATCH'}")
        parallel.set_num_threads(2)
        if c:
            c.set_threads(2)
        d2 = timed(timed_run, args.runs)
        parallel.set_num_threads(1)
        d1 = timed(timed_run, args.runs)
        parallel.set_num_threads(2)
        print(f"  dexpy 2 threads  {d2[0]*1e3:10.3f} ms (median {d2[1]*1e3:.3f})")
        print(f"  dexpy 1 thread   {d1[0]*1e3:10.3f} ms  speedup 1->2: {d1[0]/d2[0]:.2f}x")
        unchecked = "-"
        if args.unchecked:
            run_u = w.unchecked_runner({"DEXPY_REASSOC": "1"} if opt_in else {})
            cargs = [w.session.values[p.name] for p in w.params]
            run_c = lambda: run_compiled(w.cf, cargs)[0].leaves        # noqa: E731
            same = all(np.array_equal(a, b, equal_nan=True) for a, b in zip(run_u(), run_c()))
            tc, tu = timed_pair(run_c, run_u, args.runs)   # the same call, checks on and off
            unchecked = f"{tu*1e3:.2f}"
            print(f"  dexpy unchecked  {tu*1e3:10.3f} ms (2 threads, DEXPY_UNSAFE_INDEX=1; checks "
                  f"cost {tc/tu:.2f}x, runs alternated){'' if same else '  RESULT DIFFERS'}")
        print(f"  compile: cold {cold*1e3:.0f} ms, cached {cached*1e3:.0f} ms")
        np_t = timed(getattr(w, "timed_ref", ref), args.runs)
        print(f"  numpy            {np_t[0]*1e3:10.3f} ms  dexpy/numpy {d2[0]/np_t[0]:.2f}")
        line = [wid, f"{d2[0]*1e3:.2f}", unchecked, f"{d1[0]/d2[0]:.2f}", f"{np_t[0]*1e3:.2f}",
                f"{d2[0]/np_t[0]:.2f}"]
        for name, fn in peers.items():
            if fn is None:
                continue
            # (not alternated with dexpy's calls: a peer's OpenMP pool spins after
            # each call and slowed B8's 2 ms dexpy call that followed it 2x)
            pt = timed(fn, args.runs)
            print(f"  {name:16s} {pt[0]*1e3:10.3f} ms  dexpy/{name} {d2[0]/pt[0]:.2f}")
            line += [name, f"{pt[0]*1e3:.2f}", f"{d2[0]/pt[0]:.2f}"]
        line += [f"{cold*1e3:.0f}", f"{cached*1e3:.0f}", "ok" if ok else "MISMATCH"]
        rows.append(tuple(line))
    print("\nid | dexpy ms (2T) | unchecked ms | 1->2 | numpy ms | /numpy | peer | peer ms | /peer | "
          "compile cold ms | cached ms | check")
    for r in rows:
        print(" | ".join(r))


if __name__ == "__main__":
    main()
