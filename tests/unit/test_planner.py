"""The planner's rule table, row by row (see voicea2a/planner.py's docstring)."""

from __future__ import annotations

import json

import pytest

from tests.contoso import (
    AUTHENTICATION,
    BODY,
    DISPATCH,
    MODEM,
    NETWORK,
    OUTAGE,
    PLAN,
    needed_skills,
    needs_dispatch,
    plan,
    verified_customer,
)
from voicea2a.messages import Customer, MessageRequest
from voicea2a.planner import (
    Plan,
    Step,
    Verified,
    chosen_plan,
    context_text,
    covers,
    identity_fingerprint,
    with_customer,
)

ALL = {
    AUTHENTICATION: "authentication",
    OUTAGE: "outage-check",
    MODEM: "modem-check",
    PLAN: "internet-plan",
    NETWORK: "network-performance",
    DISPATCH: "technical-dispatch",
}
JANE = Customer("Jane", "Doe", "M5H 1A1", "1985-03-14")
MARC = Customer("Marc", "Tremblay", "H2X 1Y4", "1978-06-30")
VERIFIED_ID = "CUST-0001"
VERIFIED = Verified(VERIFIED_ID, identity_fingerprint(JANE))


def req(text: str = "help", **fields) -> MessageRequest:
    return MessageRequest(request=text, **fields)


def skills_of(result: Plan) -> list[list[str]]:
    return [[step.skill for step in stage] for stage in result.stages]


# Rule 1: symptoms choose the diagnostics (the text is then ignored).
SYMPTOMS = {
    "no_internet": ([OUTAGE, MODEM, PLAN], False),
    "slow_internet": ([OUTAGE, NETWORK, PLAN], False),
    "intermittent_connection": ([OUTAGE, NETWORK, MODEM], False),
    "modem_lights": ([MODEM], False),
    "billing_question": ([PLAN], False),
    "plan_question": ([PLAN], False),
    "technician_visit": ([], True),
}


def test_symptoms_combine():
    result = plan(req(symptoms=("modem_lights", "billing_question")), VERIFIED, ALL)
    assert skills_of(result) == [[MODEM, PLAN]]


# Rule 2: without symptoms, keywords in the request text.
KEYWORDS = [
    ("There's an outage on my street", [OUTAGE, MODEM, PLAN], False),
    ("My internet is down", [OUTAGE, MODEM, PLAN], False),
    ("I have NO INTERNET at all", [OUTAGE, MODEM, PLAN], False),
    ("everything is offline", [OUTAGE, MODEM, PLAN], False),
    ("it's slow", [OUTAGE, NETWORK, PLAN], False),
    ("games lag every evening", [OUTAGE, NETWORK, PLAN], False),
    ("Netflix keeps buffering", [OUTAGE, NETWORK, PLAN], False),
    ("the wifi keeps dropping", [OUTAGE, NETWORK, MODEM], False),
    ("intermittent connection since Monday", [OUTAGE, NETWORK, MODEM], False),
    ("it disconnects every hour", [OUTAGE, NETWORK, MODEM], False),
    ("what do the lights on my modem mean", [MODEM], False),
    ("the LED is orange", [MODEM], False),
    ("why is my bill so high", [PLAN], False),
    ("an extra charge appeared", [PLAN], False),
    ("what plan am I on and what's my usage", [PLAN], False),
    ("overage fees?", [PLAN], False),
    ("I want a technician", [], True),
    ("can someone visit tomorrow", [], True),
    ("book an appointment", [], True),
    ("slow and my bill is wrong, send a technician", [OUTAGE, NETWORK, PLAN], True),
]


@pytest.mark.parametrize(
    ("request_", "diagnostics", "requested"),
    [
        *(
            pytest.param(req("my bill is wrong", symptoms=(symptom,)), *row, id=symptom)
            for symptom, row in SYMPTOMS.items()
        ),
        *(pytest.param(req(text), *row, id=text) for text, *row in KEYWORDS),
    ],
)
def test_rule_tables(request_, diagnostics, requested):
    result = plan(request_, VERIFIED, ALL)
    assert skills_of(result) == ([diagnostics] if diagnostics else [])
    assert result.dispatch_requested is requested


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("hello", set()),
        ("my download finished", set()),
        ("I'm planning to move", set()),
        ("it slowed down a bit", {NETWORK, OUTAGE, PLAN}),
        ("things slow down at night", {NETWORK, OUTAGE, PLAN}),
    ],
)
def test_keywords_are_whole_words_and_slow_down_is_not_down(text, expected):
    assert needed_skills(req(text)) == expected


