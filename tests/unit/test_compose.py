"""The composed answer, outcome by outcome; no internal reason ever reaches the spoken text."""

from __future__ import annotations

import json

import pytest

from agents.catalog import AGENT_CLASSES
from agents.inputs import RequestInput
from tests.agents.identities import IDENTITIES
from tests.contoso import (
    AUTHENTICATION,
    BODY,
    CONTOSO,
    DISPATCH,
    FOLLOW_UP,
    IDENTITY,
    MODEM,
    NETWORK,
    OUTAGE,
    PLAN,
    compose,
    compose_follow_up,
    needs_dispatch,
    plan,
    verified_customer,
)
from tests.unit.test_planner import ALL, JANE
from voicea2a import compose as c
from voicea2a.compose import AgentOutcome, Answer, clip
from voicea2a.messages import Customer, MessageRequest
from voicea2a.planner import (
    Plan,
    Step,
    Verified,
    chosen_plan,
    with_customer,
)

AGENT = ALL  # skill -> the agent that has it
INTERNAL = (
    "httpx.ConnectTimeout: POST http://10.0.0.7:8102/a2a returned HTTP 503 Service Unavailable"
)
LEAKS = ("http", "10.0.0.7", "503", "ConnectTimeout", "Traceback", "Error", "a2a", "8102")

TEXTS = {
    OUTAGE: "There is no known outage in your area.",
    NETWORK: "Your connection is poor: latency 140 ms.",
    MODEM: "Verdict: signal issue.",
    PLAN: "You are on Internet 100.",
}


def done(skill: str, text: str | None = None, **data) -> AgentOutcome:
    return AgentOutcome(
        AGENT[skill], skill, "completed", TEXTS.get(skill, "") if text is None else text, data
    )


def broken(skill: str, status: str = "failed") -> AgentOutcome:
    return AgentOutcome(
        AGENT[skill],
        skill,
        status,
        text=f"Traceback (most recent call last): {INTERNAL}",
        reason=INTERNAL,
    )


def verified_plan(*symptoms: str, skills=ALL) -> Plan:
    return plan(MessageRequest("help", symptoms=symptoms), Verified("CUST-0001"), skills)


def identity_plan(*symptoms: str) -> Plan:
    return plan(MessageRequest("help", customer=JANE, symptoms=symptoms), None, ALL)


AUTHENTICATED = AgentOutcome(
    "authentication",
    AUTHENTICATION,
    "completed",
    "Thank you, Jane: you are verified as customer CUST-0001 in the Toronto region.",
    {"status": "AUTHENTICATED", "customerId": "CUST-0001"},
)


def test_identity_needed():
    answer = compose(plan(MessageRequest("internet down"), None, ALL), [])
    assert answer == Answer(IDENTITY.answers.needed, (), False)
    assert answer.text == (
        "I need to verify your identity first: your first and last name, postal code and date "
        "of birth."
    )


def test_nothing_applicable_asks_back():
    answer = compose(plan(MessageRequest("hello"), Verified("CUST-0001"), ALL), [])
    assert answer == Answer(CONTOSO.answers.nothing_applicable, (), False)
    assert answer.text.endswith("?")


