"""A verified customer never answers for another person (issue 15): in a conversation verified
as Jane Doe, a turn carrying someone else's identity is verified afresh, and only that person's
account is touched; a failed re-verification touches neither account and verifies nobody."""

from __future__ import annotations

import pytest

from tests.agents.identities import IDENTITIES

pytestmark = pytest.mark.azurite

JANE, RAJ = "CUST-0001", "CUST-0002"


def turn(system, conversation: str, identity: dict | None, symptoms: list[str]) -> list[dict]:
    """Ask in `conversation` with `identity` (None: none given) and return the turn's messages."""
    body = system.body(None, symptoms, conversationId=conversation)
    if identity is not None:
        body["customer"] = identity
    response = system.app.http.post("/api/messages", json=body, headers=system.headers())
    assert response.status_code == 200, response.text
    return system.wait_history(conversation, response.json()["instanceId"])


def identity(customer_id: str, **changes: str) -> dict[str, str]:
    first, last, postal, born = IDENTITIES[customer_id]
    fields = {"firstName": first, "lastName": last, "postalCode": postal, "dateOfBirth": born}
    return {**fields, **changes}


def customers_touched(messages: list[dict]) -> set[str]:
    """The customer ids the agents of a turn worked on (every account result carries one)."""
    return {
        m["data"]["customerId"]
        for m in messages
        if m["role"] == "agent" and isinstance(m.get("data"), dict) and "customerId" in m["data"]
    }


def answer(messages: list[dict]) -> dict:
    return next(m for m in messages if m["role"] == "assistant")


def test_another_identity_is_verified_afresh_and_sees_only_its_own_account(system):
    first = turn(system, "switch", identity(JANE), ["billing_question"])
    assert customers_touched(first) == {JANE}
    assert answer(first)["customerId"] == JANE

    # Jane again, typed differently: the same person, no second verification.
    again = turn(system, "switch", identity(JANE, firstName=" jane "), ["billing_question"])
    assert not any(m.get("skill") == "customer_authentication" for m in again)
    assert customers_touched(again) == {JANE}

    second = turn(system, "switch", identity(RAJ), ["billing_question"])
    assert any(m.get("skill") == "customer_authentication" for m in second)
    assert customers_touched(second) == {RAJ}
    assert answer(second)["customerId"] == RAJ

    # The conversation now belongs to the last identity verified.
    follow_up = turn(system, "switch", None, ["billing_question"])
    assert customers_touched(follow_up) == {RAJ}


def test_a_failed_re_verification_answers_about_nobody_and_verifies_nobody(system):
    turn(system, "impostor", identity(JANE), ["billing_question"])

    wrong = turn(system, "impostor", identity(RAJ, dateOfBirth="1900-01-01"), ["billing_question"])
    assert customers_touched(wrong) == set()
    assert answer(wrong)["customerId"] is None
    plan_rows = [m for m in wrong if m.get("skill") == "plan_checking"]
    assert plan_rows == []  # nothing about Jane's account either

    # And the next turn without an identity is not answered from Jane's account.
    after = turn(system, "impostor", None, ["billing_question"])
    assert customers_touched(after) == set()
    assert answer(after)["customerId"] is None
