"""2021 records and variants, read as data types (docs/dialects.md, "Records and variants").

2021 Dex had row-typed records `{a:Int & b:Float}` / `{a=1, b=2.0}` and variants
`{a:Int | b:Float}` / `{| a=3 |}`. dexpy reads each record or variant *shape* (its
labels, sorted stably: `{b=1, a=2, a=3}` has the shape `a, a, b`, as 2021 ordered
fields) as one data type of the shared Core, declared on first use:

- a record shape is a data type with one constructor, one field per label, each
  field's type a parameter: `{a:Int & b:Float}` is `{a&b} Int Float`;
- a variant shape is a data type with one constructor per label (in the same
  order), each taking the parameter of its label: `{a:Int | b:Float}` is
  `{|a|b|} Int Float`.

So record and variant values are ordinary data values to inference,
simplification, AD and code generation; only printing knows the labels
(`dexpy/printer_records.py`). What needs the type of its subject is resolved
in inference (`dexpy/infer/records.py`): a variant value `{| a=3 |}` is checked
against a known variant type, a variant pattern in `case` takes the scrutinee's
type, and a record pattern with `...` the type of what it unpacks.

Not read: row variables (`{a:Int & ...r}`, `{...x, a=1}`), first-class labels
(`##a`, `{@l=x}`), `#a` isomorphisms; they are syntax errors naming the form.
"""
from __future__ import annotations

from dataclasses import dataclass

from lark import Token, Tree

from ..errors import SyntaxErr
from ..source import Span
from . import concrete as c
from . import surface as S

REC_PREFIX = "{"          # data names: `{a&b}` (record), `{|a|b|}` (variant)
CON_KEY = "\0="           # scope key of a shape's constructor(s): "\0=" + name [+ "#k"]
PARTIAL_CON = "\0?"       # a record pattern with `...`: "\0?" + labels, resolved by type
VARIANT_CON = "\0|"       # a variant pattern: "\0|" + label + "#" + occurrence
TAIL_CON = "\0|..."       # a variant tail pattern `{|a| ...r |}`: TAIL_CON + skipped labels


def record_name(labels: list[str]) -> str:
    return "{" + "&".join(labels) + "}" if labels else "{&}"


def variant_name(labels: list[str]) -> str:
    return "{|" + "|".join(labels) + "|}"


def shape_of(name: str) -> tuple[str, list[str]] | None:
    """("record" | "variant", labels) of a shape's data name, else None."""
    if name.startswith("{|") and name.endswith("|}"):
        inner = name[2:-2]
        return "variant", inner.split("|") if inner else []
    if name.startswith("{") and name.endswith("}"):
        inner = name[1:-1]
        return "record", [] if inner in ("", "&") else inner.split("&")
    return None


def sort_fields(fields: list[tuple[str, object]]) -> list[tuple[str, object]]:
    """Fields in 2021's order: by label, the fields of one label in written order."""
    return sorted(fields, key=lambda f: f[0])


# === groups: the parsed braces ===

@dataclass(frozen=True, slots=True)
class GRecord(c.G):
    """A 2021 record/variant form in braces. kind: "rectype" | "record" | "vartype"
    | "variant"; fields: (label, group) pairs (a pun has group None; label "..."
    is a `...rest` part, its group None for a bare `...`); occ: for "variant", how
    many alternatives of the same label come before it (`{| a | a = 3 |}`: 1)."""

    kind: str
    fields: tuple[tuple[str, c.Group | None], ...]
    occ: int = 0


def braces_group(conv: c.Converter, tree: Tree | None, span: Span) -> GRecord | None:
    """The record/variant form in the brace group `tree` (a plist), or None when the
    braces are something else (an effect row `{State h}`, `{|eff}`, 2021 binders)."""
    if tree is None:
        return None
    elems: list[list[c._Item]] = []
    for pel in tree.children:
        if pel is None or isinstance(pel, Token):
            continue
        if pel.data == "named_elem":
            lhs, eq, rhs = pel.children
            elems.append(_items(conv, lhs) + [c._Op("=", conv.span_tok(eq))] + _items(conv, rhs))
        elif pel.data == "seq":
            elems.append(_items(conv, pel))
        else:
            return None
    if not elems or not all(elems):
        return None
    form = _form(elems, span)
    commas = [t for t in tree.children if isinstance(t, Token) and t.type == "COMMA"]
    if form is not None and form.kind in ("rectype", "vartype") and commas:
        raise c.parse_error_at(conv.span_tok(commas[0]), _UNEXPECTED_COMMA)
    return form


