"""`@noinline` functions: simplified once per specialization, then called (or copied).

The simplifier evaluates Core, so every application of a function evaluates its body
again; a call tree of depth d and fan-out k costs k^d evaluations (upstream's
eval-tests `f6`, six levels of ten calls of `x + 1`, took 48 s). An application
of a top-level `@noinline` def whose arguments are all run-time data of closed
types (scalars, products and sums of them, tables of literal size) is instead
looked up in the session's specialization cache, keyed by the def and the
arguments' types. On a miss the body is simplified once, over fresh parameters, into
a Simp block.

A pure specialization (no IO, no throw, no custom linearization inside; a result and
top-level values used of closed types) becomes a `Callee`, and every application
emits a `Call` of it: lowering makes it one Imp function, the backend one LLVM
function per module, called from every site (`dexpy.imp.calls`). AD expands a call
to its body (`dexpy.ad.linearize`). Any other specialization is copied into every
caller (fresh binders, parameters replaced by the arguments, integer arithmetic on
literals folded), which is still far cheaper than evaluating Core again.

Inside a loop body a call of a small callee is copied after all (`expand_loop_calls`:
the loop vectorizes). `DEXPY_AUTO_OUTLINE=N` also calls defs without the annotation
whose specialization is a callee of at least N lets.

A specialization whose result is not data (a function, a type, a known constructor)
is recorded as such and the def is inlined as before, as are applications with static
or open-typed arguments. Specializations live as long as the session
(`_session_specs`), so later blocks reuse them. See docs/architecture.md,
"Specialization and outlining".
"""
from __future__ import annotations

import dataclasses
import os
from collections import OrderedDict

from ..ad.deps import bound_names, free_vars, op_fields
from ..ad.linearize import Copier, sa, st
from ..names import Name
from ..simp import ir as S
from ..simp.ir import Atom, Lit

_REJECTED = "rejected"


def apply_noinline(s, lam, args: list) -> object | None:
    """The value of `@noinline` def `lam` applied to `args` through the cache (None: not
    a `@noinline` def, or not specializable here: the caller inlines it)."""
    from .simplifier import Dyn
    name = _noinline_lams(s).get(id(lam))
    auto = 0
    if name is None:
        auto = auto_outline_size()
        name = _top_lams(s).get(id(lam)) if auto else None
        if name is None:
            return None
    if not all(isinstance(a, Dyn) and closed(S.type_of_atom(a.atom)) for a in args):
        return None
    spec = _lookup(s, lam, name, tuple(S.type_of_atom(a.atom) for a in args), auto)
    if spec is _REJECTED:
        return None
    params, block, result, callee, tops = spec
    for v in tops:                  # this block's function takes them (Simplifier.top_var)
        s.params.setdefault(v.name, v)
    if callee is not None:
        s.__dict__["made_calls"] = True               # (expand_loop_calls has work)
        extra = callee.params[len(params):]           # top-level values the body reads
        r = s.emit(S.Call(callee, tuple(a.atom for a in args) + extra), callee.ty)
        return _unpack(s, result, r)
    sub = copy_block(s, params, block, [a.atom for a in args])
    return _rebuild(result, sub)


def _lookup(s, lam, name: Name, types: tuple[S.Type, ...], auto: int):
    """The specialization of `lam` at `types`: this block's, the session's, else made
    now (with `auto`: _REJECTED unless it is a callee of at least `auto` lets)."""
    key = (name, types, len(getattr(s.env, "custom_lins", ())))
    specs = s.__dict__.setdefault("specs", {})
    spec = specs.get(key)
    if spec is None:
        spec = _session_specs(s.names).get(key)
        if spec is None:
            before = set(s.params)
            spec = _specialize(s, lam, name, types)
            if auto and not _outlined(spec, auto):
                for n in set(s.params) - before:    # (read by the discarded evaluation)
                    del s.params[n]
                spec = _REJECTED                      # inlined as before
            if spec is _REJECTED or not _marked(s, spec[1]):
                _session_specs(s.names)[key] = spec
        specs[key] = spec
    return spec