def test_verified_only_asks_what_to_check():
    answer = compose(plan(MessageRequest("verify me", customer=JANE), None, ALL), [AUTHENTICATED])
    assert answer.text == f"{AUTHENTICATED.text} {IDENTITY.answers.verified_only}"
    assert answer.agents == ("authentication",) and not answer.partial


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"status": "FAILED", "attemptsRemaining": 2}, "You have 2 attempts left."),
        ({"status": "FAILED", "attemptsRemaining": 1}, "You have 1 attempt left."),
        ({"status": "FAILED", "attemptsRemaining": 0}, IDENTITY.answers.now_locked),
        ({"status": "FAILED"}, IDENTITY.answers.retry),
        ({"status": "LOCKED_OUT", "retryAfterSeconds": 600}, IDENTITY.answers.locked_out),
        (
            {"status": "MISSING_FIELD", "missingFields": ["postalCode", "dateOfBirth"]},
            "To verify your identity I still need your postal code and date of birth.",
        ),
        (
            {"status": "MISSING_FIELD", "missingFields": ["firstName", "lastName", "postalCode"]},
            "I still need your first name, last name and postal code.",
        ),
        ({"status": "MISSING_FIELD", "missingFields": ["bogus"]}, IDENTITY.answers.needed),
        ({"status": "SOMETHING_NEW"}, IDENTITY.answers.mismatch),
    ],
)
def test_verification_refused(data, expected):
    auth = AgentOutcome("authentication", AUTHENTICATION, "completed", "agent words", data)
    answer = compose(identity_plan("no_internet"), [auth])
    assert expected in answer.text
    assert "agent words" not in answer.text
    assert answer.agents == ("authentication",) and not answer.partial


@pytest.mark.parametrize(
    "outcomes", [[], [broken(AUTHENTICATION)], [broken(AUTHENTICATION, "timed-out")]]
)
def test_verification_unreachable(outcomes):
    answer = compose(identity_plan("no_internet"), outcomes)
    assert answer == Answer(IDENTITY.answers.unreachable, (), True)


def test_verification_unavailable():
    skills = {k: v for k, v in ALL.items() if k != AUTHENTICATION}
    result = plan(MessageRequest("down", customer=JANE), None, skills)
    assert compose(result, []) == Answer(IDENTITY.answers.unavailable, (), True)


def test_findings_in_plan_order():
    outcomes = [done(PLAN), done(MODEM, status="HEALTHY"), done(OUTAGE), AUTHENTICATED]
    answer = compose(identity_plan("no_internet"), outcomes)
    assert answer.text == " ".join([AUTHENTICATED.text, TEXTS[OUTAGE], TEXTS[MODEM], TEXTS[PLAN]])
    assert answer.agents == ("authentication", "outage-check", "modem-check", "internet-plan")
    assert not answer.partial


def test_empty_agent_text_still_says_something():
    answer = compose(verified_plan("billing_question"), [done(PLAN, "")])
    assert answer == Answer(
        "The plan and billing check found nothing to report.", ("internet-plan",)
    )


def test_one_agent_failed_is_partial():
    outcomes = [done(OUTAGE), broken(MODEM), done(PLAN)]
    answer = compose(verified_plan("no_internet"), outcomes)
    assert (
        answer.text == f"{TEXTS[OUTAGE]} {TEXTS[PLAN]} I couldn't reach the modem check just now."
    )
    assert answer.partial and answer.agents == ("outage-check", "internet-plan")


def test_timed_out_and_missing_agents_are_partial():
    outcomes = [done(OUTAGE), broken(NETWORK, "timed-out")]
    answer = compose(verified_plan("slow_internet"), outcomes)
    assert answer.text.endswith(
        "I couldn't reach the network check or the plan and billing check just now."
    )
    assert answer.partial


def test_all_agents_down():
    outcomes = [broken(OUTAGE), broken(MODEM, "timed-out"), broken(PLAN)]
    answer = compose(verified_plan("no_internet"), outcomes)
    assert answer == Answer(CONTOSO.answers.all_down, (), True)
    assert answer.text.startswith("I'm sorry")


def test_all_down_after_verification_keeps_the_verification():
    outcomes = [AUTHENTICATED, broken(OUTAGE), broken(MODEM), broken(PLAN)]
    answer = compose(identity_plan("no_internet"), outcomes)
    assert answer.text == (
        f"{AUTHENTICATED.text} I couldn't reach the outage check, the modem check or the plan and "
        "billing check just now."
    )
    assert answer.partial


def test_unavailable_skill_is_said_and_partial():
    skills = {k: v for k, v in ALL.items() if k != MODEM}
    answer = compose(verified_plan("no_internet", skills=skills), [done(OUTAGE), done(PLAN)])
    assert answer.text.endswith("The modem check is not available right now.")
    assert answer.partial


