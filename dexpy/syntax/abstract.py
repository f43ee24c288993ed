"""Abstract syntax: groups (concrete.py) -> surface AST (surface.py).

Meaning is decided by position: the same `(x:T)` group is a parameter in a
`def` header, a binder after `\\` or `for`, a pattern on the left of `=`,
an ascription in expression position (2021 form), and `x:T` anywhere else is
an error. Desugarings documented in surface.py happen here: binary operators
become applications of their names, `$`/`|` and juxtaposition extend
applications, `x <- e` becomes a trailing lambda, prefix minus folds into
literals, 2021 pattern binders become a fresh name plus a `Let`.
"""
from __future__ import annotations

from ..errors import SyntaxErr
from ..source import Span
from . import concrete as c
from . import records2021
from . import surface as s
from .records2021 import GRecord

COMMANDS = {
    ":p": s.CommandKind.PRINT, ":t": s.CommandKind.TYPE, ":html": s.CommandKind.HTML,
    ":pp": s.CommandKind.PP, ":pcodegen": s.CommandKind.PCODEGEN,
    ":export": s.CommandKind.EXPORT,
}
FOR_KINDS = {"for": s.ForKind.FOR, "for_": s.ForKind.FOR_, "rof": s.ForKind.ROF,
             "rof_": s.ForKind.ROF_}
EFFECT_KINDS = {"State", "Read", "Accum"}
ESCAPES = {"n": 10, "t": 9, "r": 13, "\\": 92, "'": 39, '"': 34, "0": 0, "a": 7, "b": 8,
           "f": 12, "v": 11, "NUL": 0, "DEL": 127, "ESC": 27}


def err(msg: str, span: Span) -> SyntaxErr:
    return SyntaxErr(msg, span)


# === top level ===

def top_decl(top: c.Top) -> s.TopDecl:
    """The surface declaration of one top-level block."""
    match top:
        case c.TData(name, params, given, cons):
            con_defs = tuple(s.ConDef(n, params_of(p, bare_is_type=True) if p else (), span=sp)
                             for n, p, sp in cons)
            return s.DataDecl(name, type_params(params, given), con_defs, span=top.span)
        case c.TStruct(name, params, given, fields, defs):
            fs = tuple((n, expr(t)) for n, t, _ in fields)
            return s.StructDecl(name, type_params(params, given), fs,
                                tuple(def_decl(d) for d in defs), span=top.span)
        case c.TInterface(name, params, methods):
            ms = tuple((n, expr(t)) for n, t, _ in methods)
            return s.InterfaceDecl(name, params_of(params), ms, span=top.span)
        case c.TInstance():
            return instance(top)
        case c.TCommand():
            return command(top)
        case c.TImport(module):
            return s.Import(module, span=top.span)
        case c.TForeign(symbol, name, ty):
            return s.Foreign(decode_string(symbol).decode("utf-8", "replace"), name, expr(ty),
                             span=top.span)
        case c.TCustomLin(name, rule, symbolic):
            return s.CustomLinearization(name, expr(rule), symbolic, span=top.span)
        case c.SExpr(e):
            body = s.Block((), expr(e), span=e.span)
            return s.Command(s.CommandKind.EVAL, body, span=top.span)
        case c.SBind():
            raise err("`<-` is only allowed inside a block", top.span)
    return decl(top)


def type_params(params: c.GParens | None, given: c.GGiven | None) -> tuple[s.Param, ...]:
    out = params_of(params) if params is not None else ()
    return out + (given_params(given) if given is not None else ())


def instance(top: c.TInstance) -> s.InstanceDecl:
    args = tuple(expr(a) for a in top.args.elems)
    params: tuple[s.Param, ...] = ()
    if top.params is not None:
        params = params_of(top.params)
    if top.given is not None:
        params += given_params(top.given)
    methods: list[s.Def | s.Let] = []
    for st in top.body:
        d = _operator_method(st) or decl(st)
        match d:
            case s.Def() | s.Let():
                methods.append(d)
            case s.Pass():
                pass
            case _:
                raise err("instance methods must be definitions", st.span)
    return s.InstanceDecl(top.class_name, args, params, tuple(methods), top.instance_name,
                          top.params is not None, span=top.span)


