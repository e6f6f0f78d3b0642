"""The dev sign-in's request body: who may ask for a development token, and with which roles."""

from __future__ import annotations

from dataclasses import dataclass

from voicea2a.auth import ROLES
from voicea2a.schema import Array, Choice, Field, Obj, Text


@dataclass(frozen=True)
class DevLogin:
    """A validated `{user, roles?}`: a short user name and known roles, sorted."""

    user: str
    roles: tuple[str, ...]


def _dev_login(user: str, roles: tuple[str, ...]) -> DevLogin:
    """The sign-in with its roles sorted (the token's claim and the answer list them so)."""
    return DevLogin(user, tuple(sorted(roles)))


DEV_LOGIN = Obj(
    name="DevTokenRequest",
    build=_dev_login,
    fields=(
        Field(
            name="user",
            kind=Text(
                pattern=r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}",
                rule="must be 1-64 characters: letters, digits, '.', '_', '@' or '-'",
            ),
            required=True,
        ),
        Field(
            name="roles",
            kind=Array(
                items=Choice(name="Role", values=ROLES),
                min_items=1,
                max_items=len(ROLES),
                unique=True,
            ),
            default=("user",),
        ),
    ),
)
