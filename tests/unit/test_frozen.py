"""`voicea2a.frozen`: classes behave as `dataclass(frozen=True)` builds them, shape by shape,
checked against the standard library side by side."""

from __future__ import annotations

import ast
import dataclasses
import math
from collections.abc import Callable
from dataclasses import FrozenInstanceError, dataclass, field
from pathlib import Path

import pytest

from voicea2a.frozen import frozen

NAN = math.nan


def plain() -> dict:
    return {"__annotations__": {"a": "int", "b": "str"}, "b": "x"}


def hidden_and_uncompared() -> dict:
    return {
        "__annotations__": {"a": "int", "secret": "str", "seen": "float", "tags": "tuple"},
        "secret": field(default="s", repr=False),
        "seen": field(default=0.0, compare=False),
        "tags": field(default_factory=tuple),
    }


def hash_chosen() -> dict:
    return {
        "__annotations__": {"a": "int", "b": "str", "c": "int"},
        "b": field(default="x", hash=False),
        "c": field(default=0, compare=False, hash=True),
    }


SHAPES = {"plain": plain, "hidden and uncompared": hidden_and_uncompared, "hash": hash_chosen}
VALUES = [(1,), (1, "x"), (2, "x"), (1, "y"), (NAN,)]


def pair(shape: Callable[[], dict], **options) -> tuple[type, type]:
    """The same class body built by the standard library and by `frozen`."""
    standard = dataclass(frozen=True, **options)(type("Shape", (), shape()))
    ours = frozen(**options)(type("Shape", (), shape()))
    return standard, ours


@pytest.mark.parametrize("shape", list(SHAPES))
@pytest.mark.parametrize("kw_only", [False, True])
def test_a_class_behaves_as_the_standard_librarys(shape, kw_only):
    standard, ours = pair(SHAPES[shape], kw_only=kw_only)

    def build(cls: type, values: tuple) -> object:
        names = [f.name for f in dataclasses.fields(cls)]
        return cls(**dict(zip(names, values, strict=False)))

    assert [f.name for f in dataclasses.fields(ours)] == [
        f.name for f in dataclasses.fields(standard)
    ]
    nan = float("nan")  # one object: a field holding it is equal to itself, as in a tuple
    samples = [*VALUES, (nan,)]
    for left in samples:
        for right in samples:
            s_left, s_right = build(standard, left), build(standard, right)
            o_left, o_right = build(ours, left), build(ours, right)
            assert repr(o_left) == repr(s_left)
            assert (o_left == o_right) == (s_left == s_right), (left, right)
            assert (o_left != o_right) == (s_left != s_right), (left, right)
            assert hash(o_left) == hash(s_left)
        instance = build(ours, left)
        assert instance == instance
        assert instance.__eq__(build(standard, left)) is NotImplemented  # another class
        assert instance != (left, "x")
        assert dataclasses.replace(instance, a=5) == build(ours, (5, *left[1:]))
        for frozen_instance in (instance, build(standard, left)):
            with pytest.raises(FrozenInstanceError):
                frozen_instance.a = 3
            with pytest.raises(FrozenInstanceError):
                del frozen_instance.a
            with pytest.raises(FrozenInstanceError):
                frozen_instance.new = 1


def test_without_eq_instances_compare_and_hash_by_identity_as_the_standard_librarys():
    standard, ours = pair(plain, eq=False)
    first, second = ours(1), ours(1)

    assert first != second and first == first
    assert hash(first) == object.__hash__(first)
    assert standard.__hash__ is ours.__hash__ is object.__hash__
    assert repr(first) == repr(standard(1)) == "Shape(a=1, b='x')"
    with pytest.raises(FrozenInstanceError):
        first.a = 2


def test_what_a_class_defines_itself_is_kept():
    def body() -> dict:
        return {
            "__annotations__": {"a": "int"},
            "__repr__": lambda self: "mine",
            "__eq__": lambda self, other: True,
        }

    standard, ours = pair(body)

    assert repr(ours(1)) == repr(standard(1)) == "mine"
    assert (ours(1) == ours(2)) and (standard(1) == standard(2))
    # A class that defines __eq__ alone gets the fields' hash, as dataclass gives it.
    assert hash(ours(1)) == hash(standard(1)) == hash((1,))

    def hashed() -> dict:
        return {"__annotations__": {"a": "int"}, "__hash__": lambda self: 7}

    standard, ours = pair(hashed)
    assert hash(ours(1)) == hash(standard(1)) == 7


def test_a_record_that_contains_itself_is_shown_as_the_standard_librarys():
    def body() -> dict:
        return {"__annotations__": {"items": "list"}}

    standard, ours = pair(body)
    mine, theirs = ours([]), standard([])
    mine.items.append(mine)
    theirs.items.append(theirs)

    assert repr(mine) == repr(theirs) == "Shape(items=[...])"


def test_a_subclass_compares_its_own_fields():
    @frozen
    class Base:
        a: int

    @frozen
    class Child(Base):
        b: int = 0

    assert Child(1, 2) != Child(1, 3)
    assert Child(1, 2) != Base(1) and Base(1) != Child(1, 2)
    assert repr(Child(1, 2)) == "test_a_subclass_compares_its_own_fields.<locals>.Child(a=1, b=2)"
    assert hash(Child(1, 2)) == hash((1, 2))


def test_the_function_apps_frozen_classes_are_built_by_frozen():
    # What a new instance imports at its cold start; the devhost and the sample agents are other
    # programs and keep the standard decorator.
    root = Path(__file__).resolve().parents[2]
    sources = [root / "function_app.py", root / "bindings.py"]
    for package in ("voicea2a", "api", "activities", "orchestrations", "jobs"):
        sources += sorted((root / package).rglob("*.py"))
    standard = []
    for path in sources:
        if path.name == "frozen.py":
            continue  # the decorator itself
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and ast.unparse(node.func).endswith("dataclass"):
                options = {k.arg: ast.unparse(k.value) for k in node.keywords}
                if options.get("frozen") == "True":
                    standard.append(f"{path.relative_to(root)}:{node.lineno}")
    assert len(sources) > 60
    assert standard == []
