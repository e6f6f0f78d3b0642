"""ASP.NET-style route templates and a router, matched the way the Azure Functions host does."""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar
from urllib.parse import unquote

Constraint = Callable[[str], bool]

_PARAMETER_NAME = re.compile(r"[^\s{}/:?=*]+")
_CONSTRAINT_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_INTEGER = re.compile(r"[+-]?[0-9]+")
# .NET's int.TryParse / Guid.TryParse / bool.TryParse ignore this surrounding whitespace.
_NET_WHITESPACE = " \t\n\v\f\r"
_GUID_D = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_GUID = re.compile(rf"[0-9a-f]{{32}}|{_GUID_D}|\{{{_GUID_D}\}}|\({_GUID_D}\)", re.IGNORECASE)
_ALPHA = re.compile(r"[A-Za-z]*")
_INT32 = (-(2**31), 2**31 - 1)
_INT64 = (-(2**63), 2**63 - 1)


class RoutingError(Exception):
    """Base class for the errors a Router raises when it cannot dispatch a request."""


class RouteNotFound(RoutingError):
    """No route template matches the request path."""

    def __init__(self, method: str, path: str) -> None:
        super().__init__(f"no route matches {method} {path!r}")
        self.method = method
        self.path = path


class MethodNotAllowed(RoutingError):
    """A route template matches the path, but none of the matching routes allows the method."""

    def __init__(self, allowed: list[str]) -> None:
        super().__init__(f"method not allowed; allowed: {', '.join(allowed)}")
        self.allowed = allowed


def _parse_integer(value: str, bounds: tuple[int, int]) -> int | None:
    """Parse value like .NET's int/long.TryParse with invariant culture; None if it does not."""
    text = value.strip(_NET_WHITESPACE)
    if not _INTEGER.fullmatch(text):
        return None
    number = int(text)
    return number if bounds[0] <= number <= bounds[1] else None


def _is_int(value: str) -> bool:
    """Whether value is a 32-bit integer."""
    return _parse_integer(value, _INT32) is not None


def _is_long(value: str) -> bool:
    """Whether value is a 64-bit integer."""
    return _parse_integer(value, _INT64) is not None


def _is_bool(value: str) -> bool:
    """Whether value is 'true' or 'false', in any case."""
    return value.strip(_NET_WHITESPACE).lower() in ("true", "false")


def _is_guid(value: str) -> bool:
    """Whether value is a GUID in the N, D, B or P format."""
    return _GUID.fullmatch(value.strip(_NET_WHITESPACE)) is not None


def _is_alpha(value: str) -> bool:
    """Whether value consists of ASCII letters only."""
    return _ALPHA.fullmatch(value) is not None


_SIMPLE_CONSTRAINTS: dict[str, Constraint] = {
    "int": _is_int,
    "long": _is_long,
    "bool": _is_bool,
    "guid": _is_guid,
    "alpha": _is_alpha,
}


def _integer_arguments(name: str, arguments: str | None, counts: tuple[int, ...]) -> list[int]:
    """Parse a constraint's comma-separated integer arguments, checking how many there are."""
    parts = [] if arguments is None else [part.strip() for part in arguments.split(",")]
    if len(parts) not in counts or not all(_INTEGER.fullmatch(part) for part in parts):
        wanted = " or ".join(str(count) for count in counts)
        raise ValueError(
            f"route constraint '{name}' needs {wanted} integer argument(s), got ({arguments or ''})"
        )
    return [int(part) for part in parts]


def _value_in_range(low: int | None, high: int | None) -> Constraint:
    """A constraint: value is a 64-bit integer within [low, high] (None = unbounded)."""

    def check(value: str) -> bool:
        number = _parse_integer(value, _INT64)
        if number is None:
            return False
        return (low is None or number >= low) and (high is None or number <= high)

    return check


def _length_in_range(low: int, high: int | None) -> Constraint:
    """A constraint: value's length is within [low, high] (None = unbounded)."""
    return lambda value: len(value) >= low and (high is None or len(value) <= high)