def _operator_method(st: c.Stmt) -> s.Let | None:
    """An instance method named by an operator, `(==) = \\x y. ...` (2021-23's form)."""
    match st:
        case c.SLet(c.GLeaf("opname", text) as lhs, rhs):
            return s.Let(s.PVar(text[1:-1], span=lhs.span), None, body_expr(rhs), span=st.span)
    return None


def command(top: c.TCommand) -> s.Command:
    name = top.cmd
    if name not in COMMANDS:
        raise err(f"unrecognized command: \"{name[1:]}\"", top.span)
    if top.body is None:
        raise err("missing expression after command", top.span)
    return s.Command(COMMANDS[name], block(top.body), top.export_name, span=top.span)


# === declarations and blocks ===

def decl(st: c.Stmt) -> s.Decl:
    """A statement that is not the last expression of its block."""
    match st:
        case c.SDef():
            return def_decl(st)
        case c.SLet(lhs, rhs):
            return let(lhs, rhs, st.span)
        case c.SExpr(e):
            return s.ExprDecl(expr(e), span=st.span)
        case c.SPass():
            return s.Pass(span=st.span)
        case c.SDecorated(dec, inner):
            d = decl(inner)
            if dec not in ("noinline", "inline"):
                raise err(f"unknown annotation @{dec}", st.span)
            match d:
                case s.Def() | s.Let():
                    return _replace_decorator(d, dec)
            raise err("Cannot annotate expressions", st.span)
        case c.SBind():
            raise err("`<-` must be followed by more statements in its block", st.span)
    raise err("unexpected statement", st.span)


def _replace_decorator(d: s.Def | s.Let, dec: str) -> s.Def | s.Let:
    from dataclasses import replace
    return replace(d, decorator=dec)


def let(lhs: c.Group, rhs: c.Body, span: Span) -> s.Let:
    value = body_expr(rhs)
    match lhs:
        case c.GBin(":", pat_g, ty):
            return s.Let(pattern(pat_g), expr(ty), value, span=span)
        case c.GParens((c.GBin(":", pat_g, ty),)):
            return s.Let(pattern(pat_g), expr(ty), value, span=span)
    return s.Let(pattern(lhs), None, value, span=span)


def body_expr(b: c.Body) -> s.Expr:
    """A block used where an expression is expected (`x =` followed by a block)."""
    blk = block(b)
    if not blk.decls:
        return blk.result
    return s.Do(blk, span=blk.span)


def block(b: c.Body) -> s.Block:
    match b:
        case c.BInline(e):
            return s.Block((), expr(e), span=b.span)
        case c.BIndented(stmts):
            return stmts_block(stmts, b.span)
    raise err("bad block", b.span)


def stmts_block(stmts: tuple[c.Stmt, ...], span: Span) -> s.Block:
    """Decls then a result; `x <- e` turns the rest of the block into a lambda."""
    decls: list[s.Decl] = []
    for k, st in enumerate(stmts):
        last = k == len(stmts) - 1
        match st:
            case c.SBind(lhs, rhs):
                rest = stmts[k + 1:]
                if not rest:
                    raise err("`<-` must be followed by more statements in its block", st.span)
                rest_span = rest[0].span.join(rest[-1].span)
                params, lets = binder(lhs)
                inner = stmts_block(rest, rest_span)
                lam = s.Lam(params, _prepend(lets, inner), span=st.span.join(rest_span))
                fn = body_expr(rhs)
                return s.Block(tuple(decls), extend_app(fn, lam, True, st.span), span=span)
            case c.SExpr(e) if last:
                return s.Block(tuple(decls), expr(e), span=span)
            case c.SPass() if last:
                return s.Block(tuple(decls), s.Tuple((), span=st.span), span=span)
        if last:
            raise err("Block must end in expression", st.span)
        decls.append(decl(st))
    raise err("empty block", span)