def _items(conv: c.Converter, seq: Tree) -> list[c._Item]:
    out: list[c._Item] = []
    for x in seq.children:
        it = conv.item(x)
        prev = out[-2] if len(out) >= 2 else None
        if isinstance(it, c._Op) and it.text in ("&...", "|..."):   # `{&...f}`, `{|...r}`
            out += [c._Op(it.text[0], it.span), c._Op("...", it.span)]
        elif isinstance(it, c.GLeaf) and it.kind == "name" and out and _is_op(out[-1], "@") \
                and (prev is None or (isinstance(prev, c._Op) and prev.text in ("&", "|"))):
            at = out.pop()                  # `@l`: the label that variable l holds
            out.append(c.GLeaf("name", "@" + it.text, span=at.span.join(it.span)))
        else:
            out.append(it)
    return out


def _is_op(item: c._Item, text: str) -> bool:
    return isinstance(item, c._Op) and item.text == text


def _assignment(items: list[c._Item]) -> tuple[str, list[c._Item]] | None:
    """`label = value...` as (label, the value's items); `x=-x` lexes `=-` as one
    operator: its tail is the value's prefix operator."""
    if len(items) < 2 or _label(items[:1], True) is None or not isinstance(items[1], c._Op):
        return None
    op = items[1]
    if op.text == "=" and len(items) >= 3:
        return items[0].text, items[2:]       # type: ignore[union-attr]
    if op.text.startswith("=") and len(op.text) > 1 and len(items) >= 3:
        return items[0].text, [c._Op(op.text[1:], op.span)] + items[2:]   # type: ignore[union-attr]
    return None


def _split(items: list[c._Item], sep: str) -> list[list[c._Item]]:
    parts: list[list[c._Item]] = [[]]
    for it in items:
        if _is_op(it, sep):
            parts.append([])
        else:
            parts[-1].append(it)
    return parts


def _label(items: list[c._Item], upper: bool = False) -> str | None:
    """A field label; `upper`: also a capitalized one (`{R=r, V}`), where the braces
    are known to be a record (a lone `{IO}` is an effect row)."""
    if len(items) == 1 and isinstance(items[0], c.GLeaf) and items[0].kind == "name" \
            and (upper or items[0].text.lstrip("@")[:1].islower()):
        return items[0].text
    return None


def _span(items: list[c._Item], default: Span) -> Span:
    spans = [it.span for it in items]
    if not spans:
        return default
    out = spans[0]
    for s in spans[1:]:
        out = out.join(s)
    return out


def _unsupported(what: str, span: Span) -> SyntaxErr:
    return SyntaxErr(f"2021 {what} are not supported by dexpy (docs/dialects.md)", span)


def _rest(items: list[c._Item], span: Span) -> tuple[str, c.Group | None] | None:
    """`...x` / `..._` / `...` as a ("...", group) field."""
    if items and isinstance(items[0], c._Op) and items[0].text == "..." and len(items) <= 2:
        rest = items[1:]
        return "...", (c.resolve(rest) if rest else None)
    return None


