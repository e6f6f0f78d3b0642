"""The request bodies of the agent registry and approval routes (voicea2a/schema.py
declarations; the messages and dev sign-in bodies live beside their own types)."""

from __future__ import annotations

from dataclasses import dataclass

from voicea2a.schema import Boolean, Field, Integer, Obj, Text
from voicea2a.ssrf import MAX_URL_LENGTH

MAX_PRIORITY = 1000
MAX_NOTE_CHARS = 500


@dataclass(frozen=True)
class Decision:
    """A supervisor's decision on a technician dispatch."""

    approve: bool
    note: str


@dataclass(frozen=True)
class Registration:
    """An agent's registration: where its card is (the SSRF guard vets the URL)."""

    url: str


@dataclass(frozen=True)
class Admission:
    """A supervisor's admission of an agent, with its priority when one is given."""

    priority: int | None


APPROVAL_DECISION = Obj(
    name="ApprovalDecision",
    build=Decision,
    fields=(
        Field(name="approve", kind=Boolean(), required=True),
        Field(
            name="note",
            kind=Text(max_length=MAX_NOTE_CHARS, free_text=True),
            default="",
            description="For the record; tabs and line breaks allowed.",
        ),
    ),
)

AGENT_REGISTRATION = Obj(
    name="AgentRegistration",
    build=Registration,
    fields=(
        Field(
            name="url",
            kind=Text(nonempty=True, max_length=MAX_URL_LENGTH, format="uri"),
            required=True,
            description="The agent's base URL; its card is at `{url}/.well-known/agent-card.json`.",
            examples=("https://outage.agents.contoso.example",),
        ),
    ),
)

AGENT_ADMISSION = Obj(
    name="AgentAdmission",
    build=Admission,
    fields=(
        Field(
            name="priority",
            kind=Integer(minimum=-MAX_PRIORITY, maximum=MAX_PRIORITY),
            description="When two admitted agents offer one skill, the higher priority gets it.",
        ),
    ),
)
