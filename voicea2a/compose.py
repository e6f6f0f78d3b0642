"""One spoken-style answer from a plan and what its agents said: pure, deterministic templates.

The answer is read back by the voice model, so it is short plain sentences. Completed agents
speak through their own `text` (in plan order, each clipped to whole sentences; an agent the
voice model or the matcher chose is named before its words); everything else is a sentence of
the playbook (voicea2a/playbook.py), or of GENERIC without one. An outcome's `reason`
(exception names, URLs, HTTP codes) never reaches the text. `agents` lists the agents that
answered; `partial` is True when an agent needed for the answer failed, timed out or is
unavailable.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NotRequired, TypedDict, TypeGuard

from voicea2a.matcher import agent_label
from voicea2a.planner import Plan
from voicea2a.playbook import Answers, FollowUp, Identity, Playbook

COMPLETED, FAILED, TIMED_OUT, INPUT_REQUIRED = "completed", "failed", "timed-out", "input-required"
# How the history shows an agent whose question went to a person, until the follow-up.
AWAITING_PERSON = "awaiting-person"
APPROVED, REJECTED = "approved", "rejected"
MAX_FINDING_CHARS = 260
MAX_ANSWER_CHARS = 1200

# Without a playbook: the agents' own words, and these.
GENERIC = Answers(
    nothing_applicable="I'm not sure which of our agents can help with that. What would you "
    "like me to look at?",
    all_down="I'm sorry, I couldn't reach any of our agents just now. Please try again in a few "
    "minutes.",
    try_later="Please try again in a few minutes.",
)
OFFER = "I can ask {agents}. Which would you like?"
OFFER_TOO = "I can also ask {agents}."
# An agent whose question went to a person: said now; what it answers later is a follow-up.
WAITING_FOR_PERSON = (
    "The {agent} is waiting for a person to answer; I'll tell you as soon as they do."
)
NOBODY_ANSWERED = "Nobody answered the {agent}'s question in time."
NOTHING_TO_REPORT = "The {agent} found nothing to report."

# The A2A task states in which an agent answered; a call that ended in any other failed.
ANSWERED_STATES = ("completed", "input-required")
# An `agent.status` event's reason (docs/events.schema.json agentStatus.reason).
REASON_CHARS = 500

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
    parts: NotRequired[list[dict[str, Any]]]  # voicea2a.a2a.PartJson, each


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
    # Every part the agent answered with (voicea2a.a2a.PartJson): lists, files, artifacts.
    parts: tuple[dict[str, Any], ...] = ()

    @classmethod
    def ended(
        cls, agent: str, skill: str, state: str, error: str | None = None, **answered: Any
    ) -> AgentOutcome:
        """The outcome of a call whose task ended in `state`: failed, for `error` or the state
        itself, unless the agent answered (ANSWERED_STATES)."""
        status = state if state in ANSWERED_STATES else "failed"
        reason = (error or state) if status == "failed" else ""
        return cls(agent, skill, status, reason=reason, **answered)

    def status_event(self) -> dict[str, Any]:
        """The data of the `agent.status` event that announces this outcome."""
        if self.reason:
            return {"status": self.status, "reason": self.reason[:REASON_CHARS]}
        return {"status": self.status}

    def to_json(self) -> OutcomeJson:
        """The outcome as a JSON object (activity input and output)."""
        outcome: OutcomeJson = {
            "agent": self.agent,
            "skill": self.skill,
            "status": self.status,
            "text": self.text,
            "data": dict(self.data),
            "reason": self.reason,
        }
        if self.parts:
            outcome["parts"] = [dict(part) for part in self.parts]
        return outcome

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
            parts=tuple(data.get("parts") or ()),
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


def _label(labels: Mapping[str, str], skill_or_agent: str) -> str:
    # A planned skill has the playbook's label; an agent the voice model chose is named.
    return labels.get(skill_or_agent) or agent_label(skill_or_agent)


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


def _in_words(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def _auth_refusal(identity: Identity, data: Mapping[str, Any]) -> str:
    refusals, say = identity.refusals, identity.answers
    status = data.get(refusals.status_field)
    if status == refusals.locked_out:
        return say.locked_out
    if status == refusals.missing_field:
        labels = {field.name: field.label.lower() for field in identity.fields}
        missing = [labels[f] for f in data.get(refusals.missing_fields_field) or () if f in labels]
        if not missing:
            return say.needed
        return say.still_needed.replace("{fields}", _in_words(missing))
    remaining = data.get(refusals.attempts_remaining_field)
    if not isinstance(remaining, int) or isinstance(remaining, bool) or remaining < 0:
        return f"{say.mismatch} {say.retry}"
    if remaining == 0:
        return f"{say.mismatch} {say.now_locked}"
    attempts = "attempt" if remaining == 1 else "attempts"
    return f"{say.mismatch} {say.retry} You have {remaining} {attempts} left."


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


def _follow_up(
    speech: _Speech,
    plan: Plan,
    follow_up: FollowUp,
    outcome: AgentOutcome | None,
    approval: str | None,
    recommended: bool,
    label: str,
) -> None:
    say, statuses = follow_up.answers, follow_up.statuses
    if outcome is None:
        if plan.dispatch is not None and (plan.dispatch_requested or recommended):
            speech.unreachable.append(label)
        elif plan.dispatch is None and recommended and follow_up.skill not in plan.unavailable:
            speech.say(say.not_bookable)
            speech.partial = True
        return
    if not _answered(outcome):
        speech.unreachable.append(label)
        return
    speech.heard(outcome.agent)
    status = outcome.data.get("status")
    if outcome.status == COMPLETED and status == statuses.done:
        speech.say(clip(outcome.text) or say.done)
    elif approval == TIMED_OUT:
        # The orchestrator declines the held slot when nobody decides: still not a rejection.
        speech.say(say.approval_timed_out)
    elif approval == REJECTED or status == statuses.declined:
        speech.say(say.rejected)
    elif outcome.status == INPUT_REQUIRED or status == statuses.needs_approval:
        speech.say(say.approved_pending if approval == APPROVED else say.approval_pending)
    elif status == statuses.no_slot:
        speech.say(f"{clip(outcome.text)} {say.no_slot}".strip())
    else:
        speech.say(clip(outcome.text))


def _nothing_planned(plan: Plan, answers: Answers, has_playbook: bool) -> str:
    """No agent was asked: the playbook's sentence, and what else the network can do."""
    offered = _in_words(plan.offer) if plan.offer else ""
    if not has_playbook and offered:
        return OFFER.replace("{agents}", offered)
    if offered:
        return f"{answers.nothing_applicable} {OFFER_TOO.replace('{agents}', offered)}"
    return answers.nothing_applicable


