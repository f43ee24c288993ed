"""Typeclass dictionary synthesis: givens (with superclass closure) first, then instances.

A goal whose class arguments still hold unsolved metavariables is deferred;
`solve_all` retries deferred goals while progress is made, then applies
literal defaulting (Nat / Int32) and tries once more.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from ..core import ir
from ..core.ir import Expr
from ..core.pretty import pp_type
from ..core.traverse import metas_of, subst, zonk
from ..errors import TypeErr
from ..source import Span
from ..syntax.surface import Expl
from .literals import check_pending
from .unify import UnifyFail, whnf

if TYPE_CHECKING:
    from .infer import Given, Infer


class Defer(Exception):
    pass


class Ambiguous(TypeErr):
    """A goal still holding unsolved metas after defaulting, with several instances
    that could match: an unsolved type, reported after any goal that has no instance."""


# Instance search is bounded: at most MAX_DEPTH nested sub-goals per trial derivation
# and SEARCH_BUDGET trial derivations per goal, so a type error in a small block is
# reported at once (the search is exponential in the depth when every instance of a
# class matches, as for a goal whose argument is an unsolved meta).
SEARCH_BUDGET = 2000


def solve_all(inf: Infer, final: bool = True) -> None:
    """Solves every pending dictionary goal (errors on the ones that cannot be)."""
    from .records import solve_variants          # 2021 variant values of types known late
    solve_variants(inf, final)
    while _solve_round(inf, strict=False):
        pass
    if not final:
        return
    _apply_defaults(inf)
    while _solve_round(inf, strict=False):
        pass
    check_pending(inf)
    ambiguous: list[Ambiguous] = []
    while _solve_round(inf, strict=True, ambiguous=ambiguous) and inf.pending:
        ambiguous.clear()
    if ambiguous:
        raise ambiguous[0]
    _check_implicits(inf)


def _check_implicits(inf: Infer) -> None:
    """A type nothing determined, where the user can see why, is an error in upstream's
    words: an implicit argument (`Couldn't infer implicit argument b of my_id2`), an
    unannotated def/lambda/for binder (`Couldn't infer type of unannotated binder x`)."""
    for cell, _, span in inf.origins.values():
        c = _last_cell(cell)
        if c.solution is None and whnf(zonk(c.ty), inf.env) == ir.TYPE:
            raise TypeErr(inf.meta_origin(cell) or "", span)
    for cell, span in inf.holes:             # a `_` nothing determined (upstream's words)
        if _last_cell(cell).solution is None:
            raise TypeErr("can't infer value of hole", span)


def _last_cell(cell: ir.MetaCell) -> ir.MetaCell:
    """The cell at the end of a chain of metas solved by metas."""
    while isinstance(cell.solution, ir.Meta):
        cell = cell.solution.cell
    return cell


def _solve_round(inf: Infer, strict: bool, ambiguous: list[Ambiguous] | None = None) -> bool:
    """One pass over the pending goals. In a strict pass, an ambiguous goal is put
    back and its error collected in `ambiguous`; any other failure is raised."""
    progress = False
    pending, inf.pending = inf.pending, []
    for cell, span, givens in pending:
        if cell.solution is not None:
            progress = True
            continue
        saved_level, inf.level = inf.level, cell.level    # instance metas live where the goal did
        try:
            cell.solution = synth(inf, zonk(cell.ty), span, givens, strict,
                                  inf.goal_roots.get(id(cell)))
            progress = True
        except Defer:
            inf.pending.append((cell, span, givens))
        except Ambiguous as err:
            if ambiguous is None:
                raise
            inf.pending.append((cell, span, givens))
            ambiguous.append(err)
        except TypeErr as err:
            root = inf.goal_roots.get(id(cell))
            if root is not None and err.message.startswith("Couldn't synthesize"):
                raise TypeErr(f"Couldn't synthesize a class dictionary for: {inf.show(root)}",
                              err.span) from None
            raise
        finally:
            inf.level = saved_level
    return progress


def _apply_defaults(inf: Infer) -> None:
    """Literal metas take their default type. A goal that fails once they have it
    is reported at its location, as upstream HEAD's eval-tests expects
    (`x = 2 - 4` marks `2 - 4`)."""
    _default_ixint(inf)
    literal_types = [ty for _, _, ty, _, _ in inf.literals]   # (no goal without a prelude)
    for ty in [cell.ty for cell, _, _ in inf.pending] + literal_types:
        for m in metas_of(ty):
            if m.default is not None and m.solution is None:
                m.solution = m.default
    for cell, _, _ in inf.pending:     # `:p error "boom"`: a result type only `Data` constrains
        goal = whnf(cell.ty, inf.env)
        if isinstance(goal, ir.DictTy) and goal.cls.name == "Data":
            arg = whnf(goal.args[0], inf.env)
            if isinstance(arg, ir.Meta) and arg.cell.solution is None:
                arg.cell.solution = ir.TupleTy(())


def _default_ixint(inf: Infer) -> None:
    """The 2022-23 layer's ordinals and sizes (`IxInt a`, lib/dialect2022/prelude.dx)
    that nothing decided: `Nat`, or `Int32` where a goal on the same type has no
    `Nat` instance (`ordinal i - 1`: there is no `Sub Nat`, and such code was
    written when ordinals were `Int`s) or where it met a signed (`Int`-first)
    literal. No such class outside that dialect."""
    cls = inf.env.classes.get("IxInt")
    if cls is None:
        return
    goals = [whnf(zonk(cell.ty), inf.env) for cell, _, _ in inf.pending]
    for g in goals:
        if not (isinstance(g, ir.DictTy) and g.cls is cls):
            continue
        a = whnf(zonk(g.args[0]), inf.env)
        if isinstance(a, ir.Meta) and a.cell.solution is None:
            if a.cell.default is not None and a.cell.default != ir.NAT:
                a.cell.solution = a.cell.default    # met an `Int`-first literal: an `Int`
                continue
            on_a = [o for o in goals if isinstance(o, ir.DictTy)
                    and any(c is a.cell for c in metas_of(o))]
            a.cell.solution = ir.NAT
            signed = any(_no_instance(inf, zonk(o)) for o in on_a)
            a.cell.solution = ir.BaseTy("Int32") if signed else ir.NAT


def _no_instance(inf: Infer, g: ir.DictTy) -> bool:
    """Whether no instance head unifies with `g` (a trial)."""
    if g.cls.name == "Data" or metas_of(g):
        return False
    return not _unifying(inf, g)


def synth(inf: Infer, goal: Expr, span: Span, givens: tuple[Given, ...], strict: bool,
          root: ir.DictTy | None = None) -> Expr:
    """A dictionary for `goal` (a DictTy), or Defer while it is ambiguous.
    `root` is the goal whose instance asked for this one (named in errors)."""
    g = whnf(goal, inf.env)
    if not isinstance(g, ir.DictTy):
        if isinstance(g, ir.TupleTy) and not g.elems:
            return ir.UNIT
        raise Defer() if not strict else TypeErr(f"Not a class constraint: {pp_type(g)}", span)
    if g.cls.name == "Data":
        return _data_dict(inf, g, span, strict)
    if root is None:
        root = g
    has_metas = bool(metas_of(g))
    if has_metas and not strict and g.args and all(isinstance(whnf(a, inf.env), ir.Meta)
                                                   for a in g.args):
        raise Defer()       # `Ix ?t` says nothing of its type yet: no given may decide it
    for term, gty in _given_closure(inf, givens):
        if gty.cls is g.cls and _matches(inf, gty.args, g.args):
            if not has_metas and _overlapping(inf, g, givens):
                raise TypeErr(f"Multiple candidate class dictionaries for: {inf.show(g)}", span)
            return term
    candidates = _unifying(inf, g)
    if len(candidates) > 1 and has_metas and strict:
        raise _ambiguous(inf, g, span)
    if len(candidates) > 1 and not has_metas:
        inf.search_steps = 0
        candidates = [i for i in candidates if _derivable(inf, i, g, givens, 0)]
    if len(candidates) != 1:
        if has_metas and not strict:
            raise Defer()
        if not candidates:
            raise TypeErr(f"Couldn't synthesize a class dictionary for: {inf.show(g)}", span)
        raise TypeErr(f"Multiple candidate class dictionaries for: {inf.show(g)}", span)
    inst = candidates[0]
    if has_metas and not strict and not _head_determined(inf, inst, g):
        raise Defer()
    return _use_instance(inf, inst, g, span, givens, root)


def _unifying(inf: Infer, g: ir.DictTy) -> list[ir.InstanceDef]:
    """The instances whose heads unify with `g` (a trial: nothing stays solved)."""
    candidates = []
    for inst in _plausible(inf, inf.env.instances_of(g.cls), g):
        mark = inf.u.mark()
        args = [inf.fresh_meta(b.ty, b.name.hint) for b in inst.binders]
        sub = {b.name: a for b, a in zip(inst.binders, args)}
        try:
            inf.u.unify_all(tuple(subst(h, sub) for h in inst.head), g.args)
            candidates.append(inst)
        except UnifyFail:
            pass
        inf.u.undo(mark)
    return candidates


def _overlapping(inf: Infer, g: ir.DictTy, givens: tuple[Given, ...]) -> bool:
    """Whether several instances derive `g`, which a given also provides: the given
    does not settle it (upstream's typeclass-tests: `given (A (n=>Int))` with two
    instances for `n=>Int` is ambiguous; with one, the given is used)."""
    if all(isinstance(whnf(a, inf.env), ir.Var) for a in g.args):
        return False        # (`Ix n`, `Add a`: only instances for every type could overlap)
    candidates = _unifying(inf, g)
    if len(candidates) < 2:
        return False
    inf.search_steps = 0
    return sum(_derivable(inf, i, g, givens, 0) for i in candidates) > 1


MAX_DEPTH = 4


def _derivable(inf: Infer, inst: ir.InstanceDef, g: ir.DictTy, givens: tuple[Given, ...],
               depth: int) -> bool:
    """Whether `inst` yields a complete dictionary for `g` (a trial: nothing stays solved).

    Used to choose among overlapping candidates (e.g. the prelude's transitive
    `Subset(a, c)`), as upstream's backtracking search does."""
    mark = inf.u.mark()
    try:
        return _derive(inf, inst, g, givens, depth)
    finally:
        inf.u.undo(mark)


