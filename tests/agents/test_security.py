"""Every A2A call to a sample agent needs a credential (the card stays public); a task belongs
to the caller that started it; a message sent again is acted on once."""

import time
from dataclasses import replace

import pytest

from agents.catalog import AGENT_NAMES
from agents.security import InboundAuth
from agents.server import start_agents
from agents.settings import AgentSettings
from tests.agents.conftest import (
    QUIET,
    SIGNING_KEY,
    app_token,
    ask,
    bearer,
    remember_secret,
    rpc,
    title_of,
)

CARD_PATH = "/.well-known/agent-card.json"
MESSAGE = {"messageId": "m-1", "role": "ROLE_USER", "parts": [{"data": {"customerId": "CUST-1"}}]}
BODY = {"jsonrpc": "2.0", "id": 1, "method": "SendMessage", "params": {"message": MESSAGE}}


async def send_raw(http, url, headers):
    return await http.post(f"{url}/a2a", json=BODY, headers={"A2A-Version": "1.0", **headers})


def assert_unauthenticated(response):
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer ")
    error = response.json()
    assert error["jsonrpc"] == "2.0" and error["id"] is None
    assert error["error"]["message"].startswith("Unauthenticated")


@pytest.mark.parametrize("name", AGENT_NAMES)
async def test_send_message_without_a_credential_is_401_and_the_card_is_public(agents, http, name):
    url = agents.urls[name]
    assert_unauthenticated(await send_raw(http, url, {}))
    card = (await http.get(f"{url}{CARD_PATH}")).json()
    assert card["securitySchemes"] == {
        "appToken": {
            "httpAuthSecurityScheme": {
                "scheme": "Bearer",
                "bearerFormat": "JWT",
                "description": card["securitySchemes"]["appToken"]["httpAuthSecurityScheme"][
                    "description"
                ],
            }
        }
    }
    assert card["securityRequirements"] == [{"schemes": {"appToken": {}}}]
    assert (await send_raw(http, url, await bearer(http, url))).status_code == 200


def expired():
    past = int(time.time()) - 3600
    return {"iat": past - 300, "exp": past}


@pytest.mark.parametrize(
    "claims, key",
    [
        pytest.param({"aud": "voicea2a-api"}, SIGNING_KEY, id="a user token's audience"),
        pytest.param({"iss": "someone-else"}, SIGNING_KEY, id="wrong issuer"),
        pytest.param(expired(), SIGNING_KEY, id="expired"),
        pytest.param({}, "another-key-of-at-least-32-characters-0000", id="wrong key"),
        pytest.param({"agent": "Contoso Outage Check Agent"}, SIGNING_KEY, id="another agent's"),
        pytest.param({"sub": ""}, SIGNING_KEY, id="empty subject"),
        pytest.param({"exp": None}, SIGNING_KEY, id="no expiry"),
    ],
)
async def test_a_token_that_is_not_valid_for_this_agent_is_401(agents, http, claims, key):
    url = agents.urls["authentication"]
    token = app_token(await title_of(http, url), key=key, **claims)
    assert_unauthenticated(await send_raw(http, url, {"Authorization": f"Bearer {token}"}))


async def test_an_unsigned_token_and_other_schemes_are_401(agents, http):
    url = agents.urls["internet-plan"]
    unsigned = remember_secret("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.")
    for header in (f"Bearer {unsigned}", "Basic dXNlcjpwYXNz", "Bearer", "Bearer " + "x" * 9000):
        assert_unauthenticated(await send_raw(http, url, {"Authorization": header}))
    assert_unauthenticated(await send_raw(http, url, {"X-API-Key": "guess"}))


async def test_another_caller_cannot_approve_a_booking_it_did_not_start(agents, http):
    dispatch = agents.urls["technical-dispatch"]
    running = agents.agents["technical-dispatch"].agent
    held = await ask(http, dispatch, data={"customerId": "CUST-0003"})
    assert held.state == "TASK_STATE_INPUT_REQUIRED"

    # A valid token, but of another subject: the task does not exist for it.
    other = await bearer(http, dispatch, sub="someone-else")
    reply = await rpc(
        http,
        dispatch,
        [{"data": {"approved": True, "note": "self-approved"}}],
        task_id=held.task_id,
        context_id=held.context_id,
        headers=other,
    )
    assert reply["error"]["code"] == -32001
    assert running.calendar.booked == {}
    peek = {"jsonrpc": "2.0", "id": 2, "method": "GetTask", "params": {"id": held.task_id}}
    response = await http.post(
        f"{dispatch}/a2a", json=peek, headers={"A2A-Version": "1.0", **other}
    )
    assert response.json()["error"]["code"] == -32001

    # The caller that started it can.
    done = await ask(
        http, dispatch, data={"approved": True}, task_id=held.task_id, context_id=held.context_id
    )
    assert done.data["status"] == "BOOKED"


