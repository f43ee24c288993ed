"""The top-level environment seen by inference: what each source name means."""
from __future__ import annotations

from collections.abc import Callable, Mapping

from dataclasses import dataclass, field

from ..core import ir
from ..core.ir import Expr
from ..names import Name


@dataclass(frozen=True)
class LocalB:
    name: Name
    ty: Expr


@dataclass(frozen=True)
class AliasB:
    """A pattern variable: a name for a projection path of an already-bound value,
    so that types mentioning it stay equal to types mentioning the path."""

    term: Expr
    ty: Expr


@dataclass(frozen=True)
class TopB:
    """A top-level value or function; its Core definition is in `TopEnv.defs`."""

    name: Name
    ty: Expr


@dataclass(frozen=True)
class ConB:
    data: ir.DataDef
    index: int


@dataclass(frozen=True)
class TyConB:
    data: ir.DataDef


@dataclass(frozen=True)
class ClassB:
    cls: ir.ClassDef


@dataclass(frozen=True)
class FailedB:
    """A top-level name whose definition failed: it stays taken (as upstream), so a
    redefinition is an error, but it has no value."""


Binding = LocalB | AliasB | TopB | ConB | TyConB | ClassB | FailedB


def names_taken(scope: Callable[[], Mapping[str, Binding]]) -> Callable[[str], bool]:
    """The names a printed type's binders must avoid (dexpy.core.pretty.in_scope):
    those bound in the scope `scope()` returns when asked (inference replaces its
    scope as it enters binders), a failed definition's excepted (upstream has no
    binding)."""
    def taken(name: str) -> bool:
        b = scope().get(name)
        return b is not None and not isinstance(b, FailedB)
    return taken


@dataclass
class TopEnv:
    """Everything defined at top level so far (prelude, imports, earlier blocks)."""

    scope: dict[str, Binding] = field(default_factory=dict)
    defs: dict[Name, Expr] = field(default_factory=dict)
    aliases: set[Name] = field(default_factory=set)          # type-level defs unfolded by whnf
    instances: dict[str, list[ir.InstanceDef]] = field(default_factory=dict)
    classes: dict[str, ir.ClassDef] = field(default_factory=dict)
    ambiguous: dict[str, tuple[str, ...]] = field(default_factory=dict)  # name -> where it is defined
    method_names: set[str] = field(default_factory=set)   # methods of every interface
    # f -> (its custom-linearization rule, symbolic?, the rule's type) (infer/customlin.py)
    custom_lins: dict[Name, tuple[Expr, bool, Expr]] = field(default_factory=dict)
    # evaluated top-level integers -> their literals (infer/topconst.py)
    constants: dict[Name, Expr] = field(default_factory=dict)
    # `@noinline` defs: applied through a specialization cache (dexpy/simplify/spec.py)
    noinline: set[Name] = field(default_factory=set)

    def data_named(self, name: str) -> ir.DataDef | None:
        b = self.scope.get(name)
        return b.data if isinstance(b, TyConB) else None

    def instances_of(self, cls: ir.ClassDef) -> list[ir.InstanceDef]:
        return self.instances.setdefault(cls.name, [])
