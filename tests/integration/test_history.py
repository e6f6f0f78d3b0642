"""Conversation history against the session Azurite: ownership, idempotent turns, order and
pagination, the verified customer, and cursor and store failures."""

from __future__ import annotations

import base64
import json
import logging
import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from azure.data.tables import TableServiceClient

from tests.conftest import free_port
from voicea2a import history
from voicea2a.errors import InvalidRequest, NotFound, UpstreamUnavailable
from voicea2a.messages import Customer
from voicea2a.planner import Verified, identity_fingerprint
from voicea2a.storage import ensure_table

pytestmark = pytest.mark.azurite

INTERNAL_KEYS = {"PartitionKey", "RowKey", "etag", "Timestamp", "odata.etag"}


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def outcomes(n: int = 2) -> list[dict]:
    return [
        {
            "agent": f"agent-{i}",
            "skill": f"skill_{i}",
            "status": "completed" if i else "failed",
            "text": f"finding {i}",
            "data": {"status": "OK", "n": i},
            "reason": "httpx.ConnectError: http://10.0.0.9:8102 returned 503",
            "parts": PARTS if i else [],
        }
        for i in range(n)
    ]


PARTS = [
    {"kind": "text", "text": "finding 1"},
    {"kind": "data", "data": [{"tide": "high", "at": "14:05"}], "artifactId": "a-2"},
    {"kind": "file", "url": "https://example.org/tides.pdf", "mediaType": "application/pdf"},
]
ANSWER = {"answer": "Here is what I found.", "agents": ["agent-1"], "partial": True}


async def turn(user: str, conv: str, instance: str, started: str, n: int = 2) -> None:
    await history.record_turn(
        user, conv, instance, started, f"request {instance}", outcomes(n), ANSWER
    )


async def all_messages(user: str, conv: str) -> list[dict]:
    page, cursor = await history.list_messages(user, conv, limit=100)
    assert cursor is None
    return page


@pytest.fixture
def store(azurite_env):
    azurite_env()


@pytest.fixture
def raw_messages(azurite):
    service = TableServiceClient.from_connection_string(azurite.connection_string)

    def rows(conv: str) -> list[dict]:
        table = service.get_table_client(history.MESSAGES)
        return list(
            table.query_entities(
                "PartitionKey ge @lo and PartitionKey lt @hi",
                parameters={"lo": f"{conv}|", "hi": f"{conv}}}"},
            )
        )

    return rows


async def test_ensure_conversation_creates_once(store):
    user, conv = new_id("user"), new_id("conv")
    assert await history.ensure_conversation(user, conv, "  My   internet\nis down ") is True
    assert await history.ensure_conversation(user, conv, "Another title") is False
    found = await history.get_conversation(user, conv)
    assert found is not None
    assert set(found) == {"conversationId", "title", "createdAt", "updatedAt", "verifiedCustomerId"}
    assert found["conversationId"] == conv
    assert found["title"] == "My internet is down"
    assert found["createdAt"] == found["updatedAt"]
    assert found["createdAt"].endswith("Z")
    assert found["verifiedCustomerId"] is None


async def test_missing_conversation(store):
    user = new_id("user")
    assert await history.get_conversation(user, "nope") is None
    assert await history.verified_customer(user, "nope") is None
    with pytest.raises(NotFound):
        await history.list_messages(user, "nope")
    with pytest.raises(NotFound):
        await history.set_verified_customer(user, "nope", "CUST-0001")


async def test_owner_scoping(store):
    alice, bob, conv = new_id("alice"), new_id("bob"), new_id("conv")
    await history.ensure_conversation(alice, conv, "Alice's")
    await turn(alice, conv, "dlg-a", "2026-01-01T10:00:00Z")
    await history.set_verified_customer(alice, conv, "CUST-0001")

    assert await history.get_conversation(bob, conv) is None
    assert await history.verified_customer(bob, conv) is None
    assert await history.list_conversations(bob) == ([], None)
    with pytest.raises(NotFound):
        await history.list_messages(bob, conv)

    # Bob may pick the same conversation id: it is his own, empty conversation.
    assert await history.ensure_conversation(bob, conv, "Bob's") is True
    assert await all_messages(bob, conv) == []
    assert await history.verified_customer(bob, conv) is None
    assert len(await all_messages(alice, conv)) == 4