def _derive(inf: Infer, inst: ir.InstanceDef, g: ir.DictTy, givens: tuple[Given, ...],
            depth: int) -> bool:
    inf.search_steps += 1
    if depth > MAX_DEPTH or inf.search_steps > SEARCH_BUDGET:
        return False
    sub: dict = {}
    goals = []
    for b in inst.binders:
        a = inf.fresh_meta(subst(b.ty, sub), b.name.hint)
        sub[b.name] = a
        if b.expl == Expl.CLASS:
            goals.append(subst(b.ty, sub))
    try:
        inf.u.unify_all(tuple(subst(h, sub) for h in inst.head), g.args)
    except UnifyFail:
        return False
    for goal in goals:
        sg = whnf(goal, inf.env)
        if not isinstance(sg, ir.DictTy):
            return False
        if sg.cls.name == "Data" or any(t.cls is sg.cls and _matches(inf, t.args, sg.args)
                                        for t in [gv[1] for gv in _given_closure(inf, givens)]):
            continue
        found = [i for i in _plausible(inf, inf.env.instances_of(sg.cls), sg)
                 if _derivable(inf, i, sg, givens, depth + 1)]
        if len(found) != 1 or not _derive(inf, found[0], sg, givens, depth + 1):
            return False
    return True


# === instance prefilter ===
# Most goals name concrete types (`Add Float32`, `Ix (Fin n)`), and most instances of a
# class are for other types: trying each one (fresh metas, substitution, unification)
# was most of the prelude's inference time. A type whose head is a constructor can only
# unify with a type of the same constructor (unification unfolds only applications of
# top-level functions), so an instance whose head disagrees with the goal's in such a
# rigid constructor at some position is skipped untried: the same candidates remain.

