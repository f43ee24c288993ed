"""The Imp IR verifier.

`check_imp` checks an `ImpFunction` against the invariants of
`dexpy.imp.ir`: single assignment, scoping (a variable is visible in the rest
of its block and in nested blocks), the types of every expression and
statement (offsets and loop counts are I64, stores match their pointer's
element type, conditions are integers, stack allocations have literal
sizes). Failures are `CompilerBug`s.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import CompilerBug
from ..names import Name
from ..simp.ir import Scalar
from . import ir as i
from .ir import IAtom, ILit, IType, IVar, PtrTy

I64 = Scalar.I64


def _bug(msg: str) -> CompilerBug:
    return CompilerBug(f"Imp check: {msg}")


@dataclass
class _Checker:
    scope: dict[Name, IType] = field(default_factory=dict)
    seen: set[Name] = field(default_factory=set)

    def define(self, v: IVar) -> None:
        if v.name in self.seen:
            raise _bug(f"{v.name} assigned twice")
        self.seen.add(v.name)
        self.scope[v.name] = v.ty

    def atom(self, a: IAtom) -> IType:
        match a:
            case IVar(name, ty):
                if name not in self.scope:
                    raise _bug(f"{name} used out of scope")
                if self.scope[name] != ty:
                    raise _bug(f"{name} used at {ty}, defined at {self.scope[name]}")
                return ty
            case ILit(value, scalar):
                if isinstance(value, float) and not scalar.is_float:
                    raise _bug(f"float literal of type {scalar}")
                return scalar
        raise _bug(f"not an atom: {a!r}")

    def int_atom(self, a: IAtom, what: str) -> None:
        ty = self.atom(a)
        if isinstance(ty, PtrTy) or ty.is_float or ty == Scalar.PTR:
            raise _bug(f"{what} must be an integer, got {ty}")

    def i64(self, a: IAtom, what: str) -> None:
        if self.atom(a) != I64:
            raise _bug(f"{what} must be I64, got {self.atom(a)}")

    def ptr(self, a: IAtom) -> PtrTy:
        ty = self.atom(a)
        if not isinstance(ty, PtrTy):
            raise _bug(f"expected a typed pointer, got {ty}")
        return ty

    def block(self, b: i.IBlock) -> None:
        saved = dict(self.scope)
        for stmt in b.stmts:
            self.stmt(stmt)
        self.scope = saved

    def expr(self, e: i.IExpr) -> None:
        match e:
            case i.IPrim(_, args):
                tys = [self.atom(a) for a in args]
                if any(t != tys[0] or isinstance(t, PtrTy) for t in tys):
                    raise _bug(f"primitive on mixed or pointer types {tys}")
            case i.ICast(_, x, _):
                if isinstance(self.atom(x), PtrTy):
                    raise _bug("cast of a typed pointer")
            case i.ISelect(cond, a, b):
                self.int_atom(cond, "select condition")
                if self.atom(a) != self.atom(b):
                    raise _bug("select branches differ in type")
            case i.Load(ptr, offset):
                self.ptr(ptr)
                self.i64(offset, "load offset")
            case i.PtrAdd(ptr, offset):
                self.ptr(ptr)
                self.i64(offset, "pointer offset")
            case i.PtrCast(x, _):
                ty = self.atom(x)
                if not (isinstance(ty, PtrTy) or ty == Scalar.PTR):
                    raise _bug(f"pointer cast of {ty}")
            case i.ConstArray(scalar, values):
                if not values or isinstance(scalar, PtrTy) or scalar == Scalar.PTR:
                    raise _bug(f"constant array of {len(values)} {scalar}")
            case IVar() | ILit():
                self.atom(e)
            case _:
                raise _bug(f"unknown expression {e!r}")

    def stmt(self, s: i.Stmt) -> None:
        match s:
            case i.Assign(dest, expr):
                self.expr(expr)
                if dest.ty != i.expr_type(expr):
                    raise _bug(f"{dest.name}: {dest.ty} := {i.expr_type(expr)}")
                self.define(dest)
            case i.Store(ptr, offset, value):
                if self.ptr(ptr).elem != _as_scalar(self.atom(value)):
                    raise _bug(f"store of {self.atom(value)} through {self.atom(ptr)}")
                self.i64(offset, "store offset")
            case i.Alloc(dest, scalar, count, kind):
                self.i64(count, "allocation size")
                if dest.ty != PtrTy(scalar):
                    raise _bug(f"allocation {dest.name} typed {dest.ty}")
                if kind == i.AllocKind.STACK and not isinstance(count, ILit):
                    raise _bug("stack allocation of a dynamic size")
                self.define(dest)
            case i.Loop(iv, count, body, _):
                self.i64(count, "loop count")
                if iv.ty != I64:
                    raise _bug("loop index must be I64")
                saved = dict(self.scope)
                self.define(iv)
                for acc in s.accums:
                    self.i64(acc.offset, "accumulator offset")
                    self.i64(acc.count, "accumulator size")
                    if self.ptr(acc.shared) != acc.private.ty:
                        raise _bug("accumulator private pointer type")
                    self.define(acc.private)
                self.block(body)
                self.scope = saved
            case i.If(cond, then, orelse):
                self.int_atom(cond, "if condition")
                self.block(then)
                self.block(orelse)
            case i.Switch(x, cases):
                self.int_atom(x, "switch scrutinee")
                if not cases:
                    raise _bug("switch without cases")
                for c in cases:
                    self.block(c)
            case i.DoWhile(body, cond):
                saved = dict(self.scope)
                for stmt in body.stmts:
                    self.stmt(stmt)
                self.int_atom(cond, "while condition")
                self.scope = saved
            case i.Try(body, on_throw):
                self.block(body)
                self.block(on_throw)
            case i.Throw() | i.Fail():
                pass
            case i.ArenaAlloc(dest, arena, nbytes):
                if self.ptr(arena) != PtrTy(Scalar.PTR):
                    raise _bug("arena must be a pointer to the arena head")
                self.i64(nbytes, "arena allocation size")
                if dest.ty != Scalar.PTR:
                    raise _bug(f"arena allocation {dest.name} typed {dest.ty}")
                self.define(dest)
            case i.CallC(dests, _, args):
                for a in args:
                    _as_scalar(self.atom(a))
                for d in dests:
                    _as_scalar(d.ty)
                    self.define(d)
            case i.CallStmt(call):
                for a in call.args:
                    self.atom(a)
                if call.fn == i.RtFn.PREFETCH and not (
                        len(call.args) == 2 and isinstance(i.itype_of(call.args[0]), PtrTy)
                        and i.itype_of(call.args[1]) == Scalar.I64):
                    raise _bug(f"prefetch of {call.args!r}: wants a pointer and an I64")
            case _:
                raise _bug(f"unknown statement {s!r}")


def _as_scalar(ty: IType) -> Scalar:
    return Scalar.PTR if isinstance(ty, PtrTy) else ty


def check_imp(fn: i.ImpFunction) -> None:
    """Checks `fn`; raises CompilerBug on the first broken invariant."""
    c = _Checker()
    for p in fn.params:
        c.define(p)
    c.block(fn.body)
