"""The request bodies of the agent registry, approval and metrics routes (voicea2a/schema.py
declarations; the messages and dev sign-in bodies live beside their own types)."""

from __future__ import annotations

from dataclasses import dataclass

from voicea2a.schema import Boolean, Choice, Field, Integer, Obj, Text
from voicea2a.ssrf import MAX_URL_LENGTH

MAX_PRIORITY = 1000
MAX_NOTE_CHARS = 500
MAX_REPLY_CHARS = 2000  # what a supervisor tells the agent, as one text part
MAX_LATENCY_MS = 3_600_000  # an hour: a longer "latency" is a page left open, not a measurement
LATENCY_OUTCOMES = ("answered", "failed", "late")


@dataclass(frozen=True)
class Decision:
    """A supervisor's answer to an agent's question: approve or reject it, or reply in words."""

    approve: bool | None
    note: str
    reply: str | None  # exactly one of `approve` and `reply` is given


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
    description="Either `approve` (a decision) or `reply` (an answer in words), not both.",
    one_of=("approve", "reply"),
    fields=(
        Field(name="approve", kind=Boolean()),
        Field(
            name="reply",
            kind=Text(nonempty=True, max_length=MAX_REPLY_CHARS, free_text=True),
            description="Goes back to the agent's task as the next message.",
        ),
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


@dataclass(frozen=True)
class LatencyReport:
    """The browser's measure of one voice tool call: from the model's call to its answer."""

    call_id: str
    latency_ms: int
    outcome: str


LATENCY_REPORT = Obj(
    name="LatencyReport",
    build=LatencyReport,
    description="From the voice model's tool call to the answer handed back to it, measured by "
    "the browser.",
    fields=(
        Field(
            name="callId",
            kind=Text(
                max_length=200,
                nonempty=True,
                pattern=r"\S+",
                printable=True,
                rule="must be printable characters without whitespace",
            ),
            required=True,
        ),
        Field(name="latencyMs", kind=Integer(minimum=0, maximum=MAX_LATENCY_MS), required=True),
        Field(
            name="outcome",
            kind=Choice(values=LATENCY_OUTCOMES),
            required=True,
            description="answered: handed back to the model; failed: the call failed; late: "
            "the answer came after the voice connection was renewed.",
        ),
    ),
)