def _form(elems: list[list[c._Item]], span: Span) -> GRecord | None:
    first = elems[0]
    if len(elems) == 1 and _is_op(first[0], "|") and len(first) > 1 \
            and _label(first[1:2]) is None and not _is_op(first[1], "...") \
            and not _is_op(first[1], "|"):         # `{|3}`
        raise c.parse_error_at(first[1].span, f"unexpected '{_text(first[1])}'\n"
                               + 'expecting "...", ' + "'}', or field label")
    # variants: `{| a | a = 3 |}`, `{|}`, `{|a| ...rest |}`
    if len(elems) == 1 and _is_op(first[0], "|") and (len(first) == 1 or _is_op(first[-1], "|")):
        if len(first) == 1:
            return GRecord("vartype", (), span=span)
        return _variant(first[1:-1], span)
    if len(elems) == 1 and _is_op(first[0], "|") and len(first) == 3 \
            and _is_op(first[1], "...") and isinstance(first[2], c.GLeaf):
        return _typed("vartype", "|", first[1:], span)     # `{|...rest}`
    if len(elems) == 1 and _is_op(first[0], "&") and len(first) > 1:
        return _typed("rectype", "&", first[1:], span)     # `{&...f}`
    if any(any(isinstance(it, c._Op) and it.text.startswith("=") and not it.text.startswith("=>")
               for it in e) for e in elems) \
            or (all(_label(e) is not None or _rest(e, span) is not None for e in elems)
                and (any(_label(e) is not None for e in elems) or len(elems) > 1)) \
            or (all(_label(e, True) is not None or _rest(e, span) is not None for e in elems)
                and any(_label(e) is not None for e in elems)):     # `{R, V, dt}`
        return _record(elems, span)
    if len(elems) == 1 and any(_is_op(it, "&") for it in first):
        return _typed("rectype", "&", first, span)
    if len(elems) == 1 and _is_op(first[0], "...") and len(first) == 2:
        return _typed("rectype", "&", first, span)        # `{...f}`
    if len(elems) == 1 and any(_is_op(it, ":") for it in first) \
            and any(_is_op(it, "|") for it in first):
        return _typed("vartype", "|", first, span)
    if len(elems) == 1 and len(first) >= 3 and _label(first[:1]) is not None \
            and _is_op(first[1], ":"):
        return _typed("rectype", "&", first, span)      # `{a:Int}`
    return None


def _text(item: c._Item) -> str:
    if isinstance(item, (c._Op, c.GLeaf)):
        return item.text
    src = item.span.source
    return src.text[item.span.start] if src is not None else "?"


def _typed(kind: str, sep: str, items: list[c._Item], span: Span) -> GRecord:
    wrong = next((it for it in items if _is_op(it, "|")), None)
    if wrong is not None and kind == "rectype":      # `{a:Int & b:Float | c:Int}`
        raise c.parse_error_at(wrong.span, f"unexpected '|'\nexpecting {_TYPE_EXPECTING}")
    parts = _split(items, sep)
    if parts and not parts[-1]:         # `{a:Int & b:Float &}`, `{&}`
        parts = parts[:-1]
    if parts == [[]]:
        parts = []
    fields: list[tuple[str, c.Group | None]] = []
    for p in parts:
        r = _rest(p, span)
        if r is not None:           # `...rest`: a row variable (only in a template def)
            if not (isinstance(r[1], c.GLeaf) and r[1].kind in ("name", "hole")):
                raise SyntaxErr("expected a row variable after `...`", _span(p, span))
            fields.append(r)
            continue
        if len(p) >= 3 and _label(p[:1], True) is not None and _is_op(p[1], ":"):
            fields.append((_label(p[:1], True), c.resolve(p[2:])))   # type: ignore[arg-type]
        elif p and _is_op(p[0], "@"):
            raise _unsupported("first-class labels (`@l`)", _span(p, span))
        else:
            what = "record" if kind == "rectype" else "variant"
            raise SyntaxErr(f"expected a field `label:type` of a {what} type", _span(p, span))
    return GRecord(kind, tuple(fields), span=span)


def _record(elems: list[list[c._Item]], span: Span) -> GRecord:
    fields: list[tuple[str, c.Group | None]] = []
    for e in elems:
        r = _rest(e, span)
        if r is not None:
            fields.append(r)
            continue
        name = _label(e, True)
        if name is not None:            # a pun `{foo, bar}`
            fields.append((name, None))
            continue
        if (asg := _assignment(e)) is not None:
            fields.append((asg[0], c.resolve(asg[1])))
            continue
        if e and _is_op(e[0], "@"):
            raise _unsupported("first-class labels (`@l`)", _span(e, span))
        raise SyntaxErr("expected a field `label = value` of a record", _span(e, span))
    return GRecord("record", tuple(fields), span=span)