def _prepend(lets: tuple[s.Decl, ...], blk: s.Block) -> s.Block:
    if not lets:
        return blk
    return s.Block(lets + blk.decls, blk.result, span=blk.span)


def def_decl(d: c.SDef) -> s.Def:
    if not d.adjacent and d.arrow != ":":
        raise c.parse_error_at(
            d.param_lists[0].span,
            "expecting parameter list in parentheses (without preceding whitespace)")
    params: tuple[s.Param, ...] = ()
    lets: tuple[s.Decl, ...] = ()
    for plist in d.param_lists:
        if isinstance(plist, c.GBrackets):        # 2021 `[Add a, Ix n]`
            params += tuple(class_param(g) for g in plist.elems)
        elif isinstance(plist, c.GBraces):        # 2021 `{a b}`, `{n:Type}`
            params += tuple(implicit_binders(plist))
        else:
            for g in plist.elems:
                if (pp := _pattern_param(g)) is not None:   # 2021 `((AsList n xs): List a)`
                    params += (pp[0],)
                    lets += (pp[1],)
                else:
                    params += params_of(c.GParens((g,), span=plist.span))
    if d.given is not None:
        params += given_params(d.given)
    effects = effect_row(d.effects) if d.effects is not None else None
    result = expr(d.result) if d.result is not None else None
    return s.Def(d.name, params, effects, result, _prepend(lets, block(d.body)),
                 d.arrow == "->>", d.decorator, span=d.span)


def _pattern_param(g: c.Group) -> tuple[s.Param, s.Let] | None:
    """A 2021 pattern parameter `(pat : T)` (pat not a name): a fresh parameter of type
    T, and the let that unpacks it at the start of the body."""
    if not (isinstance(g, c.GBin) and g.op == ":") or isinstance(g.lhs, c.GLeaf):
        return None
    fresh = f"_pat{g.span.start}"
    return (s.Param(fresh, expr(g.rhs), span=g.span),
            s.Let(pattern(g.lhs), None, s.Var(fresh, span=g.span), span=g.span))


# === parameters and binders ===

def params_of(parens: c.GParens | None, bare_is_type: bool = False,
              expl: s.Expl = s.Expl.EXPLICIT) -> tuple[s.Param, ...]:
    """Parameters of a parenthesized list (def/data/struct/interface/pi)."""
    if parens is None:
        return ()
    out: list[s.Param] = []
    for g in parens.elems:
        if isinstance(g, c.GGiven):
            out.extend(given_params(g))
        else:
            out.append(param(g, bare_is_type, expl))
    return tuple(out)


def implicit_binders(braces: c.GBraces) -> list[s.Param]:
    """The 2021 implicit binder list `{a b}` / `{n:Type}` / `{a, b}`."""
    out: list[s.Param] = []
    def flat(g: c.Group) -> list[c.Group]:
        return flat(g.fn) + [g.arg] if isinstance(g, c.GJux) else [g]
    for g in braces.elems:
        for part in flat(g):
            out.append(param(part, False, s.Expl.IMPLICIT))
    return out


def given_params(g: c.GGiven) -> tuple[s.Param, ...]:
    out = [param(x, False, s.Expl.IMPLICIT) for x in g.implicits]
    for x in g.constraints or ():
        out.append(class_param(x))
    return tuple(out)


def class_param(g: c.Group) -> s.Param:
    match g:
        case c.GBin(":", c.GLeaf("name", name), ty):
            return s.Param(name, expr(ty), s.Expl.CLASS, span=g.span)
        case c.GParens((inner,)):
            return class_param(inner)
    return s.Param(None, expr(g), s.Expl.CLASS, span=g.span)


