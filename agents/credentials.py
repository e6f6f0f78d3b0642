"""Customer credentials kept only as salted scrypt hashes, compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ScryptScheme:
    """The scrypt cost parameters every stored hash was made with."""

    n: int = 2**14
    r: int = 8
    p: int = 1
    dklen: int = 32

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> ScryptScheme:
        """Read the `scheme` object of credentials.json."""
        if value.get("algorithm") != "scrypt":
            raise ValueError("credentials.json: only the scrypt algorithm is supported")
        return cls(
            n=int(value["n"]), r=int(value["r"]), p=int(value["p"]), dklen=int(value["dklen"])
        )


def credential_secret(
    first_name: str, last_name: str, postal_code: str, date_of_birth: str
) -> bytes:
    """The normalized string that is hashed: names lower-cased, postal code as `A1A 1A1`."""
    fields = (first_name.strip().lower(), last_name.strip().lower(), postal_code, date_of_birth)
    return "|".join(fields).encode("utf-8")


def hash_credential(secret: bytes, salt: bytes, scheme: ScryptScheme) -> bytes:
    """scrypt(secret, salt) with the scheme's cost parameters."""
    return hashlib.scrypt(
        secret, salt=salt, n=scheme.n, r=scheme.r, p=scheme.p, dklen=scheme.dklen, maxmem=2**26
    )


def verify_credential(secret: bytes, salt: bytes, expected: bytes, scheme: ScryptScheme) -> bool:
    """True when `secret` hashes to `expected` (constant-time comparison)."""
    return hmac.compare_digest(hash_credential(secret, salt, scheme), expected)