def _variant(items: list[c._Item], span: Span) -> GRecord:
    """`a | a = 3` (the items between `{|` and `|}`)."""
    parts = _split(items, "|")
    skipped, last = parts[:-1], parts[-1]
    labels = []
    for p in skipped:
        name = _label(p, True)
        if name is None:
            raise SyntaxErr("expected a variant label", _span(p, span))
        labels.append(name)
    rest = _rest(last, span)
    if rest is not None:            # `{|a|a| ...rest |}`: the alternatives not skipped
        return GRecord("vartail", tuple((l, None) for l in labels) + (rest,), span=span)
    asg = _assignment(last)
    if asg is None:
        raise SyntaxErr("expected `label = value` in a variant", _span(last, span))
    name, value = asg
    return GRecord("variant", ((name, c.resolve(value)),), occ=labels.count(name), span=span)


def con_binders(gs: tuple[c.Group, ...]) -> tuple[c.Group, ...]:
    """Binder groups with a constructor name followed by a record (`\\Q{x, y}.`, which
    binders read as two groups) joined into one constructor pattern."""
    out: list[c.Group] = []
    for g in gs:
        prev = out[-1] if out else None
        if isinstance(g, GRecord) and isinstance(prev, c.GLeaf) and prev.kind == "name" \
                and prev.text[:1].isupper():
            out[-1] = c.GJux(prev, g, span=prev.span.join(g.span))
        else:
            out.append(g)
    return tuple(out)


# === surface AST ===

@dataclass(frozen=True, slots=True)
class VariantLit(S.Node):
    """`{| label = value |}` (the `occ`-th alternative of that label): its variant
    type comes from where it is checked (dexpy/infer/records.py)."""

    label: str
    occ: int
    value: S.Expr


@dataclass(frozen=True, slots=True)
class RecordLit(S.Node):
    """`{a = 1, b = 2}`: the values of the fields of the record shape `name`, in its
    label order (checked field by field against a known record type)."""

    name: str
    values: tuple[S.Expr, ...]


def to_expr(g: GRecord, expr) -> S.Expr:     # noqa: ANN001 -- abstract.expr
    if g.kind == "variant":
        label, value = g.fields[0]
        return VariantLit(label, g.occ, expr(value), span=g.span)
    if g.kind == "vartail":             # `{| a | ...v |}`: v with an `a` alternative before
        rest = g.fields[-1][1]
        if rest is None or (isinstance(rest, c.GLeaf) and rest.kind == "hole"):
            raise SyntaxErr("expected the variant value to extend after `...`", g.span)
        return VariantExt(tuple(l for l, _ in g.fields[:-1]), expr(rest), span=g.span)
    if g.kind in ("rectype", "vartype") and any(label == "..." or label.startswith("@")
                                                for label, _ in g.fields):
        return RowType("record" if g.kind == "rectype" else "variant",
                       tuple((l, expr(t)) for l, t in g.fields if l != "..."),
                       tuple(t.text for l, t in g.fields if l == "..."), span=g.span)
    if g.kind == "record" and any(label.startswith("@") for label, _ in g.fields):
        if any(label == "..." for label, _ in g.fields):
            raise _unsupported("record extensions with first-class labels", g.span)
        return RecordDyn(tuple(l for l, _ in g.fields),
                         tuple(expr(grp) for _, grp in g.fields), span=g.span)
    if g.kind == "record" and any(label == "..." for label, _ in g.fields):
        if any(label == "..." and grp is None for label, grp in g.fields):
            raise SyntaxErr("expected the record value to extend after `...`", g.span)
        return RecordExt(tuple((None if l == "..." else l,
                                S.Var(l, span=g.span) if grp is None else expr(grp))
                               for l, grp in g.fields), span=g.span)
    fields = sort_fields([(label, S.Var(label, span=g.span) if grp is None else expr(grp))
                          for label, grp in g.fields])
    labels = [f for f, _ in fields]
    if g.kind == "record":
        return RecordLit(record_name(labels), tuple(v for _, v in fields), span=g.span)
    name = record_name(labels) if g.kind == "rectype" else variant_name(labels)
    return _apply("\0" + name, [v for _, v in fields], g.span)


@dataclass(frozen=True, slots=True)
class RecordDyn(S.Node):
    """`{@l=1, y=2}`: a record with labels held by variables (`@l`), written order."""

    labels: tuple[str, ...]
    values: tuple[S.Expr, ...]