async def test_record_turn_is_idempotent(store, raw_messages):
    user, conv = new_id("user"), new_id("conv")
    await history.ensure_conversation(user, conv, "t")
    await turn(user, conv, "dlg-1", "2099-01-01T10:00:00.5+00:00", n=3)
    first = await all_messages(user, conv)
    first_raw = raw_messages(conv)
    await turn(user, conv, "dlg-1", "2099-01-01T10:00:00.5+00:00", n=3)
    assert await all_messages(user, conv) == first
    assert [r["RowKey"] for r in raw_messages(conv)] == [r["RowKey"] for r in first_raw]
    assert len(first) == 5
    conversation = await history.get_conversation(user, conv)
    assert conversation["updatedAt"] == "2099-01-01T10:00:00.500000Z"


async def test_turn_rows(store, raw_messages):
    user, conv = new_id("user"), new_id("conv")
    await history.ensure_conversation(user, conv, "t")
    await turn(user, conv, "dlg-1", "2026-01-01T10:00:00Z", n=2)
    user_row, failed, completed, answer = await all_messages(user, conv)
    assert user_row == {
        "id": "dlg-1-000",
        "role": "user",
        "text": "request dlg-1",
        "createdAt": "2026-01-01T10:00:00.000000Z",
        "instanceId": "dlg-1",
    }
    assert failed["id"] == "dlg-1-001" and failed["status"] == "failed"
    assert completed == {
        "id": "dlg-1-002",
        "role": "agent",
        "text": "finding 1",
        "createdAt": "2026-01-01T10:00:00.000000Z",
        "instanceId": "dlg-1",
        "agent": "agent-1",
        "skill": "skill_1",
        "status": "completed",
        "data": {"status": "OK", "n": 1},
        "parts": PARTS,  # a list data part and a file are kept, in order
    }
    assert failed["parts"] == []
    assert answer["id"] == "dlg-1-999"
    assert answer["role"] == "assistant"
    assert answer["text"] == ANSWER["answer"]
    assert answer["agents"] == ["agent-1"] and answer["partial"] is True
    for message in (user_row, failed, completed, answer):
        assert not INTERNAL_KEYS & set(message)
    # The internal failure reason is never stored.
    stored = json.dumps([dict(row) for row in raw_messages(conv)], default=str)
    assert "ConnectError" not in stored and "10.0.0.9" not in stored


async def test_follow_ups_come_after_the_answer_and_a_turn_with_one_is_saved_only_whole(store):
    user, conv = new_id("user"), new_id("conv")
    started = "2026-01-01T10:00:00Z"
    waiting = outcomes(2)
    waiting[1]["status"] = "awaiting-person"
    record: history.TurnJson = {
        "user": user,
        "conversationId": conv,
        "instanceId": "dlg-1",
        "startedAt": started,
        "request": "request dlg-1",
        "outcomes": waiting,
        "answer": ANSWER,
        "verifiedCustomerId": None,
        "identityChecked": False,
        "verifiedIdentity": "",
    }
    await history.save_turn(record)
    assert (await history.recent(user, conv, 3)).waiting == {}  # not the caller's to answer
    follow_ups = [
        {"answer": "The visit is booked.", "agents": ["agent-1"], "partial": False},
        {"answer": "Nobody answered in time.", "agents": [], "partial": True},
    ]
    later = {**record, "outcomes": outcomes(2), "followUps": follow_ups}
    assert not await history.turn_saved(later)

    await history.save_turn(later)

    assert await history.turn_saved(later)
    messages = await all_messages(user, conv)
    assert [m["id"] for m in messages] == [
        "dlg-1-000",
        "dlg-1-001",
        "dlg-1-002",
        "dlg-1-999",
        "dlg-1-999-01",
        "dlg-1-999-02",
    ]
    assert messages[2]["status"] == "completed"
    said = [(m["text"], m.get("followUp"), m["partial"]) for m in messages[3:]]
    assert said == [
        (ANSWER["answer"], None, True),
        ("The visit is booked.", True, False),
        ("Nobody answered in time.", True, True),
    ]


