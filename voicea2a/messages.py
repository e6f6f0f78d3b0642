"""The `POST /api/messages` body, validated, and the orchestration instance id derived from it.

The body is declared once (MESSAGE_REQUEST, voicea2a/schema.py): the parser and its OpenAPI
schema both come from it. Every validation error is an InvalidRequest whose message names the
offending field. In `customer`, `ledState` and `preferredDate` an empty string or null counts
as absent: voice models fill unknown tool arguments with them.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from voicea2a.errors import InvalidRequest
from voicea2a.schema import Array, Choice, Date, Either, Field, JsonObject, Obj, Text
from voicea2a.voice_session import MAX_AGENT_MESSAGE_CHARS, MAX_REQUEST_CHARS, SYMPTOMS

MAX_CALL_ID_CHARS = 200
MAX_NAME_CHARS = 100
MAX_POSTAL_CODE_CHARS = 16
MAX_SYMPTOMS = 10
# The schema's hard cap on `agents`; MAX_AGENTS_PER_REQUEST (at most this) is the one enforced.
MAX_AGENTS = 20
MAX_AGENT_NAME_CHARS = 64
MAX_AGENT_DATA_KEYS = 50
MAX_AGENT_DATA_CHARS = 4000
AGENT_NAME_RE = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")  # what registry.agent_key produces
LED_STATES = ("solid-white", "blinking-white", "solid-yellow", "blinking-yellow", "red", "off")
CONVERSATION_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,100}")
CUSTOMER_ID_RE = re.compile(r"CUST-[0-9]{4}")
INSTANCE_ID_PREFIX = "dlg-"
INSTANCE_ID_HEX_CHARS = 40
# The only instance ids there are (instance_id_for); anything else names no delegation.
INSTANCE_ID_RE = re.compile(f"{INSTANCE_ID_PREFIX}[0-9a-f]{{{INSTANCE_ID_HEX_CHARS}}}")


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
        return CUSTOMER.dump(self)


@dataclass(frozen=True)
class AgentChoice:
    """An agent the voice model chose to ask, with what to tell it."""

    name: str
    message: str | None = None  # else the agent is sent the request itself
    data: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The camelCase object, without absent fields."""
        return AGENT_CHOICE.dump(self)


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
    agents: tuple[AgentChoice, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The camelCase body (absent fields left out); JSON-serialisable, for orchestrations."""
        return MESSAGE_REQUEST.dump(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> MessageRequest:
        """Rebuild a request from `to_json` output (validated again: it is pure and cheap)."""
        return MESSAGE_REQUEST.parse(data)


def _name(name: str) -> Field:
    """A first or last name: printable, blank or null when unknown."""
    kind = Text(max_length=MAX_NAME_CHARS, printable=True, blank_is_absent=True)
    return Field(name=name, kind=kind, nullable=True)


CUSTOMER = Obj(
    name="Customer",
    build=Customer,
    description=(
        "What the caller said about who they are (unverified until the authentication agent "
        "says so). An empty string or null counts as absent."
    ),
    fields=(
        _name("firstName"),
        _name("lastName"),
        Field(
            name="postalCode",
            kind=Text(
                max_length=MAX_POSTAL_CODE_CHARS,
                pattern=r"[A-Za-z0-9][A-Za-z0-9 -]*",
                rule="may hold only letters, digits, spaces and hyphens",
                blank_is_absent=True,
            ),
            nullable=True,
        ),
        Field(
            name="dateOfBirth",
            kind=Date(blank_is_absent=True),
            nullable=True,
            description="YYYY-MM-DD, a real date.",
        ),
        Field(
            name="customerId",
            kind=Text(
                pattern=CUSTOMER_ID_RE.pattern,
                rule="must look like CUST-0001",
                blank_is_absent=True,
            ),
            nullable=True,
            description="A claimed id is never proof of identity.",
        ),
    ),
)

AGENT_NAME = Text(
    name="AgentName",
    max_length=MAX_AGENT_NAME_CHARS,
    pattern=AGENT_NAME_RE.pattern,
    rule="must be a registered agent's name (lowercase letters, digits and hyphens)",
)
AGENT_CHOICE = Obj(
    name="AgentChoice",
    build=AgentChoice,
    description="An agent to ask, what to tell it, and structured data for it.",
    fields=(
        Field(name="name", kind=AGENT_NAME, required=True),
        Field(
            name="message",
            kind=Text(max_length=MAX_AGENT_MESSAGE_CHARS, blank_is_absent=True, free_text=True),
            nullable=True,
            description="What to tell this agent (else it is sent the request).",
        ),
        Field(
            name="data",
            kind=JsonObject(max_keys=MAX_AGENT_DATA_KEYS, max_chars=MAX_AGENT_DATA_CHARS),
            nullable=True,
            default={},
            description=f"Sent as the message's data part (at most {MAX_AGENT_DATA_CHARS} "
            "characters of JSON).",
        ),
    ),
)

MESSAGE_REQUEST = Obj(
    name="MessageRequest",
    build=MessageRequest,
    description=(
        "One `send_to_agent_network` call, as the voice model filled it. Unknown fields are "
        "refused; every validation error names its field. In `customer`, `ledState` and "
        "`preferredDate` an empty string or null counts as absent."
    ),
    fields=(
        Field(
            name="request",
            kind=Text(max_length=MAX_REQUEST_CHARS, nonempty=True, strip=True, free_text=True),
            required=True,
            description=(
                f"What the customer needs, in words (at most {MAX_REQUEST_CHARS} characters, not "
                "blank; tabs and line breaks allowed)."
            ),
        ),
        Field(
            name="conversationId",
            kind=Text(
                name="ConversationId",
                pattern=CONVERSATION_ID_RE.pattern,
                rule="must be 1 to 100 letters, digits, underscores or hyphens",
            ),
            nullable=True,
        ),
        Field(
            name="callId",
            kind=Text(
                max_length=MAX_CALL_ID_CHARS,
                nonempty=True,
                pattern=r"\S+",
                printable=True,
                rule="must be printable characters without whitespace",
            ),
            nullable=True,
            description="The voice tool call's id; printable, no whitespace.",
        ),
        Field(name="customer", kind=CUSTOMER, nullable=True),
        Field(
            name="symptoms",
            kind=Array(
                items=Choice(name="Symptom", values=SYMPTOMS), max_items=MAX_SYMPTOMS, unique=True
            ),
            nullable=True,
            default=(),
            description="What the customer reports; a repeated symptom counts once.",
        ),
        Field(
            name="ledState",
            kind=Choice(name="LedState", values=LED_STATES, blank_is_absent=True),
            nullable=True,
        ),
        Field(
            name="preferredDate",
            kind=Date(blank_is_absent=True),
            nullable=True,
            description="A visit date, YYYY-MM-DD (asks for a technician dispatch).",
        ),
        Field(
            name="agents",
            kind=Array(
                items=Either(
                    short=AGENT_NAME,
                    full=AGENT_CHOICE,
                    expand=lambda name: AgentChoice(name=name),
                    rule="must be an agent's name or an object with its name",
                ),
                min_items=1,
                max_items=MAX_AGENTS,
            ),
            nullable=True,
            default=(),
            description=(
                "The agents to ask, in one parallel stage (names, or objects with a message and "
                "data each). Without it, the planner decides. Each must be admitted; at most "
                "MAX_AGENTS_PER_REQUEST of them, none twice."
            ),
        ),
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


def check_agent_choices(
    choices: Sequence[AgentChoice], admitted: Collection[str], limit: int
) -> None:
    """InvalidRequest (naming the field) when `agents` is too long, names an agent twice, or
    names one that is not admitted; a known but unhealthy one is for the plan to report."""
    if len(choices) > limit:
        raise InvalidRequest(f"Field 'agents' must have at most {limit} items.")
    seen: set[str] = set()
    for index, choice in enumerate(choices):
        if choice.name in seen:
            raise InvalidRequest(f"Field 'agents[{index}]' names {choice.name!r} twice.")
        if choice.name not in admitted:
            raise InvalidRequest(
                f"Field 'agents[{index}]' names {choice.name!r}, which is not an admitted agent."
            )
        seen.add(choice.name)