@dataclass(frozen=True, slots=True)
class LabelLit(S.Node):
    """`##a`: the first-class label `a`."""

    label: str


@dataclass(frozen=True, slots=True)
class RecordExt(S.Node):
    """`{a=3, ...x, ...y}`: fields and records whose fields it takes (label None), in
    written order; the record has all their fields, sorted stably by label."""

    parts: tuple[tuple[str | None, S.Expr], ...]


@dataclass(frozen=True, slots=True)
class VariantExt(S.Node):
    """`{| a | ...v |}`: the variant value v, in a type with alternatives `skipped`
    added before v's own of the same labels."""

    skipped: tuple[str, ...]
    value: S.Expr


@dataclass(frozen=True, slots=True)
class RowType(S.Node):
    """A record/variant type with row variables (`{foo:a & ...rest}`): only in the
    signature of a row-polymorphic def, which is a template instantiated at each use
    (dexpy/infer/records.py)."""

    kind: str                                   # "record" | "variant"
    fields: tuple[tuple[str, S.Expr], ...]      # written fields, in written order
    rows: tuple[str, ...]                       # the row variables (`_`: anonymous)


def _apply(fn: str, args: list[S.Expr], span: Span) -> S.Expr:
    head = S.Var(fn, span=span)
    return S.App(head, tuple(args), span=span) if args else head


def to_pattern(g: GRecord, pattern) -> S.Pat:     # noqa: ANN001 -- abstract.pattern
    if g.kind == "variant":
        label, sub = g.fields[0]
        return S.PCon(f"{VARIANT_CON}{label}#{g.occ}", (pattern(sub),), span=g.span)
    if g.kind == "vartail":
        skipped = [label for label, _ in g.fields[:-1]]
        rest = g.fields[-1][1]
        sub = S.PHole(span=g.span) if rest is None else pattern(rest)
        return S.PCon(TAIL_CON + ",".join(skipped), (sub,), span=g.span)
    if g.kind != "record":
        raise SyntaxErr("unexpected type in a pattern", g.span)
    partial = False
    fields = []
    for label, grp in g.fields:
        if label == "...":
            if grp is not None and not (isinstance(grp, c.GLeaf) and grp.kind == "hole"):
                raise _unsupported("record rest patterns (`{a=x, ...rest}`)", g.span)
            partial = True
            continue
        fields.append((label, S.PVar(label, span=g.span) if grp is None else pattern(grp)))
    partial = partial or any(f.startswith("@") for f, _ in fields)
    fields = sort_fields(fields)
    labels = [f for f, _ in fields]
    pats = tuple(p for _, p in fields)
    if partial:
        return S.PCon(PARTIAL_CON + ",".join(labels), pats, span=g.span)
    return S.PCon(CON_KEY + record_name(labels), pats, span=g.span)


def implicit_value(d: S.Def) -> S.Def:
    """A 2021 top-level `def` with implicit but no explicit parameters (`def abToPair
    {a b} : Iso {a:a & b:b} (b&a) =`) is a polymorphic value: used, it is applied to
    its implicit arguments (today's `->>`), as the suite's record isomorphisms need."""
    if d.implicit_app or not d.params or any(p.expl == S.Expl.EXPLICIT for p in d.params):
        return d
    import dataclasses
    return dataclasses.replace(d, implicit_app=True)


# === 2021 `Ix` instances (the suite writes them for record and variant types) ===

def ix_instance(decl: object) -> object:
    """A 2021 `instance ... Ix T` with its methods as today's `Ix` has them: 2021's
    `getSize : Unit -> Int`, `ordinal : n -> Int` and `unsafeFromOrdinal : Int -> n`
    become `size'`, `ordinal` and `unsafe_from_ordinal` of `Nat`s."""
    if not (isinstance(decl, S.InstanceDecl) and decl.class_name == "Ix"):
        return decl
    import dataclasses
    methods = []
    for m in decl.methods:
        name = m.pat.name if isinstance(m, S.Let) and isinstance(m.pat, S.PVar) else None
        if name in _IX_METHODS and m.ann is None:
            new, wrap = _IX_METHODS[name]
            m = dataclasses.replace(m, pat=S.PVar(new, span=m.pat.span), rhs=wrap(m.rhs, m.span))
        methods.append(m)
    return dataclasses.replace(decl, methods=tuple(methods))


