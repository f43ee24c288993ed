"""2021 records and variants in inference (dexpy/syntax/records2021.py reads them).

Each record or variant shape is a data type of the shared Core, declared in the
top-level environment the first time a block mentions it (`declare`). The forms
whose meaning needs the type of their subject are resolved here: a variant value
checked against a known variant type, a variant pattern against the scrutinee's
type, a record pattern with `...` against the type of the record it unpacks.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..core import ir
from ..core.ir import Binder, Expr
from ..core.traverse import subst
from ..errors import SyntaxErr, TypeErr
from ..names import NameSupply
from ..syntax import records2021 as R
from ..syntax import surface as S
from .env import ConB, TopEnv, TyConB
from .unify import whnf

if TYPE_CHECKING:
    from .infer import Infer


# === declaring shapes ===

def declare(env: TopEnv, names: NameSupply, decl: object) -> bool:
    """Declares the data type of every record/variant shape that `decl` mentions;
    binds a row-polymorphic def as a template (then True: nothing to elaborate)."""
    for name in _shape_names(decl):
        if "\0" + name not in env.scope:
            _declare_shape(env, names, name)
    remember_label(env, decl)
    if declare_template(env, decl):
        return True
    rows = [r for r in _rows_in(decl) if any(x != "_" for x in r.rows)]
    if rows:
        raise SyntaxErr("2021 row variables (`...r`) are supported by dexpy only in the "
                        "signature of a top-level def (docs/dialects.md)", rows[0].span)
    return False


def declare_name(env: TopEnv, names: NameSupply, key: str) -> object | None:
    """The binding of the scope key `key` of a record/variant shape (its type or a
    constructor), declaring the shape first if needed; None if `key` is not one."""
    name = _data_name(key)
    if R.shape_of(name) is None:
        return None
    if "\0" + name not in env.scope:
        _declare_shape(env, names, name)
    return env.scope.get(key)


def _shape_names(node: object) -> set[str]:
    out: set[str] = set()
    for x in S.nodes(node):
        if isinstance(x, S.Var) and x.name.startswith("\0"):
            out.add(_data_name(x.name))
        elif isinstance(x, R.RecordLit):
            out.add(x.name)
        elif isinstance(x, S.PCon) and x.con.startswith(R.CON_KEY):
            out.add(_data_name(x.con))
    return {n for n in out if R.shape_of(n) is not None}


def _data_name(key: str) -> str:
    name = key[len(R.CON_KEY):] if key.startswith(R.CON_KEY) else key[1:]
    return name.split("#")[0] if name.startswith("{|") else name


def _declare_shape(env: TopEnv, names: NameSupply, name: str) -> None:
    kind, labels = R.shape_of(name)  # type: ignore[misc]
    params = tuple(Binder(names.fresh(f"t_{l}"), ir.TYPE) for l in labels)
    data = ir.DataDef(name, params, [], field_names=tuple(labels))
    if kind == "record":
        fields = tuple(Binder(names.fresh(l), ir.Var(p.name)) for l, p in zip(labels, params))
        data.cons.append(ir.ConDef(name if labels else "{}", fields))
        env.scope[R.CON_KEY + name] = ConB(data, 0)
    else:
        for k, (l, p) in enumerate(zip(labels, params)):
            data.cons.append(ir.ConDef(f"{name}#{k}", (Binder(names.fresh(l), ir.Var(p.name)),)))
            env.scope[f"{R.CON_KEY}{name}#{k}"] = ConB(data, k)
    env.scope["\0" + name] = TyConB(data)


def shape(data: ir.DataDef) -> tuple[str, list[str]] | None:
    """("record" | "variant", labels) of a record/variant data type, else None."""
    if not data.name.startswith(R.REC_PREFIX):
        return None
    return R.shape_of(data.name)


def is_variant(data: ir.DataDef) -> bool:
    s = shape(data)
    return s is not None and s[0] == "variant"


def _known(inf: Infer, ty: Expr, kind: str) -> ir.TyCon | None:
    t = whnf(ty, inf.env)
    if isinstance(t, ir.TyCon):
        s = shape(t.data)
        if s is not None and s[0] == kind:
            return t
    return None


def _alternative(labels: list[str], label: str, occ: int) -> int | None:
    seen = 0
    for k, l in enumerate(labels):
        if l == label:
            if seen == occ:
                return k
            seen += 1
    return None


def _variant_text(label: str, occ: int) -> str:
    return "{|" + f"{label}|" * occ + f" {label} = ... |}}"


# === variant values ===

def check_variant(inf: Infer, e: R.VariantLit, ty: Expr) -> Expr:
    """`{| a = v |}` against the variant type `ty`: its alternative's constructor
    applied to v."""
    t = _known(inf, ty, "variant")
    if t is None and isinstance(whnf(ty, inf.env), ir.Meta):
        return _defer_variant(inf, e, ty)
    if t is None:
        raise _unknown_variant(e.span)
    k = _alternative(shape(t.data)[1], e.label, e.occ)  # type: ignore[index]
    if k is None:
        raise TypeErr(f"the variant type has no alternative `{e.label}` for "
                      f"{_variant_text(e.label, e.occ)}", e.span)
    return _check_con(inf, t.data, k, (e.value,), ty, e.span)


def _unknown_variant(span) -> TypeErr:  # noqa: ANN001
    return TypeErr("the type of a variant value must be known (annotate it with a "
                   "variant type, e.g. `{| a = 3 |} : {a:Int | b:Float}`)", span)


def _defer_variant(inf: Infer, e: R.VariantLit, ty: Expr) -> Expr:
    """A variant value whose type is not known yet (`\\v. case v of Left x -> {|a=x|}`
    before the lambda meets its type): a term metavariable, solved by
    `solve_variants` once the type is known."""
    value, vty = inf.infer(e.value)
    hole = inf.fresh_meta(ty, "v")
    pending = inf.__dict__.setdefault("pending_variants", [])
    pending.append((hole, e, ty, value, vty))
    return hole


def solve_variants(inf: Infer, final: bool) -> None:
    """Fills what waited for a type (deferred variant values, `#a` isos, `..._` types)
    as far as the types known now allow; at the end of a declaration (`final`), one
    still waiting is an error."""
    while _solve_rows(inf) | _solve_lenses(inf) | _solve_variant_values(inf):
        pass
    if not final:
        return
    if inf.__dict__.get("pending_rows"):
        e = inf.pending_rows[0][1]
        raise TypeErr(f"the {e.kind} type `...` extends must be known here", e.span)
    if inf.__dict__.get("pending_lenses"):
        e = inf.pending_lenses[0][1]
        mark = {"lens": "", "prism": "?", "rzip": "&", "vzip": "|"}[e.kind]
        kind = "record" if e.kind in ("lens", "rzip") else "variant"
        raise TypeErr(f"the {kind} type of `#{mark}{e.label}` must be known", e.span)
    if inf.__dict__.get("pending_variants"):
        raise _unknown_variant(inf.pending_variants[0][1].span)


def _solve_variant_values(inf: Infer) -> bool:
    pending = inf.__dict__.get("pending_variants")
    progress = False
    for item in list(pending or ()):
        hole, e, ty, value, vty = item
        t = _known(inf, ty, "variant")
        if t is None:
            continue
        k = _alternative(shape(t.data)[1], e.label, e.occ)  # type: ignore[index]
        if k is None:
            raise TypeErr(f"the variant type has no alternative `{e.label}` for "
                          f"{_variant_text(e.label, e.occ)}", e.span)
        params, sub = inf.data_args(t.data, e.span)
        inf.unify(ty, ir.TyCon(t.data, tuple(params)), e.span)
        inf.unify(subst(t.data.cons[k].fields[0].ty, sub), vty, e.value.span)
        hole.cell.solution = ir.Con(t.data, k, tuple(params), (value,))
        pending.remove(item)
        progress = True
    return progress


def infer_variant(inf: Infer, e: R.VariantLit) -> tuple[Expr, Expr]:
    return check_variant(inf, e, inf.fresh_meta(ir.TYPE)), ir.TYPE  # raises: type unknown


# === record values ===

def check_record(inf: Infer, e: R.RecordLit, ty: Expr) -> Expr:
    """`{a = 1, b = 2}` against `ty`: the expected field types reach the values (a
    variant value in a field takes its type from the record's)."""
    b = declare_name(inf.env, inf.names, "\0" + e.name)
    assert isinstance(b, TyConB), e.name
    return _check_con(inf, b.data, 0, e.values, ty, e.span)


def infer_record(inf: Infer, e: R.RecordLit) -> tuple[Expr, Expr]:
    ty = inf.fresh_meta(ir.TYPE)
    return check_record(inf, e, ty), ty


def _check_con(inf: Infer, data: ir.DataDef, k: int, values: tuple[S.Expr, ...], ty: Expr,
               span) -> Expr:  # noqa: ANN001
    params, sub = inf.data_args(data, span)
    inf.unify(ty, ir.TyCon(data, tuple(params)), span)
    fields = tuple(inf.check(v, subst(f.ty, sub)) for f, v in zip(data.cons[k].fields, values))
    return ir.Con(data, k, tuple(params), fields)


# === patterns ===

def variant_con(inf: Infer, pat: S.PCon, sty: Expr | None) -> tuple[ir.ConDef, tuple[S.Pat, ...]]:
    """The constructor a variant pattern `{| a = x |}` names in the scrutinee's type."""
    t = _known(inf, sty, "variant") if sty is not None else None
    if t is None:
        raise TypeErr("the type of a variant pattern's scrutinee must be known "
                      "(annotate it with a variant type)", pat.span)
    label, occ = pat.con[len(R.VARIANT_CON):].rsplit("#", 1)
    k = _alternative(shape(t.data)[1], label, int(occ))  # type: ignore[index]
    if k is None:
        raise TypeErr(f"the variant type has no alternative `{label}` for "
                      f"{_variant_text(label, int(occ))}", pat.span)
    return t.data.cons[k], pat.args


def no_record_alternatives(alts: tuple[S.Alt, ...]) -> None:
    """A `case` alternative cannot start with a record pattern (as in 2021: unpack
    records with a let)."""
    for alt in alts:
        if isinstance(alt.pat, S.PCon) and alt.pat.con.startswith((R.CON_KEY + "{",
                                                                    R.PARTIAL_CON)):
            raise TypeErr("Case patterns must start with a data constructor or variant "
                          "pattern", _with_space(alt.pat.span))


def _with_space(span):  # noqa: ANN001, ANN202
    """`span` and the blank after it (2021 underlined a case pattern so)."""
    src = span.source
    if src is not None and span.stop < len(src.text) and src.text[span.stop] == " ":
        return dataclasses.replace(span, stop=span.stop + 1)
    return span


def variant_scrutinee(inf: Infer, alts: tuple[S.Alt, ...], sty: Expr, span) -> None:  # noqa: ANN001
    """A `case` on a scrutinee of unknown type whose alternatives are variant
    patterns without a tail: the scrutinee has the variant type of exactly those
    alternatives (`\\v. case v of {|a=x|} -> ...; {|b=y|} -> ...`)."""
    if not isinstance(whnf(sty, inf.env), ir.Meta):
        return
    pats = [a.pat for a in alts if isinstance(a.pat, S.PCon)
            and a.pat.con.startswith(R.VARIANT_CON)]
    if not pats or any(is_tail(p) for p in pats):
        return
    count: dict[str, int] = {}
    for p in pats:
        label, occ = p.con[len(R.VARIANT_CON):].rsplit("#", 1)
        count[label] = max(count.get(label, 0), int(occ) + 1)
    labels = sorted(l for l, n in count.items() for _ in range(n))
    b = declare_name(inf.env, inf.names, "\0" + R.variant_name(labels))
    params, _ = inf.data_args(b.data, span)  # type: ignore[union-attr]
    inf.unify(sty, ir.TyCon(b.data, tuple(params)), span)  # type: ignore[union-attr]


def is_tail(pat: S.Pat) -> bool:
    return isinstance(pat, S.PCon) and pat.con.startswith(R.TAIL_CON)


def tail_alternative(inf: Infer, alts: tuple[S.Alt, ...], alt: S.Alt, scrut: Expr, sty: Expr,
                     ty: Expr, span) -> Expr:  # noqa: ANN001
    """The body of the `case` alternative `{|a| ...rest |} -> body` (the default of the
    case): `rest` is the scrutinee as a variant of the alternatives not skipped."""
    pat = alt.pat
    assert isinstance(pat, S.PCon)
    t = _known(inf, sty, "variant")
    if t is None:
        raise TypeErr("the type of a variant pattern's scrutinee must be known "
                      "(annotate it with a variant type)", pat.span)
    if sum(is_tail(a.pat) for a in alts) > 1:
        raise TypeErr("Can't specify more than one variant tail pattern.", span)
    labels = shape(t.data)[1]  # type: ignore[index]
    skipped = pat.con[len(R.TAIL_CON):]
    taken: set[int] = set()
    for label in skipped.split(",") if skipped else []:
        k = next((j for j, l in enumerate(labels) if l == label and j not in taken), None)
        if k is None:
            raise TypeErr(f"the variant type has no (further) alternative `{label}`", pat.span)
        taken.add(k)
    rest = [j for j in range(len(labels)) if j not in taken]
    explicit = {t.data.cons.index(variant_con(inf, a.pat, sty)[0]) for a in alts
                if isinstance(a.pat, S.PCon) and a.pat.con.startswith(R.VARIANT_CON)
                and not is_tail(a.pat)}
    if explicit & set(rest):
        raise TypeErr("Variant explicit alternatives overlap with tail pattern.", span)
    name = R.variant_name([labels[j] for j in rest])
    if "\0" + name not in inf.env.scope:
        _declare_shape(inf.env, inf.names, name)
    tail = inf.env.scope["\0" + name].data  # type: ignore[union-attr]
    params = tuple(t.args[j] for j in rest)
    fields = [inf.names.fresh("f") for _ in rest]
    value = ir.Case(scrut, t.data, tuple(
        ir.Alt(j, (f,), ir.Con(tail, m, params, (ir.Var(f),)))
        for m, (j, f) in enumerate(zip(rest, fields))))
    inf.push()
    lets = inf.bind_pattern(pat.args[0], value, ir.TyCon(tail, params))
    body = inf.check_block(alt.body, ty)
    inf.pop()
    for n, rhs in reversed(lets):
        body = ir.Let(n, rhs, body)
    return body


def full_record_pattern(inf: Infer, pat: S.PCon, ty: Expr) -> S.PCon:
    """A record pattern with `...` (`{foo=x, ...}`) as the pattern of every field of
    the record type `ty` (the fields it does not name: `_`)."""
    t = _known(inf, ty, "record")
    if t is None:
        raise TypeErr("the type of what a record pattern with `...` unpacks must be a "
                      "known record type", pat.span)
    labels = shape(t.data)[1]  # type: ignore[index]
    wanted = pat.con[len(R.PARTIAL_CON):]
    pats: list[S.Pat] = [S.PHole(span=pat.span) for _ in labels]
    used: set[int] = set()
    for label, p in zip(wanted.split(",") if wanted else [], pat.args):
        label = _label_of(inf.env, label, pat.span)
        k = next((j for j, l in enumerate(labels) if l == label and j not in used), None)
        if k is None:
            raise TypeErr(f"the record type {_record_labels(labels)} has no (further) "
                          f"field `{label}`", pat.span)
        used.add(k)
        pats[k] = p
    return S.PCon(R.CON_KEY + t.data.name, tuple(pats), span=pat.span)


def _record_labels(labels: list[str]) -> str:
    return "{" + " & ".join(f"{l}:_" for l in labels) + "}"


# === row-polymorphic defs: templates instantiated at each use ===
# `def getFoo {a} {rest:Fields} (x : {foo:a & ...rest}) : a` has no single Core type
# (dexpy's Core has no rows). It is kept as surface syntax; an application
# `getFoo r` infers its arguments, reads each row variable off the record/variant
# shape an argument has, and elaborates a copy of the def with the rows filled in
# (the rows' field types as new implicit parameters), local to the application.

@dataclass(frozen=True)
class TemplateB:
    """A row-polymorphic 2021 def, instantiated at each application."""

    decl: S.Def


def declare_template(env: TopEnv, decl: object) -> bool:
    """Binds a def whose signature has row variables as a template (True), else False."""
    if not isinstance(decl, S.Def):
        return False
    sig = [p.ty for p in decl.params] + [decl.result]
    if not any(_rows_in(t) for t in sig):
        return False
    env.scope[decl.name] = TemplateB(decl)
    return True


def _rows_in(node: object) -> list[R.RowType]:
    return [x for x in S.nodes(node) if isinstance(x, R.RowType)]


def template_error(name: str, span) -> TypeErr:  # noqa: ANN001
    return TypeErr(f"{name} is row-polymorphic (its signature has `...`): dexpy "
                   "instantiates it where it is applied to its record or variant "
                   "arguments, so it cannot be used unapplied", span)


def apply_template(inf: Infer, e: S.App, t: TemplateB) -> tuple[Expr, Expr]:
    """`f args` for the template `f`: the def instantiated at the rows the arguments'
    types give, applied to them."""
    d = t.decl
    explicit = [p for p in d.params if p.expl == S.Expl.EXPLICIT]
    done = []
    for a in e.args:
        core, ty = inf.infer(a)
        done.append(_done(core, ty, a.span))
    labels: dict[str, str] = {}                      # Label parameter -> its label
    for p, a in zip(explicit, e.args):
        if isinstance(p.ty, S.Var) and p.ty.name == "Label" and p.name:
            labels["@" + p.name] = _label_arg(inf, a)
    rows: dict[str, list[tuple[str, str]]] = {}      # row -> (label, type variable)
    for k, (p, a) in enumerate(zip(explicit, done)):
        if isinstance(p.ty, R.RowType):
            _match_row(inf, _with_labels(p.ty, labels), a.ty, rows, k, a.span)
    unknown = {r for rt in _rows_in([p.ty for p in d.params] + [d.result, d.body])
               for r in rt.rows} - set(rows)
    if unknown:
        raise TypeErr(f"the row `...{sorted(unknown)[0]}` of {d.name} is not determined by "
                      "its arguments' record or variant types", e.span)
    spec = _specialize(d, rows, e.span, labels)
    call = S.App(S.Var(d.name, span=e.span), tuple(done), span=e.span)
    return inf.infer_block(S.Block((spec,), call, span=e.span))


def _done(core: Expr, ty: Expr, span) -> S.Node:  # noqa: ANN001
    from .infer import Done
    return Done(core, ty, span=span)


def _match_row(inf: Infer, rt: R.RowType, ty: Expr, rows: dict, k: int, span) -> None:  # noqa: ANN001
    t = _known(inf, ty, rt.kind)
    if t is None:
        raise TypeErr(f"expected a {rt.kind} argument (its type must be known here)", span)
    labels = list(shape(t.data)[1])  # type: ignore[index]
    for label, _ in rt.fields:
        if label not in labels:
            raise TypeErr(f"the argument's {rt.kind} type has no (further) "
                          f"{'field' if rt.kind == 'record' else 'alternative'} `{label}`", span)
        labels.remove(label)
    named = [r for r in rt.rows]
    if len(named) != 1:
        raise TypeErr("a type with several rows (`...f & ...g`) cannot be matched against "
                      "an argument", span)
    r = named[0] if named[0] != "_" else f"_{k}"
    rest = [(l, f"_row_{r.strip('_')}_{j}") for j, l in enumerate(labels)]
    if r in rows and [l for l, _ in rows[r]] != labels:
        raise TypeErr(f"the row `...{r}` is given two different sets of labels", span)
    rows.setdefault(r, rest)


def _label_arg(inf: Infer, a: S.Expr) -> str:
    if isinstance(a, R.LabelLit):
        return a.label
    if isinstance(a, S.Var):
        return _label_of(inf.env, "@" + a.name, a.span)
    raise TypeErr("a Label argument must be a label (`##a`) or a name bound to one", a.span)


def _with_labels(rt: R.RowType, labels: dict[str, str]) -> R.RowType:
    return dataclasses.replace(rt, fields=tuple((labels.get(l, l), t) for l, t in rt.fields))


def _specialize(d: S.Def, rows: dict[str, list[tuple[str, str]]], span,  # noqa: ANN001
                labels: dict[str, str] | None = None) -> S.Def:
    anon = iter(sorted(r for r in rows if r.startswith("_")))
    labels = labels or {}

    def relabel(con: str) -> str:
        for prefix in (R.PARTIAL_CON, R.CON_KEY):
            if con.startswith(prefix) and "@" in con:
                parts = con[len(prefix):].split(",")
                return prefix + ",".join(labels.get(p, p) for p in parts)
        return con

    def fill(x: object) -> object:
        if isinstance(x, S.PCon) and "@" in x.con:
            return S.PCon(relabel(x.con), tuple(fill(p) for p in x.args), span=x.span)
        if isinstance(x, R.RecordDyn):
            return R.RecordDyn(tuple(labels.get(l, l) for l in x.labels),
                               tuple(fill(v) for v in x.values), span=x.span)
        if isinstance(x, R.RowType):
            fields: list[tuple[str, S.Expr]] = [(labels.get(l, l), fill(t))
                                                for l, t in x.fields]  # type: ignore[misc]
            for r in x.rows:
                key = next(anon, r) if r == "_" else r
                fields += [(l, S.Var(v, span=x.span)) for l, v in rows.get(key, [])]
            fields = R.sort_fields(fields)  # type: ignore[assignment]
            shape_labels = [l for l, _ in fields]
            name = (R.record_name(shape_labels) if x.kind == "record"
                    else R.variant_name(shape_labels))
            head = S.Var("\0" + name, span=x.span)
            return S.App(head, tuple(t for _, t in fields), span=x.span) if fields else head
        if dataclasses.is_dataclass(x) and isinstance(x, S.Node):
            changes = {f.name: fill(getattr(x, f.name)) for f in dataclasses.fields(x)}
            return dataclasses.replace(x, **changes)
        if isinstance(x, tuple):
            return tuple(fill(y) for y in x)
        return x

    row_names = set(rows)
    kept = tuple(p for p in d.params if p.name not in row_names)
    new = tuple(S.Param(v, None, S.Expl.IMPLICIT, span=span)
                for r in rows.values() for _, v in r)
    expl = tuple(p for p in kept if p.expl == S.Expl.EXPLICIT)
    rest = tuple(p for p in kept if p.expl != S.Expl.EXPLICIT)
    spec = dataclasses.replace(d, params=expl + new + rest)
    return fill(spec)  # type: ignore[return-value]


# === extension: `{a=1, ...x}`, `{| a | ...v |}`, and open types `{a:Int & ..._}` ===

RecordExt, VariantExt, RowType = R.RecordExt, R.VariantExt, R.RowType


def infer_extension(inf: Infer, e: S.Node) -> tuple[Expr, Expr]:
    if isinstance(e, R.RecordExt):
        return _record_ext(inf, e)
    if isinstance(e, R.VariantExt):
        return _variant_ext(inf, e)
    if isinstance(e, R.LabelLit):
        return infer_label(inf, e)
    if isinstance(e, R.RecordDyn):
        return infer_record_dyn(inf, e)
    assert isinstance(e, R.RowType)
    return _open_type(inf, e)


def _record_ext(inf: Infer, e: R.RecordExt) -> tuple[Expr, Expr]:
    parts: list[tuple[str, Expr, Expr]] = []
    lets: list[tuple[ir.Name, Expr]] = []
    for label, x in e.parts:
        core, ty = inf.infer(x)
        if label is not None:
            parts.append((label, core, ty))
            continue
        t = _known(inf, ty, "record")
        if t is None:
            raise TypeErr("the record a `...` extends must have a known record type", x.span)
        tmp = inf.names.fresh("rec")
        lets.append((tmp, core))
        for j, l in enumerate(shape(t.data)[1]):  # type: ignore[index]
            parts.append((l, ir.Proj(ir.Var(tmp), j), t.args[j]))
    parts.sort(key=lambda p: p[0])
    b = declare_name(inf.env, inf.names, "\0" + R.record_name([p[0] for p in parts]))
    tys = tuple(p[2] for p in parts)
    out: Expr = ir.Con(b.data, 0, tys, tuple(p[1] for p in parts))  # type: ignore[union-attr]
    for tmp, core in reversed(lets):
        out = ir.Let(tmp, core, out)
    return out, ir.TyCon(b.data, tys)  # type: ignore[union-attr]


def _variant_ext(inf: Infer, e: R.VariantExt) -> tuple[Expr, Expr]:
    core, ty = inf.infer(e.value)
    t = _known(inf, ty, "variant")
    if t is None:
        raise TypeErr("the variant a `...` extends must have a known variant type",
                      e.value.span)
    old = shape(t.data)[1]  # type: ignore[index]
    alts = [(l, None) for l in e.skipped] + [(l, j) for j, l in enumerate(old)]
    alts.sort(key=lambda a: a[0])
    b = declare_name(inf.env, inf.names, "\0" + R.variant_name([a[0] for a in alts]))
    tys = tuple(inf.fresh_meta(ir.TYPE) if j is None else t.args[j] for _, j in alts)
    where = {j: k for k, (_, j) in enumerate(alts) if j is not None}
    tmp = inf.names.fresh("var")
    fields = [inf.names.fresh("f") for _ in old]
    case = ir.Case(ir.Var(tmp), t.data, tuple(
        ir.Alt(j, (f,), ir.Con(b.data, where[j], tys, (ir.Var(f),)))  # type: ignore[union-attr]
        for j, f in enumerate(fields)))
    return ir.Let(tmp, core, case), ir.TyCon(b.data, tys)  # type: ignore[union-attr]


def _open_type(inf: Infer, e: R.RowType) -> tuple[Expr, Expr]:
    """`{a:Int & ..._}`: a record type with at least these fields (in this order among
    fields of one label), whatever the others: checked once the type is known."""
    fields = [(_label_of(inf.env, l, e.span), inf.check_type(t)) for l, t in e.fields]
    m = inf.fresh_meta(ir.TYPE)
    inf.__dict__.setdefault("pending_rows", []).append((m, e, fields))
    return m, ir.TYPE


def _solve_rows(inf: Infer) -> bool:
    pending = inf.__dict__.get("pending_rows")
    progress = False
    for item in list(pending or ()):
        m, e, fields = item
        t = _known(inf, m, e.kind)
        if t is None:
            continue
        labels = shape(t.data)[1]  # type: ignore[index]
        used: set[int] = set()
        for label, fty in fields:
            k = next((j for j, l in enumerate(labels) if l == label and j not in used), None)
            if k is None:
                raise TypeErr(f"the {e.kind} type {_record_labels(labels)} has no (further) "
                              f"{'field' if e.kind == 'record' else 'alternative'} `{label}`",
                              e.span)
            used.add(k)
            inf.unify(fty, t.args[k], e.span)
        pending.remove(item)
        progress = True
    return progress


# === `#a` lenses and `#?a` prisms ===
# `#a : Iso {a:t & ...r} (t & {&...r})` needs the record type (or, for `pushAt`, the
# type of the rest): when it is not known where `#a` is checked, it is a term
# metavariable filled in `solve_variants` once it is. The iso itself is built as
# surface syntax (record patterns, variant tails and extensions) and checked.

LensLit = R.LensLit


def check_lens(inf: Infer, e: R.LensLit, ty: Expr) -> Expr:
    built = _lens_value(inf, e, ty)
    if built is not None:
        return built
    hole = inf.fresh_meta(ty, "iso")
    inf.__dict__.setdefault("pending_lenses", []).append((hole, e, ty))
    return hole


def infer_lens(inf: Infer, e: R.LensLit) -> tuple[Expr, Expr]:
    iso = inf.env.data_named("Iso")
    if iso is None:
        raise TypeErr("`#a` needs the 2021 prelude's Iso", e.span)
    ty = ir.TyCon(iso, (inf.fresh_meta(ir.TYPE), inf.fresh_meta(ir.TYPE)))
    return check_lens(inf, e, ty), ty


def _solve_lenses(inf: Infer) -> bool:
    progress = False
    pending = inf.__dict__.get("pending_lenses")
    for item in list(pending or ()):
        hole, e, ty = item
        built = _lens_value(inf, e, ty)
        if built is None:
            continue
        hole.cell.solution = built
        pending.remove(item)
        progress = True
    return progress


def _lens_value(inf: Infer, e: R.LensLit, ty: Expr) -> Expr | None:
    iso = inf.env.data_named("Iso")
    if iso is None:
        raise TypeErr("`#a` needs the 2021 prelude's Iso", e.span)
    t = whnf(ty, inf.env)
    if isinstance(t, ir.Meta):
        return None
    if not (isinstance(t, ir.TyCon) and t.data is iso):
        args = (inf.fresh_meta(ir.TYPE), inf.fresh_meta(ir.TYPE))
        inf.unify(ty, ir.TyCon(iso, args), e.span)
        t = ir.TyCon(iso, args)
    if e.kind in ("rzip", "vzip"):
        return _zipper_value(inf, e, t)
    kind = "record" if e.kind == "lens" else "variant"
    whole = _known(inf, t.args[0], kind)
    if whole is None and e.kind == "lens":
        whole = _whole_from_parts(inf, e, t.args[1])
    if whole is None:
        return None
    labels = shape(whole.data)[1]  # type: ignore[index]
    if e.label not in labels:
        raise TypeErr(f"the {kind} type {_record_labels(labels)} has no "
                      f"{'field' if kind == 'record' else 'alternative'} `{e.label}`", e.span)
    k = labels.index(e.label)
    rest = [j for j in range(len(labels)) if j != k]
    rest_labels = [labels[j] for j in rest]
    rest_name = R.record_name(rest_labels) if kind == "record" else R.variant_name(rest_labels)
    rest_b = declare_name(inf.env, inf.names, "\0" + rest_name)
    rest_ty = ir.TyCon(rest_b.data, tuple(whole.args[j] for j in rest))  # type: ignore[union-attr]
    if e.kind == "lens":
        parts: Expr = ir.TupleTy((whole.args[k], rest_ty))
    else:
        either = inf.env.data_named("Either")
        if either is None:
            raise TypeErr("`#?a` needs the prelude's Either", e.span)
        parts = ir.TyCon(either, (whole.args[k], rest_ty))
    inf.unify(t.args[0], whole, e.span)
    inf.unify(t.args[1], parts, e.span)
    w, ps = _done(whole, ir.TYPE, e.span), _done(parts, ir.TYPE, e.span)
    surface = (_lens_surface(e, labels, w, ps) if e.kind == "lens"
               else _prism_surface(e, labels, w, ps))
    return inf.check(surface, ty)


def _whole_from_parts(inf: Infer, e: R.LensLit, parts: Expr) -> ir.TyCon | None:
    """For `pushAt #a v r`: the record type `{a:t & ...r}` from `(t & {&...r})`."""
    p = whnf(parts, inf.env)
    if not (isinstance(p, ir.TupleTy) and len(p.elems) == 2):
        return None
    rest = _known(inf, p.elems[1], "record")
    if rest is None:
        return None
    fields = [(e.label, p.elems[0])] + list(zip(shape(rest.data)[1], rest.args))  # type: ignore[index]
    fields.sort(key=lambda f: f[0])
    b = declare_name(inf.env, inf.names, "\0" + R.record_name([l for l, _ in fields]))
    return ir.TyCon(b.data, tuple(t for _, t in fields))  # type: ignore[union-attr]


def _lens_surface(e: R.LensLit, labels: list[str], w: S.Node, ps: S.Node) -> S.Node:
    sp = e.span
    k = labels.index(e.label)
    vs = [f"_lens{j}" for j in range(len(labels))]
    rest = [j for j in range(len(labels)) if j != k]
    whole = R.CON_KEY + R.record_name(labels)
    rest_name = R.record_name([labels[j] for j in rest])
    var = lambda n: S.Var(n, span=sp)  # noqa: E731
    pvar = lambda n: S.PVar(n, span=sp)  # noqa: E731
    fwd = S.CurriedLam((S.Param("_lensr", w, span=sp),), S.Block((
        S.Let(S.PCon(whole, tuple(pvar(v) for v in vs), span=sp), None, var("_lensr"), span=sp),),
        S.Tuple((var(vs[k]), R.RecordLit(rest_name, tuple(var(vs[j]) for j in rest), span=sp)),
                span=sp), span=sp), span=sp)
    bwd = S.CurriedLam((S.Param("_lensp", ps, span=sp),), S.Block((
        S.Let(S.PTuple((pvar(vs[k]), S.PCon(R.CON_KEY + rest_name,
                                            tuple(pvar(vs[j]) for j in rest), span=sp)), span=sp),
              None, var("_lensp"), span=sp),),
        R.RecordLit(R.record_name(labels), tuple(var(v) for v in vs), span=sp), span=sp), span=sp)
    return _mk_iso(fwd, bwd, sp)


def _prism_surface(e: R.LensLit, labels: list[str], w: S.Node, ps: S.Node) -> S.Node:
    sp = e.span
    var = lambda n: S.Var(n, span=sp)  # noqa: E731
    pvar = lambda n: S.PVar(n, span=sp)  # noqa: E731
    app = lambda f, x: S.App(var(f), (x,), span=sp)  # noqa: E731
    this = S.PCon(f"{R.VARIANT_CON}{e.label}#0", (pvar("_prx"),), span=sp)
    others = S.PCon(f"{R.TAIL_CON}{e.label}", (pvar("_prr"),), span=sp)
    fwd = S.CurriedLam((S.Param("_prv", w, span=sp),), S.Block((), S.Case(var("_prv"), (
        S.Alt(this, S.Block((), app("Left", var("_prx")), span=sp), span=sp),
        S.Alt(others, S.Block((), app("Right", var("_prr")), span=sp), span=sp)),
        span=sp), span=sp), span=sp)
    bwd = S.CurriedLam((S.Param("_pre", ps, span=sp),), S.Block((), S.Case(var("_pre"), (
        S.Alt(S.PCon("Left", (pvar("_prx"),), span=sp),
              S.Block((), R.VariantLit(e.label, 0, var("_prx"), span=sp), span=sp), span=sp),
        S.Alt(S.PCon("Right", (pvar("_prr"),), span=sp),
              S.Block((), R.VariantExt((e.label,), var("_prr"), span=sp), span=sp), span=sp)),
        span=sp), span=sp), span=sp)
    return _mk_iso(fwd, bwd, sp)


def _mk_iso(fwd: S.Node, bwd: S.Node, sp) -> S.Node:  # noqa: ANN001
    return S.App(S.Var("MkIso", span=sp), (R.RecordLit("{bwd&fwd}", (bwd, fwd), span=sp),),
                 span=sp)


# === `#&a` (record zipper) and `#|a` (variant zipper) ===
# `#&a : Iso ({&...l} & {a:t & ...r}) ({a:t & ...l} & {&...r})` moves field `a` from
# the right record to the left one; `#|a` does the same between the two sides of a
# sum of variants. Either side of the iso determines the other.

def _zipper_value(inf: Infer, e: R.LensLit, t: ir.TyCon) -> Expr | None:
    kind = "record" if e.kind == "rzip" else "variant"
    sides = _zip_sides(inf, t.args[0], kind)
    outs = _zip_sides(inf, t.args[1], kind)
    if sides is not None:
        (ll, lt), (rl, rt) = sides
        if e.label not in rl:
            raise TypeErr(f"the right {kind} type {_record_labels(rl)} has no "
                          f"{'field' if kind == 'record' else 'alternative'} `{e.label}`", e.span)
        k = rl.index(e.label)
        new_l = _with_first(e.label, rt[k], ll, lt)
        new_r = ([l for j, l in enumerate(rl) if j != k], [x for j, x in enumerate(rt) if j != k])
        old = ((ll, lt), (rl, rt))
        new = (new_l, new_r)
    elif outs is not None:
        (ll2, lt2), (rl2, rt2) = outs
        if e.label not in ll2:
            raise TypeErr(f"the left {kind} type {_record_labels(ll2)} has no "
                          f"{'field' if kind == 'record' else 'alternative'} `{e.label}`", e.span)
        k = ll2.index(e.label)
        old_l = ([l for j, l in enumerate(ll2) if j != k], [x for j, x in enumerate(lt2) if j != k])
        old_r = _with_first(e.label, lt2[k], rl2, rt2)
        old = (old_l, old_r)
        new = ((ll2, lt2), (rl2, rt2))
    else:
        return None
    in_ty = _pair_type(inf, kind, old, e.span)
    out_ty = _pair_type(inf, kind, new, e.span)
    inf.unify(t.args[0], in_ty, e.span)
    inf.unify(t.args[1], out_ty, e.span)
    w, ps = _done(in_ty, ir.TYPE, e.span), _done(out_ty, ir.TYPE, e.span)
    build = _rzip_surface if kind == "record" else _vzip_surface
    return inf.check(build(e, old, new, w, ps), ir.TyCon(t.data, (in_ty, out_ty)))


def _with_first(label: str, ty: Expr, labels: list[str], tys: list[Expr]) -> tuple[list, list]:
    fields = sorted([(label, ty)] + list(zip(labels, tys)), key=lambda f: f[0])
    return [l for l, _ in fields], [x for _, x in fields]


def _zip_sides(inf: Infer, ty: Expr, kind: str):  # noqa: ANN202
    t = whnf(ty, inf.env)
    if kind == "record":
        if not (isinstance(t, ir.TupleTy) and len(t.elems) == 2):
            return None
        parts = t.elems
    else:
        either = inf.env.data_named("Either")
        if not (isinstance(t, ir.TyCon) and t.data is either):
            return None
        parts = t.args
    known = [_known(inf, p, kind) for p in parts]
    if None in known:
        return None
    return tuple((list(shape(k.data)[1]), list(k.args)) for k in known)  # type: ignore[union-attr,index]


def _shape_type(inf: Infer, kind: str, labels: list[str], tys: list[Expr]) -> Expr:
    name = R.record_name(labels) if kind == "record" else R.variant_name(labels)
    b = declare_name(inf.env, inf.names, "\0" + name)
    return ir.TyCon(b.data, tuple(tys))  # type: ignore[union-attr]


def _pair_type(inf: Infer, kind: str, sides, span) -> Expr:  # noqa: ANN001
    (ll, lt), (rl, rt) = sides
    left, right = _shape_type(inf, kind, ll, lt), _shape_type(inf, kind, rl, rt)
    if kind == "record":
        return ir.TupleTy((left, right))
    either = inf.env.data_named("Either")
    if either is None:
        raise TypeErr("`#|a` needs the prelude's Either", span)
    return ir.TyCon(either, (left, right))


def _rzip_surface(e: R.LensLit, old, new, w: S.Node, ps: S.Node) -> S.Node:  # noqa: ANN001
    sp = e.span
    var = lambda n: S.Var(n, span=sp)  # noqa: E731

    def unpack(sides, prefix):  # noqa: ANN001, ANN202
        """A pattern of the pair of records, and each field's variable by label."""
        pats, names = [], {}
        for side, (labels, _) in zip("lr", sides):
            vs = [f"_z{prefix}{side}{j}" for j in range(len(labels))]
            for l, v in zip(labels, vs):
                names.setdefault(l, []).append(v)
            pats.append(S.PCon(R.CON_KEY + R.record_name(labels),
                               tuple(S.PVar(v, span=sp) for v in vs), span=sp))
        return S.PTuple(tuple(pats), span=sp), names

    fwd_pat, fwd_names = unpack(old, "f")
    bwd_pat, bwd_names = unpack(new, "b")
    # fwd: the first `a` of the right record becomes the first `a` of the left one;
    # bwd: back again (variables listed by label in the order the result takes them)
    n_left = old[0][0].count(e.label)
    fwd_names = _move(fwd_names, e.label, n_left, 0)
    bwd_names = _move(bwd_names, e.label, 0, n_left)
    fwd = S.CurriedLam((S.Param("_zp", w, span=sp),), S.Block(
        (S.Let(fwd_pat, None, var("_zp"), span=sp),),
        _pack_by(new, fwd_names, e.label, sp), span=sp), span=sp)
    bwd = S.CurriedLam((S.Param("_zq", ps, span=sp),), S.Block(
        (S.Let(bwd_pat, None, var("_zq"), span=sp),),
        _pack_by(old, bwd_names, e.label, sp), span=sp), span=sp)
    return _mk_iso(fwd, bwd, sp)


def _move(names: dict, label: str, src: int, dst: int) -> dict:
    """Variables by label, the `label` one at `src` moved to `dst`."""
    vs = list(names[label])
    vs.insert(dst, vs.pop(src))
    return {**names, label: vs}


def _pack_by(sides, names: dict, label: str, sp) -> S.Node:  # noqa: ANN001
    """The pair of records `sides`; the left side's first `label` takes the first
    variable of `label`, the other fields take theirs in order."""
    (ll, _), (rl, _) = sides
    pool = {l: list(vs) for l, vs in names.items()}
    out = []
    for labels in (ll, rl):
        vals = [S.Var(pool[l].pop(0), span=sp) for l in labels]
        out.append(R.RecordLit(R.record_name(labels), tuple(vals), span=sp))
    return S.Tuple(tuple(out), span=sp)


def _vzip_surface(e: R.LensLit, old, new, w: S.Node, ps: S.Node) -> S.Node:  # noqa: ANN001
    sp = e.span
    var = lambda n: S.Var(n, span=sp)  # noqa: E731
    pvar = lambda n: S.PVar(n, span=sp)  # noqa: E731
    app = lambda f, x: S.App(var(f), (x,), span=sp)  # noqa: E731
    blk = lambda x: S.Block((), x, span=sp)  # noqa: E731
    first = S.PCon(f"{R.VARIANT_CON}{e.label}#0", (pvar("_zx"),), span=sp)
    others = S.PCon(f"{R.TAIL_CON}{e.label}", (pvar("_zr"),), span=sp)
    fwd = S.CurriedLam((S.Param("_ze", w, span=sp),), blk(S.Case(var("_ze"), (
        S.Alt(S.PCon("Left", (pvar("_zl"),), span=sp),
              blk(app("Left", R.VariantExt((e.label,), var("_zl"), span=sp))), span=sp),
        S.Alt(S.PCon("Right", (pvar("_zw"),), span=sp), blk(S.Case(var("_zw"), (
            S.Alt(first, blk(app("Left", R.VariantLit(e.label, 0, var("_zx"), span=sp))), span=sp),
            S.Alt(others, blk(app("Right", var("_zr"))), span=sp)), span=sp)), span=sp)),
        span=sp)), span=sp)
    bwd = S.CurriedLam((S.Param("_zf", ps, span=sp),), blk(S.Case(var("_zf"), (
        S.Alt(S.PCon("Left", (pvar("_zw"),), span=sp), blk(S.Case(var("_zw"), (
            S.Alt(first, blk(app("Right", R.VariantLit(e.label, 0, var("_zx"), span=sp))), span=sp),
            S.Alt(others, blk(app("Left", var("_zr"))), span=sp)), span=sp)), span=sp),
        S.Alt(S.PCon("Right", (pvar("_zl"),), span=sp),
              blk(app("Right", R.VariantExt((e.label,), var("_zl"), span=sp))), span=sp)),
        span=sp)), span=sp)
    return _mk_iso(fwd, bwd, sp)


# === first-class labels: `##a`, `{@l=x}` ===
# A label is known at compile time: `##a` is a value of the 2021 layer's `Label`;
# a top-level `l : Label = ##a` is remembered (`declare`), and a template's `Label`
# parameter takes the label its argument is. `@l` then reads as the label `a`.

RecordDyn, LabelLit = R.RecordDyn, R.LabelLit


@dataclass(frozen=True)
class LabelB:
    """A top-level name bound to a label literal (scope key "\\0label " + name)."""

    label: str


def remember_label(env: TopEnv, decl: object) -> None:
    if isinstance(decl, S.Let) and isinstance(decl.pat, S.PVar) \
            and isinstance(decl.rhs, R.LabelLit):
        env.scope["\0label " + decl.pat.name] = LabelB(decl.rhs.label)


def _label_of(env: TopEnv, label: str, span) -> str:  # noqa: ANN001
    if not label.startswith("@"):
        return label
    b = env.scope.get("\0label " + label[1:])
    if not isinstance(b, LabelB):
        raise TypeErr(f"`{label}` needs `{label[1:]}` to be a label known here (a "
                      "top-level `name : Label = ##a`, or a Label parameter of a def "
                      "whose signature has `...`)", span)
    return b.label


def infer_label(inf: Infer, e: R.LabelLit) -> tuple[Expr, Expr]:
    data = inf.env.data_named("Label")
    if data is None:
        raise TypeErr("`##a` needs the 2021 prelude's Label", e.span)
    return ir.Con(data, 0, (), ()), ir.TyCon(data, ())


def infer_record_dyn(inf: Infer, e: R.RecordDyn) -> tuple[Expr, Expr]:
    fields = R.sort_fields([(_label_of(inf.env, l, e.span), v)
                            for l, v in zip(e.labels, e.values)])
    lit = R.RecordLit(R.record_name([l for l, _ in fields]), tuple(v for _, v in fields),
                      span=e.span)
    return infer_record(inf, lit)
