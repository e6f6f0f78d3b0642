"""The small request bodies: the dev sign-in, a supervisor's decision, an agent's registration
and admission. Each error names its field."""

from __future__ import annotations

import pytest

from voicea2a.bodies import (
    AGENT_ADMISSION,
    AGENT_REGISTRATION,
    APPROVAL_DECISION,
    Admission,
    Decision,
    Registration,
)
from voicea2a.devlogin import DEV_LOGIN, DevLogin
from voicea2a.errors import InvalidRequest


def refused(declaration, body) -> str:
    with pytest.raises(InvalidRequest) as caught:
        declaration.parse(body)
    assert caught.value.status == 400
    return caught.value.message


def test_dev_login_defaults_to_the_user_role_and_sorts_roles():
    assert DEV_LOGIN.parse({"user": "ada"}) == DevLogin("ada", ("user",))
    roles = ["user", "supervisor", "user"]
    assert DEV_LOGIN.parse({"user": "a.b@c_d-e", "roles": roles}).roles == ("supervisor", "user")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "Field 'user' is required."),
        ({"user": 7}, "Field 'user' must be a string."),
        ({"user": "-ada"}, "Field 'user' must be 1-64 characters: letters, digits,"),
        ({"user": "x" * 65}, "Field 'user' must be 1-64 characters"),
        ({"user": "ada", "roles": "user"}, "Field 'roles' must be a list."),
        ({"user": "ada", "roles": None}, "Field 'roles' must be a list."),
        ({"user": "ada", "roles": []}, "Field 'roles' must have at least 1 item(s)."),
        ({"user": "ada", "roles": ["root"]}, "Field 'roles[0]' must be one of user, supervisor"),
        ({"user": "ada", "extra": 1}, "Unknown field 'extra'."),
    ],
)
def test_dev_login_errors_name_the_field(body, message):
    assert refused(DEV_LOGIN, body).startswith(message)


def test_a_decision_has_a_note_that_may_be_free_text():
    assert APPROVAL_DECISION.parse({"approve": True}) == Decision(True, "", None)
    assert APPROVAL_DECISION.parse({"approve": False, "note": "a\nb"}) == Decision(
        False, "a\nb", None
    )
    assert APPROVAL_DECISION.free_text == {"note", "reply"}


def test_a_reply_is_free_text_instead_of_a_decision():
    reply = "Yes, book it.\nThe customer is a priority."
    assert APPROVAL_DECISION.parse({"reply": reply}) == Decision(None, "", reply)
    assert APPROVAL_DECISION.parse({"reply": "r" * 2000}).reply == "r" * 2000


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "Send exactly one of 'approve' or 'reply'."),
        (
            {"approve": True, "reply": "ok"},
            "Send exactly one of 'approve' or 'reply'.",
        ),
        ({"reply": ""}, "Field 'reply' must not be empty."),
        ({"reply": "r" * 2001}, "Field 'reply' must be at most 2000 characters."),
        ({"reply": 5}, "Field 'reply' must be a string."),
        ({"approve": "yes"}, "Field 'approve' must be true or false."),
        ({"approve": True, "note": 5}, "Field 'note' must be a string."),
        ({"approve": True, "note": "n" * 501}, "Field 'note' must be at most 500 characters."),
        ({"approve": True, "by": "me"}, "Unknown field 'by'."),
    ],
)
def test_decision_errors_name_the_field(body, message):
    assert refused(APPROVAL_DECISION, body) == message


def test_a_registration_is_a_url_the_ssrf_guard_then_vets():
    url = "https://outage.agents.contoso.example"
    assert AGENT_REGISTRATION.parse({"url": url}) == Registration(url)
    assert refused(AGENT_REGISTRATION, {}) == "Field 'url' is required."
    assert refused(AGENT_REGISTRATION, {"url": ""}) == "Field 'url' must not be empty."
    assert refused(AGENT_REGISTRATION, {"url": "h" * 2049}).endswith("at most 2048 characters.")
    assert refused(AGENT_REGISTRATION, {"url": url, "name": "x"}) == "Unknown field 'name'."


def test_an_admission_may_set_a_priority():
    assert AGENT_ADMISSION.parse({}) == Admission(None)
    assert AGENT_ADMISSION.parse({"priority": -1000}) == Admission(-1000)
    for priority in (1001, True, 2.0, "5", None):
        message = refused(AGENT_ADMISSION, {"priority": priority})
        assert message == "Field 'priority' must be an integer from -1000 to 1000."
    assert refused(AGENT_ADMISSION, {"rank": 1}) == "Unknown field 'rank'."
