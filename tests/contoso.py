"""The sample network's playbook (playbooks/contoso.json) as the tests use it: its skill ids,
its sentences, and the planner and composer bound to it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from voicea2a import compose as composer
from voicea2a import planner
from voicea2a.messages import MessageRequest, RequestBody, request_body
from voicea2a.playbook import load_playbook

CONTOSO = load_playbook("contoso")
assert CONTOSO.identity is not None and CONTOSO.follow_up is not None
IDENTITY, FOLLOW_UP = CONTOSO.identity, CONTOSO.follow_up
BODY: RequestBody = request_body(CONTOSO)

AUTHENTICATION = "customer_authentication"
OUTAGE = "outage_checking"
MODEM = "modem_diagnostics"
PLAN = "plan_checking"
NETWORK = "network_diagnostics"
DISPATCH = "dispatch_scheduling"
SKILL_IDS = tuple(skill.id for skill in CONTOSO.skills)  # in the playbook's order
SYMPTOM_IDS = tuple(symptom.id for symptom in CONTOSO.symptoms)
LED_STATES = CONTOSO.details[0].values
RULES = planner.Plan(
    identity_skill=AUTHENTICATION,
    verification=IDENTITY.verification,
    follow_up_when=FOLLOW_UP.recommended_when,
)


def plan(
    request: MessageRequest, verified: planner.Verified | None, skills: Mapping[str, str]
) -> planner.Plan:
    """The Contoso playbook's plan."""
    return planner.plan(CONTOSO, request, verified, skills)


def needed_skills(request: MessageRequest) -> frozenset[str]:
    """The skills the Contoso playbook finds in a request."""
    return planner.needed_skills(CONTOSO, request)


def needs_dispatch(results: Mapping[str, Mapping[str, Any]]) -> bool:
    """Whether results recommend a technician, by the playbook's conditions."""
    return RULES.recommends_follow_up(results)


def verified_customer(data: Mapping[str, Any]) -> str | None:
    """The customer id an authentication result verified."""
    return RULES.verified_customer(data)


def compose(
    plan_: planner.Plan,
    outcomes: Sequence[composer.AgentOutcome],
    approval: str | None = None,
    waiting: Sequence[str] = (),
) -> composer.Answer:
    """The answer with the Contoso playbook's sentences."""
    return composer.compose(plan_, outcomes, approval, CONTOSO, waiting)


def compose_follow_up(
    plan_: planner.Plan, outcome: composer.AgentOutcome, approval: str
) -> composer.Answer:
    """The follow-up with the Contoso playbook's sentences."""
    return composer.compose_follow_up(plan_, outcome, approval, CONTOSO)