def compose(
    plan: Plan,
    outcomes: Sequence[AgentOutcome],
    approval: str | None = None,
    playbook: Playbook | None = None,
    waiting: Collection[str] = (),
) -> Answer:
    """The answer to speak; `approval` is None, "approved", "rejected" or "timed-out";
    `waiting` names the agents whose question went to a person (they are answered later)."""
    answers = playbook.answers if playbook else GENERIC
    identity = playbook.identity if playbook else None
    labels = playbook.labels if playbook else {}
    if plan.needs_identity and identity is not None:
        return Answer(identity.answers.needed)
    if identity is not None and identity.skill in plan.unavailable:
        return Answer(identity.answers.unavailable, partial=True)
    # A retried or continued call (dispatch after approval) reports again: the last one counts.
    latest = {outcome.agent: outcome for outcome in outcomes}
    speech = _Speech()
    if plan.authenticates and identity is not None:
        auth = latest.get(plan.stages[0][0].agent)
        if not _answered(auth):
            return Answer(identity.answers.unreachable, partial=True)
        if plan.verified_customer(auth.data) is None:
            return Answer(_auth_refusal(identity, auth.data), (auth.agent,))
        speech.heard(auth.agent)
        speech.say(clip(auth.text) or identity.answers.verified)

    for step in plan.steps:
        if step.skill == plan.identity_skill:
            continue
        outcome = latest.get(step.agent)
        # A planned step is named by its skill, a step the voice model chose by its agent.
        label = _label(labels, step.agent if plan.chosen else step.skill)
        if outcome is not None and outcome.agent in waiting:
            speech.heard(outcome.agent)
            speech.say(WAITING_FOR_PERSON.replace("{agent}", label))
        elif _answered(outcome):
            speech.heard(outcome.agent)
            said = clip(outcome.text)
            if not said:
                speech.say(NOTHING_TO_REPORT.replace("{agent}", label))
            else:  # agents the model chose are each attributed: it rephrases what they said
                speech.say(f"From the {label}: {said}" if plan.chosen else said)
        else:
            speech.unreachable.append(label)
    follow_up = playbook.follow_up if playbook else None
    if not plan.chosen and follow_up is not None:
        results = {o.skill: o.data for o in latest.values() if o.status == COMPLETED}
        dispatch = latest.get(plan.dispatch.agent) if plan.dispatch is not None else None
        label = _label(labels, follow_up.skill)
        recommended = plan.recommends_follow_up(results)
        _follow_up(speech, plan, follow_up, dispatch, approval, recommended, label)

    skipped = identity.skill if identity else None
    unavailable = [_label(labels, name) for name in plan.unavailable if name != skipped]
    if speech.unreachable and not speech.agents:
        return Answer(answers.all_down, partial=True)
    if unavailable and not speech.agents:
        text = f"I'm sorry. {_unavailable_sentence(unavailable)} {answers.try_later}"
        return Answer(text, partial=True)
    if speech.unreachable:
        speech.say(_unreachable_sentence(speech.unreachable))
        speech.partial = True
    if unavailable:
        speech.say(_unavailable_sentence(unavailable))
        speech.partial = True
    if not speech.sentences:
        return Answer(_nothing_planned(plan, answers, playbook is not None))
    if plan.authenticates and len(plan.steps) == 1 and plan.dispatch is None and identity:
        speech.say(identity.answers.verified_only)
    return speech.answer()


def compose_follow_up(
    plan: Plan,
    outcome: AgentOutcome,
    approval: str,
    playbook: Playbook | None = None,
) -> Answer:
    """What to say once a person has dealt with `outcome`'s agent: its answer after the person's
    `approval` ("approved", "rejected", "replied" or "timed-out")."""
    labels = playbook.labels if playbook else {}
    follow_up = playbook.follow_up if playbook else None
    speech = _Speech()
    if (
        follow_up is not None
        and plan.dispatch is not None
        and not plan.chosen
        and outcome.agent == plan.dispatch.agent
    ):
        label = _label(labels, follow_up.skill)
        _follow_up(speech, plan, follow_up, outcome, approval, True, label)
    else:
        step = next((s for s in plan.steps if s.agent == outcome.agent), None)
        label = _label(labels, outcome.agent if plan.chosen or step is None else step.skill)
        if approval == TIMED_OUT:
            speech.say(NOBODY_ANSWERED.replace("{agent}", label))
        if _answered(outcome):
            speech.heard(outcome.agent)
            said = clip(outcome.text)
            nothing = NOTHING_TO_REPORT.replace("{agent}", label)
            speech.say(f"From the {label}: {said}" if said else nothing)
        else:
            speech.unreachable.append(label)
    if speech.unreachable:
        speech.say(_unreachable_sentence(speech.unreachable))
        speech.partial = True
    return speech.answer()
