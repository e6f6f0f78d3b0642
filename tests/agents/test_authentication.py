"""Authentication: verification against salted hashes, lock-out after 3 failures in a window."""

import pytest

from agents.authentication import LOCKOUT_WINDOW_SECONDS, MAX_FAILURES, AuthenticationAgent
from agents.inputs import RequestInput
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


def attempt(agent, data=None, text=""):
    return agent.handle(RequestInput(data=data or {}, text=text))


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