def auto_outline_size() -> int:
    """`DEXPY_AUTO_OUTLINE=N` (off unless set): a top-level def without `@noinline`
    whose specialization is pure, of closed types and of at least N lets (its callees
    counted in) is called like a `@noinline` one; smaller ones are inlined as before."""
    value = os.environ.get("DEXPY_AUTO_OUTLINE", "").strip()
    return int(value) if value.isdigit() else 0


def _outlined(spec, least: int) -> bool:
    return spec is not _REJECTED and spec[3] is not None and _size(spec[3], {}) >= least


def _top_lams(s) -> dict[int, Name]:
    """id of each top-level def's Core lambda -> its name (for DEXPY_AUTO_OUTLINE)."""
    table = s.__dict__.get("top_lams")
    if table is None:
        from ..core import ir as C
        table = {id(core): n for n, core in s.env.defs.items() if isinstance(core, C.Lam)}
        s.__dict__["top_lams"] = table
    return table


def _noinline_lams(s) -> dict[int, Name]:
    """id of each `@noinline` def's Core lambda -> its name (the closure `top_var` makes)."""
    table = s.__dict__.get("noinline_lams")
    if table is None:
        from ..core import ir as C
        names = getattr(s.env, "noinline", ())
        table = {id(s.env.defs[n]): n for n in names
                 if n in s.env.defs and isinstance(s.env.defs[n], C.Lam)}
        s.__dict__["noinline_lams"] = table
    return table


_SESSIONS: OrderedDict[int, tuple[object, dict]] = OrderedDict()
MAX_SESSIONS = 4
"""Sessions whose specializations are kept (the most recently used)."""


def _session_specs(names) -> dict:
    """The specializations of a session (found by its name supply, whose names they
    use): they outlive the block that made them, so later blocks (and the API's
    functions) reuse them. A specialization depends only on the def's Core, its
    argument types and the custom linearizations known (part of the key)."""
    entry = _SESSIONS.get(id(names))
    if entry is None or entry[0] is not names:
        entry = _SESSIONS[id(names)] = (names, {})
        while len(_SESSIONS) > MAX_SESSIONS:
            _SESSIONS.popitem(last=False)
    _SESSIONS.move_to_end(id(names))
    return entry[1]


def _marked(s, block: S.Block) -> bool:
    """Whether `block` holds custom-linearized results (marks live in one simplifier)."""
    marks = s.__dict__.get("custom_marks")
    return bool(marks) and any(n in marks for n in bound_names(block))


def _specialize(s, lam, name: Name, types: tuple[S.Type, ...]):
    """(parameters, block, result, callee, top-level values read) of `lam`'s body over
    fresh parameters of `types` (callee: None where the block is to be copied), or
    _REJECTED when its result is not data (a tree of products over data atoms; a string
    is the pair of its length and its table)."""
    from .simplifier import Dyn
    params = [S.Var(s.names.fresh("arg"), t) for t in types]
    env = {b.name: Dyn(p) for b, p in zip(lam.binders, params)}
    result: list = []

    def run() -> Atom:
        result.append(s.ev(lam.body, env))
        result.append(len(s.b.lets))
        return _pack(s, result[0]) if _is_data(result[0]) else Lit(0, S.Scalar.U32)
    block = s.sub_block(run)
    if not _is_data(result[0]):
        return _REJECTED
    copied = S.Block(block.lets[:result[1]], Lit(0, S.Scalar.U32))   # without the packing
    own = {p.name for p in params}
    tops = tuple(S.Var(n, t) for n, t in free_vars(block).items()
                 if n not in own and n in s.top_types)
    return params, copied, result[0], _callee(s, name, params, block), tops


def _callee(s, name: Name, params: list[S.Var], block: S.Block) -> S.Callee | None:
    """`block` as a function to call, or None where it must be copied: it has effects
    (IO, a throw), custom-linearized parts, or a result or a top-level value of an
    open type (a size computed at run time)."""
    if not calls_enabled() or not closed(S.type_of_atom(block.result)) or not _pure(block):
        return None
    if _marked(s, block):
        return None
    own = {p.name for p in params}
    extra = [S.Var(n, t) for n, t in free_vars(block).items() if n not in own]
    if not all(closed(v.ty) for v in extra):
        return None
    uid = s.names.fresh("spec").uid
    symbol = S.CALLEE_PREFIX + "".join(ch if ch.isalnum() else "_" for ch in name.hint) + f"_{uid}"
    return S.Callee(symbol, tuple(params) + tuple(extra), expand_loop_calls(s, block))