def test_symptoms_win_over_keywords():
    assert needed_skills(req("my bill", symptoms=("modem_lights",))) == {MODEM}


# Rule 3: ledState brings the modem check, with the state in its data.
def test_led_state_adds_modem_with_state():
    result = plan(req("hello", details={"ledState": "red"}), VERIFIED, ALL)
    assert skills_of(result) == [[MODEM]]
    assert result.stages[0][0].data == {"customerId": VERIFIED_ID, "ledState": "red"}


# Rule 4: preferredDate means a visit is wanted.
def test_preferred_date_requests_dispatch():
    result = plan(req("hello", details={"preferredDate": "2026-12-01"}), VERIFIED, ALL)
    assert result.dispatch_requested
    assert result.dispatch == Step(
        "technical-dispatch",
        DISPATCH,
        {"customerId": VERIFIED_ID, "issue": "hello", "preferredDate": "2026-12-01"},
    )


# Rule 5: a customer verified in an earlier turn skips authentication, with no identity or
# with the same one (however it is typed).
@pytest.mark.parametrize(
    "customer", [None, JANE, Customer(" jane ", "DOE", "m5h1a1", "1985-03-14"), Customer("Jane")]
)
def test_verified_customer_skips_authentication(customer):
    result = plan(req("internet down", customer=customer), VERIFIED, ALL)
    assert AUTHENTICATION not in [s for stage in skills_of(result) for s in stage]
    assert all(step.data["customerId"] == VERIFIED_ID for step in result.steps)
    assert result.dispatch.data["customerId"] == VERIFIED_ID
    assert not result.authenticates and not result.needs_identity


# Rule 6 with an earlier verification: another identity is verified afresh, and nothing of the
# earlier customer's account is planned for it.
@pytest.mark.parametrize("verified", [VERIFIED, Verified(VERIFIED_ID)])
def test_another_identity_in_a_verified_conversation_is_verified_afresh(verified):
    result = plan(req("internet down", customer=MARC), verified, ALL)
    assert skills_of(result) == [[AUTHENTICATION], [OUTAGE, MODEM, PLAN]]
    assert result.stages[0][0].data["firstName"] == "Marc"
    assert all("customerId" not in step.data for step in [*result.steps, result.dispatch])


def test_another_identity_without_an_authentication_agent_plans_nothing():
    skills = {k: v for k, v in ALL.items() if k != AUTHENTICATION}
    result = plan(req("internet down", customer=MARC), VERIFIED, skills)
    assert result.stages == () and result.dispatch is None
    assert result.unavailable == (AUTHENTICATION,)


def test_identity_fingerprints_differ_per_person_and_hold_no_identity():
    assert identity_fingerprint(JANE) != identity_fingerprint(MARC)
    assert identity_fingerprint(JANE) != identity_fingerprint(
        Customer("Jane", "Doe", "M5H 1A1", "1985-03-15")
    )
    assert "jane" not in identity_fingerprint(JANE).lower()


# Rule 6: a full identity, not yet verified: authentication alone first.
def test_identity_authenticates_first():
    result = plan(req("internet down", customer=JANE), None, ALL)
    assert skills_of(result) == [[AUTHENTICATION], [OUTAGE, MODEM, PLAN]]
    assert result.authenticates
    assert result.stages[0][0] == Step(
        "authentication",
        AUTHENTICATION,
        {
            "firstName": "Jane",
            "lastName": "Doe",
            "postalCode": "M5H 1A1",
            "dateOfBirth": "1985-03-14",
        },
    )
    later = [*result.stages[1], result.dispatch]
    assert all("customerId" not in step.data for step in later)
    filled = with_customer(result.dispatch, "CUST-0001")
    assert filled.data == {"customerId": "CUST-0001", "issue": "internet down"}
    assert "customerId" not in result.dispatch.data  # with_customer copies


def test_identity_alone_just_authenticates():
    result = plan(req("please verify me", customer=JANE), None, ALL)
    assert skills_of(result) == [[AUTHENTICATION]]
    assert result.dispatch is None and not result.needs_identity


