"""The POST /api/messages body: every validation error names its field; the instance id."""

from __future__ import annotations

import json
import re

import pytest

from tests.contoso import BODY as MESSAGE_REQUEST
from tests.contoso import SYMPTOM_IDS as SYMPTOMS
from voicea2a.errors import InvalidRequest
from voicea2a.messages import (
    AgentChoice,
    Customer,
    MessageRequest,
    check_agent_choices,
    instance_id_for,
    is_instance_id,
    url_segment,
)

IDENTITY = {
    "firstName": "Jane",
    "lastName": "Doe",
    "postalCode": "M5H 1A1",
    "dateOfBirth": "1985-03-14",
}
FULL = {
    "request": "  My internet is down.  ",
    "conversationId": "conv_01-A",
    "callId": "call_abc123",
    "customer": {**IDENTITY, "customerId": "CUST-0001"},
    "symptoms": ["no_internet", "modem_lights"],
    "ledState": "blinking-yellow",
    "preferredDate": "2026-12-01",
}


def error_of(body: dict) -> str:
    with pytest.raises(InvalidRequest) as caught:
        MESSAGE_REQUEST.parse(body)
    assert caught.value.status == 400
    return caught.value.message


def test_full_body_parses():
    parsed = MESSAGE_REQUEST.parse(FULL)
    assert parsed == MessageRequest(
        request="My internet is down.",
        conversation_id="conv_01-A",
        call_id="call_abc123",
        customer=Customer("Jane", "Doe", "M5H 1A1", "1985-03-14", "CUST-0001"),
        symptoms=("no_internet", "modem_lights"),
        details={"ledState": "blinking-yellow", "preferredDate": "2026-12-01"},
    )
    assert parsed.customer.has_identity()


def test_minimal_body():
    assert MESSAGE_REQUEST.parse({"request": "hello"}) == MessageRequest(request="hello")


def test_round_trip_through_json():
    parsed = MESSAGE_REQUEST.parse(FULL)
    as_json = parsed.to_json()
    assert json.loads(json.dumps(as_json)) == as_json
    assert as_json["request"] == "My internet is down."
    assert as_json["customer"]["dateOfBirth"] == "1985-03-14"
    assert MESSAGE_REQUEST.parse(as_json) == parsed
    minimal = MessageRequest(request="hi")
    assert minimal.to_json() == {"request": "hi"}
    assert MESSAGE_REQUEST.parse(minimal.to_json()) == minimal


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "'request' is required"),
        ({"request": None}, "'request' is required"),
        ({"request": 5}, "'request' must be a string"),
        ({"request": "   "}, "'request' must not be empty"),
        ({"request": "x" * 4001}, "'request' must be at most 4000 characters"),
        ({"request": "hi", "conversationId": 7}, "'conversationId' must be a string"),
        ({"request": "hi", "conversationId": ""}, "'conversationId'"),
        ({"request": "hi", "conversationId": "a/b"}, "'conversationId'"),
        ({"request": "hi", "conversationId": "x" * 101}, "'conversationId'"),
        ({"request": "hi", "callId": ["c"]}, "'callId' must be a string"),
        ({"request": "hi", "callId": ""}, "'callId'"),
        ({"request": "hi", "callId": "call 1"}, "'callId'"),
        ({"request": "hi", "callId": "call\x001"}, "'callId'"),
        ({"request": "hi", "callId": "c" * 201}, "'callId'"),
        ({"request": "hi", "customer": "Jane"}, "'customer' must be an object"),
        ({"request": "hi", "customer": {"firstName": 1}}, "'customer.firstName' must be a string"),
        ({"request": "hi", "customer": {"lastName": "x" * 101}}, "'customer.lastName'"),
        ({"request": "hi", "customer": {"firstName": "Ja\nne"}}, "'customer.firstName'"),
        (
            {"request": "hi", "customer": {"postalCode": "M5H/1A1"}},
            "'customer.postalCode' may hold only letters, digits, spaces and hyphens",
        ),
        (
            {"request": "hi", "customer": {"postalCode": "M" * 17}},
            "'customer.postalCode' must be at most 16 characters",
        ),
        (
            {"request": "hi", "customer": {"dateOfBirth": "14/03/1985"}},
            "'customer.dateOfBirth' must be a date YYYY-MM-DD",
        ),
        (
            {"request": "hi", "customer": {"dateOfBirth": "1985-02-30"}},
            "'customer.dateOfBirth' must be a date YYYY-MM-DD",
        ),
        ({"request": "hi", "customer": {"customerId": "0001"}}, "'customer.customerId'"),
        ({"request": "hi", "customer": {"customerId": "CUST-01"}}, "'customer.customerId'"),
        ({"request": "hi", "symptoms": "no_internet"}, "'symptoms' must be a list"),
        ({"request": "hi", "symptoms": ["fire"]}, "'symptoms[0]' must be one of"),
        ({"request": "hi", "symptoms": ["no_internet", 3]}, "'symptoms[1]' must be one of"),
        ({"request": "hi", "symptoms": ["no_internet"] * 11}, "'symptoms' must have at most 10"),
        ({"request": "hi", "ledState": "purple"}, "'ledState' must be one of"),
        ({"request": "hi", "ledState": True}, "'ledState' must be a string"),
        ({"request": "hi", "preferredDate": "tomorrow"}, "'preferredDate' must be a date"),
        ({"request": "hi", "preferredDate": "2026-13-01"}, "'preferredDate' must be a date"),
    ],
)
def test_each_error_names_its_field(body, field):
    assert f"Field {field}" in error_of(body)


