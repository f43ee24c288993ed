"""The simplifier: Core -> Simp, by evaluating Core over a static/dynamic value domain
(docs/architecture.md). One package, used as `from dexpy.simplify import Simplifier`:

- `simplifier.py`: the evaluator (`Simplifier`, `Builder`) and its static values
  (`Dyn`, `SProd`, `SCon`, `SClosure`, `SType`, `SDict`, `STab`, `SChoice`, ...);
- `prims.py` (+ `io_rules.py`): the rule table, one rule per Core primitive;
- `box.py`: run-time-sized tables (when to box, conversions);
- `defun.py`: functions as run-time data (defunctionalization);
- `spec.py`: `@noinline` specializations;
- `lin_rules.py`: the `%linearize` rule and custom linearization rules, the
  simplifier's side of AD.

The dependency between the simplifier and AD (`dexpy.ad`) is one-way: the rules here
call AD, which works on Simp only and emits through the builder it is given
(`dexpy.simp.build` holds what both need: literals and zeros)."""
from .simplifier import (COMPARE, SCALARS, Builder, Dyn, SBoolW8, SChoice, SClosure, SCon,
                         SCustomLin, SDict, SProd, STab, SType, SVal, Simplifier)

__all__ = ["COMPARE", "SCALARS", "Builder", "Dyn", "SBoolW8", "SChoice", "SClosure", "SCon",
           "SCustomLin", "SDict", "SProd", "STab", "SType", "SVal", "Simplifier"]