def test_claimed_customer_id_is_not_trusted():
    claimed = Customer(first_name="Jane", customer_id="CUST-0001")
    result = plan(req("internet down", customer=claimed), None, ALL)
    assert result.needs_identity and result.stages == ()


# Rule 7: account work without verification or a full identity: nothing is planned.
@pytest.mark.parametrize(
    "customer", [None, Customer(), Customer("Jane", "Doe", "M5H 1A1"), Customer("Jane")]
)
def test_needs_identity(customer):
    result = plan(req("my internet is down, send a technician", customer=customer), None, ALL)
    assert result.needs_identity
    assert result.stages == () and result.dispatch is None and result.unavailable == ()
    assert result.dispatch_requested


def test_nothing_applicable_needs_no_identity():
    result = plan(req("hello there"), None, ALL)
    assert not covers(result)


# Rule 8: one parallel diagnostics stage in a fixed order.
def test_diagnostics_order_is_fixed():
    result = plan(
        req(symptoms=("billing_question", "modem_lights", "slow_internet")), VERIFIED, ALL
    )
    assert skills_of(result) == [[OUTAGE, NETWORK, MODEM, PLAN]]
    assert [step.agent for step in result.stages[0]] == [
        "outage-check",
        "network-performance",
        "modem-check",
        "internet-plan",
    ]


# Rule 9: a dispatch step when requested or when network/modem may recommend a technician.
@pytest.mark.parametrize(
    ("symptoms", "has_dispatch"),
    [
        (("slow_internet",), True),
        (("modem_lights",), True),
        (("intermittent_connection",), True),
        (("no_internet",), True),
        (("billing_question",), False),
        (("technician_visit",), True),
    ],
)
def test_dispatch_step(symptoms, has_dispatch):
    result = plan(req(symptoms=symptoms), VERIFIED, ALL)
    assert (result.dispatch is not None) is has_dispatch
    if has_dispatch:
        assert result.dispatch.skill == DISPATCH and result.dispatch.agent == "technical-dispatch"


def test_dispatch_issue_is_bounded():
    result = plan(req("technician " + "x" * 500), VERIFIED, ALL)
    assert len(result.dispatch.data["issue"]) == 200


# Rule 10: skills without a healthy agent.
def test_missing_diagnostic_is_unavailable():
    skills = {k: v for k, v in ALL.items() if k != MODEM}
    result = plan(req(symptoms=("no_internet",)), VERIFIED, skills)
    assert skills_of(result) == [[OUTAGE, PLAN]]
    assert result.unavailable == (MODEM,)


def test_missing_dispatch_listed_only_when_requested():
    skills = {k: v for k, v in ALL.items() if k != DISPATCH}
    requested = plan(req("send a technician", symptoms=("technician_visit",)), VERIFIED, skills)
    assert requested.dispatch is None and requested.unavailable == (DISPATCH,)
    maybe = plan(req(symptoms=("slow_internet",)), VERIFIED, skills)
    assert maybe.dispatch is None and maybe.unavailable == ()


def test_missing_authentication_blocks_account_work():
    skills = {k: v for k, v in ALL.items() if k != AUTHENTICATION}
    result = plan(req("internet down", customer=JANE), None, skills)
    assert result.stages == () and result.dispatch is None
    assert result.unavailable == (AUTHENTICATION,)
    assert not result.needs_identity


def test_everything_down():
    result = plan(req(symptoms=("no_internet", "slow_internet", "technician_visit")), VERIFIED, {})
    assert result.stages == () and result.dispatch is None
    assert result.unavailable == (OUTAGE, NETWORK, MODEM, PLAN, DISPATCH)


