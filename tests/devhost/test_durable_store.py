"""The Durable engine's Table store against a real Azurite: rows round-trip (large values,
awkward instance ids), a half-finished commit is ignored, a purge removes the partition."""

from __future__ import annotations

import json
import uuid

import pytest
from azure.data.tables import UpdateMode
from azure.data.tables.aio import TableClient

from devhost.durable import history as h
from devhost.durable import tablerows as rows
from devhost.durable.snapshot import capture, restore
from devhost.durable.store import InstanceRecord, StoredInstance, TableStore, history_key
from devhost.durable.storeconfig import storage_connection_string, store_mode, table_name
from devhost.settings import SettingsError
from tests.devhost.test_durable_resume import T0, sample_instance

pytestmark = pytest.mark.azurite

AWKWARD_IDS = [
    "plain",
    "user:conv:call",
    "slash/back\\slash#hash?query%percent+plus",
    "tab\tnewline\ncontrol\x01\x7f\x9f",
    "unicode-é-日本",
    "x" * 256,
]


def new_table() -> str:
    return table_name("t" + uuid.uuid4().hex[:12])


async def open_store(azurite, table: str) -> TableStore:
    store = TableStore(azurite.connection_string, table)
    await store.open()
    return store


async def reloaded(azurite, table: str) -> dict[str, StoredInstance]:
    store = await open_store(azurite, table)
    try:
        return {s.instance_id: s for s in await store.load()}
    finally:
        await store.close(1)


def record(instance_id: str, changes: int, history: list, inbox=(), consumed: int = 0):
    return InstanceRecord(
        instance_id=instance_id,
        changes=changes,
        execution=0,
        columns={"Name": "orch", "RuntimeStatus": "Running"},
        state={"nextId": 2, "note": "state"},
        history=history,
        history_count=len(history),
        inbox=list(inbox),
        inbox_consumed=consumed,
    )


def test_keys_are_escaped_reversibly_and_legally():
    for value in AWKWARD_IDS:
        key = rows.escape_key(value)
        assert not any(c in key for c in "/\\#?") and len(key) <= rows.MAX_KEY_CHARS
        assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in key)
        assert rows.unescape_key(key) == value
    assert rows.escape_key("a" * 1000) != rows.escape_key("a" * 999 + "b")


def test_a_long_text_is_split_across_properties_and_rows():
    text = "".join(chr(ord("a") + i % 26) for i in range(rows.ROW_CHARS * 2 + 5))
    packed = rows.pack("p", "k", text, {"Name": "n"})
    assert [row["RowKey"] for row in packed] == ["k", "k+001", "k+002"]
    assert all(len(v) <= rows.CHUNK_CHARS for row in packed for k, v in row.items() if k[0] == "D")
    assert rows.unpack(packed[0], {row["RowKey"]: row for row in packed}) == text
    assert rows.unpack(packed[0], {}) is None  # an overflow row missing: never committed


async def test_instances_history_and_inbox_round_trip_with_large_values_and_awkward_ids(azurite):
    table = new_table()
    store = await open_store(azurite, table)
    large_result = json.dumps("r" * 700_000)  # beyond one property, one entity, one row
    large_input = json.dumps({"blob": "i" * 90_000})
    for number, instance_id in enumerate(AWKWARD_IDS):
        history = [
            h.orchestrator_started(T0),
            h.execution_started(T0, "orch", instance_id, large_input),
            h.task_scheduled(T0, 0, "act", large_input),
            h.orchestrator_completed(T0),
            h.orchestrator_started(T0),
            h.task_completed(T0, 0, large_result),
            h.orchestrator_completed(T0),
        ]
        inbox = [(8, 0, h.event_raised(T0, "go", large_input)), (9, None, h.timer_fired(T0, 1, T0))]
        store.save(record(instance_id, number + 1, history, inbox, consumed=7))
    for number, instance_id in enumerate(AWKWARD_IDS):
        assert await store.flush(instance_id, number + 1, 30)
    await store.close(5)

    loaded = await reloaded(azurite, table)
    assert set(loaded) == set(AWKWARD_IDS)
    for instance_id in AWKWARD_IDS:
        stored = loaded[instance_id]
        assert stored.history[5]["Result"] == large_result
        assert stored.history[1]["OrchestrationInstance"]["InstanceId"] == instance_id
        assert [e["EventType"] for e in stored.history] == [12, 0, 4, 13, 12, 5, 13]
        assert [(seq, execution) for seq, execution, _ in stored.inbox] == [(8, 0), (9, None)]
        assert stored.inbox[0][2]["Input"] == large_input
        assert stored.state == {"nextId": 2, "note": "state"}
        assert (stored.columns["Name"], stored.columns["RuntimeStatus"]) == ("orch", "Running")