def _build_constraint(name: str, arguments: str | None) -> Constraint:
    """Build the check for one inline constraint such as int or range(1,10)."""
    key = name.lower()  # ASP.NET looks constraint names up case-insensitively
    if key in _SIMPLE_CONSTRAINTS:
        if arguments is not None:
            raise ValueError(f"route constraint '{name}' takes no arguments")
        return _SIMPLE_CONSTRAINTS[key]
    if key == "regex":
        if not arguments:
            raise ValueError("route constraint 'regex' needs a pattern, as in regex(^[a-z]+$)")
        try:
            pattern = re.compile(arguments, re.IGNORECASE)
        except re.error as error:
            raise ValueError(f"route constraint regex({arguments}) is invalid: {error}") from None
        # Like ASP.NET: unanchored search; templates anchor with ^ and $ themselves.
        return lambda value: pattern.search(value) is not None
    if key in ("minlength", "maxlength", "min", "max"):
        (number,) = _integer_arguments(name, arguments, (1,))
        if key == "minlength":
            if number < 0:
                raise ValueError(f"route constraint minlength({number}) must not be negative")
            return _length_in_range(number, None)
        if key == "maxlength":
            if number < 0:
                raise ValueError(f"route constraint maxlength({number}) must not be negative")
            return _length_in_range(0, number)
        return _value_in_range(number, None) if key == "min" else _value_in_range(None, number)
    if key == "length":
        numbers = _integer_arguments(name, arguments, (1, 2))
        low, high = (numbers[0], numbers[0]) if len(numbers) == 1 else numbers
        if low < 0 or high < low:
            raise ValueError(f"route constraint length({arguments}) has an invalid range")
        return _length_in_range(low, high)
    if key == "range":
        low, high = _integer_arguments(name, arguments, (2,))
        if high < low:
            raise ValueError(f"route constraint range({arguments}) has min greater than max")
        return _value_in_range(low, high)
    raise ValueError(f"unknown route constraint '{name}'")


@dataclass(frozen=True)
class _Literal:
    """A literal template segment."""

    text: str


@dataclass(frozen=True)
class _Parameter:
    """A parameter template segment: {name}, {name?}, {name=default}, {*name}, with constraints."""

    name: str
    constraints: tuple[Constraint, ...]
    optional: bool
    default: str | None
    catch_all: bool

    def accepts(self, value: str) -> bool:
        """Whether the decoded value satisfies every constraint."""
        return all(check(value) for check in self.constraints)


def _find_closing_parenthesis(body: str, start: int) -> int:
    """Index of the ')' that closes a constraint's arguments, or -1 if there is none."""
    # A regex may contain ')' itself, so only one followed by a parameter delimiter closes.
    for index in range(start, len(body)):
        if body[index] == ")" and (index + 1 == len(body) or body[index + 1] in ":?="):
            return index
    return -1


def _parse_parameter(body: str) -> _Parameter:
    """Parse the text between a parameter's braces."""
    position = 0
    catch_all = body.startswith("*")
    if catch_all:
        position = 2 if body.startswith("**") else 1
    name_match = _PARAMETER_NAME.match(body, position)
    if name_match is None:
        raise ValueError(f"parameter {{{body}}} has no valid name")
    name = name_match.group()
    position = name_match.end()

    constraints: list[Constraint] = []
    while position < len(body) and body[position] == ":":
        constraint_match = _CONSTRAINT_NAME.match(body, position + 1)
        if constraint_match is None:
            raise ValueError(f"parameter {{{body}}} has an empty or invalid constraint name")
        position = constraint_match.end()
        arguments = None
        if position < len(body) and body[position] == "(":
            closing = _find_closing_parenthesis(body, position + 1)
            if closing < 0:
                raise ValueError(f"parameter {{{body}}} has an unclosed '(' in a constraint")
            arguments = body[position + 1 : closing]
            position = closing + 1
        constraints.append(_build_constraint(constraint_match.group(), arguments))

    optional = False
    default = None
    if position < len(body) and body[position] == "?":
        optional = True
        position += 1
    elif position < len(body) and body[position] == "=":
        default = body[position + 1 :]
        position = len(body)
        if default.endswith("?"):
            raise ValueError(f"parameter {{{body}}} is optional and has a default value")
    if position != len(body):
        raise ValueError(f"parameter {{{body}}} is malformed near {body[position:]!r}")
    if catch_all and optional:
        raise ValueError(f"catch-all parameter {{{body}}} cannot be marked optional")
    return _Parameter(name, tuple(constraints), optional, default, catch_all)


