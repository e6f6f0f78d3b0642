"""Authentication: verification against salted hashes; attempts limited per caller, per caller
and customer, and per customer (agents/limits.py)."""

import pytest

from agents.authentication import AuthenticationAgent
from agents.inputs import RequestInput
from agents.limits import (
    CALLER_ATTEMPTS_PER_MINUTE,
    CALLER_MAX_FAILURES,
    CUSTOMER_MAX_FAILURES,
    LOCKOUT_WINDOW_SECONDS,
    MAX_FAILURES,
)
from tests.agents.identities import IDENTITIES


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def agent(clock):
    return AuthenticationAgent(clock=clock)


def identity(customer_id, **overrides):
    first, last, postal, dob = IDENTITIES[customer_id]
    fields = {"firstName": first, "lastName": last, "postalCode": postal, "dateOfBirth": dob}
    return {**fields, **overrides}


def attempt(agent, data=None, text="", caller="app|user-1"):
    return agent.handle(RequestInput(data=data or {}, text=text, caller=caller))


def test_structured_success_returns_customer_id_and_region(agent):
    reply = attempt(agent, identity("CUST-0004"))
    assert reply.data == {
        "status": "AUTHENTICATED",
        "customerId": "CUST-0004",
        "region": "Montreal",
        "firstName": "Marc",
    }
    assert "CUST-0004" in reply.text


def test_free_text_success(agent):
    text = "Hi, my name is liam o'brien, postal code k1p5j2, born September 17, 1970."
    reply = attempt(agent, text=text)
    assert reply.data["status"] == "AUTHENTICATED"
    assert reply.data["customerId"] == "CUST-0006"


def test_two_customers_with_the_same_name_are_told_apart(agent):
    assert attempt(agent, identity("CUST-0001")).data["customerId"] == "CUST-0001"
    assert attempt(agent, identity("CUST-0022")).data["customerId"] == "CUST-0022"
    mixed = identity("CUST-0001", dateOfBirth=IDENTITIES["CUST-0022"][3])
    assert attempt(agent, mixed).data["status"] == "FAILED"


@pytest.mark.parametrize("field", ["postalCode", "dateOfBirth", "lastName"])
def test_one_wrong_field_fails_with_attempts_remaining(agent, field):
    wrong = {"postalCode": "A1A 1A1", "dateOfBirth": "2000-01-01", "lastName": "Nobody"}[field]
    reply = attempt(agent, identity("CUST-0002", **{field: wrong}))
    assert reply.data == {"status": "FAILED", "attemptsRemaining": MAX_FAILURES - 1}


def test_lock_out_after_three_failures_then_unlock_after_the_window(agent, clock):
    wrong = identity("CUST-0003", dateOfBirth="1999-09-09")
    remaining = [attempt(agent, wrong).data["attemptsRemaining"] for _ in range(MAX_FAILURES)]
    assert remaining == [2, 1, 0]
    locked = attempt(agent, identity("CUST-0003"))
    assert locked.data["status"] == "LOCKED_OUT"
    assert locked.data["retryAfterSeconds"] == LOCKOUT_WINDOW_SECONDS
    clock.now += LOCKOUT_WINDOW_SECONDS - 1
    assert attempt(agent, identity("CUST-0003")).data == {
        "status": "LOCKED_OUT",
        "retryAfterSeconds": 1,
        "scope": "customer",
    }
    clock.now += 1
    assert attempt(agent, identity("CUST-0003")).data["status"] == "AUTHENTICATED"


def test_failures_older_than_the_window_do_not_count(agent, clock):
    wrong = identity("CUST-0005", dateOfBirth="1999-09-09")
    attempt(agent, wrong)
    clock.now += LOCKOUT_WINDOW_SECONDS / 2
    attempt(agent, wrong)
    clock.now += LOCKOUT_WINDOW_SECONDS / 2
    # The first failure has left the window: this third one leaves one attempt, no lock-out.
    assert attempt(agent, wrong).data == {"status": "FAILED", "attemptsRemaining": 1}
    assert attempt(agent, identity("CUST-0005")).data["status"] == "AUTHENTICATED"


def test_success_clears_the_failure_count(agent):
    wrong = identity("CUST-0007", dateOfBirth="1999-09-09")
    attempt(agent, wrong)
    attempt(agent, wrong)
    assert attempt(agent, identity("CUST-0007")).data["status"] == "AUTHENTICATED"
    assert attempt(agent, wrong).data["attemptsRemaining"] == MAX_FAILURES - 1


def test_lock_out_is_per_name(agent):
    wrong = identity("CUST-0008", dateOfBirth="1999-09-09")
    for _ in range(MAX_FAILURES):
        attempt(agent, wrong)
    assert attempt(agent, identity("CUST-0008")).data["status"] == "LOCKED_OUT"
    assert attempt(agent, identity("CUST-0009")).data["status"] == "AUTHENTICATED"


