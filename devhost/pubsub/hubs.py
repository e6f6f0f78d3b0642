"""Hub and group name rules shared by the REST API and the client endpoint."""

from __future__ import annotations

import re

# The SDK's hub name rule (azure-messaging-webpubsubservice).
_HUB = re.compile(r"[A-Za-z][A-Za-z0-9_`,.\[\]]{0,127}")
MAX_GROUP_LENGTH = 1024


def valid_hub(name: str) -> bool:
    """True for a hub name the SDK would accept."""
    return _HUB.fullmatch(name) is not None


def valid_group(name: str) -> bool:
    """True for a non-empty group name of at most 1024 characters."""
    return 0 < len(name) <= MAX_GROUP_LENGTH
