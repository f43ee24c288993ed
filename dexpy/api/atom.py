"""`Atom`: a Dex value as upstream Dex's Python API returned it.

An Atom is a value of a module (or of the prelude, for `dexpy.eval`) together
with its Dex type: `str(atom)` is the text `:p` prints, `int`, `float` and
`bool` convert scalars, `atom.value` is the Python value `dexpy.loads` would
give, and numpy reads it (`np.asarray(atom)`). A function Atom is called with
Atoms or Python values and returns an Atom; `atom.compile()` is its native
callable (`Function`) on numpy arrays, shapes inferred at each call.

    import dexpy
    dexpy.eval("[2, 3, 4]")                     # prints as [2, 3, 4]
    f = dexpy.eval(r"\\x:Float. 1.0 / (1.0 + exp(-x))").compile()
    f(0.5)                                      # 0.622...
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..backend.values import TopValue, top_value_from_python
from ..core import ir as C
from ..simp import ir as S
from .values import present

if TYPE_CHECKING:
    from . import Module
    from .call import Function


class Atom:
    """A Dex value (or function) with its type, printed as Dex prints it."""

    __slots__ = ("_module", "_value", "_cty", "_function", "name", "_origin", "__weakref__")

    def __init__(self, value: int | float) -> None:
        """An Atom of a Python number: `int` is `Int32` (`Int64` beyond its range),
        `float` is `Float32`, as upstream."""
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer,
                                                                          np.floating)):
            raise ValueError(f"Can't convert a {type(value).__name__} to a Dex Atom "
                             "(dexpy.Atom takes an int or a float)")
        if isinstance(value, (float, np.floating)):
            sty, cty = S.BaseTy(S.Scalar.F32), C.BaseTy("Float32")
        elif -2**31 <= int(value) < 2**31:
            sty, cty = S.BaseTy(S.Scalar.I32), C.BaseTy("Int32")
        elif -2**63 <= int(value) < 2**63:
            sty, cty = S.BaseTy(S.Scalar.I64), C.BaseTy("Int64")
        else:
            raise ValueError(f"{value} is out of range for Dex Int64")
        from . import prelude_module
        self._module = prelude_module()
        self._value = top_value_from_python(sty, value)
        self._cty = cty
        self._function = None
        self.name = None
        self._origin: Any = ("number", value)

    @classmethod
    def _of_value(cls, module: Module, value: TopValue, cty: C.Expr, name: str | None = None
                  ) -> Atom:
        self = object.__new__(cls)
        self._module, self._value, self._cty, self._function = module, value, cty, None
        self.name = name
        self._origin = None
        return self

    @classmethod
    def _of_function(cls, module: Module, fn: Function, name: str | None = None) -> Atom:
        self = object.__new__(cls)
        self._module, self._value, self._cty, self._function = module, None, None, fn
        self.name = name
        self._origin = None
        return self

    # --- reading it ---

    @property
    def module(self) -> Module:
        return self._module

    @property
    def type(self) -> str:
        """Its Dex type, as `:t` prints it."""
        if self._function is not None:
            return self._function.type
        from ..core.pretty import pp_type
        from ..infer.unify import normalize
        return pp_type(normalize(self._cty, self._module._session.env))

    @property
    def value(self) -> Any:
        """The Python value (as `dexpy.loads` modules give: numbers, numpy arrays, tuples,
        records, constructors; a `Function` for a function)."""
        if self._function is not None:
            return self._function
        return present(self._module._session.env, self._value, self._cty, readonly=True)

    def __str__(self) -> str:
        if self._function is not None:
            return f"<function of type {self._function.type}>"
        from ..printer import format_value
        return format_value(self._module._session.env, self._cty, self._value.to_python())

    __repr__ = __str__

    def _leaf_type(self) -> str | None:
        """The Dex scalar type of a (table of) scalars Atom, else None."""
        if self._function is not None:
            return None
        from ..infer.unify import whnf
        env = self._module._session.env
        t = whnf(self._cty, env)
        while isinstance(t, C.TabPi):
            t = whnf(t.body, env)
        return t.name if isinstance(t, C.BaseTy) else None

    def _scalar(self) -> Any:
        if self._function is None and isinstance(self._value.ty, S.BaseTy):
            return self._value.leaves[0][()].item()
        raise TypeError(f"Atom is not a scalar value (its type is {self.type})")

    def __int__(self) -> int:
        return int(self._scalar())

    def __index__(self) -> int:
        x = self._scalar()
        if not isinstance(x, int):
            raise TypeError(f"a {self.type} Atom is not an integer")
        return x

    def __float__(self) -> float:
        return float(self._scalar())

    def __bool__(self) -> bool:
        v = self.value
        if isinstance(v, (bool, int, float)):
            return bool(v)
        raise TypeError(f"the truth value of a {self.type} Atom is ambiguous")

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return np.asarray(self.value, dtype=dtype)

    def __eq__(self, other: object) -> Any:
        if isinstance(other, Atom):
            return str(self) == str(other) and self.type == other.type
        return self.value == other

    def __hash__(self) -> int:
        return hash(str(self))

    def __reduce__(self) -> Any:
        """An Atom pickles as its module (by recipe) and its name or expression."""
        from .pickling import reduce_atom
        return reduce_atom(self)

    def __dask_tokenize__(self) -> str:
        from .pickling import atom_token
        return atom_token(self)

    # --- functions ---

    def __call__(self, *args: Any) -> Atom:
        """Applies a function Atom to Atoms or Python values; the result is an Atom."""
        fn = self._function
        if fn is None:
            raise TypeError(f"a {self.type} Atom is not a function")
        value, cty = fn.call_value(*args)
        return Atom._of_value(fn._module, value, cty)

    def compile(self, calling_convention: str = "flat") -> Function:
        """The native callable of a function Atom: call it with numpy arrays and Python
        scalars; implicit sizes come from the arrays' shapes (a specialization is compiled
        per signature and cached). Results are numpy arrays, Python scalars or tuples."""
        if calling_convention != "flat":
            raise ValueError(f"dexpy supports the 'flat' calling convention only, "
                             f"got {calling_convention!r}")
        if self._function is None:
            raise TypeError(f"only function Atoms compile; this one has type {self.type}")
        return self._function