# === calls in loops are copied when small ===

LOOP_COPY_MAX = 1000
"""A call inside a loop body of a callee of at most this many lets (its callees' lets
counted in) is copied: inline, the loop vectorizes (a `rand` per element through the
prelude's `@noinline threefry_2x32`: 17 ms for 4M elements copied, 700 ms called)."""


def expand_loop_calls(s, block: S.Block, in_loop: bool = False) -> S.Block:
    """`block` with the small calls inside its loops (`for`, `while`) copied."""
    if not s.__dict__.get("made_calls"):
        return block
    out = _expand(s, block, in_loop, {})
    return block if out is None else out


def _expand(s, block: S.Block, in_loop: bool, sizes: dict) -> S.Block | None:
    """`block` rewritten, or None where nothing in it changes."""
    lets: list[S.Let] = []
    changed = False
    for let in block.lets:
        op = let.op
        if in_loop and isinstance(op, S.Call) and _size(op.callee, sizes) <= LOOP_COPY_MAX:
            body = op.callee.body
            sub = {p.name: a for p, a in zip(op.callee.params, op.args)}

            def run(body=body, sub=sub) -> Atom:
                _FoldingCopier(s).lets(body.lets, sub)
                return sa(body.result, sub)
            copied = s.sub_block(run)
            copied = _expand(s, copied, True, sizes) or copied      # its own calls
            lets.extend(copied.lets)
            lets.append(S.Let(let.binder, copied.result))
            changed = True
            continue
        new = _expand_op(s, op, in_loop or isinstance(op, S.For | S.While), sizes)
        if new is not None:
            let, changed = S.Let(let.binder, new), True
        lets.append(let)
    return S.Block(tuple(lets), block.result) if changed else None


def _expand_op(s, op: S.Op, in_loop: bool, sizes: dict) -> S.Op | None:
    """`op` with its nested blocks rewritten, or None."""
    new: dict = {}
    for f in op_fields(type(op)):
        v = getattr(op, f)
        parts = v if isinstance(v, tuple) else (v,)
        done = []
        for part in parts:
            if isinstance(part, S.Block):
                b = _expand(s, part, in_loop, sizes)
                done.append(part if b is None else b)
            elif isinstance(part, S.Lam1 | S.Lam2):
                b = _expand(s, part.body, in_loop, sizes)
                done.append(part if b is None else dataclasses.replace(part, body=b))
            else:
                done.append(part)
        if any(a is not b for a, b in zip(done, parts)):
            new[f] = tuple(done) if isinstance(v, tuple) else done[0]
    return dataclasses.replace(op, **new) if new else None


def _size(callee: S.Callee, sizes: dict) -> int:
    """The lets of `callee`'s body at any depth, its own callees' counted in."""
    n = sizes.get(callee.symbol)
    if n is None:
        sizes[callee.symbol] = LOOP_COPY_MAX + 1      # (no recursion: a bound meanwhile)
        n = sizes[callee.symbol] = _block_size(callee.body, sizes)
    return n


def _block_size(block: S.Block, sizes: dict) -> int:
    n = 0
    for let in block.lets:
        op = let.op
        n += _size(op.callee, sizes) if isinstance(op, S.Call) else 1
        for f in op_fields(type(op)):
            v = getattr(op, f)
            for part in (v if isinstance(v, tuple) else (v,)):
                if isinstance(part, S.Lam1 | S.Lam2):
                    part = part.body
                if isinstance(part, S.Block):
                    n += _block_size(part, sizes)
    return n


_IMPURE = (S.PrintStr, S.ForeignCall, S.PtrLoad, S.PtrStore, S.Throw)