def test_every_needed_skill_unavailable():
    result = verified_plan("no_internet", "technician_visit", skills={AUTHENTICATION: "a"})
    answer = compose(result, [])
    assert answer.text == (
        "I'm sorry. The outage check, the modem check, the plan and billing check and the "
        "technician booking are not available right now. Please try again in a few minutes."
    )
    assert answer.partial and answer.agents == ()


def dispatch_outcome(status: str, data_status: str, text: str = "") -> AgentOutcome:
    return AgentOutcome("technical-dispatch", DISPATCH, status, text, {"status": data_status})


BOOKED_TEXT = "Booked: Ana Silva will visit on Tuesday December 1 from 10:00 to 12:00."


def test_dispatch_booked():
    outcomes = [
        done(MODEM, status="HARDWARE_FAULT"),
        dispatch_outcome("completed", "BOOKED", BOOKED_TEXT),
    ]
    answer = compose(verified_plan("modem_lights"), outcomes)
    assert answer.text == f"{TEXTS[MODEM]} {BOOKED_TEXT}"
    assert answer.agents == ("modem-check", "technical-dispatch") and not answer.partial


def test_dispatch_approved_after_waiting_uses_the_last_outcome():
    outcomes = [
        done(MODEM, status="SIGNAL_ISSUE"),
        dispatch_outcome("input-required", "APPROVAL_REQUIRED", "I can book ..."),
        dispatch_outcome("completed", "BOOKED", BOOKED_TEXT),
    ]
    answer = compose(verified_plan("modem_lights"), outcomes, approval="approved")
    assert answer.text.endswith(BOOKED_TEXT)


@pytest.mark.parametrize(
    ("outcome", "approval", "expected"),
    [
        (
            dispatch_outcome("input-required", "APPROVAL_REQUIRED", "I can book"),
            None,
            FOLLOW_UP.answers.approval_pending,
        ),
        (
            dispatch_outcome("input-required", "APPROVAL_REQUIRED", "I can book"),
            "approved",
            FOLLOW_UP.answers.approved_pending,
        ),
        (
            dispatch_outcome("input-required", "APPROVAL_REQUIRED", "I can book"),
            "rejected",
            FOLLOW_UP.answers.rejected,
        ),
        (
            dispatch_outcome("completed", "DECLINED", "declined"),
            "rejected",
            FOLLOW_UP.answers.rejected,
        ),
        (dispatch_outcome("completed", "DECLINED", "declined"), None, FOLLOW_UP.answers.rejected),
        (
            dispatch_outcome("completed", "DECLINED", "declined"),
            "timed-out",
            FOLLOW_UP.answers.approval_timed_out,
        ),
        (dispatch_outcome("completed", "BOOKED", BOOKED_TEXT), "timed-out", BOOKED_TEXT),
        (
            dispatch_outcome("input-required", "APPROVAL_REQUIRED", "I can book"),
            "timed-out",
            FOLLOW_UP.answers.approval_timed_out,
        ),
    ],
)
def test_dispatch_approval(outcome, approval, expected):
    outcomes = [done(NETWORK, status="CRITICAL", technicianRecommended=True), outcome]
    result = plan(MessageRequest("slow", symptoms=("slow_internet",)), Verified("CUST-0001"), ALL)
    outcomes = [done(OUTAGE), done(PLAN), *outcomes]
    answer = compose(result, outcomes, approval=approval)
    assert answer.text.endswith(expected)
    assert "technical-dispatch" in answer.agents and not answer.partial


def test_rejected_and_timed_out_promise_a_call_back():
    assert "a supervisor will call you back" in FOLLOW_UP.answers.rejected.lower()
    assert "a supervisor will call you back" in FOLLOW_UP.answers.approval_timed_out.lower()


def test_no_slot_available():
    text = "No technician slot is free in the Ottawa region."
    outcome = dispatch_outcome("completed", "NO_SLOT_AVAILABLE", text)
    answer = compose(verified_plan("technician_visit"), [outcome])
    assert answer.text == f"{text} {FOLLOW_UP.answers.no_slot}"