@pytest.mark.parametrize(
    ("customer", "field"),
    [
        ({"customerId": "CUST-\u0661\u0662\u0663\u0664"}, "customerId"),  # digits, not ASCII
        ({"dateOfBirth": "\u0661\u0669\u0668\u0665-03-14"}, "dateOfBirth"),
        ({"firstName": "Ja\u200bne"}, "firstName"),  # zero-width space
        ({"lastName": "\u202eeoD"}, "lastName"),  # right-to-left override
        ({"postalCode": "M5H\u00a01A1"}, "postalCode"),  # no-break space
    ],
)
def test_lookalike_characters_are_refused(customer, field):
    assert f"Field 'customer.{field}'" in error_of({"request": "hi", "customer": customer})


def test_only_the_request_and_the_agents_messages_are_free_text():
    assert MESSAGE_REQUEST.free_text == {"request", "agents[].message"}


def test_unknown_fields_are_named():
    assert error_of({"request": "hi", "foo": 1}) == "Unknown field 'foo'."
    message = error_of({"request": "hi", "customer": {**IDENTITY, "ssn": "1"}})
    assert message == "Unknown field 'customer.ssn'."


def test_request_limit_counts_after_strip():
    text = "x" * 4000
    assert MESSAGE_REQUEST.parse({"request": f"  {text}\n"}).request == text


def test_empty_optional_values_count_as_absent():
    parsed = MESSAGE_REQUEST.parse(
        {
            "request": "hi",
            "customer": {"firstName": "", "lastName": None, "postalCode": " ", "customerId": ""},
            "ledState": "",
            "preferredDate": None,
            "symptoms": None,
        }
    )
    assert parsed.customer == Customer()
    assert not parsed.customer.has_identity()
    assert parsed.details == {} and parsed.symptoms == ()


def test_symptoms_deduplicated_in_order():
    parsed = MESSAGE_REQUEST.parse({"request": "hi", "symptoms": list(SYMPTOMS) + ["no_internet"]})
    assert parsed.symptoms == SYMPTOMS


def test_has_identity_needs_all_four():
    assert Customer("Jane", "Doe", "M5H 1A1", "1985-03-14").has_identity()
    assert not Customer("Jane", "Doe", "M5H 1A1").has_identity()
    assert not Customer(customer_id="CUST-0001").has_identity()


def test_non_object_body():
    with pytest.raises(InvalidRequest):
        MESSAGE_REQUEST.parse(["request"])  # type: ignore[arg-type]


