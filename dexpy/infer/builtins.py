"""Compiler-provided types: `Fin n` (its `Ix` instance is in the prelude, via %FinCon)."""
from __future__ import annotations

from ..core import ir
from ..core.ir import Binder
from ..names import Name
from ..syntax.surface import Expl

_N = Name("n", -1)
_ORD = Name("ordinal", -2)
FIN = ir.DataDef("Fin", (Binder(_N, ir.NAT, Expl.EXPLICIT),),
                 [ir.ConDef("Fin", (Binder(_ORD, ir.NAT),))], is_struct=True,
                 field_names=("ordinal",))
