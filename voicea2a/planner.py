"""Which specialists a request needs, and in which stages: a pure, deterministic function.

Rules, applied in this order:

| # | when | plan |
|---|------|------|
| 1 | `symptoms` given | diagnostics from the symptom table below (request text ignored) |
| 2 | no `symptoms` | diagnostics from keywords in the request text (keyword table below) |
| 3 | `ledState` given | modem diagnostics too (with `ledState` in its data) |
| 4 | `preferredDate` given | dispatch requested (a visit date only makes sense for a visit) |
| 5 | verified earlier, and no identity or the same identity | no authentication; every step |
|   |                                   | gets the verified id |
| 6 | full identity not verified in this conversation (none was, | stage 1: authentication |
|   | or another one was) | alone; later steps get the id from its result (`with_customer`) |
| 7 | no identity, not verified, account work needed | `needs_identity`: nothing planned |
| 8 | diagnostics needed | one parallel stage, in the order outage, network, modem, plan |
| 9 | dispatch requested, or network/modem diagnostics planned | a `dispatch` step, run after the |
|   |                                   | stages when requested or when `needs_dispatch(results)` |
| 10 | a needed skill has no healthy agent | listed in `unavailable`, not planned; without |
|    |                                   | authentication no account step is planned either |

Symptoms (the tool's enum, voicea2a.voice_session.SYMPTOMS):

| symptom | skills |
|---------|--------|
| no_internet | outage, modem, plan (a suspended account looks like an outage) |
| slow_internet | network, outage, plan (throttling on a capped plan) |
| intermittent_connection | network, modem, outage |
| modem_lights | modem |
| billing_question, plan_question | plan |
| technician_visit | dispatch requested |

Keywords (whole words, any case; "slow down" does not count as "down"):

| words | skills |
|-------|--------|
| outage, down, no internet, offline, no connection, no service | outage, modem, plan |
| slow, lag, laggy, lagging, buffering, latency | network, outage, plan |
| drop(s/ped/ping), intermittent, disconnect(s/ed/ing), cutting out | network, modem, outage |
| modem, router, light(s), LED(s) | modem |
| bill(s), billing, charge(s/d), plan, usage, overage, payment, invoice | plan |
| technician(s), visit, appointment | dispatch requested |

A technician is recommended (`needs_dispatch`) when the network result has
`technicianRecommended: true` (status CRITICAL), or the modem status is HARDWARE_FAULT or
SIGNAL_ISSUE. Every skill but authentication is account work: it needs a customer id.
A `customerId` the caller merely claims is never trusted, and a verified customer never answers
for another identity: "the same identity" compares `identity_fingerprint`s.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from voicea2a.messages import CUSTOMER_ID_RE, Customer, MessageRequest

AUTHENTICATION = "customer_authentication"
OUTAGE = "outage_checking"
MODEM = "modem_diagnostics"
PLAN = "plan_checking"
NETWORK = "network_diagnostics"
DISPATCH = "dispatch_scheduling"

# The order of the diagnostics stage, and so of the findings in the answer.
DIAGNOSTICS = (OUTAGE, NETWORK, MODEM, PLAN)
TECHNICIAN_MODEM_STATUSES = frozenset({"HARDWARE_FAULT", "SIGNAL_ISSUE"})
MAX_ISSUE_CHARS = 200
CONTEXT_HEADING = "Earlier in this conversation:\n"

NO_INTERNET = frozenset({OUTAGE, MODEM, PLAN})
SLOW = frozenset({NETWORK, OUTAGE, PLAN})
INTERMITTENT = frozenset({NETWORK, MODEM, OUTAGE})

SYMPTOM_SKILLS: dict[str, frozenset[str]] = {
    "no_internet": NO_INTERNET,
    "slow_internet": SLOW,
    "intermittent_connection": INTERMITTENT,
    "modem_lights": frozenset({MODEM}),
    "billing_question": frozenset({PLAN}),
    "plan_question": frozenset({PLAN}),
    "technician_visit": frozenset({DISPATCH}),
}


def _words(pattern: str) -> re.Pattern[str]:
    return re.compile(rf"\b(?:{pattern})\b", re.IGNORECASE)


KEYWORD_SKILLS: tuple[tuple[re.Pattern[str], frozenset[str]], ...] = (
    (_words(r"outages?|down|no internet|offline|no connection|no service"), NO_INTERNET),
    (_words(r"slow(?:er|ly|ness)?|lag|laggy|lagging|buffering|latency"), SLOW),
    (
        _words(r"drop(?:s|ped|ping)?|intermittent(?:ly)?|disconnect(?:s|ed|ing)?|cutting out"),
        INTERMITTENT,
    ),
    (_words(r"modem|router|lights?|leds?"), frozenset({MODEM})),
    (
        _words(r"bills?|billing|billed|charges?|charged|plan|usage|overage|payments?|invoices?"),
        frozenset({PLAN}),
    ),
    (_words(r"technicians?|visit|appointment"), frozenset({DISPATCH})),
)
_SLOW_DOWN = re.compile(r"\bslow(?:s|ed|ing)?\s+down\b", re.IGNORECASE)


@dataclass(frozen=True)
class Step:
    """One call of one specialist: its registry name, the skill, the A2A `data` part, and a
    `text` part when the agent is told something in words (the voice model's choice)."""

    agent: str
    skill: str
    data: dict[str, Any] = field(default_factory=dict)
    text: str | None = None
    context: str | None = None  # earlier turns of the conversation, a text part of their own

    def to_json(self) -> dict[str, Any]:
        """The step as a JSON object."""
        step: dict[str, Any] = {"agent": self.agent, "skill": self.skill, "data": dict(self.data)}
        if self.text is not None:
            step["text"] = self.text
        if self.context is not None:
            step["context"] = self.context
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
        )