def _scan_brace_text(template: str, index: int, stop: str) -> tuple[str, int]:
    """Read text up to an unescaped char in stop, unescaping '{{' and '}}'; return (text, end)."""
    chars: list[str] = []
    while index < len(template) and template[index] not in stop:
        char = template[index]
        if char in "{}":
            if template.startswith(char * 2, index):
                chars.append(char)
                index += 2
                continue
            return "".join(chars), index
        chars.append(char)
        index += 1
    return "".join(chars), index


def _split_template(template: str) -> list[_Literal | _Parameter]:
    """Split a template into literal and parameter segments."""
    text = template.strip("/")
    segments: list[_Literal | _Parameter] = []
    index = 0
    while text:
        if text.startswith("{", index) and not text.startswith("{{", index):
            body, end = _scan_brace_text(text, index + 1, "")
            if end >= len(text) or text[end] != "}":
                problem = "a nested '{'" if end < len(text) else "no closing '}'"
                raise ValueError(f"unbalanced braces: parameter at offset {index} has {problem}")
            segments.append(_parse_parameter(body))
            end += 1
            if end < len(text) and text[end] != "/":
                raise ValueError(
                    "a parameter must fill its whole segment (complex segments like "
                    "'{a}.{b}' are not supported)"
                )
        else:
            literal, end = _scan_brace_text(text, index, "/")
            if end < len(text) and text[end] != "/":
                if text[end] == "}":
                    raise ValueError(f"unbalanced braces: '}}' at offset {end} closes nothing")
                raise ValueError(
                    "a parameter must fill its whole segment (complex segments like "
                    "'file.{ext}' are not supported)"
                )
            if not literal:
                raise ValueError("empty segment: '/' cannot appear twice in a row")
            if "?" in literal:
                raise ValueError(f"literal segment {literal!r} cannot contain '?'")
            segments.append(_Literal(literal))
        if end >= len(text):
            return segments
        index = end + 1
    return segments


def _validate(segments: list[_Literal | _Parameter]) -> None:
    """Check the rules that span segments: unique names, catch-all last, optionals trailing."""
    seen: set[str] = set()
    optional_seen: str | None = None
    for position, segment in enumerate(segments):
        if isinstance(segment, _Literal):
            if optional_seen is not None:
                raise ValueError(
                    f"optional parameter '{optional_seen}' must not precede "
                    f"required segment '{segment.text}'"
                )
            continue
        key = segment.name.lower()  # ASP.NET compares parameter names case-insensitively
        if key in seen:
            raise ValueError(f"parameter name '{segment.name}' appears more than once")
        seen.add(key)
        if segment.catch_all:
            if position != len(segments) - 1:
                raise ValueError(f"catch-all parameter '{segment.name}' must be the last segment")
        elif segment.optional or segment.default is not None:
            optional_seen = optional_seen or segment.name
        elif optional_seen is not None:
            raise ValueError(
                f"optional parameter '{optional_seen}' must not precede "
                f"required parameter '{segment.name}'"
            )


def _split_path(path: str) -> list[str]:
    """Split a request path (no prefix, no query string) into raw segments."""
    trimmed = path.strip("/")
    return trimmed.split("/") if trimmed else []