async def test_large_bookkeeping_gets_rows_of_its_own_and_round_trips(azurite):
    table = new_table()
    store = await open_store(azurite, table)
    instance = sample_instance("big-state")
    # A retried call keeps its action (and its input) in the host's bookkeeping.
    from devhost.durable.instance import RetryChain

    action = {"actionType": 1, "functionName": "act", "input": json.dumps("z" * 500_000)}
    instance.retry_tasks[3] = RetryChain(action, 3, T0 - T0)
    instance.changes = 1
    store.save(capture(instance))
    assert await store.flush("big-state", 1, 30)
    instance.changes = 2
    instance.custom_status = {"stage": "two"}
    store.save(capture(instance))
    assert await store.flush("big-state", 2, 30)
    await store.close(5)

    again = restore((await reloaded(azurite, table))["big-state"])
    assert again.retry_tasks[3].action == action
    assert again.custom_status == {"stage": "two"}
    client = TableClient.from_connection_string(azurite.connection_string, table)
    async with client:
        keys = [e["RowKey"] async for e in client.list_entities()]
    # The first write's bookkeeping rows were deleted once the second one was committed.
    assert sorted(k for k in keys if k.startswith("S")) == ["S000000000002", "S000000000002+001"]


async def test_a_commit_cut_short_is_ignored_and_taken_messages_are_dropped(azurite):
    table = new_table()
    store = await open_store(azurite, table)
    history = [h.orchestrator_started(T0), h.execution_started(T0, "orch", "cut", None)]
    store.save(record("cut", 1, history, [(3, None, h.event_raised(T0, "a", "1"))], consumed=2))
    assert await store.flush("cut", 1, 30)
    await store.close(5)
    # What a crash between a commit's transactions leaves: history rows past HistoryCount,
    # and an inbox row the committed instance row says was already taken.
    client = TableClient.from_connection_string(azurite.connection_string, table)
    async with client:
        extra = h.orchestrator_started(T0)
        for row in [
            *rows.pack("cut", history_key(0, 2), json.dumps(extra)),
            *rows.pack("cut", "M000000000001", json.dumps({"execution": None, "message": extra})),
        ]:
            await client.upsert_entity(row, mode=UpdateMode.REPLACE)

    stored = (await reloaded(azurite, table))["cut"]
    assert len(stored.history) == 2
    assert [seq for seq, _, _ in stored.inbox] == [3]


async def test_a_purge_removes_the_partition(azurite):
    table = new_table()
    store = await open_store(azurite, table)
    history = [h.orchestrator_started(T0), h.task_completed(T0, 0, json.dumps("y" * 400_000))]
    store.save(record("gone", 1, history))
    store.save(record("kept", 2, history))
    assert await store.flush("gone", 1, 30) and await store.flush("kept", 2, 30)
    store.save(InstanceRecord("gone", 3, deleted=True))
    assert await store.flush("gone", 3, 30)
    await store.close(5)
    assert set(await reloaded(azurite, table)) == {"kept"}


def test_the_store_setting_and_the_storage_connection():
    assert store_mode({}) == "azurite"
    assert store_mode({"DEVHOST_DURABLE_STORE": "Memory"}) == "memory"
    with pytest.raises(SettingsError, match="DEVHOST_DURABLE_STORE"):
        store_mode({"DEVHOST_DURABLE_STORE": "azurtie"})
    with pytest.raises(SettingsError, match="AzureWebJobsStorage is not set"):
        storage_connection_string({})
    shortcut = {"AzureWebJobsStorage": "UseDevelopmentStorage=True;"}
    assert storage_connection_string(shortcut) == "UseDevelopmentStorage=true"
    with pytest.raises(SettingsError) as refused:
        storage_connection_string({"AzureWebJobsStorage": "AccountKey=secret"})
    assert "secret" not in str(refused.value)
    with pytest.raises(SettingsError, match="hubName"):
        table_name("%TASKHUB_NAME%")
