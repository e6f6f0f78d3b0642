"""Request bodies declared once: each declaration parses a JSON body into a typed value (an
InvalidRequest naming the first offending field otherwise) and describes it in JSON Schema (the
request schemas of docs/openapi.yaml are generated from it: scripts/openapi.py).

A body is an `Obj` of `Field`s, each of one kind: `Text`, `Date`, `Choice`, `Integer`,
`Boolean`, `Array` or a nested `Obj`. Unknown fields are refused. A kind with a `name` is one
entry of the document's components/schemas, referenced wherever it is used. Schemas may be
stricter than the code where JSON Schema cannot say exactly what it does (a stripped text's
length), never looser. Control characters and lone surrogates are refused before parsing, by
payloads.check_text (with the body's `free_text` paths).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Generic, TypeVar

from voicea2a.errors import InvalidRequest
from voicea2a.payloads import shown_field

T = TypeVar("T")
# The kinds are plain dataclasses (not frozen, no __eq__ or __repr__): each generated method costs
# cold start an exec, and declarations are module constants nobody compares or changes.
REF = "#/components/schemas/"
_DATE = r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


class InvalidField(InvalidRequest):
    """A field breaks a rule: the message names it; `path` and `rule` say it for other readers
    than an API caller (a playbook file names its JSON path)."""

    def __init__(self, message: str, path: str, rule: str) -> None:
        super().__init__(message)
        self.path = path
        self.rule = rule


def _fail(path: str, rule: str) -> InvalidField:
    """The error of the field at `path` breaking `rule`."""
    return InvalidField(f"Field '{shown_field(path)}' {rule}.", path, rule)


def _join(path: str, name: str) -> str:
    """The path of member `name` of the object at `path` ("" is the body)."""
    return f"{path}.{name}" if path else name


class Kind(ABC):
    """What a field holds: how it is read from JSON and described in JSON Schema."""

    # A components/schemas name: defined there once, referenced where used.
    name: str | None = None

    @abstractmethod
    def read(self, value: Any, path: str) -> Any:
        """The parsed value, None when it counts as absent; else InvalidRequest naming `path`."""

    @abstractmethod
    def definition(self) -> dict[str, Any]:
        """The JSON Schema of a value of this kind."""

    def schema(self) -> dict[str, Any]:
        """The JSON Schema where the kind is used: a reference when it is named."""
        return {"$ref": REF + self.name} if self.name else self.definition()

    def children(self, path: str) -> list[tuple[str, Kind]]:
        """The kinds inside this one, with their paths (`a.b`; `a[]` stands for every item)."""
        return []

    def dump(self, value: Any) -> Any:
        """A parsed value back as JSON (the body that parses into it)."""
        return value


def _text(value: Any, path: str, strip: bool) -> str:
    """`value` as a string, stripped when asked; else InvalidRequest."""
    if not isinstance(value, str):
        raise _fail(path, "must be a string")
    return value.strip() if strip else value


def _pattern(pattern: str, strip: bool, blank_is_absent: bool) -> str:
    """`pattern` (matched whole, as re.fullmatch does) as a JSON Schema (ECMA-262) pattern."""
    space = r"\s*" if strip else ""
    return f"^{space}(?:{pattern}){'?' if blank_is_absent else ''}{space}$"


@dataclass(kw_only=True, eq=False, repr=False)
class Text(Kind):
    """A string: its length bounds, then `printable` and `pattern` (else `rule`)."""

    max_length: int | None = None
    nonempty: bool = False  # an empty string (once stripped) is refused
    pattern: str | None = None  # Python and ECMA-262 alike; matched whole
    printable: bool = False  # str.isprintable: no control, format or separator but space
    rule: str = "must hold only printable characters"  # when `pattern` or `printable` fails
    strip: bool = False  # surrounding whitespace is removed first
    blank_is_absent: bool = False  # (stripped) an empty string counts as absent
    free_text: bool = False  # tabs and line breaks allowed (payloads.check_text)
    format: str | None = None  # a JSON Schema format the route checks itself (e.g. uri)
    name: str | None = None

    def read(self, value: Any, path: str) -> str | None:
        """The string, checked."""
        text = _text(value, path, self.strip or self.blank_is_absent)
        if not text and self.blank_is_absent:
            return None
        if not text and self.nonempty:
            raise _fail(path, "must not be empty")
        if self.max_length is not None and len(text) > self.max_length:
            raise _fail(path, f"must be at most {self.max_length} characters")
        if (self.printable and not text.isprintable()) or (
            self.pattern is not None and re.fullmatch(self.pattern, text) is None
        ):
            raise _fail(path, self.rule)
        return text

    def definition(self) -> dict[str, Any]:
        """type string, its lengths, pattern and format."""
        schema: dict[str, Any] = {"type": "string"}
        if self.nonempty:
            schema["minLength"] = 1
        if self.max_length is not None:
            schema["maxLength"] = self.max_length
        strip = self.strip or self.blank_is_absent
        if self.pattern is not None:
            schema["pattern"] = _pattern(self.pattern, strip, self.blank_is_absent)
        elif strip and self.nonempty:
            schema["pattern"] = r"\S"  # not blank
        if self.format is not None:
            schema["format"] = self.format
        return schema


@dataclass(kw_only=True, eq=False, repr=False)
class Date(Kind):
    """A real calendar date, YYYY-MM-DD (kept as that string: it goes on as JSON)."""

    blank_is_absent: bool = False  # (stripped) an empty string counts as absent
    name: str | None = None

    def read(self, value: Any, path: str) -> str | None:
        """The date, checked."""
        text = _text(value, path, strip=self.blank_is_absent)
        if not text and self.blank_is_absent:
            return None
        if re.fullmatch(_DATE, text):
            try:
                return dt.date.fromisoformat(text).isoformat()
            except ValueError:
                pass
        raise _fail(path, "must be a date YYYY-MM-DD")

    def definition(self) -> dict[str, Any]:
        """type string with the date's pattern (whether the day exists is the code's to say)."""
        pattern = _pattern(_DATE, self.blank_is_absent, self.blank_is_absent)
        return {"type": "string", "pattern": pattern}


@dataclass(kw_only=True, eq=False, repr=False)
class Choice(Kind):
    """One of a few strings."""

    values: tuple[str, ...]
    blank_is_absent: bool = False  # a string first: (stripped) an empty one counts as absent
    name: str | None = None

    def read(self, value: Any, path: str) -> str | None:
        """The value, if it is one of `values`."""
        if self.blank_is_absent:
            value = _text(value, path, strip=True)
            if not value:
                return None
        if not isinstance(value, str) or value not in self.values:
            raise _fail(path, f"must be one of {', '.join(self.values)}")
        return value

    def definition(self) -> dict[str, Any]:
        """type string with the enum."""
        return {"type": "string", "enum": list(self.values)}

    def schema(self) -> dict[str, Any]:
        """The enum, or an empty string when that counts as absent."""
        schema = super().schema()
        return {"oneOf": [schema, {"const": ""}]} if self.blank_is_absent else schema


@dataclass(kw_only=True, eq=False, repr=False)
class Integer(Kind):
    """A whole number within bounds (never a boolean, never 5.0)."""

    minimum: int
    maximum: int
    name: str | None = None

    def read(self, value: Any, path: str) -> int:
        """The number, in range."""
        if (
            isinstance(value, bool)
            or not isinstance(value, int)
            or not self.minimum <= value <= self.maximum
        ):
            raise _fail(path, f"must be an integer from {self.minimum} to {self.maximum}")
        return value

    def definition(self) -> dict[str, Any]:
        """type integer with its bounds."""
        return {"type": "integer", "minimum": self.minimum, "maximum": self.maximum}


@dataclass(kw_only=True, eq=False, repr=False)
class Boolean(Kind):
    """true or false."""

    name: str | None = None

    def read(self, value: Any, path: str) -> bool:
        """The boolean."""
        if not isinstance(value, bool):
            raise _fail(path, "must be true or false")
        return value

    def definition(self) -> dict[str, Any]:
        """type boolean."""
        return {"type": "boolean"}


@dataclass(kw_only=True, eq=False, repr=False)
class Scalar(Kind):
    """A JSON string, number or boolean (what a result field is compared with)."""

    name: str | None = None

    def read(self, value: Any, path: str) -> str | int | float | bool:
        """The value, if it is a scalar."""
        if not isinstance(value, str | int | float | bool):
            raise _fail(path, "must be a string, a number or true or false")
        return value

    def definition(self) -> dict[str, Any]:
        """type string, number or boolean."""
        return {"type": ["string", "number", "boolean"]}


@dataclass(kw_only=True, eq=False, repr=False)
class Array(Kind):
    """A list of items of one kind, at most `max_items` of them (a tuple once parsed)."""

    items: Kind
    max_items: int
    min_items: int = 0
    unique: bool = False  # a repeated item is dropped (the first one kept)
    name: str | None = None

    def read(self, value: Any, path: str) -> tuple[Any, ...]:
        """The items, each read in turn (`path[i]`)."""
        if not isinstance(value, list):
            raise _fail(path, "must be a list")
        if len(value) > self.max_items:
            raise _fail(path, f"must have at most {self.max_items} items")
        if len(value) < self.min_items:
            raise _fail(path, f"must have at least {self.min_items} item(s)")
        items = [self.items.read(item, f"{path}[{index}]") for index, item in enumerate(value)]
        return tuple(dict.fromkeys(items) if self.unique else items)

    def definition(self) -> dict[str, Any]:
        """type array with its item count bounds."""
        schema: dict[str, Any] = {"type": "array"}
        if self.min_items:
            schema["minItems"] = self.min_items
        schema["maxItems"] = self.max_items
        schema["items"] = self.items.schema()
        return schema

    def children(self, path: str) -> list[tuple[str, Kind]]:
        """The item kind, at `path[]`."""
        return [(f"{path}[]", self.items)]

    def dump(self, value: Any) -> list[Any]:
        """The items as a JSON array."""
        return [self.items.dump(item) for item in value]


@dataclass(kw_only=True, eq=False, repr=False)
class JsonObject(Kind):
    """Any JSON object, passed on as it is, within `max_keys` members and `max_chars` of JSON
    (the size is the code's to check: JSON Schema cannot say it)."""

    max_keys: int
    max_chars: int
    name: str | None = None

    def read(self, value: Any, path: str) -> dict[str, Any]:
        """The object, if small enough."""
        if not isinstance(value, dict):
            raise _fail(path, "must be an object")
        if len(value) > self.max_keys:
            raise _fail(path, f"must have at most {self.max_keys} members")
        if len(json.dumps(value, separators=(",", ":"))) > self.max_chars:
            raise _fail(path, f"must be at most {self.max_chars} characters of JSON")
        return value

    def definition(self) -> dict[str, Any]:
        """type object with its member count bound."""
        return {"type": "object", "maxProperties": self.max_keys}


@dataclass(kw_only=True, eq=False, repr=False)
class Either(Kind):
    """A short form or a full object of the same thing: `short` (a string) is read as
    `expand(value)`, an object by `full`."""

    short: Kind
    full: Obj[Any]
    expand: Callable[[Any], Any]
    rule: str
    name: str | None = None

    def read(self, value: Any, path: str) -> Any:
        """The value, read by the form its JSON type says."""
        if isinstance(value, dict):
            return self.full.read(value, path)
        if isinstance(value, str):
            return self.expand(self.short.read(value, path))
        raise _fail(path, self.rule)

    def definition(self) -> dict[str, Any]:
        """oneOf the two forms."""
        return {"oneOf": [self.short.schema(), self.full.schema()]}

    def children(self, path: str) -> list[tuple[str, Kind]]:
        """The full form, at the same path (its fields are this value's)."""
        return [(path, self.full)]

    def dump(self, value: Any) -> Any:
        """Always the full form."""
        return self.full.dump(value)


@dataclass(kw_only=True, eq=False, repr=False)
class Field:
    """One member of an object: its JSON name, its kind, and what its absence means."""

    name: str  # camelCase; the object's builder takes it in snake_case
    kind: Kind
    required: bool = False  # absent or null: "is required"
    nullable: bool = False  # null counts as absent (else null is a value of the wrong type)
    default: Any = None  # the value when absent
    description: str | None = None
    examples: tuple[Any, ...] = ()

    @property
    def attr(self) -> str:
        """The keyword the object's builder takes this field's value as."""
        return _CAMEL.sub("_", self.name).lower()

    def read(self, body: dict[str, Any], at: str) -> Any:
        """This field's value in `body` (the object at path `at`), or its default."""
        path = _join(at, self.name)
        value = body.get(self.name)
        if value is None:
            if self.required:
                raise _fail(path, "is required")
            if self.name not in body or self.nullable:
                return self.default
        parsed = self.kind.read(value, path)
        return self.default if parsed is None else parsed

    def schema(self) -> dict[str, Any]:
        """The property's JSON Schema."""
        schema = self.kind.schema()
        if self.nullable and not self.required:
            schema = _or_null(schema)
        if self.description is not None:
            schema["description"] = self.description
        if self.default not in (None, ()):  # an empty list is no default worth showing
            schema["default"] = self.kind.dump(self.default)
        if self.examples:
            schema["examples"] = list(self.examples)
        return schema


def _or_null(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema`, or null."""
    null = {"type": "null"}
    if "oneOf" in schema:
        return {**schema, "oneOf": [*schema["oneOf"], null]}
    if "$ref" in schema:
        return {"oneOf": [schema, null]}
    return {**schema, "type": [schema["type"], "null"]}


@dataclass(kw_only=True, eq=False, repr=False)
class Obj(Kind, Generic[T]):
    """A JSON object of known fields, built into a T (`build` takes the fields in snake_case)."""

    fields: tuple[Field, ...]
    build: Callable[..., T]
    name: str | None = None
    description: str | None = None
    # Fields of which exactly one must be given (absent and null count as not given).
    one_of: tuple[str, ...] = ()

    def parse(self, body: Any) -> T:
        """A request body as a T; else InvalidRequest naming the first offending field."""
        if not isinstance(body, dict):
            raise InvalidRequest("The request body must be a JSON object.")
        return self.read(body, "")

    def read(self, value: Any, path: str) -> T:
        """The object: unknown fields refused, then each field in declared order."""
        if not isinstance(value, dict):
            raise _fail(path, "must be an object")
        known = {field.name for field in self.fields}
        unknown = sorted(str(key) for key in value if key not in known)
        if unknown:
            where = _join(path, unknown[0])
            raise InvalidField(f"Unknown field '{shown_field(where)}'.", where, "is not known")
        if self.one_of and sum(value.get(name) is not None for name in self.one_of) != 1:
            names = " or ".join(f"'{shown_field(_join(path, name))}'" for name in self.one_of)
            raise InvalidField(
                f"Send exactly one of {names}.", path, f"needs exactly one of {names}"
            )
        return self.build(**{field.attr: field.read(value, path) for field in self.fields})

    def definition(self) -> dict[str, Any]:
        """type object, no other properties, the required ones and each property."""
        schema: dict[str, Any] = {"type": "object", "additionalProperties": False}
        required = [field.name for field in self.fields if field.required]
        if required:
            schema["required"] = required
        if self.description is not None:
            schema["description"] = self.description
        schema["properties"] = {field.name: field.schema() for field in self.fields}
        if self.one_of:
            schema["oneOf"] = [{"required": [name]} for name in self.one_of]
        return schema

    def children(self, path: str) -> list[tuple[str, Kind]]:
        """Each field's kind, at `path.name`."""
        return [(_join(path, field.name), field.kind) for field in self.fields]

    def dump(self, value: Any) -> dict[str, Any]:
        """The fields that are not their default, by JSON name."""
        found = ((field, getattr(value, field.attr)) for field in self.fields)
        return {field.name: field.kind.dump(item) for field, item in found if item != field.default}

    @cached_property
    def free_text(self) -> frozenset[str]:
        """The paths of the free-text fields, for read_json's `free_text`."""
        return frozenset(
            path for path, kind in walk(self) if isinstance(kind, Text) and kind.free_text
        )


def walk(kind: Kind, path: str = "") -> Iterator[tuple[str, Kind]]:
    """`kind` and every kind inside it, with their paths (`a.b`, `a[]`), outermost first."""
    stack = [(path, kind)]
    while stack:
        at, current = stack.pop()
        yield at, current
        stack.extend(reversed(current.children(at)))


def components(*bodies: Kind) -> dict[str, dict[str, Any]]:
    """The definitions of the named kinds in `bodies` (an OpenAPI document's
    components/schemas), in the order first met; ValueError if two differ under one name."""
    found: dict[str, dict[str, Any]] = {}
    for body in bodies:
        for _, kind in walk(body):
            if kind.name is None:
                continue
            definition = kind.definition()
            if found.setdefault(kind.name, definition) != definition:
                raise ValueError(f"Two different schemas are named {kind.name!r}.")
    return found
