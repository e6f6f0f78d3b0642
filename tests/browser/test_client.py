"""The browser client end to end: sign-in, the agent network, text questions (200, 202 and a
rejected one), past conversations, live events reconnecting, supervisor approvals."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from azure.messaging.webpubsubservice import WebPubSubServiceClient

from tests.browser.conftest import HUB, WEB, ask_with_events_off

pytestmark = pytest.mark.azurite

URL_RE = re.compile(r"\b(?:https?|wss?)://[a-z0-9]", re.IGNORECASE)


def test_the_sources_name_no_external_url():
    """Nothing is fetched from a CDN: the HTML and our modules hold no absolute URL at all."""
    sources = [WEB / "index.html", WEB / "styles.css", *sorted((WEB / "src").glob("*.js"))]
    for source in sources:
        assert not URL_RE.search(source.read_text()), source


def test_a_console_error_fails_the_page_check_unless_it_is_allowed(system):
    page = system.new_page(allow_console=("expected: .*",))
    page.goto()
    with page.page.expect_console_message(lambda message: message.text == "unexpected"):
        page.page.evaluate("console.error('expected: a 400'); console.error('unexpected')")

    assert page.allowed == ["expected: a 400"]
    assert [problem.split(" (")[0] for problem in page.problems()] == ["console.error: unexpected"]
    page.errors.clear()  # seen: else the system fixture's final check fails this test


def test_the_sign_in_screen_offers_the_development_sign_in(system):
    page = system.new_page()
    page.goto()
    page.page.locator("#dev-signin").wait_for(state="visible")
    assert page.page.locator("#loading").is_hidden()
    assert page.page.locator("#entra-signin").is_hidden()  # not configured here
    assert page.page.evaluate("document.activeElement.id") == "dev-user"
    page.screenshot("sign-in")


@pytest.mark.parametrize("role", ["user", "supervisor"])
def test_dev_sign_in_shows_six_healthy_agents(system, role):
    page = system.new_page()
    page.sign_in("sam" if role == "supervisor" else "ada", role)

    agents = page.page.locator("#agents li.agent[data-health=healthy]")
    agents.nth(5).wait_for()
    assert agents.count() == 6
    assert page.page.locator("#agents-summary").inner_text() == "6 of 6 agents healthy."
    assert f"({role})" in page.page.locator("#who").inner_text()
    assert page.page.locator("#approvals-panel").is_visible() is (role == "supervisor")
    page.assert_clean()


def test_the_agent_network_follows_registry_updates(system):
    page = system.new_page()
    page.sign_in()
    agents = page.page.locator("#agents li.agent")
    agents.nth(5).wait_for()

    removed = system.app.http.delete(
        "/api/agents/contoso-modem-check-agent", headers=system.headers("sam", ("supervisor",))
    )
    assert removed.status_code == 204, removed.text

    page.page.locator("#agents-summary", has_text="5 of 5 agents healthy.").wait_for()
    assert page.page.locator("#agents li[data-agent=contoso-modem-check-agent]").count() == 0
    page.assert_clean()


def test_text_question_answer_agents_and_history_after_reload(system):
    page = system.new_page()
    page.sign_in()

    page.ask("Is there an outage in my area?", "CUST-0001", ("no_internet",))

    turn = page.page.locator("#timeline li.turn[data-state=answered]")
    turn.wait_for()
    answer = turn.locator(".answer-text").inner_text()
    assert "outage" in answer.lower()
    # The agents that worked are lit as finished, in the network view and on the turn (their
    # events may land just after the answer).
    for agent in ("contoso-authentication-agent", "contoso-outage-check-agent"):
        lit = f"#agents li.agent[data-agent={agent}][data-activity=completed]"
        page.page.locator(lit).wait_for()
    done = page.page.locator("#agents li.agent[data-activity=completed]")
    names = {done.nth(i).get_attribute("data-agent") for i in range(done.count())}
    assert {"contoso-authentication-agent", "contoso-outage-check-agent"} <= names, names
    results = turn.locator(".turn-agents li[data-status=completed] .agent-result")
    results.first.wait_for()
    assert turn.locator(".turn-agents li[data-agent=contoso-outage-check-agent]").count() == 1

    page.screenshot("main-view")

    # A reload keeps the sign-in and the conversation: the turn comes back from history.
    page.page.reload()
    page.page.locator("#app").wait_for(state="visible")
    restored = page.page.locator("#timeline li.turn[data-state=answered] .answer-text")
    restored.wait_for()
    assert restored.inner_text() == answer
    listed = page.page.locator("#conversations button[data-conversation-id]")
    listed.first.wait_for()
    assert "Is there an outage in my area?" in listed.first.inner_text()
    assert listed.first.get_attribute("aria-current") == "true"
    page.screenshot("history")
    page.assert_clean()


def test_a_rejected_question_shows_the_error_and_keeps_the_question(system):
    # The API's 400 answer is expected here; Chromium logs every 4xx response as a console error.
    page = system.new_page(
        allow_console=(
            r"Failed to load resource: the server responded with a status of 400 \(Bad Request\)",
        )
    )
    page.sign_in()

    page.page.fill("#ask-request", "Is there an outage in my area?")
    page.page.click("#ask-details summary")
    page.page.fill("#ask-postal-code", "M5H 1A1!")
    page.page.click("#ask-submit")

    banner = page.page.locator("#error[data-code=invalid_request]")
    banner.wait_for()
    assert "customer.postalCode" in banner.inner_text()
    failed = page.page.locator("#timeline li.turn[data-state=failed] .answer-text")
    assert "customer.postalCode" in failed.inner_text()
    assert page.page.input_value("#ask-request") == "Is there an outage in my area?"
    page.screenshot("error-state")
    assert page.allowed  # the allowance is still needed
    page.assert_clean()


QUICK_REPLY = {"VOICE_SYNC_WAIT_SECONDS": "0.5"}


@pytest.mark.parametrize("overrides", [QUICK_REPLY])
def test_a_slow_answer_shows_the_interim_then_the_answer_from_the_event(system):
    page = system.new_page()
    page.sign_in()
    system.faults("outage-check", latencyMs=2000)

    page.ask("Is there an outage?", "CUST-0001", ("no_internet",))

    interim = page.page.locator("#timeline li.turn[data-state=interim] .answer-text")
    interim.wait_for()
    assert "checking" in interim.inner_text().lower()
    answered = page.page.locator("#timeline li.turn[data-state=answered] .answer-text")
    answered.wait_for()
    assert "outage" in answered.inner_text().lower()
    instance_id = page.page.locator("#timeline li.turn").get_attribute("data-instance-id")
    # The answer came from the live event: the status URL was never polled.
    assert page.count("GET", f"/api/messages/{instance_id}") == 0
    page.assert_clean()


@pytest.mark.parametrize("overrides", [{**QUICK_REPLY, "WEBPUBSUB_CONNECTION_STRING": None}])
def test_without_live_events_the_answer_is_polled(system):
    page = system.new_page()
    instance_id = ask_with_events_off(page, system)
    assert page.count("GET", f"/api/messages/{instance_id}") >= 1
    page.assert_clean()


def test_live_events_reconnect_with_a_fresh_token(system):
    page = system.new_page()
    page.sign_in()
    assert page.count("POST", "/api/events/negotiate") == 1

    service = WebPubSubServiceClient.from_connection_string(system.connection_string, hub=HUB)
    service.close_user_connections("ada", reason="closed by the test")

    pill = page.page.locator("#events-state")
    page.page.wait_for_function(
        "() => / connected reconnecting( \\S+)* connected$/"
        ".test(' ' + document.getElementById('events-state').dataset.history)"
    )
    assert pill.get_attribute("data-state") == "connected"
    assert page.count("POST", "/api/events/negotiate") == 2

    # Events flow on the new connection: a question lights the agents up again.
    page.ask("Is there an outage?", "CUST-0001", ("no_internet",))
    page.page.locator("#timeline li.turn[data-state=answered]").wait_for()
    page.page.locator(
        "#agents li.agent[data-agent=contoso-outage-check-agent][data-activity=completed]"
    ).wait_for()
    page.assert_clean()


def test_a_technician_visit_is_answered_at_once_and_a_supervisors_reply_follows_up(system):
    supervisor = system.new_page()
    supervisor.sign_in("sam", "supervisor")
    user = system.new_page()
    user.sign_in("ada", "user")

    user.ask("I need a technician to come and look at my line.", "CUST-0010", ("technician_visit",))

    # The answer does not wait for the supervisor: it says one will confirm.
    answered = user.page.locator("#timeline li.turn[data-state=answered] .answer-text")
    answered.wait_for()
    assert "needs a supervisor's approval" in answered.inner_text()
    request = supervisor.page.locator("#approvals li.approval[data-state=pending]")
    request.wait_for()
    assert "CUST-0010" in request.inner_text()
    assert request.locator(".approval-reason").inner_text().startswith("technical dispatch asks: ")
    user.page.locator("#timeline .turn-note[data-kind=approval]").wait_for()
    supervisor.screenshot("supervisor-approval")

    request.locator("button.send-reply").click()  # nothing typed: nothing sent
    assert "Type a reply first." in request.locator(".approval-message").inner_text()
    request.locator("textarea").fill("Approved, the customer had two outages this month.")
    request.locator("button.send-reply").click()

    follow_up = user.page.locator("#timeline li.turn .bubble-follow-up .answer-text")
    follow_up.wait_for()
    assert "book" in follow_up.inner_text().lower()
    resolved = supervisor.page.locator("#approvals li.approval[data-state=resolved]")
    resolved.wait_for()
    assert "Replied by sam" in resolved.inner_text()
    posts = [url for method, url, _ in supervisor.requests if method == "POST"]
    assert len([url for url in posts if "/api/approvals/" in url]) == 1
    # The next visit shows the follow-up from the history, on the same turn.
    user.page.reload()
    restored = user.page.locator("#timeline li.turn .bubble-follow-up .answer-text")
    restored.wait_for()
    assert restored.inner_text() == follow_up.inner_text()
    supervisor.assert_clean()
    user.assert_clean()


def test_the_dev_token_is_renewed_before_it_expires(system):
    page = system.new_page()
    page.page.clock.install()  # the page's timers and Date, moved on below
    page.sign_in()
    expiry = "() => JSON.parse(sessionStorage.getItem('voicea2a.devSession')).localExpiresAt"
    first = page.page.evaluate(expiry)
    assert page.count("POST", "/api/auth/dev-token") == 1

    # A 15-minute token is renewed at about 13 minutes, as the same user and role.
    with page.page.expect_response(
        lambda r: r.request.method == "POST" and r.url.endswith("/api/auth/dev-token")
    ) as renewal:
        page.page.clock.fast_forward("13:05")
    assert renewal.value.status == 200
    assert renewal.value.request.post_data_json == {"user": "ada", "roles": ["user"]}
    page.page.wait_for_function(f"() => ({expiry})() > {first}")
    page.assert_clean()


ENTRA = {
    "AUTH_CLIENT_ID": "00000000-0000-0000-0000-0000000000c1",
    "AUTH_AUTHORITY": "https://login.microsoftonline.com/contoso.example",
    "AUTH_API_SCOPE": "api://voicea2a/access_as_user",
}


@pytest.mark.parametrize("overrides", [ENTRA])
def test_microsoft_sign_in_starts_msal_against_the_configured_authority(system):
    page = system.new_page(allow_hosts=("login.microsoftonline.com",))
    attempts: list[str] = []

    def refuse(route) -> None:  # nothing leaves the machine: record the attempt, refuse it
        attempts.append(route.request.url)
        route.abort()

    page.page.route("https://login.microsoftonline.com/**", refuse)
    page.goto()
    page.page.locator("#entra-signin-button").wait_for(state="visible")
    assert page.page.locator("#dev-signin").is_visible()  # both methods are offered

    with page.page.expect_request(lambda r: r.url.startswith(ENTRA["AUTH_AUTHORITY"])) as sent:
        page.page.click("#entra-signin-button")

    url = urlsplit(sent.value.url)
    query = parse_qs(url.query)
    assert url.path.startswith("/contoso.example/oauth2/v2.0/authorize"), url.path
    assert query["client_id"] == [ENTRA["AUTH_CLIENT_ID"]]
    assert ENTRA["AUTH_API_SCOPE"] in query["scope"][0].split()
    assert query["redirect_uri"] == [system.base_url + "/"]
    assert query["code_challenge_method"] == ["S256"]  # PKCE: a public client, no secret
    assert attempts
    page.assert_clean()