def param(g: c.Group, bare_is_type: bool, expl: s.Expl) -> s.Param:
    """`x`, `_`, `x:T`, `x|Cls`, `x:T|Cls`, or (bare_is_type) an anonymous type."""
    match g:
        case c.GLeaf("name", name) if not bare_is_type:
            return s.Param(name, None, expl, span=g.span)
        case c.GLeaf("hole", _) if not bare_is_type:
            return s.Param(None, None, expl, span=g.span)
        case c.GBin(":", c.GLeaf("name" | "hole") as lhs, ty):
            name = lhs.text if lhs.kind == "name" else None
            ty_g, classes = split_constraints(ty)
            return s.Param(name, expr(ty_g), expl, classes, span=g.span)
        case c.GBin("|", lhs, cls):
            inner = param(lhs, False, expl)
            return s.Param(inner.name, inner.ty, expl, inner.constraints + (expr(cls),),
                           span=g.span)
        case c.GParens((inner,)) if not isinstance(inner, c.GGiven):
            return param(inner, bare_is_type, expl)
    if bare_is_type or expl == s.Expl.CLASS:
        return s.Param(None, expr(g), expl, span=g.span)
    raise err("expected a binder (a name, `_`, or `name:type`)", g.span)


def split_constraints(ty: c.Group) -> tuple[c.Group, tuple[s.Expr, ...]]:
    """D23 groups `n:Type|Ix` as `n : (Type|Ix)`: peel the `|Cls` suffixes off the type."""
    classes: list[s.Expr] = []
    while isinstance(ty, c.GBin) and ty.op == "|":
        classes.insert(0, expr(ty.rhs))
        ty = ty.lhs
    return ty, tuple(classes)


def binder(g: c.Group) -> tuple[tuple[s.Param, ...], tuple[s.Decl, ...]]:
    """A lambda/for/`<-` binder: params, plus Lets for a 2021 pattern binder."""
    match g:
        case c.GLeaf("name" | "hole"):
            return (param(g, False, s.Expl.EXPLICIT),), ()
        case c.GBin(":", c.GLeaf("name" | "hole"), _) | c.GBin("|", _, _):
            return (param(g, False, s.Expl.EXPLICIT),), ()
        case c.GParens(elems) if elems and all(isinstance(e, c.GGiven) for e in elems):
            return params_of(g), ()
        case c.GParens((inner,)) if not isinstance(inner, c.GGiven):
            return binder(inner)
    fresh = f"_pat{g.span.start}"
    pat_g, ann = (g.lhs, expr(g.rhs)) if isinstance(g, c.GBin) and g.op == ":" else (g, None)
    var = s.Var(fresh, span=g.span)
    let_ = s.Let(pattern(pat_g), None, var, span=g.span)
    return (s.Param(fresh, ann, span=g.span),), (let_,)


def binders(gs: tuple[c.Group, ...]) -> tuple[tuple[s.Param, ...], tuple[s.Decl, ...]]:
    params: list[s.Param] = []
    lets: list[s.Decl] = []
    for g in records2021.con_binders(gs):     # 2021 `\Q{x, y}.`: a constructor pattern
        ps, ls = binder(g)
        params.extend(ps)
        lets.extend(ls)
    return tuple(params), tuple(lets)


# === patterns ===

def pattern(g: c.Group) -> s.Pat:
    match g:
        case c.GLeaf("name", name):
            return s.PVar(name, span=g.span)
        case c.GLeaf("hole", _):
            return s.PHole(span=g.span)
        case c.GParens(elems):
            if len(elems) == 1:
                return pattern(elems[0])
            return s.PTuple(tuple(pattern(e) for e in elems), span=g.span)
        case c.GBrackets(elems):
            return s.PTable(tuple(pattern(e) for e in elems), span=g.span)
        case c.GBin(",>", lhs, rhs):
            return s.PDepPair(pattern(lhs), pattern(rhs), span=g.span)
        case GRecord():
            return records2021.to_pattern(g, pattern)
        case c.GCall(c.GLeaf("name", con), args):
            return s.PCon(con, tuple(pattern(e) for e in args.elems), span=g.span)
        case c.GJux():
            head, args = _flatten_jux(g)
            if isinstance(head, c.GLeaf) and head.kind == "name":
                return s.PCon(head.text, tuple(pattern(a) for a in args), span=g.span)
    raise err("unexpected pattern", g.span)


