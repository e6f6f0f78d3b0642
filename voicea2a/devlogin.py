"""The dev sign-in: who may ask for a development token, and with which roles."""

from __future__ import annotations

import re
from typing import Any

from voicea2a.auth import ROLES
from voicea2a.errors import InvalidRequest

_USER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")


def parse_dev_login(body: dict[str, Any]) -> tuple[str, list[str]]:
    """Validate `{user, roles?}`: a short user name and known roles (default `user`)."""
    unknown = sorted(set(body) - {"user", "roles"})
    if unknown:
        raise InvalidRequest(f"Unknown field(s): {', '.join(unknown)}.")
    user = body.get("user")
    if not isinstance(user, str) or not _USER.fullmatch(user):
        raise InvalidRequest(
            "Field 'user' must be 1-64 characters: letters, digits, '.', '_', '@' or '-'."
        )
    roles = body.get("roles", ["user"])
    if (
        not isinstance(roles, list)
        or not roles
        or not all(isinstance(role, str) and role in ROLES for role in roles)
    ):
        raise InvalidRequest(f"Field 'roles' must be a non-empty list of: {', '.join(ROLES)}.")
    return user, sorted(set(roles))