async def test_turns_are_ordered_and_updated_at_only_moves_forward(store):
    user, conv = new_id("user"), new_id("conv")
    await history.ensure_conversation(user, conv, "t")
    await turn(user, conv, "dlg-late", "2030-05-01T12:00:00+02:00", n=1)
    await turn(user, conv, "dlg-early", "2030-05-01T09:59:59.999999Z", n=1)
    messages = await all_messages(user, conv)
    assert [m["id"] for m in messages] == [
        "dlg-early-000",
        "dlg-early-001",
        "dlg-early-999",
        "dlg-late-000",
        "dlg-late-001",
        "dlg-late-999",
    ]
    conversation = await history.get_conversation(user, conv)
    assert conversation["updatedAt"] == "2030-05-01T10:00:00.000000Z"


async def test_record_turn_creates_a_missing_conversation(store):
    user, conv = new_id("user"), new_id("conv")
    await turn(user, conv, "dlg-1", "2026-02-02T02:02:02Z")
    conversation = await history.get_conversation(user, conv)
    assert conversation["title"] == "request dlg-1"
    assert conversation["createdAt"] == conversation["updatedAt"] == "2026-02-02T02:02:02.000000Z"


async def test_messages_pagination(store):
    user, conv = new_id("user"), new_id("conv")
    await history.ensure_conversation(user, conv, "t")
    for hour in range(3):
        await turn(user, conv, f"dlg-{hour}", f"2026-03-01T0{hour}:00:00Z", n=1)
    expected = [m["id"] for m in await all_messages(user, conv)]
    assert len(expected) == 9
    seen, cursor, pages = [], None, 0
    while True:
        page, cursor = await history.list_messages(user, conv, limit=4, cursor=cursor)
        seen += [m["id"] for m in page]
        pages += 1
        if cursor is None:
            break
        assert isinstance(cursor, str) and len(page) == 4
    assert seen == expected and pages == 3
    # An exact fit: no cursor after the last full page.
    page, cursor = await history.list_messages(user, conv, limit=9)
    assert len(page) == 9 and cursor is None


async def test_conversations_newest_first_with_cursors(store):
    user = new_id("user")
    convs = [new_id(f"c{i}") for i in range(5)]
    for conv in convs:
        await history.ensure_conversation(user, conv, conv)
    # Turns set updatedAt; the last two share a timestamp (ties break on the id).
    stamps = ["2031-01-01T00:00:01Z", "2031-01-01T00:00:05Z", "2031-01-01T00:00:03Z"]
    stamps += ["2031-01-01T00:00:09Z", "2031-01-01T00:00:09Z"]
    for conv, stamp in zip(convs, stamps, strict=True):
        await turn(user, conv, "dlg-x", stamp, n=0)
    tied = sorted(convs[3:])
    expected = [*tied, convs[1], convs[2], convs[0]]
    page, cursor = await history.list_conversations(user, limit=100)
    assert [c["conversationId"] for c in page] == expected and cursor is None
    assert not INTERNAL_KEYS & set(page[0])

    seen, cursor = [], None
    while True:
        page, cursor = await history.list_conversations(user, limit=2, cursor=cursor)
        seen += [c["conversationId"] for c in page]
        if cursor is None:
            break
    assert seen == expected


async def test_verified_customer_round_trip(store):
    user, conv = new_id("user"), new_id("conv")
    await history.ensure_conversation(user, conv, "t")
    assert await history.verified_customer(user, conv) is None
    await history.set_verified_customer(user, conv, "CUST-0004")
    await history.set_verified_customer(user, conv, "CUST-0004")
    assert (await history.verified_customer(user, conv)).customer_id == "CUST-0004"
    conversation = await history.get_conversation(user, conv)
    assert conversation["verifiedCustomerId"] == "CUST-0004"
    assert conversation["title"] == "t"  # a merge, not a replace
    with pytest.raises(InvalidRequest, match="'customerId'"):
        await history.set_verified_customer(user, conv, "not an id")


async def test_an_identity_check_replaces_the_last_one_and_a_failed_one_verifies_nobody(store):
    user, conv = new_id("user"), new_id("conv")
    await history.ensure_conversation(user, conv, "t")
    jane = identity_fingerprint(Customer("Jane", "Doe", "M5H 1A1", "1985-03-14"))
    await history.set_verified_customer(user, conv, "CUST-0001", "2026-01-01T00:00:00Z", jane)
    assert await history.verified_customer(user, conv) == Verified("CUST-0001", jane)
    # Someone else's identity failed in a later turn: the conversation is verified for nobody.
    await history.set_verified_customer(user, conv, None, "2026-01-01T00:01:00Z", "")
    assert await history.verified_customer(user, conv) is None
    # The earlier turn's activity, run again, does not bring Jane back.
    await history.set_verified_customer(user, conv, "CUST-0001", "2026-01-01T00:00:00Z", jane)
    assert await history.verified_customer(user, conv) is None
    with pytest.raises(InvalidRequest, match="'identity'"):
        await history.set_verified_customer(user, conv, "CUST-0001", None, "Jane Doe")


