"""Functions as run-time data, by defunctionalization.

When a `case` branch, a loop body or a handler body produces a value holding
closures (`for i. \\y. x + y`, a function returned from `with_state`), the
value is split into its *shape* — the static part: which lambda, which static
captures — and one atom holding its data (the closures' captured run-time
values). The construct returns the atom; the value is rebuilt from the shape
afterwards. Branches must agree on the shape (the same lambda); otherwise the
program is rejected as not supported yet.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..core import ir as C
from ..core.traverse import free_vars
from ..errors import TypeErr
from ..simp import ir as S

if TYPE_CHECKING:
    from .simplifier import Simplifier, SVal

DATA = ("D",)


def is_static_shape(shape: tuple) -> bool:
    return shape != DATA


def split(s: Simplifier, v: SVal) -> tuple[S.Atom, tuple]:
    """The data of `v` as one atom, and its shape."""
    from .simplifier import SClosure, SCustomLin, SDict, SProd, STab, SType
    match v:
        case STab(shape, atom):         # a table of closures: its data table, its shape
            return atom, ("T", shape)
        case SProd(elems) if any(_holds_static(x) for x in elems):
            parts = [split(s, x) for x in elems]
            atom = s.atom(SProd(tuple(_as_dyn(a) for a, _ in parts)))
            return atom, ("P", tuple(sh for _, sh in parts))
        case SClosure(lam, env):
            names = tuple(sorted(n for n in _captures(lam) if n in env))
            parts = [split(s, env[n]) for n in names]
            atom = s.atom(SProd(tuple(_as_dyn(a) for a, _ in parts)))
            statics = {k: x for k, x in env.items() if k not in names}
            return atom, ("C", lam, _Ident(statics), names, tuple(sh for _, sh in parts))
        case SType() | SDict() | SCustomLin():       # (a custom-linearized function is top-level: no data)
            return s.atom(SProd(())), ("S", _Ident(v))
    return s.atom(v), DATA


def rebuild(s: Simplifier, shape: tuple, atom: S.Atom) -> SVal:
    """The value of shape `shape` whose data is `atom`."""
    from .simplifier import SClosure, SProd
    match shape[0]:
        case "D":
            return s.unpack(atom)
        case "P":
            return SProd(tuple(rebuild(s, sh, _proj(s, atom, i)) for i, sh in enumerate(shape[1])))
        case "C":
            _, lam, statics, names, shapes = shape
            env = dict(statics.value)
            for i, (n, sh) in enumerate(zip(names, shapes)):
                env[n] = rebuild(s, sh, _proj(s, atom, i))
            return SClosure(lam, env)
        case "S":
            return shape[1].value
        case "T":       # (the table is boxed where its size is local to a loop or branch)
            from .simplifier import STab
            return STab(shape[1], s.unpack(atom).atom)
    raise TypeErr("Not supported yet: this value as run-time data")


def same_shape(a: tuple, b: tuple) -> bool:
    """Whether two branches produced values of one shape (identical static parts)."""
    if a[0] != b[0]:
        return False
    match a[0]:
        case "D":
            return True
        case "P":
            return len(a[1]) == len(b[1]) and all(same_shape(x, y) for x, y in zip(a[1], b[1]))
        case "C":
            return (a[1] is b[1] and a[3] == b[3] and a[2].same(b[2])
                    and all(same_shape(x, y) for x, y in zip(a[4], b[4])))
        case "S":
            return a[1].value is b[1].value
        case "T":
            return same_shape(a[1], b[1])
    return False


class _Ident:
    """Wraps a static value so shapes compare it by identity (and never by ==)."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def same(self, other: _Ident) -> bool:
        mine, theirs = self.value, other.value
        if isinstance(mine, dict):
            return mine.keys() == theirs.keys() and all(mine[k] is theirs[k] for k in mine)
        return mine is theirs


_CAPTURES: dict[int, frozenset] = {}


def _captures(lam: C.Lam) -> frozenset:
    key = id(lam)
    if key not in _CAPTURES:
        _CAPTURES[key] = frozenset(free_vars(lam))
    return _CAPTURES[key]


def _holds_static(v: SVal) -> bool:
    from .simplifier import SClosure, SCustomLin, SDict, SProd, STab, SType
    match v:
        case SClosure() | SType() | SDict() | SCustomLin() | STab():
            return True
        case SProd(elems):
            return any(_holds_static(x) for x in elems)
    return False


def _as_dyn(a: S.Atom) -> SVal:
    from .simplifier import Dyn
    return Dyn(a)


def _proj(s: Simplifier, atom: S.Atom, i: int) -> S.Atom:
    t = S.type_of_atom(atom)
    assert isinstance(t, S.ProdTy), t
    return s.emit(S.Proj(atom, i), t.elems[i])


# === branches returning different functions ===

def choice_shapes(shapes: list[tuple]) -> tuple | None:
    """The shapes to choose among, if the branches disagree (else None)."""
    if len(shapes) < 2 or all(same_shape(shapes[0], sh) for sh in shapes[1:]):
        return None
    return tuple(shapes)


def tag_branches(s: Simplifier, lams: list[S.Lam1], live: list[int]) -> list[S.Lam1]:
    """Each live branch returns its data tagged with its position among the live ones."""
    ty = S.SumTy(tuple(S.type_of_atom(lams[i].body.result) for i in live))
    out = list(lams)
    for k, i in enumerate(live):
        body = lams[i].body
        v = S.Var(s.names.fresh("choice"), ty)
        out[i] = S.Lam1(lams[i].binder, S.Block(
            body.lets + (S.Let(v, S.MakeSum(ty, k, body.result)),), v))
    return out


def apply_choice(s: Simplifier, shapes: tuple, atom: S.Atom, args: list[SVal]) -> SVal:
    """Applies whichever function `atom` holds: a case over its tag."""
    from .box import block_locals, coerce_block, join
    t = S.type_of_atom(atom)
    assert isinstance(t, S.SumTy)
    lams = []
    for shape, payload_ty in zip(shapes, t.cases):
        payload = S.Var(s.names.fresh("fn"), payload_ty)

        def body(shape: tuple = shape, payload: S.Var = payload) -> S.Atom:
            result, sh = split(s, s.apply(rebuild(s, shape, payload), args))
            if sh != DATA:
                raise TypeErr("Not supported yet: a function chosen at run time returning a function")
            return result
        lams.append(S.Lam1(payload, s.sub_block(body)))
    local = set().union(*(block_locals(l.body) for l in lams))
    ty = join([S.type_of_atom(l.body.result) for l in lams], local)
    lams = [S.Lam1(l.binder, coerce_block(s, l.body, ty)) for l in lams]
    return s.unpack(s.emit(S.Case(atom, tuple(lams), ty), ty))
