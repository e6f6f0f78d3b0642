"""The `POST /api/messages` body, validated, and the orchestration instance id derived from it.

Every validation error is an InvalidRequest whose message names the offending field. In
`customer`, `ledState` and `preferredDate` an empty string or null counts as absent: voice
models fill unknown tool arguments with them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from voicea2a.errors import InvalidRequest
from voicea2a.voice_session import SYMPTOMS

MAX_REQUEST_CHARS = 4000
MAX_CALL_ID_CHARS = 200
MAX_NAME_CHARS = 100
MAX_POSTAL_CODE_CHARS = 16
MAX_SYMPTOMS = 10
LED_STATES = ("solid-white", "blinking-white", "solid-yellow", "blinking-yellow", "red", "off")
CONVERSATION_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,100}")
CUSTOMER_ID_RE = re.compile(r"CUST-\d{4}")
INSTANCE_ID_PREFIX = "dlg-"
INSTANCE_ID_HEX_CHARS = 40
# The only instance ids there are (instance_id_for); anything else names no delegation.
INSTANCE_ID_RE = re.compile(f"{INSTANCE_ID_PREFIX}[0-9a-f]{{{INSTANCE_ID_HEX_CHARS}}}")

_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
_POSTAL_CODE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9 -]*")
_FIELDS = frozenset(
    {"request", "conversationId", "callId", "customer", "symptoms", "ledState", "preferredDate"}
)
_CUSTOMER_FIELDS = ("firstName", "lastName", "postalCode", "dateOfBirth", "customerId")


@dataclass(frozen=True)
class Customer:
    """Identity details the caller gave (unverified until the authentication agent says so)."""

    first_name: str | None = None
    last_name: str | None = None
    postal_code: str | None = None
    date_of_birth: str | None = None
    # A claimed id is never proof of identity: the planner only trusts a verified one.
    customer_id: str | None = None

    def has_identity(self) -> bool:
        """True when all four identity fields are present."""
        return all((self.first_name, self.last_name, self.postal_code, self.date_of_birth))

    def to_json(self) -> dict[str, str]:
        """The camelCase object, without absent fields."""
        values = (
            self.first_name,
            self.last_name,
            self.postal_code,
            self.date_of_birth,
            self.customer_id,
        )
        return {name: value for name, value in zip(_CUSTOMER_FIELDS, values, strict=True) if value}


@dataclass(frozen=True)
class MessageRequest:
    """One validated `send_to_agent_network` call as the browser posts it."""

    request: str
    conversation_id: str | None = None
    call_id: str | None = None
    customer: Customer | None = None
    symptoms: tuple[str, ...] = ()
    led_state: str | None = None
    preferred_date: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The camelCase body (absent fields left out); JSON-serialisable, for orchestrations."""
        body: dict[str, Any] = {"request": self.request}
        if self.conversation_id is not None:
            body["conversationId"] = self.conversation_id
        if self.call_id is not None:
            body["callId"] = self.call_id
        if self.customer is not None:
            body["customer"] = self.customer.to_json()
        if self.symptoms:
            body["symptoms"] = list(self.symptoms)
        if self.led_state is not None:
            body["ledState"] = self.led_state
        if self.preferred_date is not None:
            body["preferredDate"] = self.preferred_date
        return body

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> MessageRequest:
        """Rebuild a request from `to_json` output (validated again: it is pure and cheap)."""
        return parse_message_request(data)


def _fail(field: str, rule: str) -> InvalidRequest:
    return InvalidRequest(f"Field '{field}' {rule}.")


def _string(body: Mapping[str, Any], name: str, field: str) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _fail(field, "must be a string")
    return value


def _optional_text(body: Mapping[str, Any], name: str, field: str) -> str | None:
    value = _string(body, name, field)
    if value is None or not value.strip():
        return None
    return value.strip()


def _date(value: str | None, field: str) -> str | None:
    if value is None:
        return None
    if _DATE_RE.fullmatch(value):
        try:
            return dt.date.fromisoformat(value).isoformat()
        except ValueError:
            pass
    raise _fail(field, "must be a date YYYY-MM-DD")


def _name(value: str | None, field: str) -> str | None:
    if value is None:
        return None
    if len(value) > MAX_NAME_CHARS:
        raise _fail(field, f"must be at most {MAX_NAME_CHARS} characters")
    if not value.isprintable():
        raise _fail(field, "must not contain control characters")
    return value


def _check_unknown(
    body: Mapping[str, Any], known: frozenset[str] | tuple[str, ...], at: str
) -> None:
    unknown = sorted(str(key) for key in body if key not in known)
    if unknown:
        raise InvalidRequest(f"Unknown field '{at}{unknown[0]}'.")