def case_pattern(g: c.Group) -> s.Pat:
    """In a case alternative a bare name is a nullary constructor."""
    match g:
        case c.GLeaf("name", name):
            return s.PCon(name, (), span=g.span)
        case c.GParens((inner,)) if isinstance(inner, c.GLeaf):
            return case_pattern(inner)
    return pattern(g)


def _flatten_jux(g: c.Group) -> tuple[c.Group, list[c.Group]]:
    args: list[c.Group] = []
    while isinstance(g, c.GJux):
        args.insert(0, g.arg)
        g = g.fn
    return g, args


# === expressions ===

def expr(g: c.Group) -> s.Expr:
    match g:
        case c.GLeaf():
            return leaf(g)
        case c.GParens(elems):
            if any(isinstance(e, c.GGiven) for e in elems):
                raise err("unexpected `given`", g.span)
            if len(elems) == 1:
                return expr(elems[0])
            return s.Tuple(tuple(expr(e) for e in elems), span=g.span)
        case c.GBrackets(elems):
            return s.TabCon(tuple(expr(e) for e in elems), span=g.span)
        case GRecord():             # 2021 records and variants
            return records2021.to_expr(g, expr)
        case c.GBraces(()):         # 2021 `{}`: the empty record
            return records2021.to_expr(GRecord("record", (), span=g.span), expr)
        case c.GBraces():
            return effect_row(g)
        case c.GJux(fn, arg):
            return extend_app(expr(fn), expr(arg), is_app_group(fn), g.span)
        case c.GCall(c.GLeaf("prim", name), args):
            return s.Prim(name[1:], tuple(expr(a) for a in args.elems), span=g.span)
        case c.GCall(fn, args):
            pos, named = call_args(args)
            return s.App(expr(fn), pos, named, span=g.span)
        case c.GIndex(tab, idxs):
            return s.Index(expr(tab), tuple(expr(i) for i in idxs.elems), span=g.span)
        case c.GField(obj, name):
            key: str | int = int(name) if name.isdigit() else name
            return s.Field(expr(obj), key, span=g.span)
        case c.GDotParen(obj, args):
            return s.Index(expr(obj), tuple(expr(a) for a in args.elems), span=g.span)
        case c.GBin():
            return binary(g)
        case c.GPrefix(op, arg):
            return prefix(op, arg, g.span)
        case c.GPostfix(op, arg):
            kind = ".. post" if op == ".." else "<.."
            return s.RangeSugar(kind, expr(arg), span=g.span)
        case c.GArrow():
            return arrow(g)
        case c.GWith(lhs, parens):
            return with_type(lhs, parens, g.span)
    return compound(g)


def compound(g: c.Group) -> s.Expr:
    match g:
        case c.GLam(bs, body):
            params, lets = binders(bs)
            return s.Lam(params, _prepend(lets, block(body)), span=g.span)
        case c.GFor(kind, bs, body):
            if not bs:
                raise err("`for` needs at least one binder", g.span)
            params, lets = binders(bs)
            return s.For(FOR_KINDS[kind], params, _prepend(lets, block(body)), span=g.span)
        case c.GCase(scrut, alts):
            return s.Case(expr(scrut), tuple(
                s.Alt(case_pattern(p), block(b), span=p.span.join(b.span)) for p, b in alts),
                span=g.span)
        case c.GIf(cond, then, else_):
            return s.If(expr(cond), block(then), block(else_) if else_ is not None else None,
                        span=g.span)
        case c.GDo(body):
            return s.Do(block(body), span=g.span)
        case c.GGiven():
            raise err("unexpected `given`", g.span)
    raise err("unexpected expression", g.span)


