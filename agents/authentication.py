"""Authentication agent: verifies a caller's identity; locks a name out after repeated failures.

A request names first name, last name, postal code and date of birth. Credentials are stored
only as salted scrypt hashes (credentials.json) and compared with `hmac.compare_digest`.
Failures are counted per claimed name (whether or not such a customer exists, so the answer
never reveals who is a customer): `MAX_FAILURES` failures within `LOCKOUT_WINDOW_SECONDS`
lock that name out until the oldest of them leaves the window. A success clears the count.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict, deque
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

MAX_FAILURES = 3
LOCKOUT_WINDOW_SECONDS = 15 * 60

FIELDS = (
    InputField("firstName", "first name", "Jane", name_word, first_name_in_text),
    InputField("lastName", "last name", "Doe", name_word, last_name_in_text),
    InputField("postalCode", "postal code", "M5H 1A1", postal_code, postal_code_in_text),
    InputField("dateOfBirth", "date of birth", "1985-03-14", iso_date, date_in_text),
)


class FailureTracker:
    """Failed attempts per key in a sliding window, on an injectable monotonic clock."""

    def __init__(
        self,
        max_failures: int = MAX_FAILURES,
        window_seconds: float = LOCKOUT_WINDOW_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_failures = max_failures
        self.window_seconds = window_seconds
        self._clock = clock
        self._failures: defaultdict[str, deque[float]] = defaultdict(deque)

    def _recent(self, key: str) -> deque[float]:
        failures = self._failures[key]
        cutoff = self._clock() - self.window_seconds
        while failures and failures[0] <= cutoff:
            failures.popleft()
        return failures

    def locked_for(self, key: str) -> float:
        """Seconds until `key` may try again; 0 when it is not locked out."""
        failures = self._recent(key)
        if len(failures) < self.max_failures:
            return 0.0
        return failures[-self.max_failures] + self.window_seconds - self._clock()

    def record_failure(self, key: str) -> int:
        """Count a failure; return how many attempts remain before a lock-out."""
        failures = self._recent(key)
        failures.append(self._clock())
        return max(0, self.max_failures - len(failures))

    def clear(self, key: str) -> None:
        """Forget the failures of `key` (after a success)."""
        self._failures.pop(key, None)


class AuthenticationAgent(SpecialistAgent):
    """Verifies name, postal code and date of birth against salted hashes."""

    name = "authentication"
    title = "Contoso Authentication Agent"
    description = (
        "Verifies a Contoso customer's identity from first name, last name, postal code and "
        "date of birth, and returns the customer id and region. Locks a name out after "
        f"{MAX_FAILURES} failed attempts within {LOCKOUT_WINDOW_SECONDS // 60} minutes."
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
        self.failures = FailureTracker(clock=clock)

    def answer(self, values: dict[str, Any]) -> Reply:
        """Verify the identity, honouring and updating the lock-out state."""
        key = f"{values['firstName'].lower()} {values['lastName'].lower()}"
        wait = self.failures.locked_for(key)
        if wait > 0:
            minutes = math.ceil(wait / 60)
            return Reply(
                text=(
                    "Too many failed attempts. For your security, verification is locked for "
                    f"about {minutes} minute(s); please try again later or call customer service."
                ),
                data={"status": "LOCKED_OUT", "retryAfterSeconds": math.ceil(wait)},
            )
        customer = self._verify(values)
        if customer is None:
            remaining = self.failures.record_failure(key)
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
        self.failures.clear(key)
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
