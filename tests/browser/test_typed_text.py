"""Typed text with Voice Live configured goes through the realtime session in text modality (the
model reads it as it hears speech and fills the tool), against the Voice Live test double; without
Voice Live it goes straight to POST /api/messages."""

from __future__ import annotations

import secrets

import pytest

from tests.agents.identities import IDENTITIES
from tests.browser.voicelive_double import (
    TOOL_NAME,
    double_settings,
    posted_bodies,
)
from voicea2a.messages import instance_id_for

pytestmark = pytest.mark.azurite

QUESTION = "Is there an outage in my area?"
SPOKEN_CALL = ("call_spoken_" + secrets.token_hex(3), {"request": "Is my last bill paid?"})


@pytest.fixture
def overrides(request, double) -> dict[str, str]:
    """The Voice Live double's settings, and a test's own (indirect parameter)."""
    return {**double_settings(double), **getattr(request, "param", {})}


def answer_of(system, call_id: str, body: dict) -> str:
    """The answer the back end holds for the call (GET /api/messages/{instanceId})."""
    instance_id = instance_id_for("ada", body["conversationId"], call_id)
    status = system.app.http.get(f"/api/messages/{instance_id}", headers=system.headers())
    assert status.status_code == 200, status.text
    assert status.json()["callId"] == call_id
    return status.json()["answer"]


def type_and_send(page, text: str) -> None:
    page.page.fill("#ask-request", text)
    page.page.click("#ask-submit")


def test_typed_text_reaches_the_model_as_input_text_in_a_text_only_session(system, double):
    page = system.new_page()
    page.sign_in()
    type_and_send(page, QUESTION)

    reply = page.page.locator("#timeline li.reply-line[data-who=assistant][data-state=done]")
    reply.wait_for()
    connection = double.connections[0]
    assert connection.replied.wait(30), connection.error
    assert connection.error is None, connection.error
    # A text-only session: the API's session.update with text modality, and no microphone.
    first = connection.events[0]
    assert first["type"] == "session.update"
    assert first["session"]["modalities"] == ["text"]
    assert [tool["name"] for tool in first["session"]["tools"]] == [TOOL_NAME]
    assert connection.audio_chunks == 0
    # The typed text as a user message with input_text, then response.create.
    [item] = connection.typed_items()
    assert item["role"] == "user"
    assert item["content"] == [{"type": "input_text", "text": QUESTION}]
    types = connection.types()
    created = types.index("conversation.item.create")
    assert types[created + 1] == "response.create"

    # The model's tool call went to /api/messages; its answer went back as that call's output.
    [(call_id, text)] = connection.typed
    assert text == QUESTION
    body = posted_bodies(page)[call_id]
    assert body["request"] == QUESTION
    answer = answer_of(system, call_id, body)
    [(output_call, output)] = connection.outputs()
    assert output_call == call_id
    assert output["status"] == "completed" and output["answer"] == answer
    # The model's streamed text is the assistant's line; the tool call's turn is answered.
    assert reply.locator(".reply-text").inner_text() == connection.replies[0]
    assert answer in connection.replies[0]
    turn = page.page.locator(f"#timeline li.turn[data-call-id={call_id}]")
    assert turn.get_attribute("data-source") == "typed"
    page.page.locator(f"#timeline li.turn[data-call-id={call_id}][data-state=answered]").wait_for()
    typed = page.page.locator("#timeline li.typed-line[data-state=sent] .typed-text")
    assert typed.inner_text() == QUESTION
    assert page.page.input_value("#ask-request") == ""
    assert page.page.locator("#voice-state").get_attribute("data-state") == "text"
    assert page.page.locator("#voice-start").is_visible()

    # A second question goes into the same session.
    type_and_send(page, "And when will it be fixed?")
    reply.nth(1).wait_for()
    assert len(double.connections) == 1
    assert [text for _, text in connection.typed] == [QUESTION, "And when will it be fixed?"]
    assert page.count("GET", "/api/voice/token") == 1
    page.screenshot("typed-text-session")
    page.assert_clean()