def _pure(block: S.Block) -> bool:
    """No IO and no throw anywhere inside (references made inside are local state). A
    run-time error's message (printed in the block that ends in the error) is not IO."""
    fails = [k for k, let in enumerate(block.lets) if isinstance(let.op, S.RuntimeError)]
    for k, let in enumerate(block.lets):
        op = let.op
        if isinstance(op, _IMPURE) and not (isinstance(op, S.PrintStr) and fails
                                            and fails[-1] > k):
            return False
        for f in op_fields(type(op)):
            v = getattr(op, f)
            for part in (v if isinstance(v, tuple) else (v,)):
                if isinstance(part, S.Lam1 | S.Lam2):
                    part = part.body
                if isinstance(part, S.Block) and not _pure(part):
                    return False
    return True


def calls_enabled() -> bool:
    """`DEXPY_NOINLINE_CALLS=0` copies every specialization (as before calls existed)."""
    return os.environ.get("DEXPY_NOINLINE_CALLS", "1") != "0"


def _pack(s, v) -> Atom:
    """The atom of data value `v` (a tree of products over atoms)."""
    from .simplifier import SProd
    if isinstance(v, SProd):
        elems = tuple(_pack(s, e) for e in v.elems)
        return s.emit(S.MakeProd(elems), S.ProdTy(tuple(S.type_of_atom(e) for e in elems)))
    return v.atom


def _unpack(s, v, a: Atom):
    """The value shaped like `v` (a specialization's result) whose data is atom `a`."""
    from .simplifier import Dyn, SProd
    if isinstance(v, SProd):
        ty = S.type_of_atom(a)
        return SProd(tuple(_unpack(s, e, s.emit(S.Proj(a, k), ty.elems[k]))
                           for k, e in enumerate(v.elems)))
    return Dyn(a)


def _is_data(v) -> bool:
    from .simplifier import Dyn, SProd
    if isinstance(v, SProd):
        return all(_is_data(e) for e in v.elems)
    return isinstance(v, Dyn)


def _rebuild(v, sub):
    """The result value `v` of a specialization, its atoms renamed by `sub` (a copy)."""
    from .simplifier import Dyn, SProd
    if isinstance(v, SProd):
        return SProd(tuple(_rebuild(e, sub) for e in v.elems))
    return Dyn(sa(v.atom, sub))


def closed(t: S.Type) -> bool:
    """Whether `t` mentions no variable (a table size) and holds no reference or box."""
    match t:
        case S.BaseTy():
            return t.scalar is not S.Scalar.PTR
        case S.ProdTy(elems) | S.SumTy(elems):
            return all(closed(e) for e in elems)
        case S.TabTy(size, elem):
            return isinstance(size, Lit) and closed(elem)
    return False


def copy_block(s, params: list[S.Var], block: S.Block, args: list[Atom]) -> dict:
    """Emits a copy of `block`'s lets into `s`'s builder, `params` replaced by `args`,
    with fresh binders (integer arithmetic whose operands become literals is folded);
    returns the substitution of the block's names."""
    sub = {p.name: a for p, a in zip(params, args)}
    _FoldingCopier(s).lets(block.lets, sub)
    return sub


class _FoldingCopier(Copier):
    def lets(self, lets, sub) -> None:
        emit = self.s.emit
        var, lit, prim_op, base = S.Var, Lit, S.PrimOp, S.BaseTy
        for let in lets:
            op = let.op
            if type(op) is prim_op:
                atoms = tuple(sub.get(a.name, a) if type(a) is var else a for a in op.args)
                if len(atoms) == 2 and type(atoms[0]) is lit and type(atoms[1]) is lit:
                    folded = _fold(op.prim, atoms)
                    if folded is not None:
                        sub[let.binder.name] = folded
                        continue
                ty = let.binder.ty
                sub[let.binder.name] = emit(prim_op(op.prim, atoms),
                                            ty if type(ty) is base else st(ty, sub))
            else:
                sub[let.binder.name] = emit(self.op(op, sub), st(let.binder.ty, sub))


def _fold(prim: S.Prim, atoms: tuple[Atom, ...]) -> Atom | None:
    from .simplifier import _fold as fold
    return fold(prim, atoms)