# needs_dispatch: the agents' own data keys.
@pytest.mark.parametrize(
    ("results", "expected"),
    [
        ({NETWORK: {"status": "CRITICAL", "technicianRecommended": True}}, True),
        ({NETWORK: {"status": "POOR", "technicianRecommended": False}}, False),
        ({NETWORK: {"technicianRecommended": True}}, True),
        ({MODEM: {"status": "HARDWARE_FAULT"}}, True),
        ({MODEM: {"status": "SIGNAL_ISSUE"}}, True),
        ({MODEM: {"status": "RESTART_MODEM"}}, False),
        ({MODEM: {"status": "NO_POWER"}}, False),
        ({OUTAGE: {"status": "LOCAL_OUTAGE"}, PLAN: {"status": "SUSPENDED"}}, False),
        ({}, False),
    ],
)
def test_needs_dispatch(results, expected):
    assert needs_dispatch(results) is expected


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"status": "AUTHENTICATED", "customerId": "CUST-0001"}, "CUST-0001"),
        ({"status": "FAILED", "attemptsRemaining": 2}, None),
        ({"status": "LOCKED_OUT"}, None),
        ({"status": "MISSING_FIELD", "missingFields": ["dateOfBirth"]}, None),
        ({"status": "AUTHENTICATED"}, None),
        ({"status": "AUTHENTICATED", "customerId": "cust/1"}, None),
        ({"status": "FAILED", "customerId": "CUST-0001"}, None),
    ],
)
def test_verified_customer(data, expected):
    assert verified_customer(data) == expected


def test_plan_round_trips_through_json():
    result = plan(
        req("internet down and a technician please", customer=JANE, details={"ledState": "red"}),
        None,
        ALL,
    )
    as_json = json.loads(json.dumps(result.to_json()))
    assert Plan.from_json(as_json) == result
    empty = Plan(needs_identity=True, dispatch_requested=True)
    assert Plan.from_json(json.loads(json.dumps(empty.to_json()))) == empty


def test_plan_is_deterministic():
    request = req("slow, dropping, bill, modem lights, technician", customer=JANE)
    assert (
        plan(request, None, ALL).to_json()
        == plan(request, None, dict(reversed(ALL.items()))).to_json()
    )


# --- the voice model's choice ---------------------------------------------------------------------


def chosen(*agents: object, request: str = "When is high tide at the harbour?") -> MessageRequest:
    return BODY.parse({"request": request, "agents": list(agents)})


def test_chosen_agents_run_in_one_stage_told_their_message_or_the_request():
    request = chosen(
        "tide-tables", {"name": "harbour", "message": "Is berth 4 free?", "data": {"b": 4}}
    )

    planned = chosen_plan(request, {"tide-tables": "tides", "harbour": "berths"}, verified=None)

    assert planned == Plan(
        stages=(
            (
                Step("tide-tables", "tides", {}, "When is high tide at the harbour?"),
                Step("harbour", "berths", {"b": 4}, "Is berth 4 free?"),
            ),
        ),
        chosen=True,
    )
    assert Plan.from_json(json.loads(json.dumps(planned.to_json()))) == planned


def test_a_chosen_agent_that_is_not_routable_is_unavailable_by_name():
    planned = chosen_plan(chosen("tide-tables", "harbour"), {"harbour": "berths"}, verified=None)

    assert [step.agent for step in planned.steps] == ["harbour"]
    assert planned.unavailable == ("tide-tables",)


@pytest.mark.parametrize(
    ("verified", "expected"), [(None, {"b": 4}), ("CUST-0001", {"b": 4, "customerId": "CUST-0001"})]
)
def test_the_voice_model_cannot_vouch_for_a_customer(verified, expected):
    request = chosen({"name": "modem-check", "data": {"customerId": "CUST-0002", "b": 4}})

    [step] = chosen_plan(request, {"modem-check": MODEM}, verified=verified).steps

    assert step.data == expected


def test_the_context_keeps_the_latest_turns_within_its_size():
    turns = [("Is there an outage?", "No outage."), ("And high tide?", "At 14:05.")]

    assert context_text([], 1500) is None
    assert context_text(turns, 1500) == (
        "Earlier in this conversation:\nCaller: Is there an outage?\nAssistant: No outage.\n"
        "Caller: And high tide?\nAssistant: At 14:05."
    )
    latest_only = context_text(turns, 80)
    assert (
        latest_only == "Earlier in this conversation:\nCaller: And high tide?\nAssistant: At 14:05."
    )
    cut = context_text([("x" * 500, "y" * 500)], 200)
    assert (
        len(cut) == 200 and cut.startswith("Earlier in this conversation:\n…") and cut.endswith("y")
    )


def test_every_chosen_agent_gets_the_context():
    planned = chosen_plan(chosen("a", "b"), {"a": "s", "b": "t"}, verified=None, context="Earlier")

    assert {step.context for step in planned.steps} == {"Earlier"}
    assert Plan.from_json(planned.to_json()) == planned
