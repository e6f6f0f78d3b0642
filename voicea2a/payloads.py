"""Framework-free parsing of request input: JSON bodies (size, media type, text rules) and
numeric query parameters."""

from __future__ import annotations

import json
import re
from collections.abc import Collection
from typing import Any, NoReturn

from voicea2a.errors import InvalidRequest, PayloadTooLarge, UnsupportedMediaType

_UTF8 = frozenset({"utf-8", "utf8"})
# Text goes on to Table storage, the agents, the log and other users' screens. A lone surrogate
# cannot be written as UTF-8 (the JSON escape \ud800 parses into one), and control characters
# (C0, DEL, C1) forge log lines and terminal output. Tab, line feed and carriage return are
# allowed only in the fields a route names as free text (a request, a note); a name or id
# never needs them.
_NOT_TEXT = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_NOT_FREE_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
_MAX_FIELD_CHARS = 100  # of a field's path in an error message: names come from the caller
# An item's index in a path: `free_text` names every item of a list as `a[]`.
_INDEX = re.compile(r"\[[0-9]+\]")
# A count is small: a bound on digits keeps int() off huge strings (it refuses > 4,300 digits).
_COUNT = re.compile(r"[0-9]{1,9}")


def is_json_content_type(content_type: str | None) -> bool:
    """True for `application/json`, optionally with a UTF-8 charset parameter."""
    if not content_type:
        return False
    media_type, *params = (part.strip() for part in content_type.split(";"))
    if media_type.lower() != "application/json":
        return False
    for param in params:
        key, _, value = param.partition("=")
        # JSON is UTF-8 on the wire (RFC 8259); a different charset is refused, not guessed.
        if key.strip().lower() == "charset" and value.strip().strip('"').lower() not in _UTF8:
            return False
    return True


def _reject_constant(token: str) -> NoReturn:
    raise ValueError(f"{token} is not valid JSON")


def is_text(value: str, free_text: bool = False) -> bool:
    """True when `value` holds no lone surrogate and no control character; with `free_text`,
    tabs and line breaks are allowed."""
    return (_NOT_FREE_TEXT if free_text else _NOT_TEXT).search(value) is None


def check_text(value: Any, free_text: Collection[str] = ()) -> None:
    """Every string of a parsed JSON value, field names included, is text (`is_text`); else 400
    naming the first field that is not. `free_text` names the fields (`a`, `a.b`, `a[]` for
    every item of `a`) that may hold tabs and line breaks."""
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:  # a loop, not recursion: a body may nest as deep as the parser allows
        path, item = stack.pop()
        if isinstance(item, str):
            free = _INDEX.sub("[]", path) in free_text
            if not is_text(item, free):
                allowed = " other than tab and line breaks" if free else ""
                raise InvalidRequest(
                    f"Field '{shown_field(path)}' must not contain control characters{allowed} "
                    "or unpaired surrogates."
                )
        if isinstance(item, dict):
            for key in item:
                if not is_text(key):
                    where = f"in '{shown_field(path)}'" if path else "at the top level"
                    raise InvalidRequest(
                        f"A field name {where} holds control characters or unpaired surrogates."
                    )
            children = [(f"{path}.{key}" if path else key, child) for key, child in item.items()]
            stack.extend(reversed(children))  # reversed: the first bad field is reported
        elif isinstance(item, list):
            stack.extend(reversed([(f"{path}[{i}]", child) for i, child in enumerate(item)]))


def shown_field(path: str) -> str:
    """A field's path as an error message shows it: cut short, since names come from the
    caller."""
    return path if len(path) <= _MAX_FIELD_CHARS else path[:_MAX_FIELD_CHARS] + "..."


def parse_count(raw: str | None, name: str, default: int, low: int, high: int) -> int:
    """A whole-number query parameter from `low` to `high`, `default` when absent: ASCII digits
    only (no sign, space, exponent or other scripts' digits such as "²"); else 400 naming it."""
    if raw is None:
        return default
    if not _COUNT.fullmatch(raw) or not low <= int(raw) <= high:
        raise InvalidRequest(f"Field '{name}' must be a whole number from {low} to {high}.")
    return int(raw)


def parse_json_body(
    body: bytes, content_type: str | None, max_bytes: int, free_text: Collection[str] = ()
) -> dict[str, Any]:
    """Parse a JSON object body: 413 over `max_bytes`, 415 if not JSON, 400 if malformed or if
    a string is not text (`check_text`, with the `free_text` fields)."""
    if len(body) > max_bytes:
        raise PayloadTooLarge(f"The request body must be at most {max_bytes} bytes.")
    if not is_json_content_type(content_type):
        raise UnsupportedMediaType("The request body must be application/json (UTF-8).")
    if not body:
        raise InvalidRequest("The request body is empty; a JSON object is required.")
    try:
        value = json.loads(body.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError):
        # A fixed message: the parser's text could echo fragments of the body.
        raise InvalidRequest("The request body is not valid JSON.") from None
    if not isinstance(value, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    check_text(value, free_text)
    return value