async def test_each_answer_records_the_customer_it_was_about(store):
    user, conv = new_id("user"), new_id("conv")
    await history.record_turn(user, conv, "dlg-1", "2026-01-01T00:00:00Z", "r", [], ANSWER)
    await history.record_turn(
        user, conv, "dlg-2", "2026-01-01T00:01:00Z", "r", [], ANSWER, "CUST-0002"
    )
    answers = [m for m in await all_messages(user, conv) if m["role"] == "assistant"]
    assert [a["customerId"] for a in answers] == [None, "CUST-0002"]


HTTP_LOG = "azure.core.pipeline.policies.http_logging_policy"


def table_requests(caplog: pytest.LogCaptureFixture) -> list[tuple[str, str]]:
    """(method, table) of each Table request this thread sent, as the SDK's own HTTP logging
    policy saw it (a devhost another test left running sends its own, from its loop's thread)."""
    requests = []
    for record in caplog.records:
        message = record.getMessage()
        mine = record.thread == threading.get_ident()
        if mine and record.name == HTTP_LOG and message.startswith("Request URL: "):
            url = message.split("'")[1]
            method = message.split("Request method: '")[1].split("'")[0]
            requests.append((method, url.split("?")[0].rsplit("/", 1)[-1].split("(")[0]))
    return requests


async def test_a_turn_that_checked_an_identity_writes_its_conversation_once(store, caplog):
    """Issue 19: the conversation's updatedAt and the identity check are one read and one
    write, then the turn's rows one transaction: three Table requests, not five."""
    user, conv = new_id("user"), new_id("conv")
    await history.ensure_conversation(user, conv, "t")
    jane = identity_fingerprint(Customer("Jane", "Doe", "M5H 1A1", "1985-03-14"))
    started = datetime.now(UTC) + timedelta(seconds=1)
    turn: history.TurnJson = {
        "user": user,
        "conversationId": conv,
        "instanceId": "dlg-1",
        "startedAt": started.isoformat(),
        "request": "r",
        "outcomes": [],
        "answer": ANSWER,
        "verifiedCustomerId": "CUST-0001",
        "identityChecked": True,
        "verifiedIdentity": jane,
    }
    await ensure_table(history.MESSAGES)  # once per process, not per turn
    caplog.set_level(logging.INFO, logger=HTTP_LOG)
    caplog.clear()

    await history.save_turn(turn)

    assert table_requests(caplog) == [
        ("GET", "conversations"),
        ("PATCH", "conversations"),
        ("POST", "$batch"),
    ]
    assert await history.verified_customer(user, conv) == Verified("CUST-0001", jane)
    conversation = await history.get_conversation(user, conv)
    assert conversation["updatedAt"] == f"{started:%Y-%m-%dT%H:%M:%S.%f}Z"
    assert [m["role"] for m in await all_messages(user, conv)] == ["user", "assistant"]

    # A later turn's check is kept when this turn's activity runs again; its rows are rewritten.
    later = (started + timedelta(minutes=1)).isoformat()
    await history.set_verified_customer(user, conv, None, later, "")
    await history.save_turn(turn)
    assert await history.verified_customer(user, conv) is None
    assert len(await all_messages(user, conv)) == 2


async def test_a_first_turn_creates_its_conversation_with_the_check(store):
    user, conv = new_id("user"), new_id("conv")
    await history.record_turn(
        user, conv, "dlg-1", "2026-01-01T00:00:00Z", "the title", [], ANSWER, "CUST-0002",
        check=history.identity_check("CUST-0002", "", "2026-01-01T00:00:00Z"),
    )  # fmt: skip
    assert await history.verified_customer(user, conv) == Verified("CUST-0002", "")
    assert (await history.get_conversation(user, conv))["title"] == "the title"