def _request_text(body: Mapping[str, Any]) -> str:
    if "request" not in body or body["request"] is None:
        raise _fail("request", "is required")
    value = _string(body, "request", "request") or ""
    text = value.strip()
    if not text:
        raise _fail("request", "must not be empty")
    if len(text) > MAX_REQUEST_CHARS:
        raise _fail("request", f"must be at most {MAX_REQUEST_CHARS} characters")
    return text


def _conversation_id(body: Mapping[str, Any]) -> str | None:
    value = _string(body, "conversationId", "conversationId")
    if value is None:
        return None
    if not CONVERSATION_ID_RE.fullmatch(value):
        raise _fail("conversationId", "must be 1 to 100 letters, digits, underscores or hyphens")
    return value


def _call_id(body: Mapping[str, Any]) -> str | None:
    value = _string(body, "callId", "callId")
    if value is None:
        return None
    if not value or len(value) > MAX_CALL_ID_CHARS:
        raise _fail("callId", f"must be 1 to {MAX_CALL_ID_CHARS} characters")
    if not value.isprintable() or any(char.isspace() for char in value):
        raise _fail("callId", "must be printable characters without whitespace")
    return value


def _customer(body: Mapping[str, Any]) -> Customer | None:
    value = body.get("customer")
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _fail("customer", "must be an object")
    _check_unknown(value, _CUSTOMER_FIELDS, "customer.")
    postal = _name(
        _optional_text(value, "postalCode", "customer.postalCode"), "customer.postalCode"
    )
    if postal is not None and len(postal) > MAX_POSTAL_CODE_CHARS:
        raise _fail("customer.postalCode", f"must be at most {MAX_POSTAL_CODE_CHARS} characters")
    if postal is not None and not _POSTAL_CODE_RE.fullmatch(postal):
        raise _fail("customer.postalCode", "may hold only letters, digits, spaces and hyphens")
    customer_id = _optional_text(value, "customerId", "customer.customerId")
    if customer_id is not None and not CUSTOMER_ID_RE.fullmatch(customer_id):
        raise _fail("customer.customerId", "must look like CUST-0001")
    return Customer(
        first_name=_name(
            _optional_text(value, "firstName", "customer.firstName"), "customer.firstName"
        ),
        last_name=_name(
            _optional_text(value, "lastName", "customer.lastName"), "customer.lastName"
        ),
        postal_code=postal,
        date_of_birth=_date(
            _optional_text(value, "dateOfBirth", "customer.dateOfBirth"), "customer.dateOfBirth"
        ),
        customer_id=customer_id,
    )


def _symptoms(body: Mapping[str, Any]) -> tuple[str, ...]:
    value = body.get("symptoms")
    if value is None:
        return ()
    if not isinstance(value, list):
        raise _fail("symptoms", "must be a list")
    if len(value) > MAX_SYMPTOMS:
        raise _fail("symptoms", f"must have at most {MAX_SYMPTOMS} items")
    seen: list[str] = []
    for index, item in enumerate(value):
        if not isinstance(item, str) or item not in SYMPTOMS:
            raise _fail(f"symptoms[{index}]", f"must be one of {', '.join(SYMPTOMS)}")
        if item not in seen:
            seen.append(item)
    return tuple(seen)


def _led_state(body: Mapping[str, Any]) -> str | None:
    value = _optional_text(body, "ledState", "ledState")
    if value is not None and value not in LED_STATES:
        raise _fail("ledState", f"must be one of {', '.join(LED_STATES)}")
    return value


def parse_message_request(body: dict[str, Any]) -> MessageRequest:
    """Validate a `POST /api/messages` body; InvalidRequest naming the field otherwise."""
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    _check_unknown(body, _FIELDS, "")
    return MessageRequest(
        request=_request_text(body),
        conversation_id=_conversation_id(body),
        call_id=_call_id(body),
        customer=_customer(body),
        symptoms=_symptoms(body),
        led_state=_led_state(body),
        preferred_date=_date(
            _optional_text(body, "preferredDate", "preferredDate"), "preferredDate"
        ),
    )


def instance_id_for(user_id: str, conversation_id: str, call_id: str) -> str:
    """A Durable instance id unique to (user, conversation, call): repeats map to the same one."""
    # JSON framing keeps the three parts apart whatever characters they hold.
    material = json.dumps([user_id, conversation_id, call_id], ensure_ascii=False)
    digest = hashlib.sha256(material.encode("utf-8")).hexdigest()
    return INSTANCE_ID_PREFIX + digest[:INSTANCE_ID_HEX_CHARS]


def is_instance_id(value: str) -> bool:
    """True when `value` has the shape of an id instance_id_for derives."""
    return INSTANCE_ID_RE.fullmatch(value) is not None


def url_segment(instance_id: str) -> str:
    """`instance_id` as one URL path segment. The Durable SDK puts ids into its management URLs
    as given, so a `?`, `/` or `#` would change the request; ids are validated before they get
    here, and this keeps a missed check from becoming an injected query or path."""
    return quote(instance_id, safe="")
