"""Which specialists a request needs, and in which stages: a pure, deterministic function of
the request, the playbook (voicea2a/playbook.py) and the routable agents.

Rules of `plan`, applied in this order (every skill named comes from the playbook):

| # | when | plan |
|---|------|------|
| 1 | `symptoms` given | the skills of those symptoms (request text ignored) |
| 2 | no `symptoms` | the skills of the keyword patterns the request text matches (after the |
|   |                | playbook's rewrites: "slow down" is not "down") |
| 3 | a detail given | its skill too (with the detail in that skill's data) |
| 4 | the follow-up skill needed | follow-up requested |
| 5 | verified earlier, and no identity or the same identity | no identity step; every step |
|   |                                   | gets the verified id |
| 6 | full identity not verified in this conversation (none was, | stage 1: the identity skill |
|   | or another one was) | alone; later steps get the id from its result (`with_customer`) |
| 7 | no identity, not verified, account work needed | `needs_identity`: nothing planned |
| 8 | stage skills needed | one parallel stage, in the playbook's `stage` order |
| 9 | follow-up requested, or a `recommendedAfter` skill planned | a follow-up step, run after |
|   |                                   | the stages when requested or when a result meets |
|   |                                   | one of `recommendedWhen` (`Plan.recommends_follow_up`) |
| 10 | a needed skill has no healthy agent | listed in `unavailable`, not planned; without |
|    |                                   | the identity skill no account step is planned either |

With a playbook that has no identity, every step runs without a customer. A `customerId` the
caller merely claims is never trusted, and a verified customer never answers for another
identity: "the same identity" compares `identity_fingerprint`s. A request the playbook does not
cover (no skill needed) goes to the generic matcher (`matched_plan`); the voice model's own
choice of agents to `chosen_plan`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from voicea2a.matcher import Candidate, best_match
from voicea2a.messages import CUSTOMER_ID_RE, Customer, MessageRequest
from voicea2a.playbook import Condition, Playbook, Verification

MAX_REQUEST_DATA_CHARS = 200  # of the request text in the follow-up step's data
CONTEXT_HEADING = "Earlier in this conversation:\n"


@dataclass(frozen=True)
class Step:
    """One call of one specialist: its registry name, the skill, the A2A `data` part, and a
    `text` part when the agent is told something in words (the voice model's choice)."""

    agent: str
    skill: str
    data: dict[str, Any] = field(default_factory=dict)
    text: str | None = None
    context: str | None = None  # earlier turns of the conversation, a text part of their own
    task_id: str | None = None  # the agent's task this message answers (it was input-required)

    def to_json(self) -> dict[str, Any]:
        """The step as a JSON object."""
        step: dict[str, Any] = {"agent": self.agent, "skill": self.skill, "data": dict(self.data)}
        if self.text is not None:
            step["text"] = self.text
        if self.context is not None:
            step["context"] = self.context
        if self.task_id is not None:
            step["taskId"] = self.task_id
        return step

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Step:
        """Rebuild a step from `to_json` output."""
        return cls(
            agent=data["agent"],
            skill=data["skill"],
            data=dict(data.get("data") or {}),
            text=data.get("text"),
            context=data.get("context"),
            task_id=data.get("taskId"),
        )


@dataclass(frozen=True)
class Plan:
    """The stages to run in order (steps of a stage in parallel), and what could not be planned.

    The playbook's rules the orchestration applies travel with the plan (`identity_skill`,
    `verification`, `follow_up_when`), so one delegation follows one version of them."""

    stages: tuple[tuple[Step, ...], ...] = ()
    dispatch: Step | None = None  # the playbook's follow-up step
    dispatch_requested: bool = False
    unavailable: tuple[str, ...] = ()
    needs_identity: bool = False
    # The voice model or the matcher chose the agents (chosen_plan, matched_plan): `unavailable`
    # holds agent names, and no rule of the playbook (a recommended follow-up) applies.
    chosen: bool = False
    identity_skill: str | None = None
    verification: Verification | None = None
    follow_up_when: tuple[Condition, ...] = ()
    # Nothing was planned: what the network can do, for the question back.
    offer: tuple[str, ...] = ()

    @property
    def steps(self) -> tuple[Step, ...]:
        """Every stage step in plan order (the dispatch step excluded)."""
        return tuple(step for stage in self.stages for step in stage)

    @property
    def authenticates(self) -> bool:
        """True when the first stage verifies the caller's identity."""
        return bool(self.stages) and self.stages[0][0].skill == self.identity_skill

    def verified_customer(self, data: Mapping[str, Any]) -> str | None:
        """The customer id an identity result verified, else None."""
        verification = self.verification
        if verification is None or data.get(verification.status_field) != verification.verified:
            return None
        customer_id = data.get(verification.customer_id_field)
        if not isinstance(customer_id, str) or not (
            CUSTOMER_ID_RE.fullmatch(customer_id)
            and re.fullmatch(verification.customer_id_pattern, customer_id)
        ):
            return None
        return customer_id

    def recommends_follow_up(self, results: Mapping[str, Mapping[str, Any]]) -> bool:
        """True when a completed result (skill id -> data) meets a `recommendedWhen`."""
        return any(condition.holds(results) for condition in self.follow_up_when)

    def to_json(self) -> dict[str, Any]:
        """The plan as JSON (orchestration input and output)."""
        return {
            "stages": [[step.to_json() for step in stage] for stage in self.stages],
            "dispatch": self.dispatch.to_json() if self.dispatch is not None else None,
            "dispatchRequested": self.dispatch_requested,
            "unavailable": list(self.unavailable),
            "needsIdentity": self.needs_identity,
            "chosen": self.chosen,
            "identitySkill": self.identity_skill,
            "verification": self.verification.to_json() if self.verification else None,
            "followUpWhen": [condition.to_json() for condition in self.follow_up_when],
            "offer": list(self.offer),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Plan:
        """Rebuild a plan from `to_json` output."""
        dispatch = data.get("dispatch")
        verification = data.get("verification")
        return cls(
            stages=tuple(
                tuple(Step.from_json(step) for step in stage) for stage in data.get("stages", ())
            ),
            dispatch=Step.from_json(dispatch) if dispatch is not None else None,
            dispatch_requested=bool(data.get("dispatchRequested", False)),
            unavailable=tuple(data.get("unavailable", ())),
            needs_identity=bool(data.get("needsIdentity", False)),
            chosen=bool(data.get("chosen", False)),
            identity_skill=data.get("identitySkill"),
            verification=Verification.from_json(verification) if verification else None,
            follow_up_when=tuple(Condition.from_json(c) for c in data.get("followUpWhen", ())),
            offer=tuple(data.get("offer", ())),
        )


@dataclass(frozen=True)
class Verified:
    """The customer verified earlier in the conversation, and the identity that proved it."""

    customer_id: str
    identity: str = ""  # identity_fingerprint of the verified details; "" when not known


def identity_fingerprint(customer: Customer) -> str:
    """A digest of the normalised identity details: equal for the same person however typed."""
    parts = (
        " ".join((customer.first_name or "").split()).casefold(),
        " ".join((customer.last_name or "").split()).casefold(),
        "".join((customer.postal_code or "").split()).upper(),
        (customer.date_of_birth or "").strip(),
    )
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def needed_skills(playbook: Playbook, request: MessageRequest) -> frozenset[str]:
    """The skills a request asks for (the follow-up's meaning "requested"), before identity."""
    skills: set[str] = set()
    if request.symptoms:
        for symptom in request.symptoms:
            skills.update(playbook.symptom_skills.get(symptom, ()))
    else:
        text = request.request
        for rewrite in playbook.rewrites:
            text = rewrite.regex.sub(rewrite.replacement, text)
        for keywords in playbook.keywords:
            if keywords.regex.search(text):
                skills.update(keywords.skills)
    skills.update(detail.skill for detail in playbook.details if detail.name in request.details)
    return frozenset(skills)


def _identity_data(customer: Customer) -> dict[str, Any]:
    return {
        "firstName": customer.first_name,
        "lastName": customer.last_name,
        "postalCode": customer.postal_code,
        "dateOfBirth": customer.date_of_birth,
    }


def _step_data(
    playbook: Playbook, skill: str, request: MessageRequest, customer_id: str | None
) -> dict[str, Any]:
    data: dict[str, Any] = {} if customer_id is None else {"customerId": customer_id}
    follow_up = playbook.follow_up
    if follow_up is not None and skill == follow_up.skill:
        data[follow_up.request_field] = request.request[:MAX_REQUEST_DATA_CHARS]
    for detail in playbook.details:
        if detail.skill == skill and detail.name in request.details:
            data[detail.name] = request.details[detail.name]
    return data


def plan(
    playbook: Playbook,
    request: MessageRequest,
    verified: Verified | None,
    skills: Mapping[str, str],
) -> Plan:
    """Plan a request by the playbook; `skills` maps each skill id to a routable agent's name."""
    needed = needed_skills(playbook, request)
    follow_up = playbook.follow_up
    identity_skill = playbook.identity.skill if playbook.identity else None
    rules = Plan(
        identity_skill=identity_skill,
        verification=playbook.identity.verification if playbook.identity else None,
        follow_up_when=follow_up.recommended_when if follow_up else (),
    )
    requested = follow_up is not None and follow_up.skill in needed
    staged = [skill for skill in playbook.stage if skill in needed]
    account_work = bool(staged) or requested
    customer = request.customer
    identity = customer if customer is not None and customer.has_identity() else None
    if identity is not None and verified and identity_fingerprint(identity) == verified.identity:
        identity = None  # the customer verified before, saying who they are again
    verified_customer_id = verified.customer_id if verified and identity is None else None
    if identity_skill is None:
        identity = None
    elif verified_customer_id is None and identity is None:
        return replace(rules, dispatch_requested=requested, needs_identity=account_work)

    unavailable: list[str] = []
    stages: list[tuple[Step, ...]] = []
    if identity is not None and identity_skill is not None:
        if identity_skill not in skills:
            # Nothing on the account may run without verification.
            return replace(rules, dispatch_requested=requested, unavailable=(identity_skill,))
        stages.append((Step(skills[identity_skill], identity_skill, _identity_data(identity)),))

    stage = []
    for skill in staged:
        if skill in skills:
            data = _step_data(playbook, skill, request, verified_customer_id)
            stage.append(Step(skills[skill], skill, data))
        else:
            unavailable.append(skill)
    if stage:
        stages.append(tuple(stage))

    dispatch = None
    if follow_up is not None:
        may_recommend = any(skill in staged for skill in follow_up.recommended_after)
        if requested or may_recommend:
            if follow_up.skill in skills:
                data = _step_data(playbook, follow_up.skill, request, verified_customer_id)
                dispatch = Step(skills[follow_up.skill], follow_up.skill, data)
            elif requested:
                unavailable.append(follow_up.skill)
    return replace(
        rules,
        stages=tuple(stages),
        dispatch=dispatch,
        dispatch_requested=requested,
        unavailable=tuple(unavailable),
    )


def covers(planned: Plan) -> bool:
    """Whether the playbook's plan does anything for the request (else the matcher decides)."""
    return bool(planned.stages or planned.dispatch or planned.unavailable or planned.needs_identity)


def matched_plan(
    request: MessageRequest,
    candidates: Sequence[Candidate],
    verified: str | None,
    context: str | None = None,
    waiting: Mapping[str, str] | None = None,
) -> Plan:
    """The one agent whose skills best match the request text (voicea2a/matcher.py), asked as
    if the voice model had chosen it; a tie or no match plans nothing and offers what the
    candidates (the tied ones, else all) can do. An agent `waiting` for an answer (agent ->
    its input-required task) is asked first: the request is that answer."""
    waiting = waiting or {}
    waited = [candidate for candidate in candidates if candidate.name in waiting]
    if len(waited) == 1:
        [agent] = waited
        skill = agent.skills[0].id if agent.skills else ""
        data = _vouched({}, verified)
        step = Step(agent.name, skill, data, request.request, context, waiting[agent.name])
        return Plan(stages=((step,),), chosen=True)
    match = best_match(request.request, candidates)
    if match.agent is not None:
        step = Step(
            match.agent.name, match.skill_id, _vouched({}, verified), request.request, context
        )
        return Plan(stages=((step,),), chosen=True)
    offered = match.tied or tuple(candidates)
    return Plan(chosen=True, offer=tuple(candidate.offer for candidate in offered))


def chosen_plan(
    request: MessageRequest,
    routable: Mapping[str, str],
    verified: str | None,
    context: str | None = None,
    waiting: Mapping[str, str] | None = None,
) -> Plan:
    """The agents the voice model chose (`request.agents`), in one parallel stage: each told its
    message (else the request) with its data; `routable` maps each routable agent to the skill
    it is asked for (its card's first). A chosen agent that is not routable now (unhealthy, or
    its credential refused) is `unavailable`, by name. The model cannot vouch for a customer:
    a `customerId` in its data is replaced by the verified one, or dropped. `context` (earlier
    turns: context_text) goes to every chosen agent; an agent `waiting` for an answer (agent ->
    its input-required task) gets it in that task."""
    waiting = waiting or {}
    stage = tuple(
        Step(
            choice.name,
            routable[choice.name],
            _vouched(choice.data, verified),
            choice.message or request.request,
            context,
            waiting.get(choice.name),
        )
        for choice in request.agents
        if choice.name in routable
    )
    unavailable = tuple(choice.name for choice in request.agents if choice.name not in routable)
    return Plan(stages=(stage,) if stage else (), unavailable=unavailable, chosen=True)


def context_text(turns: Sequence[tuple[str, str]], max_chars: int) -> str | None:
    """Earlier turns as one text for an agent (None without any): the latest kept whole
    within `max_chars`, older ones dropped first, a single long turn cut at its start."""
    lines = [f"Caller: {request}\nAssistant: {answer}" for request, answer in turns]
    kept: list[str] = []
    size = len(CONTEXT_HEADING)
    for line in reversed(lines):
        if kept and size + len(line) + 1 > max_chars:
            break
        kept.insert(0, line)
        size += len(line) + 1
    if not kept:
        return None
    text = CONTEXT_HEADING + "\n".join(kept)
    return (
        text
        if len(text) <= max_chars
        else CONTEXT_HEADING + "…" + text[-(max_chars - len(CONTEXT_HEADING) - 1) :]
    )


def _vouched(data: Mapping[str, Any], verified: str | None) -> dict[str, Any]:
    kept = {key: value for key, value in data.items() if key != "customerId"}
    return kept if verified is None else {**kept, "customerId": verified}


def with_customer(step: Step, customer_id: str) -> Step:
    """The step with `customerId` filled in (for steps planned before verification)."""
    return Step(step.agent, step.skill, {**step.data, "customerId": customer_id})
