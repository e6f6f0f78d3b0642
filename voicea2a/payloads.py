"""Framework-free parsing of JSON request bodies, with the size and media-type rules."""

from __future__ import annotations

import json
from typing import Any, NoReturn

from voicea2a.errors import InvalidRequest, PayloadTooLarge, UnsupportedMediaType

_UTF8 = frozenset({"utf-8", "utf8"})


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


def parse_json_body(body: bytes, content_type: str | None, max_bytes: int) -> dict[str, Any]:
    """Parse a JSON object body: 413 over `max_bytes`, 415 if not JSON, 400 if malformed."""
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
    return value