def b64(value: bytes) -> str:
    return base64.urlsafe_b64encode(value).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "!!!not base64!!!",
        b64(b"\xff\xfe"),
        b64(b"{not json"),
        b64(json.dumps({"a": 1}).encode()),
        b64(json.dumps(["2031-01-01T00:00:01Z", "c"]).encode()),  # not our timestamp form
        b64(json.dumps(["2031-01-01T00:00:01.000000Z", "bad/id"]).encode()),
        b64(json.dumps("20260101T000000000000Z-dlg-1").encode()),  # no seq
        b64(json.dumps("x' or PartitionKey ne '").encode()),
    ],
)
async def test_bad_cursor(store, cursor):
    user, conv = new_id("user"), new_id("conv")
    await history.ensure_conversation(user, conv, "t")
    with pytest.raises(InvalidRequest, match="Field 'cursor'"):
        await history.list_conversations(user, cursor=cursor)
    with pytest.raises(InvalidRequest, match="Field 'cursor'"):
        await history.list_messages(user, conv, cursor=cursor)


@pytest.mark.parametrize("limit", [0, 101, -1, True, 2.5])
async def test_bad_limit(store, limit):
    with pytest.raises(InvalidRequest, match="Field 'limit'"):
        await history.list_conversations("u", limit=limit)
    with pytest.raises(InvalidRequest, match="Field 'limit'"):
        await history.list_messages("u", "c", limit=limit)


async def test_bad_keys_are_refused(store):
    with pytest.raises(InvalidRequest, match="'conversationId'"):
        await history.ensure_conversation("u", "a/b", "t")
    with pytest.raises(InvalidRequest, match="'instanceId'"):
        await history.record_turn("u", "c", "dlg/1", "2026-01-01T00:00:00Z", "r", [], ANSWER)
    with pytest.raises(InvalidRequest, match="'startedAt'"):
        await history.record_turn("u", "c", "dlg-1", "yesterday", "r", [], ANSWER)


async def test_awkward_user_ids_are_kept_apart(store):
    slashed = new_id("u") + "/#?\\%~é"
    escaped = history.user_key(slashed)
    assert not set("/#?\\~") & set(escaped)
    conv = new_id("conv")
    for user in (slashed, escaped, "x" * 2000, "x" * 2001):
        assert await history.ensure_conversation(user, conv, user[:20]) is True
    assert (await history.get_conversation(slashed, conv))["title"] == slashed[:20]
    assert (await history.get_conversation(escaped, conv))["title"] == escaped[:20]
    assert history.user_key("x" * 2000) != history.user_key("x" * 2001)


async def test_store_down_is_upstream_unavailable(app_env, cached_clients_closed):
    port = free_port()
    app_env(
        AzureWebJobsStorage=(
            "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey="
            + base64.b64encode(b"k" * 32).decode()
            + f";TableEndpoint=http://127.0.0.1:{port}/devstoreaccount1;"
        )
    )
    user, conv = "u", "c"
    calls = [
        history.ensure_conversation(user, conv, "t"),
        history.get_conversation(user, conv),
        history.verified_customer(user, conv),
        history.set_verified_customer(user, conv, "CUST-0001"),
        history.record_turn(user, conv, "dlg-1", "2026-01-01T00:00:00Z", "r", [], ANSWER),
        history.list_conversations(user),
        history.list_messages(user, conv),
    ]
    for call in calls:
        with pytest.raises(UpstreamUnavailable) as caught:
            await call
        assert "127.0.0.1" not in caught.value.message


async def test_a_turn_is_recorded_after_its_tables_disappeared(store, azurite):
    # Storage restarted empty (an in-memory emulator, a restored account) while this process
    # believed its tables existed: the first write of a new conversation re-creates them.
    await history.ensure_conversation("ada", new_id("c"), "warm-up")  # the tables are known
    service = TableServiceClient.from_connection_string(azurite.connection_string)
    service.delete_table(history.CONVERSATIONS)
    service.delete_table(history.MESSAGES)
    conv = new_id("c")

    await turn("ada", conv, new_id("dlg"), "2026-12-02T10:00:00+00:00")

    assert [m["role"] for m in await all_messages("ada", conv)][-1] == "assistant"
    assert (await history.get_conversation("ada", conv)) is not None


def test_parts_are_kept_whole_while_they_fit_the_column():
    big = {"kind": "text", "text": "x" * 20000}
    kept = json.loads(history._parts_json([big, big, {"kind": "text", "text": "z"}]))
    assert kept == [big]
    assert history._parts_json("not a list") == "[]"