def test_dispatch_unreachable_is_partial():
    answer = compose(verified_plan("technician_visit"), [broken(DISPATCH)])
    assert answer == Answer(CONTOSO.answers.all_down, (), True)
    outcomes = [done(MODEM, status="HARDWARE_FAULT"), broken(DISPATCH, "timed-out")]
    answer = compose(verified_plan("modem_lights"), outcomes)
    assert answer.text == f"{TEXTS[MODEM]} I couldn't reach the technician booking just now."
    assert answer.partial


def test_recommended_dispatch_never_run_is_partial():
    answer = compose(verified_plan("modem_lights"), [done(MODEM, status="SIGNAL_ISSUE")])
    assert answer.text.endswith("I couldn't reach the technician booking just now.")
    assert answer.partial


def test_dispatch_not_needed_is_not_mentioned():
    answer = compose(verified_plan("modem_lights"), [done(MODEM, status="HEALTHY")])
    assert answer == Answer(TEXTS[MODEM], ("modem-check",), False)


def test_recommended_without_a_dispatch_agent():
    skills = {k: v for k, v in ALL.items() if k != DISPATCH}
    result = verified_plan("modem_lights", skills=skills)
    answer = compose(result, [done(MODEM, status="HARDWARE_FAULT")])
    assert answer.text == f"{TEXTS[MODEM]} {FOLLOW_UP.answers.not_bookable}"
    assert answer.partial


def test_requested_dispatch_without_agent_is_unavailable():
    skills = {k: v for k, v in ALL.items() if k != DISPATCH}
    result = verified_plan("modem_lights", "technician_visit", skills=skills)
    answer = compose(result, [done(MODEM, status="HARDWARE_FAULT")])
    assert answer.text == f"{TEXTS[MODEM]} The technician booking is not available right now."
    assert answer.partial


LEAK_SCENARIOS = {
    "auth failed": (identity_plan("no_internet"), [broken(AUTHENTICATION)]),
    "one failed": (verified_plan("no_internet"), [done(OUTAGE), broken(MODEM), done(PLAN)]),
    "all failed": (verified_plan("no_internet"), [broken(OUTAGE), broken(MODEM), broken(PLAN)]),
    "dispatch failed": (
        verified_plan("modem_lights"),
        [done(MODEM, status="HARDWARE_FAULT"), broken(DISPATCH, "timed-out")],
    ),
    "unknown status": (
        verified_plan("billing_question"),
        [AgentOutcome("internet-plan", PLAN, "canceled", INTERNAL, {}, INTERNAL)],
    ),
}


@pytest.mark.parametrize("scenario", sorted(LEAK_SCENARIOS))
def test_internal_reasons_never_spoken(scenario):
    result, outcomes = LEAK_SCENARIOS[scenario]
    answer = compose(result, outcomes)
    for leak in LEAKS:
        assert leak not in answer.text
    assert answer.partial


def test_clip():
    assert clip("  One.\n\tTwo.\x00  ") == "One. Two."
    long = "First sentence here. " + "Second sentence is long. " * 20
    clipped = clip(long, 60)
    assert clipped == "First sentence here. Second sentence is long."
    hard = clip("x" * 300, 50)
    assert len(hard) == 50 and hard.endswith("…")


def test_long_agent_text_is_clipped():
    text = "Sentence number one. " * 40
    answer = compose(verified_plan("billing_question"), [done(PLAN, text)])
    assert len(answer.text) <= c.MAX_FINDING_CHARS
    assert answer.text.endswith(".")


def test_answer_and_outcome_json():
    answer = Answer("Hi.", ("a", "b"), True)
    assert answer.to_json() == {"answer": "Hi.", "agents": ["a", "b"], "partial": True}
    outcome = broken(MODEM)
    assert AgentOutcome.from_json(json.loads(json.dumps(outcome.to_json()))) == outcome
    assert AgentOutcome.from_json(
        {"agent": "a", "skill": PLAN, "status": "failed"}
    ) == AgentOutcome("a", PLAN, "failed")


