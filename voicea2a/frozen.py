"""`@frozen`: a frozen dataclass whose `__repr__`, `__eq__` and `__hash__` are shared functions.

Python 3.11 compiles every method `dataclass` generates, for every class, when the module is
imported: for the app's frozen classes that was about a third of its own import, which every
new instance pays before it serves (bench/README.md, "Cold start as deployed"). These shared
functions read the field names listed once per class and behave as the generated methods do:
the same repr text, equality only between instances of the same class, the same hash.
Immutability is unchanged: `dataclass(frozen=True)` still builds `__init__`, `__setattr__` and
`__delattr__`. The Function App's frozen classes use it (tests/unit/test_frozen.py); the devhost
and the sample agents are other programs and keep the standard decorator.
"""

from __future__ import annotations

import dataclasses
import reprlib
from collections.abc import Callable
from typing import Any, TypeVar, cast, dataclass_transform, overload

C = TypeVar("C", bound=type)


@overload
def frozen(cls: C, /) -> C: ...


@overload
def frozen(*, eq: bool = True, kw_only: bool = False) -> Callable[[C], C]: ...


@dataclass_transform(frozen_default=True, field_specifiers=(dataclasses.field,))
def frozen(cls: C | None = None, /, *, eq: bool = True, kw_only: bool = False) -> Any:
    """`@dataclass(frozen=True, eq=eq, kw_only=kw_only)`, with the shared methods."""

    def build(cls: C) -> C:
        own = cls.__dict__
        # As dataclass decides: a class that defines __eq__ alone has no hash of its own.
        own_hash = "__hash__" in own and not (own["__hash__"] is None and "__eq__" in own)
        built: Any = dataclasses.dataclass(cls, frozen=True, eq=False, repr=False, kw_only=kw_only)
        fields = dataclasses.fields(built)
        built.__frozen_repr__ = tuple(f.name for f in fields if f.repr)
        if "__repr__" not in own:
            built.__repr__ = _repr
        if eq:
            built.__frozen_compare__ = tuple(f.name for f in fields if f.compare)
            built.__frozen_hash__ = tuple(
                f.name for f in fields if (f.compare if f.hash is None else f.hash)
            )
            if "__eq__" not in own:
                built.__eq__ = _eq
            if not own_hash:
                built.__hash__ = _hash
        return cast(C, built)

    return build if cls is None else build(cls)


@reprlib.recursive_repr()
def _repr(self: Any) -> str:
    names = type(self).__frozen_repr__
    shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in names)
    return f"{type(self).__qualname__}({shown})"


def _eq(self: Any, other: Any) -> bool:
    if other.__class__ is not self.__class__:
        return NotImplemented
    names = type(self).__frozen_compare__
    # Tuples, as the generated method compares: an element is equal to itself first.
    return tuple(getattr(self, n) for n in names) == tuple(getattr(other, n) for n in names)


def _hash(self: Any) -> int:
    return hash(tuple(getattr(self, name) for name in type(self).__frozen_hash__))