def test_instance_id_is_deterministic_and_safe():
    first = instance_id_for("user-1", "conv", "call-1")
    assert first == instance_id_for("user-1", "conv", "call-1")
    assert re.fullmatch(r"dlg-[0-9a-f]{40}", first)


def test_instance_id_differs_per_part():
    ids = {
        instance_id_for("user-1", "conv", "call-1"),
        instance_id_for("user-2", "conv", "call-1"),
        instance_id_for("user-1", "conv2", "call-1"),
        instance_id_for("user-1", "conv", "call-2"),
        # Separators inside a part cannot forge another user's triple.
        instance_id_for("user-1\nconv", "call-1", ""),
        instance_id_for("user-1", "conv\ncall-1", ""),
    }
    assert len(ids) == 6


def test_only_derived_instance_ids_are_instance_ids():
    own = instance_id_for("user-1", "conv", "call-1")
    assert is_instance_id(own)
    for other in ("", "?", "dlg-", own.upper(), own + "0", own[:-1], f"{own}?showInput=true",
                  f"{own}\n", f"{own}/terminate", "dlg-" + "g" * 40, "DLG-" + own[4:]):  # fmt: skip
        assert not is_instance_id(other), other


def test_url_segment_keeps_an_id_one_path_segment():
    own = instance_id_for("user-1", "conv", "call-1")
    assert url_segment(own) == own
    assert url_segment("a?showInput=true#x/../b %") == "a%3FshowInput%3Dtrue%23x%2F..%2Fb%20%25"


# --- agents: the voice model's choice -------------------------------------------------------------


def test_agents_are_names_or_objects_with_a_message_and_data():
    parsed = MESSAGE_REQUEST.parse(
        {
            "request": "When is high tide?",
            "agents": [
                "tide-tables",
                {"name": "harbour-master", "message": "Berth 4?", "data": {"a": 1}},
            ],
        }
    )

    assert parsed.agents == (
        AgentChoice(name="tide-tables"),
        AgentChoice(name="harbour-master", message="Berth 4?", data={"a": 1}),
    )
    assert MESSAGE_REQUEST.parse(parsed.to_json()) == parsed


@pytest.mark.parametrize(
    ("agents", "message"),
    [
        ([], "Field 'agents' must have at least 1 item(s)."),
        ([7], "Field 'agents[0]' must be an agent's name or an object with its name."),
        (
            ["Tide Tables"],
            "Field 'agents[0]' must be a registered agent's name (lowercase letters, digits and "
            "hyphens).",
        ),
        ([{"message": "hi"}], "Field 'agents[0].name' is required."),
        ([{"name": "a", "extra": 1}], "Unknown field 'agents[0].extra'."),
        (
            [{"name": "a", "data": {str(i): i for i in range(51)}}],
            "Field 'agents[0].data' must have at most 50 members.",
        ),
        (
            [{"name": "a", "data": {"x": "y" * 4000}}],
            "Field 'agents[0].data' must be at most 4000 characters of JSON.",
        ),
        (
            [{"name": "a", "message": "m" * 2001}],
            "Field 'agents[0].message' must be at most 2000 characters.",
        ),
        (["a"] * 21, "Field 'agents' must have at most 20 items."),
    ],
)
def test_bad_agents_are_refused_naming_the_field(agents, message):
    assert error_of({"request": "hi", "agents": agents}) == message


def test_the_chosen_agents_are_checked_against_the_registry_and_the_limit():
    choices = MESSAGE_REQUEST.parse({"request": "hi", "agents": ["a", "b", "a"]}).agents
    admitted = {"a", "b"}

    check_agent_choices(choices[:2], admitted, limit=2)
    with pytest.raises(InvalidRequest, match=r"Field 'agents\[2\]' names 'a' twice\."):
        check_agent_choices(choices, admitted, limit=3)
    with pytest.raises(InvalidRequest, match=r"Field 'agents' must have at most 2 items\."):
        check_agent_choices(choices, admitted, limit=2)
    with pytest.raises(InvalidRequest, match=r"'b', which is not an admitted agent"):
        check_agent_choices(choices[:2], {"a"}, limit=6)
