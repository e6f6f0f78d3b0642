"""Voice mode against a Voice Live test double: the browser opens the WebSocket itself with the
key from GET /api/voice/token, sends session.update and microphone audio (Chromium's fake
device), and answers each function call with its own output, matched by call_id."""

from __future__ import annotations

import json
import secrets

import pytest

from tests.agents.identities import IDENTITIES
from tests.browser.voicelive_double import (
    TOOL_NAME,
    double_settings,
    posted_bodies,
)
from tests.waiting import wait_until
from voicea2a.messages import instance_id_for

pytestmark = pytest.mark.azurite


def identity(customer: str) -> dict[str, str]:
    first, last, postal, born = IDENTITIES[customer]
    return {"firstName": first, "lastName": last, "postalCode": postal, "dateOfBirth": born}


# Two calls whose specialists differ (besides authentication), so either can be made slow.
MODEM_CALL = (
    "call_modem_" + secrets.token_hex(3),
    {
        "request": "The lights on my modem look wrong.",
        "customer": identity("CUST-0002"),
        "symptoms": ["modem_lights"],
    },
)
BILL_CALL = (
    "call_bill_" + secrets.token_hex(3),
    {
        "request": "Is my last bill paid?",
        "customer": identity("CUST-0010"),
        "symptoms": ["billing_question"],
    },
)
SLOW_AGENT = {"modem": "modem-check", "bill": "internet-plan"}


@pytest.fixture
def overrides(request, double) -> dict[str, str]:
    """The Voice Live double's settings, and a test's own (indirect parameter)."""
    return {**double_settings(double), **getattr(request, "param", {})}


def start_voice(page) -> None:
    page.sign_in()
    page.page.locator("#voice-controls").wait_for(state="visible")
    page.page.click("#voice-start")
    page.page.locator("#voice-state[data-state=listening]").wait_for()


@pytest.mark.parametrize(
    "double", [{"calls": [MODEM_CALL, BILL_CALL]}], indirect=True, ids=["two-calls"]
)
@pytest.mark.parametrize("slow", ["bill", "modem"], ids=["second-slower", "first-slower"])
def test_two_calls_in_one_response_each_get_their_own_output(system, double, slow):
    system.faults(SLOW_AGENT[slow], latencyMs=2000)
    page = system.new_page()
    start_voice(page)

    connection = double.connections[0]
    assert connection.answered.wait(60), "the double did not finish its conversation"
    assert connection.error is None, connection.error
    # The browser connected with the key and the configured version and model.
    assert connection.query["api-version"] == ["2026-07-15"]
    assert connection.query["model"] == ["gpt-realtime"]
    assert "Authorization" not in connection.query
    # session.update first, as GET /api/voice/session gave it; then microphone audio.
    first = connection.events[0]
    assert first["type"] == "session.update"
    assert [t["name"] for t in first["session"]["tools"]] == [TOOL_NAME]
    assert connection.audio_chunks >= 1 and connection.audio_bytes % 2 == 0

    # One output per call_id, each carrying ITS call's answer, then one response.create.
    outputs = connection.outputs()
    assert sorted(call_id for call_id, _ in outputs) == sorted([MODEM_CALL[0], BILL_CALL[0]])
    fast_call = MODEM_CALL[0] if slow == "bill" else BILL_CALL[0]
    assert outputs[0][0] == fast_call  # sent as it came, not in call order
    # The page shows both voice turns answered and what the assistant said (and, as
    # Playwright processes its events meanwhile, records the page's requests).
    turns = page.page.locator("#timeline li.turn[data-source=voice][data-state=answered]")
    turns.nth(1).wait_for()
    page.page.locator("#timeline li.voice-line[data-who=assistant]").wait_for()
    bodies = posted_bodies(page)
    for call_id, output in outputs:
        body = bodies[call_id]
        instance_id = instance_id_for("ada", body["conversationId"], call_id)
        status = system.app.http.get(
            f"/api/messages/{instance_id}", headers=system.headers()
        ).json()
        assert status["callId"] == call_id
        assert output["status"] == "completed"
        assert output["answer"] == status["answer"]
    answers = dict(outputs)
    assert answers[MODEM_CALL[0]]["answer"] != answers[BILL_CALL[0]]["answer"]
    types = connection.types()
    creates = [i for i, t in enumerate(types) if t == "response.create"]
    last_output = max(
        i for i, e in enumerate(connection.events) if e["type"] == "conversation.item.create"
    )
    assert len(creates) == 1 and creates[0] > last_output
    # Each call's latency, from the tool call to its output, reported (answered, in order sent).
    page.page.wait_for_function(
        "() => window.performance.getEntriesByType('resource')"
        ".filter(e => e.name.endsWith('/api/metrics/voice-latency')).length >= 2"
    )
    reports = [
        json.loads(data)
        for method, url, data in page.requests
        if method == "POST" and url.endswith("/api/metrics/voice-latency")
    ]
    assert [(r["callId"], r["outcome"]) for r in reports] == [
        (call_id, "answered") for call_id, _ in outputs
    ]
    assert all(r["latencyMs"] >= 0 for r in reports)

    assert page.count("GET", "/api/voice/token") == 1
    page.screenshot("voice-view")
    page.assert_clean()


