"""Hostile input at the edge, on the devhost (issue 15, item 3): ids that
cannot be ours never reach the Durable management URLs, text with lone surrogates or control
characters is refused naming the field, numeric query parameters parse strictly, a token
without a subject is refused. Each refusal is a 4xx with the one error body, starts no
orchestration, and leaves the user's history readable."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest
from azure.data.tables import TableServiceClient

from tests.system import app_token, error_of
from voicea2a import history

pytestmark = pytest.mark.azurite

SURROGATE = "\ud800"


@pytest.fixture
def system_options() -> dict:
    # No agents: a turn is answered without them, and nothing here is about what they say.
    return {"with_agents": False}


def ask(system, user: str, **body) -> dict:
    """One good turn, finished; its POST /api/messages body."""
    response = system.ask("CUST-0001", ["no_internet"], user=user, **body)
    assert response.status_code in (200, 202), response.text
    system.wait_done(response.json()["instanceId"], user)
    return response.json()


def history_of(system, user: str) -> dict:
    """Everything the user can read of their history (asserting each read answers 200)."""
    listed = system.app.http.get("/api/conversations", headers=system.headers(user))
    assert listed.status_code == 200, listed.text
    conversations = listed.json()["conversations"]
    return {c["conversationId"]: system.history(c["conversationId"], user) for c in conversations}


def post(system, path: str, body: dict, headers: dict):
    """POST `body` as JSON with \\u escapes, as a browser's JSON.stringify sends a lone
    surrogate (httpx would fail to encode one)."""
    content = json.dumps(body).encode("ascii")
    headers = {**headers, "content-type": "application/json"}
    return system.app.http.post(path, content=content, headers=headers)


def assert_refused(response, status: int, field: str | None = None) -> None:
    assert response.status_code == status, response.text
    error = error_of(response)
    if field is not None:
        assert f"'{field}'" in error["message"], error


def test_ids_that_cannot_be_ours_are_404_and_reach_no_durable_url(system):
    turn = ask(system, "ada", conversationId="conv-hostile-ids")
    own = turn["instanceId"]
    before = history_of(system, "ada")
    supervisor = system.headers("sam", ("supervisor",))
    hostile = [
        "?",
        f"{own}?showInput=true",
        f"{own}?showHistory=true&showHistoryOutput=true",
        f"{own}#x",
        f"{own}/raiseEvent/approval",
        own.upper(),
        own + "0",
        "dlg-",
        "%",
        SURROGATE,
    ]
    for instance_id in hostile:
        path = quote(instance_id, safe="", errors="surrogatepass")
        shown = system.app.http.get(f"/api/messages/{path}", headers=system.headers("ada"))
        assert_refused(shown, 404)
        decided = system.app.http.post(
            f"/api/approvals/{path}", json={"approve": True}, headers=supervisor
        )
        assert_refused(decided, 404)
    for conversation_id in ("?", "conv-hostile-ids?x=1", "conv-hostile-ids/..", SURROGATE):
        path = quote(conversation_id, safe="", errors="surrogatepass")
        read = system.app.http.get(f"/api/conversations/{path}", headers=system.headers("ada"))
        assert_refused(read, 404)

    assert system.status(own).status_code == 200  # the real id still answers
    assert history_of(system, "ada") == before


def test_lone_surrogates_and_control_characters_are_refused_naming_the_field(system):
    ask(system, "bob", conversationId="conv-bob-text")
    before = history_of(system, "bob")
    instances = system.instance_statuses()
    customer = {"firstName": "Jane", "lastName": "Doe", "postalCode": "H2X 1Y4"}
    bad = [
        ({"request": f"{SURROGATE} hello"}, "request"),
        ({"request": "hello \udfff"}, "request"),
        ({"request": "bell \x07 here"}, "request"),
        ({"request": "hi", "callId": f"call-{SURROGATE}"}, "callId"),
        ({"request": "hi", "customer": {**customer, "lastName": f"D{SURROGATE}e"}}, None),
        ({"request": "hi", "customer": {**customer, "lastName": "Doe\n"}}, None),
        ({"request": "hi", "ledState": f"red{SURROGATE}"}, "ledState"),
        ({"request": "hi", f"x{SURROGATE}": 1}, None),
    ]
    for body, field in bad:
        body = {"conversationId": "conv-bob-text", **body}
        response = post(system, "/api/messages", body, system.headers("bob"))
        assert_refused(response, 400, field)
        assert SURROGATE not in response.text
    body = {"request": "hi", "customer": {**customer, "lastName": f"D{SURROGATE}e"}}
    nested = post(system, "/api/messages", body, system.headers("bob"))
    assert "'customer.lastName'" in error_of(nested)["message"]

    assert system.instance_statuses() == instances  # a refused message starts no orchestration
    assert history_of(system, "bob") == before
    # Line breaks and tabs are text in a request: accepted.
    ask(system, "bob", conversationId="conv-bob-text", request="Line one\n\tline two\r\n")


def test_an_agent_url_with_a_lone_surrogate_is_refused(system):
    headers = system.headers("agent-1", ("agent",))
    agents = system.app.http.get("/api/agents", headers=headers).json()
    for url in ("http://127.0.0.1:8101/\ud800", "http://127.0.0.1:8101/\x00"):
        response = post(system, "/api/agents", {"url": url}, headers)
        assert_refused(response, 400, "url")
    assert system.app.http.get("/api/agents", headers=headers).json() == agents


def test_a_stored_row_with_a_lone_surrogate_leaves_the_history_readable(system, azurite):
    turn = ask(system, "cy", conversationId="conv-cy-stored")
    # Rows written before the edge refused such text, or by another writer.
    service = TableServiceClient.from_connection_string(azurite.connection_string)
    conversations = service.get_table_client(history.CONVERSATIONS)
    row = conversations.get_entity(history.user_key("cy"), "conv-cy-stored")
    conversations.update_entity({**row, "title": f"bad {SURROGATE} title"})
    messages = service.get_table_client(history.MESSAGES)
    partition = f"conv-cy-stored|{history.user_key('cy')}"
    rows = list(messages.query_entities("PartitionKey eq @pk", parameters={"pk": partition}))
    request, answer = rows[0], rows[-1]
    messages.update_entity({**request, "text": f"said {SURROGATE}"})
    messages.update_entity({**answer, "agents": "[not json"})

    found = history_of(system, "cy")["conv-cy-stored"]

    assert [m["instanceId"] for m in found] == [turn["instanceId"]] * len(rows)
    assert found[0]["text"] == "said \ufffd"
    assert found[-1]["role"] == "assistant" and found[-1]["agents"] == []
    listed = system.app.http.get("/api/conversations", headers=system.headers("cy")).json()
    assert listed["conversations"][0]["title"] == "bad \ufffd title"


def test_numeric_query_parameters_parse_strictly(system):
    ask(system, "dee", conversationId="conv-dee")
    before = history_of(system, "dee")
    hostile = ["²", "٣", "1" * 5000, "9" * 40, "-1", "+5", " 5", "5 ", "0", "101", "1e2", "0x10",
               ""]  # fmt: skip
    for path in ("/api/conversations", "/api/conversations/conv-dee"):
        for limit in hostile:
            response = system.app.http.get(
                path, params={"limit": limit}, headers=system.headers("dee")
            )
            assert_refused(response, 400, "limit")
        ok = system.app.http.get(path, params={"limit": "007"}, headers=system.headers("dee"))
        assert ok.status_code == 200, ok.text
    assert history_of(system, "dee") == before


def test_a_token_without_a_subject_is_refused(system):
    instances = system.instance_statuses()
    for subject in ("", "   ", f"a{SURROGATE}", "a\x00b"):
        headers = {"Authorization": f"Bearer {app_token(system.key, subject)}"}
        for method, path, body in (
            ("GET", "/api/auth/me", None),
            ("POST", "/api/messages", {"request": "hello"}),
            ("GET", "/api/conversations", None),
        ):
            response = system.app.http.request(method, path, json=body, headers=headers)
            assert_refused(response, 401)
    assert system.instance_statuses() == instances
