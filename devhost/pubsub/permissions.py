"""Client roles: `webpubsub.joinLeaveGroup[.<group>]`, `webpubsub.sendToGroup[.<group>]` and the
wildcard forms `webpubsub.joinLeaveGroups.<pattern>` / `webpubsub.sendToGroups.<pattern>`."""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

JOIN_LEAVE = "joinLeaveGroup"
SEND_TO_GROUP = "sendToGroup"
PERMISSIONS = (JOIN_LEAVE, SEND_TO_GROUP)


@lru_cache(maxsize=256)
def _pattern(glob: str) -> re.Pattern[str]:
    # `**` spans dots, `*` stays within one dot segment, `?` is one character (not a dot).
    parts = re.split(r"(\*\*|\*|\?)", glob)
    mapping = {"**": ".*", "*": "[^.]*", "?": "[^.]"}
    return re.compile("".join(mapping.get(part, re.escape(part)) for part in parts))


def allows(roles: Iterable[str], permission: str, group: str) -> bool:
    """True when one of the roles grants `permission` ("joinLeaveGroup"/"sendToGroup") on group."""
    plain = f"webpubsub.{permission}"
    wildcard = f"webpubsub.{permission}s."
    for role in roles:
        if role == plain or role == f"{plain}.{group}":
            return True
        if role.startswith(wildcard) and _pattern(role[len(wildcard) :]).fullmatch(group):
            return True
    return False


def role_for(permission: str, target_group: str | None) -> str:
    """The role string the REST grant/revoke calls add or remove."""
    base = f"webpubsub.{permission}"
    return f"{base}.{target_group}" if target_group else base