async def test_a_repeated_message_books_once_and_answers_the_same(agents, http):
    dispatch = agents.urls["technical-dispatch"]
    running = agents.agents["technical-dispatch"].agent
    first = await ask(http, dispatch, data={"customerId": "CUST-0001"}, message_id="step-a")
    again = await ask(http, dispatch, data={"customerId": "CUST-0001"}, message_id="step-a")
    assert first.data["status"] == "BOOKED"
    assert again == first
    assert len(running.calendar.booked) == 1
    # A new step is a new booking.
    other = await ask(http, dispatch, data={"customerId": "CUST-0001"}, message_id="step-b")
    assert other.data["bookingId"] != first.data["bookingId"]
    assert len(running.calendar.booked) == 2


async def test_a_repeated_message_awaiting_approval_holds_one_slot(agents, http):
    dispatch = agents.urls["technical-dispatch"]
    running = agents.agents["technical-dispatch"].agent
    first = await ask(http, dispatch, data={"customerId": "CUST-0003"}, message_id="hold-1")
    again = await ask(http, dispatch, data={"customerId": "CUST-0003"}, message_id="hold-1")
    assert again.task_id == first.task_id and again.state == "TASK_STATE_INPUT_REQUIRED"
    assert len(running.calendar.held) == 1
    decision = {"task_id": first.task_id, "context_id": first.context_id, "message_id": "ok-1"}
    booked = await ask(http, dispatch, data={"approved": True}, **decision)
    # The approval sent again: the completed task, not "task is in a terminal state".
    assert await ask(http, dispatch, data={"approved": True}, **decision) == booked
    assert len(running.calendar.booked) == 1


async def test_a_message_id_reused_for_another_message_is_refused(agents, http):
    dispatch = agents.urls["technical-dispatch"]
    await ask(http, dispatch, data={"customerId": "CUST-0001"}, message_id="reused")
    reply = await rpc(http, dispatch, [{"data": {"customerId": "CUST-0002"}}], message_id="reused")
    assert reply["error"]["code"] == -32602


async def test_the_same_message_id_from_another_caller_is_its_own_message(agents, http):
    dispatch = agents.urls["technical-dispatch"]
    running = agents.agents["technical-dispatch"].agent
    await ask(http, dispatch, data={"customerId": "CUST-0001"}, message_id="shared")
    other = await bearer(http, dispatch, sub="someone-else")
    await ask(http, dispatch, data={"customerId": "CUST-0001"}, message_id="shared", headers=other)
    assert len(running.calendar.booked) == 2


async def test_the_authentication_limits_are_per_end_user_of_the_app(agents, http):
    url = agents.urls["authentication"]
    wrong = {"firstName": "Jane", "lastName": "Doe", "postalCode": "M5H 1A1"}
    wrong["dateOfBirth"] = "1999-09-09"
    for _ in range(3):
        await ask(http, url, data=wrong, metadata={"onBehalfOf": "attacker"})
    locked = await ask(http, url, data=wrong, metadata={"onBehalfOf": "attacker"})
    assert locked.data["status"] == "LOCKED_OUT"
    right = {**wrong, "dateOfBirth": "1985-03-14"}
    jane = await ask(http, url, data=right, metadata={"onBehalfOf": "jane"})
    assert jane.data["status"] == "AUTHENTICATED"


async def test_the_credential_is_not_passed_on_to_the_sdk(agents, http, caplog):
    # The a2a-sdk logs its call context (with the request headers) at DEBUG.
    url = agents.urls["modem-check"]
    token = app_token(await title_of(http, url))
    with caplog.at_level("DEBUG"):
        response = await send_raw(http, url, {"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert token not in caplog.text


async def test_an_api_key_is_accepted_when_configured(http):
    key = remember_secret("agent-api-key-5b7e1f3c9a2d")
    group = await start_agents(
        ["outage-check"], base_port=0, settings=replace(QUIET, inbound=InboundAuth(api_key=key))
    )
    try:
        url = group.urls["outage-check"]
        card = (await http.get(f"{url}{CARD_PATH}")).json()
        assert card["securitySchemes"] == {
            "apiKey": {"apiKeySecurityScheme": {"location": "header", "name": "X-API-Key"}}
        }
        assert (await send_raw(http, url, {"X-API-Key": key})).status_code == 200
        assert_unauthenticated(await send_raw(http, url, {"X-API-Key": key + "x"}))
        assert_unauthenticated(await send_raw(http, url, await bearer(http, url)))
    finally:
        await group.stop()


async def test_with_no_credential_configured_every_call_is_refused(http):
    group = await start_agents(
        ["outage-check"], base_port=0, settings=AgentSettings(registration_enabled=False)
    )
    try:
        url = group.urls["outage-check"]
        assert_unauthenticated(await send_raw(http, url, await bearer(http, url)))
    finally:
        await group.stop()