def test_an_unknown_name_fails_like_a_wrong_date_and_is_counted(agent):
    stranger = identity("CUST-0010", firstName="Nobody", lastName="Here")
    assert attempt(agent, stranger).data == {"status": "FAILED", "attemptsRemaining": 2}
    attempt(agent, stranger)
    attempt(agent, stranger)
    assert attempt(agent, stranger).data["status"] == "LOCKED_OUT"


def test_missing_fields_are_named(agent):
    reply = attempt(agent, text="my name is Jane Doe")
    assert reply.data == {"status": "MISSING_FIELD", "missingFields": ["postalCode", "dateOfBirth"]}
    assert "postal code (postalCode" in reply.text
    assert "date of birth (dateOfBirth" in reply.text


def test_a_missing_field_is_not_a_failed_attempt(agent):
    for _ in range(MAX_FAILURES + 1):
        attempt(agent, {"firstName": "Jane", "lastName": "Doe"})
    assert attempt(agent, identity("CUST-0001")).data["status"] == "AUTHENTICATED"


# ----- limits per caller and per customer -----


def letters(n):
    """A made-up last name per number (names are letters only)."""
    return "Zz" + chr(97 + n // 26) + chr(97 + n % 26)


def test_a_lock_out_by_one_caller_does_not_lock_the_customer_out_for_another(agent):
    wrong = identity("CUST-0001", dateOfBirth="1999-09-09")
    for _ in range(MAX_FAILURES):
        attempt(agent, wrong, caller="app|attacker")
    assert attempt(agent, identity("CUST-0001"), caller="app|attacker").data["status"] == (
        "LOCKED_OUT"
    )
    assert attempt(agent, identity("CUST-0001"), caller="app|jane").data["status"] == (
        "AUTHENTICATED"
    )


def test_many_names_in_a_burst_are_throttled_per_caller(agent):
    # The attack that was not throttled: 30 attempts with different names at once.
    statuses = [
        attempt(agent, identity("CUST-0002", lastName=letters(i))).data["status"] for i in range(30)
    ]
    assert statuses.count("FAILED") == CALLER_MAX_FAILURES
    assert statuses[CALLER_MAX_FAILURES:] == ["LOCKED_OUT"] * (30 - CALLER_MAX_FAILURES)
    refused = attempt(agent, identity("CUST-0002")).data
    assert refused["status"] == "LOCKED_OUT" and refused["scope"] == "caller"
    # Another caller is not affected.
    assert attempt(agent, identity("CUST-0002"), caller="app|other").data["status"] == (
        "AUTHENTICATED"
    )


def test_attempts_per_caller_are_limited_per_minute_even_when_they_succeed(agent, clock):
    for _ in range(CALLER_ATTEMPTS_PER_MINUTE):
        assert attempt(agent, identity("CUST-0004")).data["status"] == "AUTHENTICATED"
    throttled = attempt(agent, identity("CUST-0004")).data
    assert throttled == {"status": "LOCKED_OUT", "retryAfterSeconds": 60, "scope": "caller"}
    clock.now += 60
    assert attempt(agent, identity("CUST-0004")).data["status"] == "AUTHENTICATED"


def test_a_customer_is_locked_for_everyone_only_after_several_callers_failed(agent, clock):
    wrong = identity("CUST-0005", dateOfBirth="1999-09-09")
    callers = [f"app|guesser-{n}" for n in range(4)]
    failures = 0
    for caller in callers:
        for _ in range(MAX_FAILURES):
            if failures < CUSTOMER_MAX_FAILURES:
                attempt(agent, wrong, caller=caller)
                failures += 1
    # 10 failures from 4 callers: now nobody may try this name until the window passes.
    refused = attempt(agent, identity("CUST-0005"), caller="app|customer").data
    assert refused["status"] == "LOCKED_OUT" and refused["scope"] == "customer"
    clock.now += LOCKOUT_WINDOW_SECONDS
    assert attempt(agent, identity("CUST-0005"), caller="app|customer").data["status"] == (
        "AUTHENTICATED"
    )


def test_a_success_does_not_reset_the_callers_failures_elsewhere(agent):
    for n in range(CALLER_MAX_FAILURES - 1):
        attempt(agent, identity("CUST-0006", lastName=letters(n)))
    assert attempt(agent, identity("CUST-0007")).data["status"] == "AUTHENTICATED"
    assert attempt(agent, identity("CUST-0008", lastName=letters(99))).data == {
        "status": "FAILED",
        "attemptsRemaining": 0,
    }
    assert attempt(agent, identity("CUST-0008")).data["scope"] == "caller"
