"""Iterated table updates without copies: `yield_state x \\s. for_ k. s := f (get s)`.

Lowered plainly, every step computes `f (get s)` into a fresh table and then copies
it into the state (the new table cannot be written in place: `f` reads neighbours
of the old one, as a stencil does). When the handler's body is just that loop and
the reference is used only by its `get`s and one final `put` per step, the steps
alternate between two buffers instead: step 2m reads the state's buffer A and
writes `f`'s result straight into a second buffer B, step 2m+1 reads B and writes A
(`f`'s table operation is lowered with that buffer as its destination), and an
odd last step copies once. Everything else about the program is unchanged.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..simp import ir as s
from .views import children, has_table, mentions


@dataclass(frozen=True)
class PingPong:
    """The recognized shape: the step loop and the pieces of its body."""

    loop: s.For
    step: s.Block          # the step's lets up to the new table, which is the result


def recognize(op: s.RunState) -> PingPong | None:
    """`op` as a ping-pong state loop, or None."""
    ref = op.body.binder.name
    if not has_table(op.body.binder.ty.elem if isinstance(op.body.binder.ty, s.RefTy)
                      else op.body.binder.ty):
        return None
    lets = op.body.body.lets
    if not lets or not isinstance(lets[0].op, s.For) or lets[0].op.reverse:
        return None
    loop = lets[0].op
    rest = s.Block(lets[1:], op.body.body.result)
    if lets[0].binder.name in mentions(rest) or ref in mentions(rest) or \
            s.type_of_atom(rest.result) != s.UNIT or \
            any(not isinstance(let.op, s.MakeProd) for let in rest.lets):
        return None
    body = loop.body.body
    puts = [k for k, let in enumerate(body.lets) if isinstance(let.op, s.RefPut)]
    if len(puts) != 1:
        return None
    k = puts[0]
    put = body.lets[k].op
    if not (isinstance(put.ref, s.Var) and put.ref.name == ref and isinstance(put.value, s.Var)):
        return None
    before, after = body.lets[:k], body.lets[k + 1:]
    if not any(let.binder.name == put.value.name for let in before):
        return None
    if not all(_only_gets(let.op, ref) for let in before):
        return None                         # the ref: read by gets only, at any depth
    tail = s.Block(after, body.result)
    gets = {let.binder.name for let in before if isinstance(let.op, s.RefGet)}
    if ref in mentions(tail) or (mentions(tail) & (gets | {put.value.name})):
        return None
    if any(not isinstance(let.op, s.MakeProd) for let in after):
        return None
    return PingPong(loop, s.Block(before, put.value))


def _only_gets(x: object, ref: s.Name) -> bool:
    """Whether `ref` occurs in `x` only as the reference of `get`s."""
    if isinstance(x, s.RefGet):
        return True
    if isinstance(x, s.Var):
        return x.name != ref
    if isinstance(x, s.Lit):
        return True
    return all(_only_gets(part, ref) for part in children(x))
