"""dexpy.api compiles a call as the top level compiles a unit: lets whose results
nothing uses are dropped (the primal value `grad` computes and discards)."""
from __future__ import annotations

import numpy as np

import dexpy
import dexpy.api.plan as plan
from dexpy.imp import ir as i
from dexpy.imp.rename import walk_stmts


def _loops(b: i.IBlock) -> list[i.Loop]:
    return [s for s in walk_stmts(b) if isinstance(s, i.Loop)]


def test_grad_call_does_not_compute_the_primal(monkeypatch) -> None:
    seen: list = []
    orig = plan.compile_function
    monkeypatch.setattr(plan, "compile_function", lambda fn: seen.append(orig(fn)) or seen[-1])
    m = dexpy.loads(r"""
def gradsin(x:(Fin n)=>Float) -> (Fin n)=>Float given (n:Nat) = grad (\v. sum for i. v[i] * sin v[i]) x
""")
    x = np.linspace(-3, 3, 5000, dtype=np.float32)
    g = np.asarray(m.gradsin(x))
    np.testing.assert_allclose(g, np.sin(x) + x * np.cos(x), rtol=1e-5, atol=1e-6)
    (cf,) = seen
    loops = list(_loops(cf.imp.body))
    assert not any(lp.accums for lp in loops)          # no sum: the primal is gone
    assert sum("sin" in str(lp) for lp in loops) == 1  # one pass computes sin (and cos)