class RouteTemplate:
    """A parsed route template such as 'messages/{instanceId}' or 'files/{*rest}'."""

    def __init__(self, template: str) -> None:
        """Parse template; raise ValueError naming it if it is malformed."""
        try:
            segments = _split_template(template)
            _validate(segments)
        except ValueError as error:
            raise ValueError(f"invalid route template {template!r}: {error}") from None
        self.template = template
        self._segments = segments
        parameters = [s for s in segments if isinstance(s, _Parameter)]
        self.parameter_names: tuple[str, ...] = tuple(p.name for p in parameters)
        self.literal_count = len(segments) - len(parameters)
        self.constrained_count = sum(1 for p in parameters if p.constraints)
        self.optional_count = sum(
            1 for p in parameters if p.optional or (p.default is not None and not p.catch_all)
        )
        self.has_catch_all = any(p.catch_all for p in parameters)

    def __repr__(self) -> str:
        return f"RouteTemplate({self.template!r})"

    @property
    def precedence(self) -> tuple[bool, int, int, int]:
        """Sort key: lower sorts first (literals, then constrained, required; catch-all last)."""
        return (
            self.has_catch_all,
            -self.literal_count,
            -self.constrained_count,
            self.optional_count,
        )

    def match(self, path: str) -> dict[str, str] | None:
        """Return the decoded parameter values if path matches, else None."""
        parts = _split_path(path)
        values: dict[str, str] = {}
        for position, segment in enumerate(self._segments):
            if isinstance(segment, _Parameter) and segment.catch_all:
                value = unquote("/".join(parts[position:]))
                if not value and segment.default is not None:
                    value = segment.default
                elif value and not segment.accepts(value):
                    return None
                values[segment.name] = value
                return values
            if position >= len(parts):
                if isinstance(segment, _Parameter) and segment.default is not None:
                    values[segment.name] = segment.default
                    continue
                if isinstance(segment, _Parameter) and segment.optional:
                    continue
                return None
            raw = parts[position]
            if isinstance(segment, _Literal):
                if unquote(raw).casefold() != segment.text.casefold():
                    return None
                continue
            if not raw:
                return None
            value = unquote(raw)
            if not segment.accepts(value):
                return None
            values[segment.name] = value
        return values if len(parts) <= len(self._segments) else None


Target = TypeVar("Target")


@dataclass(frozen=True)
class Route(Generic[Target]):
    """One registered route: its template, allowed methods (None = all) and target."""

    template: RouteTemplate
    methods: frozenset[str] | None
    target: Target

    def allows(self, method: str) -> bool:
        """Whether this route accepts the HTTP method."""
        return self.methods is None or method.upper() in self.methods


class Router(Generic[Target]):
    """Routes ordered by ASP.NET-like precedence, resolved by path and then by method."""

    def __init__(self) -> None:
        """Create an empty router."""
        self._routes: list[Route[Target]] = []

    @property
    def routes(self) -> list[Route[Target]]:
        """The registered routes in precedence order."""
        return list(self._routes)

    def add(self, template: str, methods: Iterable[str] | None, target: Target) -> Route[Target]:
        """Register target for template and methods (None or empty = every method)."""
        if isinstance(methods, str):
            methods = (methods,)
        method_set = frozenset(m.upper() for m in methods) if methods is not None else None
        route = Route(RouteTemplate(template), method_set or None, target)
        # insort_right keeps registration order among routes of equal precedence.
        bisect.insort_right(self._routes, route, key=lambda r: r.template.precedence)
        return route

    def resolve(self, method: str, path: str) -> tuple[Target, dict[str, str]]:
        """Return (target, parameters) for the request; raise RouteNotFound or MethodNotAllowed."""
        allowed: set[str] = set()
        path_matched = False
        for route in self._routes:
            values = route.template.match(path)
            if values is None:
                continue
            if route.allows(method):
                return route.target, values
            path_matched = True
            allowed.update(route.methods or ())
        if path_matched:
            raise MethodNotAllowed(sorted(allowed))
        raise RouteNotFound(method, path)