def test_the_forms_fields_go_with_typed_text_and_into_the_tool_call(system, double):
    page = system.new_page()
    page.sign_in()
    page.ask(QUESTION, "CUST-0001", ("no_internet",))

    page.page.locator("#timeline li.reply-line[data-state=done]").wait_for()
    connection = double.connections[0]
    [item] = connection.typed_items()
    text = item["content"][0]["text"]
    first, last, postal, born = IDENTITIES["CUST-0001"]
    assert text.startswith(QUESTION + "\n\n(Form fields: ")
    assert all(value in text for value in (first, last, postal, born, "no_internet"))
    # The double's call carries the request only: the page adds what the form said.
    [(call_id, _)] = connection.typed
    body = posted_bodies(page)[call_id]
    assert body["request"] == QUESTION
    assert body["customer"] == {
        "firstName": first,
        "lastName": last,
        "postalCode": postal,
        "dateOfBirth": born,
    }
    assert body["symptoms"] == ["no_internet"]
    page.page.locator(f"#timeline li.turn[data-call-id={call_id}][data-state=answered]").wait_for()
    page.assert_clean()


@pytest.mark.parametrize("double", [{"calls": [SPOKEN_CALL]}], indirect=True, ids=["voice"])
def test_typed_text_goes_into_the_open_voice_session(system, double):
    page = system.new_page()
    page.sign_in()
    page.page.click("#voice-start")
    page.page.locator("#voice-state[data-state=listening]").wait_for()
    connection = double.connections[0]
    assert connection.answered.wait(60), "the double did not finish its spoken turn"
    assert connection.error is None, connection.error

    type_and_send(page, QUESTION)
    assert connection.replied.wait(30), connection.error
    spoken = page.page.locator("#timeline li.voice-line[data-who=assistant]")
    spoken.nth(1).wait_for()  # the spoken turn's reply, then the typed one's

    assert len(double.connections) == 1  # no second session
    assert connection.modalities == ["text", "audio"]
    assert [item["content"][0]["text"] for item in connection.typed_items()] == [QUESTION]
    [(call_id, _)] = connection.typed
    body = posted_bodies(page)[call_id]
    assert body["request"] == QUESTION
    assert dict(connection.outputs())[call_id]["answer"] == answer_of(system, call_id, body)
    assert connection.replies[0] in spoken.nth(1).inner_text()
    page.assert_clean()


@pytest.mark.parametrize(
    "double", [{"api_key": "a-key-the-browser-was-not-given"}], indirect=True, ids=["refusing"]
)
def test_typed_text_that_cannot_be_sent_stays_in_the_box(system, double):
    page = system.new_page()
    page.sign_in()
    type_and_send(page, QUESTION)

    banner = page.page.locator("#error[data-code=not_sent]")
    banner.wait_for()
    assert "refused" in banner.inner_text()
    assert page.page.input_value("#ask-request") == QUESTION
    assert page.page.locator("#timeline li.typed-line[data-state=failed]").count() == 1
    assert page.page.locator("#voice-note").get_attribute("data-category") == "refused"
    assert len(double.connections) == 1 and double.connections[0].refused
    assert page.count("POST", "/api/messages") == 0
    page.assert_clean()


@pytest.mark.parametrize("overrides", [{}])
def test_without_voice_live_typed_text_goes_straight_to_the_agents(system):
    page = system.new_page()
    page.sign_in()
    assert page.page.locator("#voice-controls").is_hidden()
    type_and_send(page, QUESTION)

    page.page.locator("#timeline li.turn[data-source=text][data-state=answered]").wait_for()
    [body] = posted_bodies(page).values()
    assert body["request"] == QUESTION
    assert page.count("GET", "/api/voice/token") == 0
    assert page.count("GET", "/api/voice/session") == 0
    assert not [url for method, url, _ in page.requests if "/voice-live/" in url]
    assert page.page.locator("#timeline li.typed-line").count() == 0
    page.assert_clean()