def leaf(g: c.GLeaf) -> s.Expr:
    if g.kind == "prim" and (lens := records2021.lens_leaf(g)) is not None:
        return lens                         # 2021 `#a`, `#?a`
    match g.kind:
        case "name":
            return s.Var(g.text, span=g.span)
        case "opname":
            return s.Var(g.text[1:-1], span=g.span)
        case "nat":
            return s.NatLit(int(g.text), span=g.span)
        case "float":
            return s.FloatLit(float(g.text), g.text, span=g.span)
        case "string":
            return s.StrLit(decode_string(g.text), span=g.span)
        case "char":
            data = decode_string(g.text)
            if len(data) != 1:
                raise err("a character literal must be one byte", g.span)
            return s.CharLit(data[0], span=g.span)
        case "hole":
            return s.Hole(span=g.span)
    raise err(f"unexpected `{g.text}`", g.span)


def is_app_group(g: c.Group) -> bool:
    """Whether `g` is an application that juxtaposition/`$` may extend."""
    match g:
        case c.GJux() | c.GCall():
            return True
        case c.GBin("$" | "|", _, _):
            return True
        case c.GParens((inner,)) if not isinstance(inner, c.GGiven):
            return is_app_group(inner)
    return False


def extend_app(fn: s.Expr, arg: s.Expr, extend: bool, span: Span) -> s.Expr:
    if extend and isinstance(fn, s.App):
        return s.App(fn.fn, fn.args + (arg,), fn.named, span=span)
    return s.App(fn, (arg,), span=span)


def call_args(args: c.GParens) -> tuple[tuple[s.Expr, ...], tuple[tuple[str, s.Expr], ...]]:
    pos: list[s.Expr] = []
    named: list[tuple[str, s.Expr]] = []
    for a in args.elems:
        match a:
            case c.GBin("=", c.GLeaf("name", name), value):
                named.append((name, expr(value)))
            case c.GGiven():
                raise err("unexpected `given` in an argument list", a.span)
            case _:
                pos.append(expr(a))
    return tuple(pos), tuple(named)


def _parenthesized_pipe(g: c.Group) -> bool:
    """`(a | b)` on the right of a `|`: applied as a whole (`x | (a | b)` is `(b a) x`),
    not given `x` as its first argument; 2021's sum type `(a|(b|c))` (dialect2021.py)."""
    return isinstance(g, c.GParens) and len(g.elems) == 1 and isinstance(g.elems[0], c.GBin) \
        and g.elems[0].op == "|"


def binary(g: c.GBin) -> s.Expr:
    op, lhs, rhs, span = g.op, g.lhs, g.rhs, g.span
    match op:
        case "$":
            return extend_app(expr(lhs), expr(rhs), is_app_group(lhs), span)
        case "|":
            fn = expr(rhs)
            if isinstance(fn, s.App) and is_app_group(rhs) and not _parenthesized_pipe(rhs):
                return s.App(fn.fn, (expr(lhs),) + fn.args, fn.named, span=span)
            return s.App(fn, (expr(lhs),), span=span)
        case "!":
            return s.RefSlice(expr(lhs), expr(rhs), span=span)
        case "@":
            return s.FromOrdinal(expr(lhs), expr(rhs), span=span)
        case "::" | ":":
            return s.Ann(expr(lhs), expr(rhs), span=span)
        case "=>":
            name, ix = dependent_binder(lhs)
            return s.TabPi(name, ix, expr(rhs), span=span)
        case ",>":
            return s.DepPair(expr(lhs), expr(rhs), span=span)
        case "&>":
            name, ty = dependent_binder(lhs)
            return s.DepPairTy(name, ty, expr(rhs), span=span)
        case "=":
            raise err("unexpected `=` (a binding is only allowed as a statement)", span)
    op_span = Span(span.source, lhs.span.stop, rhs.span.start)
    return s.App(s.Var(op, span=op_span), (expr(lhs), expr(rhs)), span=span)


def dependent_binder(g: c.Group) -> tuple[str | None, s.Expr]:
    """The left side of `=>`/`&>`: `(i:n)` names the binder, anything else is a type."""
    match g:
        case c.GParens((c.GBin(":", c.GLeaf("name" | "hole") as n, ty),)):
            return (n.text if n.kind == "name" else None), expr(ty)
        case c.GBin(":", c.GLeaf("name" | "hole") as n, ty):
            return (n.text if n.kind == "name" else None), expr(ty)
    return None, expr(g)


