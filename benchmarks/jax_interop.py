"""JAX interop benchmarks: `python benchmarks/jax_interop.py [--runs N]`.

1. `dexjit(f)` against `jax.jit(f)` and numpy, same run, on an MLP forward pass, a
   fused elementwise chain and a 2-D stencil (best of N warm calls, results checked
   against numpy first; ratio = dexjit / peer, < 1 is faster).
2. The per-call overhead of a Dex primitive under `jax.jit` (XLA FFI custom call)
   against the plain Dex call (`Function` on numpy arrays) and a `jax.jit` of a
   no-op, on a small input: the added cost is what the custom call costs.
"""
from __future__ import annotations

import argparse
import time

import numpy as np


def best(fn, runs: int) -> float:
    fn()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def workloads(rng):
    import jax
    import jax.numpy as jnp

    def mlp(params, x):
        for w, b in params[:-1]:
            x = jnp.tanh(x @ w + b)
        w, b = params[-1]
        return x @ w + b

    def mlp_np(params, x):
        for w, b in params[:-1]:
            x = np.tanh(x @ w + b)
        w, b = params[-1]
        return x @ w + b

    sizes = [(256, 512), (512, 512), (512, 10)]
    params = [(rng.normal(size=s).astype(np.float32) * 0.05,
               rng.normal(size=s[1]).astype(np.float32)) for s in sizes]
    x = rng.normal(size=(512, 256)).astype(np.float32)

    def chain(a, b):
        return jnp.tanh(jnp.exp(-a * a) * 3.0 + jnp.sin(b) / (1.0 + b * b)) * a

    def chain_np(a, b):
        return np.tanh(np.exp(-a * a) * 3.0 + np.sin(b) / (1.0 + b * b)) * a
    a = rng.normal(size=4_000_000).astype(np.float32)
    b = rng.normal(size=4_000_000).astype(np.float32)

    def stencil(u):
        return u[1:-1, 1:-1] + 0.1 * (u[:-2, 1:-1] + u[2:, 1:-1] + u[1:-1, :-2] + u[1:-1, 2:]
                                      - 4 * u[1:-1, 1:-1])
    u = rng.normal(size=(2048, 2048)).astype(np.float32)
    def loss(params, x, y):
        return jnp.mean((mlp(params, x) - y) ** 2)

    def train_step(params, x, y):
        value, grads = jax.value_and_grad(loss)(params, x, y)
        return value, jax.tree_util.tree_map(lambda p, g: p - 0.01 * g, params, grads)
    y = rng.normal(size=(512, 10)).astype(np.float32)
    return [("mlp forward 512x256 -> 512 -> 512 -> 10", mlp, mlp_np, (params, x)),
            ("mlp training step (value_and_grad)", train_step, None, (params, x, y)),
            ("elementwise chain, 4M floats", chain, chain_np, (a, b)),
            ("5-point stencil 2048x2048", stencil, stencil, (u,))]


def bench_dexjit(runs: int) -> None:
    import jax
    from dexpy.interop.jax import dexjit
    rng = np.random.default_rng(0)
    print("dexjit: eager call; jit(dexjit): inside jax.jit (the XLA custom call)")
    print(f"{'workload':40s} {'dexjit':>9s} {'jit(dexjit)':>11s} {'jax.jit':>9s} {'numpy':>9s} "
          f"{'/jax':>6s} {'/numpy':>7s}  compile")
    for name, f, f_np, args in workloads(rng):
        d, j = dexjit(f), jax.jit(f)
        jd = jax.jit(d)
        t0 = time.perf_counter()
        got = jax.tree_util.tree_leaves(d(*args))
        compile_s = time.perf_counter() - t0
        want = jax.tree_util.tree_leaves(f_np(*args) if f_np else j(*args))
        for g, w, g2 in zip(got, want, jax.tree_util.tree_leaves(jd(*args))):
            np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=2e-3, atol=2e-3)
            np.testing.assert_allclose(np.asarray(g2), np.asarray(w), rtol=2e-3, atol=2e-3)
        td = best(lambda: jax.block_until_ready(d(*args)), runs)
        tjd = best(lambda: jax.block_until_ready(jd(*args)), runs)
        tj = best(lambda: jax.block_until_ready(j(*args)), runs)
        tn = best(lambda: f_np(*args), runs) if f_np else float("nan")
        print(f"{name:40s} {td * 1e3:7.2f}ms {tjd * 1e3:9.2f}ms {tj * 1e3:7.2f}ms "
              f"{tn * 1e3:7.2f}ms {td / tj:6.2f} {td / tn:7.2f}  {compile_s:.2f}s")


def bench_overhead(runs: int) -> None:
    import jax
    import jax.numpy as jnp
    import dexpy
    from dexpy.interop.jax import primitive
    m = dexpy.loads("def f(x:(Fin n)=>Float) -> (Fin n)=>Float given (n:Nat) = "
                    "for i. x[i] * 2.0")
    x = np.arange(16, dtype=np.float32)
    xj = jnp.asarray(x)
    prim = jax.jit(primitive(m.f))
    noop = jax.jit(lambda v: v * 2.0)
    n = max(runs, 2000)

    def per_call(fn) -> float:
        fn()
        t = time.perf_counter()
        for _ in range(n):
            fn()
        return (time.perf_counter() - t) / n
    td = min(per_call(lambda: m.f(x)) for _ in range(3))
    tp = min(per_call(lambda: prim(xj).block_until_ready()) for _ in range(3))
    tn = min(per_call(lambda: noop(xj).block_until_ready()) for _ in range(3))
    print(f"\nper call, 16 floats: plain Dex call {td * 1e6:.2f} us; Dex primitive under "
          f"jax.jit {tp * 1e6:.2f} us; jax.jit of x * 2.0 {tn * 1e6:.2f} us")
    print(f"custom call added over XLA's own dispatch: {(tp - tn) * 1e6:+.2f} us")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10)
    args = ap.parse_args()
    bench_dexjit(args.runs)
    bench_overhead(args.runs)


if __name__ == "__main__":
    main()