@dataclass(frozen=True)
class Plan:
    """The stages to run in order (steps of a stage in parallel), and what could not be planned."""

    stages: tuple[tuple[Step, ...], ...] = ()
    dispatch: Step | None = None
    dispatch_requested: bool = False
    unavailable: tuple[str, ...] = ()
    needs_identity: bool = False
    # The voice model chose the agents (chosen_plan): `unavailable` holds agent names, and no
    # rule of the planner (a technician recommended by diagnostics) applies.
    chosen: bool = False

    @property
    def steps(self) -> tuple[Step, ...]:
        """Every stage step in plan order (the dispatch step excluded)."""
        return tuple(step for stage in self.stages for step in stage)

    @property
    def authenticates(self) -> bool:
        """True when the first stage verifies the caller's identity."""
        return bool(self.stages) and self.stages[0][0].skill == AUTHENTICATION

    def to_json(self) -> dict[str, Any]:
        """The plan as JSON (orchestration input and output)."""
        return {
            "stages": [[step.to_json() for step in stage] for stage in self.stages],
            "dispatch": self.dispatch.to_json() if self.dispatch is not None else None,
            "dispatchRequested": self.dispatch_requested,
            "unavailable": list(self.unavailable),
            "needsIdentity": self.needs_identity,
            "chosen": self.chosen,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Plan:
        """Rebuild a plan from `to_json` output."""
        dispatch = data.get("dispatch")
        return cls(
            stages=tuple(
                tuple(Step.from_json(step) for step in stage) for stage in data.get("stages", ())
            ),
            dispatch=Step.from_json(dispatch) if dispatch is not None else None,
            dispatch_requested=bool(data.get("dispatchRequested", False)),
            unavailable=tuple(data.get("unavailable", ())),
            needs_identity=bool(data.get("needsIdentity", False)),
            chosen=bool(data.get("chosen", False)),
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


def needed_skills(request: MessageRequest) -> frozenset[str]:
    """The skills a request asks for (DISPATCH meaning "dispatch requested"), before identity."""
    skills: set[str] = set()
    if request.symptoms:
        for symptom in request.symptoms:
            skills |= SYMPTOM_SKILLS.get(symptom, frozenset())
    else:
        text = _SLOW_DOWN.sub("slow", request.request)
        for pattern, found in KEYWORD_SKILLS:
            if pattern.search(text):
                skills |= found
    if request.led_state is not None:
        skills.add(MODEM)
    if request.preferred_date is not None:
        skills.add(DISPATCH)
    return frozenset(skills)


def _identity_data(customer: Customer) -> dict[str, Any]:
    return {
        "firstName": customer.first_name,
        "lastName": customer.last_name,
        "postalCode": customer.postal_code,
        "dateOfBirth": customer.date_of_birth,
    }


def _step_data(skill: str, request: MessageRequest, customer_id: str | None) -> dict[str, Any]:
    data: dict[str, Any] = {} if customer_id is None else {"customerId": customer_id}
    if skill == MODEM and request.led_state is not None:
        data["ledState"] = request.led_state
    if skill == DISPATCH:
        data["issue"] = request.request[:MAX_ISSUE_CHARS]
        if request.preferred_date is not None:
            data["preferredDate"] = request.preferred_date
    return data


def plan(request: MessageRequest, verified: Verified | None, skills: Mapping[str, str]) -> Plan:
    """Plan a request; `skills` maps each skill id to a routable agent's registry name."""
    needed = needed_skills(request)
    dispatch_requested = DISPATCH in needed
    diagnostics = [skill for skill in DIAGNOSTICS if skill in needed]
    account_work = bool(diagnostics) or dispatch_requested
    customer = request.customer
    identity = customer if customer is not None and customer.has_identity() else None
    if identity is not None and verified and identity_fingerprint(identity) == verified.identity:
        identity = None  # the customer verified before, saying who they are again
    verified_customer_id = verified.customer_id if verified and identity is None else None
    if verified_customer_id is None and identity is None:
        return Plan(dispatch_requested=dispatch_requested, needs_identity=account_work)

    unavailable: list[str] = []
    stages: list[tuple[Step, ...]] = []
    if identity is not None:
        if AUTHENTICATION not in skills:
            # Nothing on the account may run without verification.
            return Plan(dispatch_requested=dispatch_requested, unavailable=(AUTHENTICATION,))
        auth = Step(skills[AUTHENTICATION], AUTHENTICATION, _identity_data(identity))
        stages.append((auth,))

    stage = []
    for skill in diagnostics:
        if skill in skills:
            stage.append(
                Step(skills[skill], skill, _step_data(skill, request, verified_customer_id))
            )
        else:
            unavailable.append(skill)
    if stage:
        stages.append(tuple(stage))

    dispatch = None
    may_recommend = NETWORK in diagnostics or MODEM in diagnostics
    if dispatch_requested or may_recommend:
        if DISPATCH in skills:
            data = _step_data(DISPATCH, request, verified_customer_id)
            dispatch = Step(skills[DISPATCH], DISPATCH, data)
        elif dispatch_requested:
            unavailable.append(DISPATCH)
    return Plan(
        stages=tuple(stages),
        dispatch=dispatch,
        dispatch_requested=dispatch_requested,
        unavailable=tuple(unavailable),
    )


def chosen_plan(
    request: MessageRequest,
    routable: Mapping[str, str],
    verified: str | None,
    context: str | None = None,
) -> Plan:
    """The agents the voice model chose (`request.agents`), in one parallel stage: each told its
    message (else the request) with its data; `routable` maps each routable agent to the skill
    it is asked for (its card's first). A chosen agent that is not routable now (unhealthy, or
    its credential refused) is `unavailable`, by name. The model cannot vouch for a customer:
    a `customerId` in its data is replaced by the verified one, or dropped. `context` (earlier
    turns: context_text) goes to every chosen agent."""
    stage = tuple(
        Step(
            choice.name,
            routable[choice.name],
            _vouched(choice.data, verified),
            choice.message or request.request,
            context,
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


def needs_dispatch(results: Mapping[str, Mapping[str, Any]]) -> bool:
    """True when a diagnostics result recommends a technician (`results`: skill id -> data)."""
    network = results.get(NETWORK) or {}
    modem = results.get(MODEM) or {}
    return (
        network.get("technicianRecommended") is True
        or network.get("status") == "CRITICAL"
        or modem.get("status") in TECHNICIAN_MODEM_STATUSES
    )


def verified_customer(auth_data: Mapping[str, Any]) -> str | None:
    """The customer id of an AUTHENTICATED authentication result, else None."""
    customer_id = auth_data.get("customerId")
    if auth_data.get("status") != "AUTHENTICATED" or not isinstance(customer_id, str):
        return None
    return customer_id if CUSTOMER_ID_RE.fullmatch(customer_id) else None


def with_customer(step: Step, customer_id: str) -> Step:
    """The step with `customerId` filled in (for steps planned before verification)."""
    return Step(step.agent, step.skill, {**step.data, "customerId": customer_id})