def _rigid_key(e: Expr) -> object | None:
    """What `e`'s outermost constructor is (after whnf), or None if it is not rigid."""
    match e:
        case ir.BaseTy(name) | ir.Kind(name):
            return (type(e), name)
        case ir.TyCon(data, _):
            return (ir.TyCon, id(data))
        case ir.DictTy(cls, _):
            return (ir.DictTy, id(cls))
        case ir.TupleTy(elems):
            return (ir.TupleTy, len(elems))
        case ir.TabPi() | ir.Pi() | ir.RefTy() | ir.DepPairTy():
            return type(e)
    return None


_HEAD_KEYS: dict[int, tuple[ir.InstanceDef, tuple[object | None, ...]]] = {}


def _head_keys(inf: Infer, inst: ir.InstanceDef) -> tuple[object | None, ...]:
    hit = _HEAD_KEYS.get(id(inst))
    if hit is None or hit[0] is not inst:
        keys = tuple(_rigid_key(whnf(h, inf.env)) for h in inst.head)
        if any(metas_of(h) for h in inst.head):    # (never expected) keys could change
            return keys
        hit = _HEAD_KEYS[id(inst)] = (inst, keys)
    return hit[1]


def _plausible(inf: Infer, insts: list[ir.InstanceDef], g: ir.DictTy) -> list[ir.InstanceDef]:
    """The instances whose heads may unify with `g`'s arguments."""
    keys = [_rigid_key(whnf(a, inf.env)) for a in g.args]
    if all(k is None for k in keys):
        return insts
    out = []
    for inst in insts:
        ks = _head_keys(inf, inst)
        if len(ks) != len(keys) or not any(
                k is not None and h is not None and k != h for k, h in zip(keys, ks)):
            out.append(inst)
    return out


