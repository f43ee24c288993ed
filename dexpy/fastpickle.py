"""Faster pickling of frozen slots dataclasses (IR nodes).

The `__getstate__`/`__setstate__` that `dataclass(slots=True)` generates call
`dataclasses.fields` for every object pickled or restored; for IR trees of
thousands of nodes (the cached prelude's 22k Core terms, the Simp function
hashed for the LLVM IR cache) that lookup is most of the time. `fast_pickling`
gives every slots dataclass of a module methods over its field names, computed
once. The state format (a list of field values in order) is unchanged.
"""
from __future__ import annotations

from dataclasses import fields, is_dataclass


def fast_pickling(namespace: dict[str, object], module: str) -> None:
    """Installs the fast methods on every slots dataclass defined in `module`
    (`namespace` is that module's `globals()`)."""
    for cls in list(namespace.values()):
        if isinstance(cls, type) and is_dataclass(cls) and "__slots__" in cls.__dict__ \
                and cls.__module__ == module:
            _install(cls)


def _install(cls: type) -> None:
    names = tuple(f.name for f in fields(cls))
    set_field = object.__setattr__

    def getstate(self: object) -> list[object]:
        return [getattr(self, n) for n in names]

    def setstate(self: object, state: list[object]) -> None:
        for n, v in zip(names, state):
            set_field(self, n, v)
    cls.__getstate__ = getstate         # type: ignore[attr-defined]
    cls.__setstate__ = setstate         # type: ignore[attr-defined]
