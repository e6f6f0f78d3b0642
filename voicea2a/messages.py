"""The `POST /api/messages` body, validated, and the orchestration instance id derived from it.

The body is declared once (MESSAGE_REQUEST, voicea2a/schema.py): the parser and its OpenAPI
schema both come from it. Every validation error is an InvalidRequest whose message names the
offending field. In `customer` and the playbook's detail fields an empty string or null counts
as absent: voice models fill unknown tool arguments with them. Which fields there are besides
`request`, `conversationId`, `callId` and `agents` the playbook says (`request_body`): `customer`
when it verifies identity, `symptoms` when it lists some, and each of its details.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from voicea2a.errors import InvalidRequest
from voicea2a.playbook import DEFAULT_DETAIL_CHARS, Detail, Identity, Playbook
from voicea2a.schema import Array, Choice, Date, Either, Field, JsonObject, Kind, Obj, Text

MAX_REQUEST_CHARS = 4000
MAX_AGENT_MESSAGE_CHARS = 2000

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
CONVERSATION_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,100}")
# Any customer id that may be stored; the playbook's identity says what its agents' ids look like.
CUSTOMER_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}")
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
        return ANY_CUSTOMER.dump(self)


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
    agents: tuple[AgentChoice, ...] = ()
    details: Mapping[str, str] = field(default_factory=dict)  # the playbook's fields, by name

    def to_json(self) -> dict[str, Any]:
        """The camelCase body (absent fields left out); JSON-serialisable, for orchestrations."""
        return ANY_REQUEST.dump(self)


def _name(name: str) -> Field:
    """A first or last name: printable, blank or null when unknown."""
    kind = Text(max_length=MAX_NAME_CHARS, printable=True, blank_is_absent=True)
    return Field(name=name, kind=kind, nullable=True)


def customer_kind(identity: Identity | None) -> Obj[Customer]:
    """The `customer` object; its `customerId` looks like the playbook's ids."""
    verification = identity.verification if identity else None
    return Obj(
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
                    pattern=verification.customer_id_pattern
                    if verification
                    else CUSTOMER_ID_RE.pattern,
                    rule=f"must look like {verification.customer_id_example}"
                    if verification
                    else "must be letters, digits and . _ : -",
                    blank_is_absent=True,
                ),
                nullable=True,
                description="A claimed id is never proof of identity.",
            ),
        ),
    )


ANY_CUSTOMER = customer_kind(None)  # a customer as a request carries it (to_json)
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


@dataclass(kw_only=True, eq=False, repr=False)
class RequestBody(Obj[MessageRequest]):
    """The body of POST /api/messages for one playbook: its detail fields are top-level fields
    of the body and live in `MessageRequest.details`."""

    detail_names: frozenset[str] = frozenset()

    def dump(self, value: Any) -> dict[str, Any]:
        """The fields that are not their default, then the details."""
        found = (
            (field, getattr(value, field.attr))
            for field in self.fields
            if field.name not in self.detail_names
        )
        body = {field.name: field.kind.dump(item) for field, item in found if item != field.default}
        return {**body, **value.details}


REQUEST = Field(
    name="request",
    kind=Text(max_length=MAX_REQUEST_CHARS, nonempty=True, strip=True, free_text=True),
    required=True,
    description=(
        f"What the customer needs, in words (at most {MAX_REQUEST_CHARS} characters, not "
        "blank; tabs and line breaks allowed)."
    ),
)
IDS = (
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
)
AGENTS = Field(
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
)


def _symptoms(values: Kind) -> Field:
    return Field(
        name="symptoms",
        kind=Array(items=values, max_items=MAX_SYMPTOMS, unique=True),
        nullable=True,
        default=(),
        description="What the customer reports (the playbook's symptoms); a repeated one counts "
        "once.",
    )


def _detail(detail: Detail) -> Field:
    """A playbook's detail as a field of the body."""
    kind: Kind
    if detail.type == "choice":
        name = detail.name[0].upper() + detail.name[1:]
        kind = Choice(name=name, values=detail.values, blank_is_absent=True)
    elif detail.type == "date":
        kind = Date(blank_is_absent=True)
    else:
        kind = Text(
            max_length=detail.max_length or DEFAULT_DETAIL_CHARS,
            printable=True,
            blank_is_absent=True,
        )
    return Field(name=detail.name, kind=kind, nullable=True, description=detail.description)


def _build(detail_names: frozenset[str]) -> Any:
    """The MessageRequest of a body's fields: the playbook's details gathered by name."""

    def build(**fields: Any) -> MessageRequest:
        details = {}
        for name in sorted(detail_names):
            value = fields.pop(_attr(name))
            if value is not None:
                details[name] = value
        return MessageRequest(**fields, details=details)

    return build


def _attr(name: str) -> str:
    return Field(name=name, kind=Text()).attr


@functools.lru_cache(maxsize=8)
def request_body(playbook: Playbook | None) -> RequestBody:
    """The POST /api/messages body the playbook (None: no playbook) asks for."""
    fields = [REQUEST, *IDS]
    if playbook is not None and playbook.identity is not None:
        fields.append(Field(name="customer", kind=customer_kind(playbook.identity), nullable=True))
    if playbook is not None and playbook.symptoms:
        ids = tuple(symptom.id for symptom in playbook.symptoms)
        fields.append(_symptoms(Choice(name="Symptom", values=ids)))
    details = playbook.details if playbook is not None else ()
    fields.extend(_detail(detail) for detail in details)
    fields.append(AGENTS)
    names = frozenset(detail.name for detail in details)
    return RequestBody(
        name="MessageRequest",
        build=_build(names),
        description=(
            "One `send_to_agent_network` call, as the voice model filled it. Unknown fields are "
            "refused; every validation error names its field. `customer`, `symptoms` and the "
            "fields after them but `agents` are the playbook's (PLAYBOOK; this document shows "
            "playbooks/contoso.json); in `customer` and those fields an empty string or null "
            "counts as absent."
        ),
        fields=tuple(fields),
        detail_names=names,
    )


# Any request as an orchestration carries it (to_json): every field but the details, which
# are dumped as they are.
ANY_REQUEST = RequestBody(
    name="MessageRequest",
    build=MessageRequest,
    fields=(
        REQUEST,
        *IDS,
        Field(name="customer", kind=ANY_CUSTOMER, nullable=True),
        _symptoms(Text()),
        AGENTS,
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
