"""Compiler-provided: the `Fin n` type and its `Ix` instance."""
from __future__ import annotations

from ..core import ir
from ..core.ir import Binder
from ..names import Name, NameSupply
from .env import TopEnv
from ..syntax.surface import Expl

_N = Name("n", -1)
_ORD = Name("ordinal", -2)
FIN = ir.DataDef("Fin", (Binder(_N, ir.NAT, Expl.EXPLICIT),),
                 [ir.ConDef("Fin", (Binder(_ORD, ir.NAT),))], is_struct=True,
                 field_names=("ordinal",))


def register_fin(env: TopEnv, names: NameSupply) -> None:
    """`instance Ix(Fin n) given (n:Nat)`, written in Core (registered when `Ix` is declared)."""
    ix = env.classes["Ix"]
    n = names.fresh("n")
    i = names.fresh("i")
    o = names.fresh("o")
    fin_n = ir.TyCon(FIN, (ir.Var(n),))
    methods: dict[str, ir.Expr] = {
        "size'": ir.Lam((), ir.Var(n)),
        "ordinal": ir.Lam((Binder(i, fin_n),), ir.Proj(ir.Var(i), 0)),
        "unsafe_from_ordinal": ir.Lam((Binder(o, ir.NAT),), ir.Con(FIN, 0, (ir.Var(n),), (ir.Var(o),))),
    }
    inst = ir.InstanceDef(ix, (Binder(n, ir.NAT, Expl.IMPLICIT),), (fin_n,))
    inst.methods = [methods.get(m) for m in ix.method_names]
    inst.supers = [ir.DataDict(fin_n) for _ in ix.supers]
    env.instances_of(ix).append(inst)
