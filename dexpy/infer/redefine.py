"""Redefined instances: where names may be redefined (the REPL, a dialect's prelude
layer such as lib/dialect2021/prelude.dx), an instance whose head is one an earlier
instance already covers replaces it, as a redefined name replaces the old binding
(uses checked before keep the old dictionary)."""

from __future__ import annotations

from ..core import ir
from ..core.traverse import subst
from .env import TopEnv


def instance_counts(env: TopEnv) -> dict[str, int]:
    """How many instances each class has now (taken before a declaration)."""
    return {c: len(insts) for c, insts in env.instances.items()}


def drop_replaced(env: TopEnv, before: dict[str, int]) -> None:
    """Removes the instances older than `before` whose head a newer one repeats."""
    for cname, insts in env.instances.items():
        n0 = before.get(cname, 0)
        new = insts[n0:]
        if not new or n0 == 0:
            continue
        old = [i for i in insts[:n0] if not any(_same_head(i, j) for j in new)]
        if len(old) != n0:
            insts[:] = old + new


def _same_head(old: ir.InstanceDef, new: ir.InstanceDef) -> bool:
    """Whether two unnamed instances have the same head, up to their binders' names."""
    if old.name is not None or new.name is not None or old.cls is not new.cls:
        return False
    if len(old.binders) != len(new.binders):
        return False
    ren = {a.name: ir.Var(b.name) for a, b in zip(old.binders, new.binders)}
    return tuple(subst(h, ren) for h in old.head) == new.head