def prefix(op: str, arg: c.Group, span: Span) -> s.Expr:
    value = expr(arg)
    match op, value:
        case "-", s.NatLit(v):
            return s.IntLit(-v, span=span)
        case "+", s.NatLit(v):
            return s.IntLit(v, span=span)
        case "-", s.FloatLit(v, text):
            return s.FloatLit(-v, "-" + text, span=span)
        case "+", s.FloatLit():
            return value
        case "-", _:
            return s.App(s.Var("neg", span=span), (value,), span=span)
        case "+", _:
            return value
        case "..", _:
            return s.RangeSugar("..", value, span=span)
        case "..<", _:
            return s.RangeSugar("..<", value, span=span)
    raise err(f"unexpected prefix `{op}`", span)


def arrow(g: c.GArrow) -> s.Pi:
    match g.lhs:
        case c.GParens(elems):
            params = params_of(g.lhs, bare_is_type=True)
            if len(elems) == 1 and isinstance(elems[0], c.GParens):
                params = (s.Param(None, expr(elems[0]), span=elems[0].span),)
        case lhs:
            params = (s.Param(None, expr(lhs), span=lhs.span),)
    effs = effect_row(g.effects) if g.effects is not None else s.EffectRow(span=g.span)
    return s.Pi(params, effs, expr(g.rhs), g.implicit, span=g.span)


def with_type(lhs: c.Group, parens: c.GParens, span: Span) -> s.Expr:
    if len(parens.elems) != 1:
        raise err("`with` takes one binder", parens.span)
    name, ty = dependent_binder(parens)
    return s.DepPairTy(name, ty, expr(lhs), True, span=span)


def effect_row(g: c.GBraces) -> s.EffectRow:
    effs: list[s.Effect] = []
    tail: str | None = None
    for k, e in enumerate(g.elems):
        last = k == len(g.elems) - 1
        match e:
            case c.GBin("|", eff, c.GLeaf("name", name)) if last:
                effs.append(effect(eff))
                tail = name
            case c.GPrefix("|", c.GLeaf("name", name)) if last:
                tail = name
            case _:
                effs.append(effect(e))
    return s.EffectRow(tuple(effs), tail, span=g.span)


def effect(g: c.Group) -> s.Effect:
    match g:
        case c.GJux(c.GLeaf("name", kind), heap) if kind in EFFECT_KINDS:
            return s.Effect(kind, expr(heap), span=g.span)
        case c.GCall(c.GLeaf("name", kind), c.GParens((heap,))) if kind in EFFECT_KINDS:
            return s.Effect(kind, expr(heap), span=g.span)
        case c.GLeaf("name", "Except" | "IO" as kind):
            return s.Effect(kind, span=g.span)
    raise err("Unexpected effect form; expected one of `Read h`, `Accum h`, `State h`, "
              "`Except`, `IO`", g.span)


def decode_string(text: str) -> bytes:
    """Bytes of a quoted string/char literal with Haskell-style escapes."""
    body = text[1:-1]
    out = bytearray()
    k = 0
    while k < len(body):
        ch = body[k]
        if ch != "\\":
            out.extend(ch.encode("utf-8"))
            k += 1
            continue
        k += 1
        for name in ("NUL", "DEL", "ESC"):
            if body.startswith(name, k):
                out.append(ESCAPES[name])
                k += len(name)
                break
        else:
            if k < len(body) and body[k].isdigit():
                j = k
                while j < len(body) and body[j].isdigit():
                    j += 1
                out.append(int(body[k:j]) % 256)
                k = j
            elif k < len(body) and body[k] == "x":
                j = k + 1
                while j < len(body) and body[j] in "0123456789abcdefABCDEF":
                    j += 1
                out.append(int(body[k + 1:j] or "0", 16) % 256)
                k = j
            elif k < len(body):
                out.append(ESCAPES.get(body[k], ord(body[k]) % 256))
                k += 1
    return bytes(out)