def test_compose_is_deterministic():
    result = verified_plan("no_internet", "slow_internet")
    outcomes = [done(OUTAGE), broken(NETWORK), done(MODEM, status="HEALTHY"), done(PLAN)]
    assert compose(result, outcomes) == compose(result, list(outcomes))


def run_sample_agents(customer_id: str) -> Answer:
    """Plan with a full identity, run the real sample agents in process, compose."""
    agents = {cls.skill.id: cls() for cls in AGENT_CLASSES.values()}
    first, last, postal, born = IDENTITIES[customer_id]
    request = MessageRequest(
        "my internet is down and slow",
        customer=Customer(first, last, postal, born),
        symptoms=("no_internet", "slow_internet", "intermittent_connection"),
    )
    result = plan(request, None, ALL)
    outcomes = []
    verified = None
    for stage in result.stages:
        for step in stage:
            if verified is not None:
                step = with_customer(step, verified)
            reply = agents[step.skill].handle(RequestInput(step.data, ""))
            outcomes.append(
                AgentOutcome(step.agent, step.skill, "completed", reply.text, reply.data)
            )
            if step.skill == AUTHENTICATION:
                verified = verified_customer(reply.data)
    results = {o.skill: o.data for o in outcomes}
    if needs_dispatch(results):
        step = with_customer(result.dispatch, verified)
        reply = agents[DISPATCH].handle(RequestInput(step.data, ""))
        status = "input-required" if reply.data["status"] == "APPROVAL_REQUIRED" else "completed"
        outcomes.append(AgentOutcome(step.agent, DISPATCH, status, reply.text, reply.data))
    return compose(result, outcomes)


@pytest.mark.parametrize("customer_id", sorted(IDENTITIES))
def test_answers_from_the_sample_agents_stay_speakable(customer_id):
    answer = run_sample_agents(customer_id)
    assert not answer.partial
    assert answer.agents[:1] == ("authentication",)
    # Every agent (and a dispatch) answered: the worst case, still short enough to read back.
    assert len(answer.text) <= 800, answer.text
    assert "\n" not in answer.text


def test_step_order_of_sample_run():
    answer = run_sample_agents("CUST-0005")
    assert answer.agents == (
        "authentication",
        "outage-check",
        "network-performance",
        "modem-check",
        "internet-plan",
        "technical-dispatch",
    )
    assert "Booked:" in answer.text


def test_steps_property_flattens_stages():
    result = identity_plan("no_internet")
    assert [step.skill for step in result.steps] == [AUTHENTICATION, OUTAGE, MODEM, PLAN]
    assert isinstance(result.steps[0], Step)


# --- agents the voice model chose -----------------------------------------------------------------


def chosen_agents(*names: str, routable: dict[str, str]) -> Plan:
    request = BODY.parse({"request": "When is high tide?", "agents": list(names)})
    return chosen_plan(request, routable, verified=None)


def test_chosen_agents_speak_in_their_own_words_in_the_order_chosen():
    planned = chosen_agents("tide-tables", "harbour", routable={"tide-tables": "t", "harbour": "h"})
    outcomes = [
        AgentOutcome("harbour", "h", "completed", "Berth 4 is free."),
        AgentOutcome("tide-tables", "t", "completed", "High tide is at 14:05. Low at 20:10."),
    ]

    answer = compose(planned, outcomes)

    assert answer == Answer(
        "From the tide-tables agent: High tide is at 14:05. Low at 20:10. "
        "From the harbour agent: Berth 4 is free.",
        ("tide-tables", "harbour"),
    )