def _call(fn: S.Expr, args: tuple[S.Expr, ...], span: Span) -> S.Expr:
    return S.App(fn, args, span=span)


def _lam(param: str | None, body: S.Expr, span: Span) -> S.Expr:
    params = (S.Param(param, None, span=span),) if param else ()
    return S.CurriedLam(params, S.Block((), body, span=span), span=span)


def _get_size(e: S.Expr, span: Span) -> S.Expr:
    return _lam(None, _call(S.Var("unsafe_i_to_n", span=span), (_call(e, (), span),), span), span)


def _ordinal(e: S.Expr, span: Span) -> S.Expr:
    x = S.Var("_ix_x", span=span)
    return _lam("_ix_x", _call(S.Var("unsafe_i_to_n", span=span), (_call(e, (x,), span),), span),
                span)


def _from_ordinal(e: S.Expr, span: Span) -> S.Expr:
    k = S.Var("_ix_k", span=span)
    return _lam("_ix_k", _call(e, (_call(S.Var("n_to_i", span=span), (k,), span),), span), span)


_IX_METHODS = {"getSize": ("size'", _get_size), "ordinal": ("ordinal", _ordinal),
               "unsafeFromOrdinal": ("unsafe_from_ordinal", _from_ordinal)}


# === upstream's parse errors (megaparsec's words) for malformed record types ===

_TYPE_EXPECTING = ('"..", "..<", "<..", "<..<", "=>", "{|", ' + "'$', '&', '.', ':', "
                   "'}', arrow, backquoted name, expression, or infix operator")
_UNEXPECTED_COMMA = ("unexpected ','\nexpecting " + '"..", "..<", "<..", "<..<", "=>", "{|", '
                     + "'$', '&', ''', '.', ':', '?', '_', '|', '}', alphanumeric "
                     "character, arrow, backquoted name, expression, or infix operator")


# === `#a` (a record field's lens) and `#?a` (a variant alternative's prism) ===
# `#` starts a comment in today's lexer; in a 2021 block the text is rewritten
# character for character before parsing (spans stay): `#a` -> `%a`, `#?a` -> `%_a`,
# and the zippers `#&a` -> `%0a`, `#|a` -> `%1a`, read back from those
# primitive-like tokens by `lens_leaf`.

def labels_text(text: str) -> str:
    """`text` with 2021's `#a` / `#?a` / `#&a` / `#|a` outside strings and comments as
    `%a` / `%_a` / `%0a` / `%1a`."""
    if "#" not in text:
        return text
    out = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append(text[i:j + 1])
            i = j + 1
        elif text.startswith("--", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(text[i:j])
            i = j
        elif ch == "#" and i + 1 < n and (text[i + 1].isalpha() or
                                          (text[i + 1] in "?&|#" and i + 2 < n
                                           and text[i + 2].isalpha())):
            mark = text[i + 1]
            out.append({"?": "%_", "&": "%0", "|": "%1", "#": "%2"}.get(mark, "%"))
            i += 1 if mark.isalpha() else 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


@dataclass(frozen=True, slots=True)
class LensLit(S.Node):
    """`#a` (kind "lens": `Iso {a:t & ...r} (t & {&...r})`) or `#?a` (kind "prism":
    `Iso {a:t | ...r} (t | {|...r})`), built once the record/variant type is known
    (dexpy/infer/records.py)."""

    kind: str
    label: str


def lens_leaf(g: c.GLeaf) -> S.Node | None:
    """The `#a` / `#?a` that `labels_text` rewrote to the leaf `g`, or None."""
    if g.kind != "prim":
        return None
    src = g.span.source
    if src is None or src.text[g.span.start:g.span.start + 1] != "#":
        return None
    kinds = {"%_": "prism", "%0": "rzip", "%1": "vzip"}
    if g.text[:2] == "%2":
        return LabelLit(g.text[2:], span=g.span)      # `##a`
    if g.text[:2] in kinds:
        return LensLit(kinds[g.text[:2]], g.text[2:], span=g.span)
    return LensLit("lens", g.text[1:], span=g.span)
