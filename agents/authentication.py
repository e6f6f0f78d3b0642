"""Authentication agent: verifies a caller's identity, within limits per caller and customer.

A request names first name, last name, postal code and date of birth. Credentials are stored
only as salted scrypt hashes (credentials.json) and compared with `hmac.compare_digest`.
Attempts are limited per caller, per caller and customer, and per customer (agents/limits.py):
a lock-out caused by one caller does not lock the customer out for the others.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

from agents.base import Reply, Skill, SpecialistAgent, skill_description
from agents.credentials import ScryptScheme, credential_secret, verify_credential
from agents.datastore import customers_by_id, load_data
from agents.inputs import (
    InputField,
    date_in_text,
    first_name_in_text,
    iso_date,
    last_name_in_text,
    name_word,
    postal_code,
    postal_code_in_text,
)
from agents.limits import LOCKOUT_WINDOW_SECONDS, MAX_FAILURES, VerificationLimits

FIELDS = (
    InputField("firstName", "first name", "Jane", name_word, first_name_in_text),
    InputField("lastName", "last name", "Doe", name_word, last_name_in_text),
    InputField("postalCode", "postal code", "M5H 1A1", postal_code, postal_code_in_text),
    InputField("dateOfBirth", "date of birth", "1985-03-14", iso_date, date_in_text),
)


class AuthenticationAgent(SpecialistAgent):
    """Verifies name, postal code and date of birth against salted hashes."""

    name = "authentication"
    title = "Contoso Authentication Agent"
    description = (
        "Verifies a Contoso customer's identity from first name, last name, postal code and "
        "date of birth, and returns the customer id and region. After "
        f"{MAX_FAILURES} failed attempts within {LOCKOUT_WINDOW_SECONDS // 60} minutes a caller "
        "is locked out for that name; callers are also limited in attempts per minute."
    )
    port_offset = 0
    fields = FIELDS
    purpose = "verify your identity"
    skill = Skill(
        id="customer_authentication",
        name="Customer Authentication",
        description=skill_description(
            "Verifies a customer's identity.",
            FIELDS,
            '"AUTHENTICATED" | "FAILED" | "LOCKED_OUT" | "MISSING_FIELD"',
        ),
        tags=("authentication", "verification", "identity", "customer"),
        examples=(
            "My name is Jane Doe, postal code M5H 1A1, born 1985-03-14.",
            '{"firstName": "Jane", "lastName": "Doe", "postalCode": "M5H 1A1", '
            '"dateOfBirth": "1985-03-14"}',
        ),
    )

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._customers = customers_by_id()
        stored = load_data("credentials.json")
        self._scheme = ScryptScheme.from_json(stored["scheme"])
        self._hashes = {
            record["customer_id"]: (bytes.fromhex(record["salt"]), bytes.fromhex(record["hash"]))
            for record in stored["credentials"]
        }
        self.limits = VerificationLimits(clock=clock)

    def answer(self, values: dict[str, Any], caller: str) -> Reply:
        """Verify the identity within the caller's and the customer's limits."""
        key = f"{values['firstName'].lower()} {values['lastName'].lower()}"
        refusal = self.limits.check(caller, key)
        if refusal is not None:
            minutes = math.ceil(refusal.retry_after_seconds / 60)
            return Reply(
                text=(
                    "Too many attempts. For your security, verification is locked for "
                    f"about {minutes} minute(s); please try again later or call customer service."
                ),
                data={
                    "status": "LOCKED_OUT",
                    "retryAfterSeconds": refusal.retry_after_seconds,
                    "scope": refusal.scope,
                },
            )
        customer = self._verify(values)
        if customer is None:
            remaining = self.limits.failed(caller, key)
            if remaining == 0:
                text = (
                    "Those details do not match our records, and that was the last attempt: "
                    "verification is now locked. Please call customer service."
                )
            else:
                text = (
                    "Those details do not match our records. Please check them and try again "
                    f"({remaining} attempt(s) left)."
                )
            return Reply(text=text, data={"status": "FAILED", "attemptsRemaining": remaining})
        self.limits.succeeded(caller, key)
        return Reply(
            text=(
                f"Thank you, {customer['first_name']}: you are verified as customer "
                f"{customer['customer_id']} in the {customer['region']} region."
            ),
            data={
                "status": "AUTHENTICATED",
                "customerId": customer["customer_id"],
                "region": customer["region"],
                "firstName": customer["first_name"],
            },
        )

    def _verify(self, values: dict[str, Any]) -> dict[str, Any] | None:
        secret = credential_secret(
            values["firstName"], values["lastName"], values["postalCode"], values["dateOfBirth"]
        )
        candidates = [
            record
            for record in self._customers.values()
            if record["first_name"].lower() == values["firstName"].lower()
            and record["last_name"].lower() == values["lastName"].lower()
        ]
        if not candidates:
            # Hash anyway so an unknown name takes as long as a wrong date of birth.
            verify_credential(secret, b"\0" * 16, b"", self._scheme)
        match = None
        for record in candidates:
            salt, expected = self._hashes[record["customer_id"]]
            if verify_credential(secret, salt, expected, self._scheme):
                match = record
        return match
