"""Unique names. Every binder in Core/Simp/Imp is a `Name(hint, uid)` from a `NameSupply`."""
from __future__ import annotations

from dataclasses import dataclass, field

from .fastpickle import fast_pickling


@dataclass(frozen=True, slots=True, order=True)
class Name:
    hint: str
    uid: int

    def __str__(self) -> str:
        return self.hint if self.uid == 0 else f"{self.hint}#{self.uid}"


@dataclass(slots=True)
class NameSupply:
    """Hands out fresh names; one per compilation session (no module-level counters)."""

    next_uid: int = field(default=1)

    def fresh(self, hint: str = "v") -> Name:
        uid = self.next_uid
        self.next_uid += 1
        return Name(hint, uid)


fast_pickling(globals(), __name__)     # names fill every pickled IR and environment