def _ambiguous(inf: Infer, g: ir.DictTy, span: Span) -> Ambiguous:
    """The error for a goal left with unsolved metas: what the first one stands for
    (upstream: "couldn't infer implicit argument `n` of sum"), else the goal."""
    shown = inf.show(g)
    for cell in metas_of(g):
        origin = inf.origins.get(id(cell))
        if origin is not None:
            return Ambiguous(origin[1], origin[2])
    return Ambiguous(f"ambiguous type variable in the class constraint {shown}", span)


def _data_dict(inf: Infer, g: ir.DictTy, span: Span, strict: bool) -> Expr:
    """`Data a` holds for types of plain data: not types, functions or references."""
    def is_data(t: Expr) -> bool | None:
        t = whnf(t, inf.env)
        match t:
            case ir.Meta():
                return None
            case ir.Kind() | ir.Pi() | ir.RefTy() | ir.DictTy():
                return False
            case ir.TupleTy(elems):
                results = [is_data(e) for e in elems]
                return None if None in results else (False not in results)
            case ir.TabPi(_, _, _, body):
                return is_data(body)
        return True
    ok = is_data(g.args[0])
    if ok is None and not strict:
        raise Defer()
    if ok is False:
        raise TypeErr(f"Couldn't synthesize a class dictionary for: {inf.show(g)}", span)
    return ir.DataDict(g.args[0])


def _head_determined(inf: Infer, inst: ir.InstanceDef, g: ir.DictTy) -> bool:
    """True when committing to `inst` cannot wrongly pin down a meta (the
    goal's metas only sit where the instance head has its own variables)."""
    for h, a in zip(inst.head, g.args):
        if isinstance(whnf(a, inf.env), ir.Meta) and not isinstance(h, ir.Var):
            return False
    return True


def _use_instance(inf: Infer, inst: ir.InstanceDef, g: ir.DictTy, span: Span,
                  givens: tuple[Given, ...], root: ir.DictTy) -> Expr:
    sub: dict = {}
    args: list[Expr] = []
    for b in inst.binders:
        bty = subst(b.ty, sub)
        if b.expl == Expl.CLASS:
            a: Expr = inf.fresh_meta(bty, "d")
            inf.pending.append((a.cell, span, givens))  # type: ignore[union-attr]
            inf.goal_roots[id(a.cell)] = root  # type: ignore[union-attr]
        else:
            a = inf.fresh_meta(bty, b.name.hint)
        sub[b.name] = a
        args.append(a)
    inf.u.unify_all(tuple(subst(h, sub) for h in inst.head), g.args)
    return ir.DictCon(inst, tuple(args))


def _matches(inf: Infer, xs: tuple[Expr, ...], ys: tuple[Expr, ...]) -> bool:
    return inf.u.try_unify_all(xs, ys)


_CLOSURES: dict[int, tuple[tuple, list]] = {}


def _given_closure(inf: Infer, givens: tuple[Given, ...]) -> list[Given]:
    """The givens and, transitively, their superclasses. Every goal of a definition asks
    for the same closure: it is remembered per givens tuple (by identity, which the
    entry keeps alive), unless a given still holds metavariables."""
    if not givens:
        return []
    hit = _CLOSURES.get(id(givens))
    if hit is not None and hit[0] is givens:
        return hit[1]
    out = _close(inf, givens)
    if not any(metas_of(ty) for _, ty in out):
        if len(_CLOSURES) > 1024:
            _CLOSURES.clear()
        _CLOSURES[id(givens)] = (givens, out)
    return out


def _close(inf: Infer, givens: tuple[Given, ...]) -> list[Given]:
    out: list[Given] = []
    todo = list(givens)
    while todo:
        term, ty = todo.pop(0)
        out.append((term, ty))
        sub = {p.name: a for p, a in zip(ty.cls.params, ty.args)}
        for i, sup in enumerate(ty.cls.supers):
            st = whnf(subst(sup, sub), inf.env)
            if isinstance(st, ir.DictTy):
                todo.append((ir.SuperOf(term, i), st))
    return out