def test_a_chosen_agent_down_or_unavailable_is_named_and_the_answer_partial():
    planned = chosen_agents(
        "tide-tables", "harbour", "weather", routable={"tide-tables": "t", "harbour": "h"}
    )
    outcomes = [
        AgentOutcome("tide-tables", "t", "completed", "High tide is at 14:05."),
        AgentOutcome("harbour", "h", "failed", reason=INTERNAL),
    ]

    answer = compose(planned, outcomes)

    assert answer.partial
    assert answer.text == (
        "From the tide-tables agent: High tide is at 14:05. "
        "I couldn't reach the harbour agent just now. "
        "The weather agent is not available right now."
    )


def test_a_chosen_diagnostics_agent_recommending_a_technician_books_nothing_by_itself():
    planned = chosen_agents(AGENT[NETWORK], routable={AGENT[NETWORK]: NETWORK})
    outcomes = [done(NETWORK, technicianRecommended=True, status="CRITICAL")]

    answer = compose(planned, outcomes)

    assert answer == Answer(f"From the {AGENT[NETWORK]} agent: {TEXTS[NETWORK]}", (AGENT[NETWORK],))


# ----- a question for a person: answered now, followed up later -----


def slow_internet_plan() -> Plan:
    return plan(MessageRequest("slow", symptoms=("slow_internet",)), Verified("CUST-0001"), ALL)


def test_a_dispatch_waiting_for_a_person_answers_the_rest_now():
    waiting = dispatch_outcome("input-required", "APPROVAL_REQUIRED", "Approve the visit?")
    outcomes = [done(OUTAGE), done(PLAN), done(NETWORK, status="CRITICAL"), waiting]

    answer = compose(slow_internet_plan(), outcomes, waiting=["technical-dispatch"])

    assert answer.text.startswith(f"{TEXTS[OUTAGE]} ")
    assert answer.text.endswith(FOLLOW_UP.answers.approval_pending)
    assert "Approve the visit?" not in answer.text  # the question is the supervisor's


@pytest.mark.parametrize(
    ("outcome", "approval", "expected"),
    [
        (dispatch_outcome("completed", "BOOKED", BOOKED_TEXT), "approved", BOOKED_TEXT),
        (dispatch_outcome("completed", "BOOKED", BOOKED_TEXT), "replied", BOOKED_TEXT),
        (dispatch_outcome("completed", "DECLINED", "x"), "rejected", FOLLOW_UP.answers.rejected),
        (
            dispatch_outcome("completed", "DECLINED", "x"),
            "timed-out",
            FOLLOW_UP.answers.approval_timed_out,
        ),
    ],
)
def test_a_dispatch_follow_up_says_only_what_the_person_changed(outcome, approval, expected):
    answer = compose_follow_up(slow_internet_plan(), outcome, approval)
    assert answer == Answer(expected, ("technical-dispatch",))


def test_a_chosen_agents_question_for_a_person_is_said_to_wait_then_followed_up():
    planned = chosen_agents("tide-tables", "harbour", routable={"tide-tables": "t", "harbour": "h"})
    asking = AgentOutcome("tide-tables", "t", "input-required", "Which harbour?")
    outcomes = [AgentOutcome("harbour", "h", "completed", "Berth 4 is free."), asking]

    now = compose(planned, outcomes, waiting=["tide-tables"])
    answered = AgentOutcome("tide-tables", "t", "completed", "High tide is at 14:05.")
    later = compose_follow_up(planned, answered, "replied")
    expired = compose_follow_up(planned, answered, "timed-out")
    failed = compose_follow_up(planned, AgentOutcome("tide-tables", "t", "failed"), "replied")
    silent = compose_follow_up(planned, AgentOutcome("tide-tables", "t", "completed"), "replied")

    assert now.text == (
        "The tide-tables agent is waiting for a person to answer; I'll tell you as soon as "
        "they do. From the harbour agent: Berth 4 is free."
    )
    assert later == Answer("From the tide-tables agent: High tide is at 14:05.", ("tide-tables",))
    assert expired.text == (
        "Nobody answered the tide-tables agent's question in time. "
        "From the tide-tables agent: High tide is at 14:05."
    )
    assert failed == Answer("I couldn't reach the tide-tables agent just now.", (), True)
    assert silent.text == "The tide-tables agent found nothing to report."