LATE_CALL = ("call_late_" + secrets.token_hex(3), MODEM_CALL[1])
AFTER_CALL = ("call_after_" + secrets.token_hex(3), BILL_CALL[1])


@pytest.mark.parametrize(
    "double",
    [{"calls": [LATE_CALL], "drop_after_calls": True, "reconnect_calls": [AFTER_CALL]}],
    indirect=True,
    ids=["dropped"],
)
def test_a_late_answer_after_a_reconnect_is_dropped(system, double):
    system.faults("modem-check", latencyMs=1500)
    page = system.new_page()
    start_voice(page)

    # The double drops the socket right after the call: the browser reconnects with a new token.
    page.page.wait_for_function(
        "() => / listening reconnecting( \\S+)* listening$/"
        ".test(' ' + document.getElementById('voice-state').dataset.history)"
    )
    assert page.count("GET", "/api/voice/token") == 2
    # The page is listening once its socket opens: the double may record it a moment later.
    wait_until(lambda: len(double.connections) == 2, what="the double's second connection")
    assert not double.connections[1].refused
    # The old call's answer arrives after that: shown on the page, never sent to the new socket.
    late = page.page.locator(f"#timeline li.turn[data-call-id={LATE_CALL[0]}]")
    late.locator(".turn-note[data-kind=late]").wait_for()

    double.release.set()  # now a new call on the new connection
    second = double.connections[1]
    assert second.answered.wait(60), "the double did not finish its second conversation"
    assert second.error is None, second.error
    assert [call_id for call_id, _ in second.outputs()] == [AFTER_CALL[0]]
    assert double.connections[0].outputs() == []
    page.page.locator(
        f"#timeline li.turn[data-call-id={AFTER_CALL[0]}][data-state=answered]"
    ).wait_for()
    page.assert_clean()


@pytest.mark.parametrize(
    "double",
    [{"calls": [], "api_key": "a-key-the-browser-was-not-given"}],
    indirect=True,
    ids=["refusing"],
)
def test_a_refused_session_is_explained_and_not_retried(system, double):
    page = system.new_page()
    page.sign_in()
    page.page.click("#voice-start")

    # The double closes with 1008 (policy: a credential it does not accept).
    page.page.locator("#voice-state[data-state=error]").wait_for()
    note = page.page.locator("#voice-note")
    assert note.get_attribute("data-category") == "refused"
    assert "refused" in note.inner_text()
    assert page.page.locator("#voice-start").is_visible()
    page.page.wait_for_timeout(2500)  # longer than the first back-off: nothing follows
    assert len(double.connections) == 1 and double.connections[0].refused
    assert page.count("GET", "/api/voice/token") == 1
    page.assert_clean()


