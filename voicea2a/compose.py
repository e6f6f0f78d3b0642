"""One spoken-style answer from a plan and what its agents said: pure, deterministic templates.

The answer is read back by the voice model, so it is short plain sentences. Completed agents
speak through their own `text` (in plan order, each clipped to whole sentences; an agent the
voice model chose is named before its words); everything else is a fixed template. An outcome's
`reason` (exception names, URLs, HTTP codes) never reaches the text. `agents` lists the agents
that answered; `partial` is True when an agent needed for the answer failed, timed out or is
unavailable.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypedDict, TypeGuard

from voicea2a.planner import (
    AUTHENTICATION,
    DISPATCH,
    MODEM,
    NETWORK,
    OUTAGE,
    PLAN,
    Plan,
    needs_dispatch,
    verified_customer,
)

COMPLETED, FAILED, TIMED_OUT, INPUT_REQUIRED = "completed", "failed", "timed-out", "input-required"
APPROVED, REJECTED = "approved", "rejected"
MAX_FINDING_CHARS = 260
MAX_ANSWER_CHARS = 1200

LABELS = {
    AUTHENTICATION: "identity verification",
    OUTAGE: "outage check",
    NETWORK: "network check",
    MODEM: "modem check",
    PLAN: "plan and billing check",
    DISPATCH: "technician booking",
}
IDENTITY_FIELDS = {
    "firstName": "first name",
    "lastName": "last name",
    "postalCode": "postal code",
    "dateOfBirth": "date of birth",
}

IDENTITY_NEEDED = (
    "I need to verify your identity first: your first and last name, postal code and date of birth."
)
VERIFIED = "Thank you, you are verified."
VERIFIED_ONLY = "What can I check for you?"
AUTH_MISMATCH = "Those details don't match our records."
AUTH_RETRY = "Please check your name, postal code and date of birth and try again."
AUTH_NOW_LOCKED = "That was the last attempt, so verification is now locked for a while."
LOCKED_OUT = (
    "For your security, verification is locked after too many attempts. Please try again later "
    "or call customer service."
)
AUTH_UNREACHABLE = (
    "I couldn't reach identity verification just now, so I can't check your account yet. "
    "Please try again in a moment."
)
AUTH_UNAVAILABLE = (
    "Identity verification isn't available right now, so I can't check your account yet. "
    "Please try again in a few minutes."
)
ALL_DOWN = (
    "I'm sorry, I couldn't reach any of our support systems just now. Please try again in a few "
    "minutes."
)
TRY_LATER = "Please try again in a few minutes."
NOTHING_APPLICABLE = (
    "I can check for outages, slow or dropping connections, your modem, your plan and bills, or "
    "book a technician. What would you like me to look at?"
)
APPROVAL_PENDING = (
    "The technician visit needs a supervisor's approval; I'll let you know as soon as it's decided."
)
APPROVED_PENDING = "A supervisor approved the technician visit; the booking details will follow."
APPROVAL_REJECTED = (
    "The technician visit wasn't approved, so nothing is booked. A supervisor will call you back "
    "about next steps."
)
APPROVAL_TIMED_OUT = (
    "The technician visit still needs a supervisor's approval, so it isn't booked yet. A "
    "supervisor will call you back to confirm it."
)
NO_SLOT_FOLLOW_UP = "We'll call you back as soon as a slot opens up."
BOOKED = "Your technician visit is booked."
RECOMMENDED_NOT_BOOKABLE = (
    "A technician visit is recommended, but I can't book one right now. Please ask me again in a "
    "few minutes."
)

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


class OutcomeJson(TypedDict):
    """An `AgentOutcome` as it crosses an activity boundary (`to_json`, `from_json`)."""

    agent: str
    skill: str
    status: str
    text: str
    data: dict[str, Any]
    reason: str


class AnswerJson(TypedDict):
    """An `Answer` as the API, the custom status and the `message` event carry it."""

    answer: str
    agents: list[str]
    partial: bool


@dataclass(frozen=True)
class AgentOutcome:
    """What one specialist call ended with (`reason` is for logs and events, never spoken)."""

    agent: str
    skill: str
    status: str
    text: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    reason: str = ""

    def to_json(self) -> OutcomeJson:
        """The outcome as a JSON object (activity input and output)."""
        return {
            "agent": self.agent,
            "skill": self.skill,
            "status": self.status,
            "text": self.text,
            "data": dict(self.data),
            "reason": self.reason,
        }

    @classmethod
    def from_json(cls, data: OutcomeJson | Mapping[str, Any]) -> AgentOutcome:
        """Rebuild an outcome from `to_json` output."""
        return cls(
            agent=data["agent"],
            skill=data["skill"],
            status=data["status"],
            text=data.get("text") or "",
            data=dict(data.get("data") or {}),
            reason=data.get("reason") or "",
        )


@dataclass(frozen=True)
class Answer:
    """The composed answer: text to speak, the agents that answered, and whether it is partial."""

    text: str
    agents: tuple[str, ...] = ()
    partial: bool = False

    def to_json(self) -> AnswerJson:
        """The answer as the API and the `message` event carry it."""
        return {"answer": self.text, "agents": list(self.agents), "partial": self.partial}


def clip(text: str, limit: int = MAX_FINDING_CHARS) -> str:
    """`text` on one line, cut to whole sentences within `limit` (or hard-cut with an ellipsis)."""
    text = " ".join(_CONTROL.sub(" ", text).split())
    if len(text) <= limit:
        return text
    kept = ""
    for sentence in _SENTENCE_END.split(text):
        candidate = f"{kept} {sentence}".strip()
        if len(candidate) > limit:
            break
        kept = candidate
    return kept or text[: limit - 1].rstrip() + "…"


def _label(skill_or_agent: str) -> str:
    # A planned skill has its label; an agent the voice model chose is named.
    return LABELS.get(skill_or_agent) or f"{skill_or_agent} agent"


def _label_list(labels: Sequence[str], conjunction: str) -> str:
    names = [f"the {label}" for label in labels]
    if len(names) == 1:
        return names[0]
    return f"{', '.join(names[:-1])} {conjunction} {names[-1]}"


def _unreachable_sentence(labels: Sequence[str]) -> str:
    return f"I couldn't reach {_label_list(labels, 'or')} just now."


def _unavailable_sentence(labels: Sequence[str]) -> str:
    verb = "is" if len(labels) == 1 else "are"
    text = _label_list(labels, "and")
    return f"{text[0].upper()}{text[1:]} {verb} not available right now."


def _auth_refusal(data: Mapping[str, Any]) -> str:
    status = data.get("status")
    if status == "LOCKED_OUT":
        return LOCKED_OUT
    if status == "MISSING_FIELD":
        missing = [
            IDENTITY_FIELDS[f] for f in data.get("missingFields") or () if f in IDENTITY_FIELDS
        ]
        if not missing:
            return IDENTITY_NEEDED
        wanted = missing[0] if len(missing) == 1 else f"{', '.join(missing[:-1])} and {missing[-1]}"
        return f"To verify your identity I still need your {wanted}."
    remaining = data.get("attemptsRemaining")
    if not isinstance(remaining, int) or isinstance(remaining, bool) or remaining < 0:
        return f"{AUTH_MISMATCH} {AUTH_RETRY}"
    if remaining == 0:
        return f"{AUTH_MISMATCH} {AUTH_NOW_LOCKED}"
    attempts = "attempt" if remaining == 1 else "attempts"
    return f"{AUTH_MISMATCH} {AUTH_RETRY} You have {remaining} {attempts} left."


class _Speech:
    """The sentences, answering agents and partial flag being put together."""

    def __init__(self) -> None:
        self.sentences: list[str] = []
        self.agents: list[str] = []
        self.unreachable: list[str] = []
        self.partial = False

    def say(self, sentence: str) -> None:
        if sentence:
            self.sentences.append(sentence)

    def heard(self, agent: str) -> None:
        if agent not in self.agents:
            self.agents.append(agent)

    def answer(self) -> Answer:
        return Answer(
            clip(" ".join(self.sentences), MAX_ANSWER_CHARS), tuple(self.agents), self.partial
        )


def _answered(outcome: AgentOutcome | None) -> TypeGuard[AgentOutcome]:
    return outcome is not None and outcome.status in (COMPLETED, INPUT_REQUIRED)


def _dispatch(
    speech: _Speech,
    plan: Plan,
    outcome: AgentOutcome | None,
    approval: str | None,
    recommended: bool,
) -> None:
    if outcome is None:
        if plan.dispatch is not None and (plan.dispatch_requested or recommended):
            speech.unreachable.append(_label(DISPATCH))
        elif plan.dispatch is None and recommended and DISPATCH not in plan.unavailable:
            speech.say(RECOMMENDED_NOT_BOOKABLE)
            speech.partial = True
        return
    if not _answered(outcome):
        speech.unreachable.append(_label(DISPATCH))
        return
    speech.heard(outcome.agent)
    status = outcome.data.get("status")
    if outcome.status == COMPLETED and status == "BOOKED":
        speech.say(clip(outcome.text) or BOOKED)
    elif approval == TIMED_OUT:
        # The orchestrator declines the held slot when nobody decides: still not a rejection.
        speech.say(APPROVAL_TIMED_OUT)
    elif approval == REJECTED or status == "DECLINED":
        speech.say(APPROVAL_REJECTED)
    elif outcome.status == INPUT_REQUIRED or status == "APPROVAL_REQUIRED":
        speech.say(APPROVED_PENDING if approval == APPROVED else APPROVAL_PENDING)
    elif status == "NO_SLOT_AVAILABLE":
        speech.say(f"{clip(outcome.text)} {NO_SLOT_FOLLOW_UP}".strip())
    else:
        speech.say(clip(outcome.text))


def compose(plan: Plan, outcomes: Sequence[AgentOutcome], approval: str | None = None) -> Answer:
    """The answer to speak; `approval` is None, "approved", "rejected" or "timed-out"."""
    if plan.needs_identity:
        return Answer(IDENTITY_NEEDED)
    if AUTHENTICATION in plan.unavailable:
        return Answer(AUTH_UNAVAILABLE, partial=True)
    # A retried or continued call (dispatch after approval) reports again: the last one counts.
    latest = {outcome.agent: outcome for outcome in outcomes}
    speech = _Speech()
    if plan.authenticates:
        auth = latest.get(plan.stages[0][0].agent)
        if not _answered(auth):
            return Answer(AUTH_UNREACHABLE, partial=True)
        if verified_customer(auth.data) is None:
            return Answer(_auth_refusal(auth.data), (auth.agent,))
        speech.heard(auth.agent)
        speech.say(clip(auth.text) or VERIFIED)

    for step in plan.steps:
        if step.skill == AUTHENTICATION:
            continue
        outcome = latest.get(step.agent)
        # A planned step is named by its skill, a step the voice model chose by its agent.
        label = _label(step.agent if plan.chosen else step.skill)
        if _answered(outcome):
            speech.heard(outcome.agent)
            said = clip(outcome.text)
            if not said:
                speech.say(f"The {label} found nothing to report.")
            else:  # agents the model chose are each attributed: it rephrases what they said
                speech.say(f"From the {label}: {said}" if plan.chosen else said)
        else:
            speech.unreachable.append(label)
    if not plan.chosen:
        results = {o.skill: o.data for o in latest.values() if o.status == COMPLETED}
        dispatch = latest.get(plan.dispatch.agent) if plan.dispatch is not None else None
        _dispatch(speech, plan, dispatch, approval, needs_dispatch(results))

    unavailable = [_label(name) for name in plan.unavailable if name != AUTHENTICATION]
    if speech.unreachable and not speech.agents:
        return Answer(ALL_DOWN, partial=True)
    if unavailable and not speech.agents:
        text = f"I'm sorry. {_unavailable_sentence(unavailable)} {TRY_LATER}"
        return Answer(text, partial=True)
    if speech.unreachable:
        speech.say(_unreachable_sentence(speech.unreachable))
        speech.partial = True
    if unavailable:
        speech.say(_unavailable_sentence(unavailable))
        speech.partial = True
    if not speech.sentences:
        return Answer(NOTHING_APPLICABLE)
    if plan.authenticates and len(plan.steps) == 1 and plan.dispatch is None:
        speech.say(VERIFIED_ONLY)
    return speech.answer()