@pytest.mark.parametrize("double", [{"calls": []}], indirect=True, ids=["silent"])
@pytest.mark.parametrize("overrides", [{"VOICE_IDLE_MINUTES": "0.05"}], indirect=True)
def test_an_idle_voice_session_is_ended_with_a_notice_and_resumed_in_one_click(system, double):
    page = system.new_page()
    start_voice(page)

    # Nobody speaks (the double reports no speech) for VOICE_IDLE_MINUTES (3 s here).
    page.page.locator("#voice-state[data-state=idle]").wait_for()
    note = page.page.locator("#voice-note")
    assert note.get_attribute("data-category") == "idle"
    assert "without speech" in note.inner_text()
    assert double.connections[0].done.wait(10), "the idle socket is closed"
    assert page.page.locator("#voice-start").is_visible()

    page.page.click("#voice-start")
    page.page.locator("#voice-state[data-state=listening]").wait_for()
    assert len(double.connections) == 2
    page.assert_clean()


DISPATCH_CALL = (
    "call_dispatch_" + secrets.token_hex(3),
    {
        "request": "Please send a technician, my internet keeps dropping.",
        "customer": identity("CUST-0010"),  # seen within 30 days: a supervisor must approve
        "symptoms": ["technician_visit"],
    },
)


@pytest.mark.parametrize("double", [{"calls": [DISPATCH_CALL]}], indirect=True, ids=["dispatch"])
def test_a_supervisors_reply_arrives_later_and_is_spoken_into_the_live_session(system, double):
    page = system.new_page()
    start_voice(page)

    # The first answer is spoken at once: the diagnostics, and that a supervisor must confirm.
    connection = double.connections[0]
    assert connection.answered.wait(60), "the double did not finish its conversation"
    assert connection.error is None, connection.error
    [(call_id, output)] = connection.outputs()
    assert "needs a supervisor's approval" in output["answer"]
    # (While Playwright waits on the page, it records the page's requests.)
    turn = page.page.locator(f"#timeline li.turn[data-call-id={call_id}][data-state=answered]")
    turn.wait_for()
    body = posted_bodies(page)[call_id]
    instance_id = instance_id_for("ada", body["conversationId"], call_id)
    system.wait_status(
        instance_id,
        lambda status: status["progress"].get("stage") == "awaiting-approval",
        "the supervisor asked",
    )

    replied = system.app.http.post(
        f"/api/approvals/{instance_id}",
        json={"reply": "Approved, please book the first slot."},
        headers=system.headers("sam", ("supervisor",)),
    )
    assert replied.status_code == 202, replied.text

    # The follow-up goes into the open session as a new item, then response.create.
    assert connection.followed_up.wait(60), "no follow-up reached the voice session"
    follow_up = system.wait_done(instance_id)["followUps"][0]["answer"]
    assert "book" in follow_up.lower()
    creates = [
        i
        for i, e in enumerate(connection.events)
        if e["type"] == "conversation.item.create" and e["item"].get("role") == "system"
    ]
    [at] = creates
    item = connection.events[at]["item"]
    assert item["content"][0]["text"].endswith(follow_up)
    assert connection.events[at + 1]["type"] == "response.create"
    # The page shows it on the same voice turn; the history has the answer and the follow-up.
    assert turn.locator(".bubble-follow-up .answer-text").inner_text() == follow_up
    page.page.locator("#timeline li.voice-line[data-who=assistant]").nth(1).wait_for()
    history = system.app.http.get(
        f"/api/conversations/{body['conversationId']}", headers=system.headers()
    ).json()["messages"]
    said = [(m["text"], m.get("followUp", False)) for m in history if m["role"] == "assistant"]
    assert said == [(output["answer"], False), (follow_up, True)]
    page.screenshot("voice-follow-up")
    page.assert_clean()
