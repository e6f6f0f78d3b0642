"""Where the Durable engine keeps its instances: nowhere (memory) or Azurite's Table storage.

One table, `{TaskHub}DevhostInstances`, one partition per instance (PartitionKey: the escaped
instance id). Its rows:

- `Instance`: the instance row (name, status, times, execution number, `HistoryCount`,
  `InboxConsumed`, `Changes`, and the engine's bookkeeping as JSON); written last in a commit,
  so it is the commit point;
- `H{execution:06d}-{seq:08d}`: one history event each, appended, never rewritten;
- `M{seq:012d}`: a message delivered but not yet taken by an episode;
- `S{changes:012d}`: the bookkeeping JSON when it outgrows the instance row (a new key per
  write, so the instance row never points at a half-written one);
- `<key>+NNN`: the rest of a value too long for one row.

The store is write-through: the engine reads it once, at start-up; writes are coalesced per
instance and retried with back-off while the storage is away, and the engine runs on in memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from azure.core.exceptions import AzureError, ResourceExistsError, ResourceNotFoundError
from azure.data.tables import UpdateMode
from azure.data.tables.aio import TableClient

from devhost.durable import tablerows as rows

log = logging.getLogger("devhost.durable.store")

INSTANCE_ROW = "Instance"
UPSERT = {"mode": UpdateMode.REPLACE}
MAX_BATCH_OPS = 100  # a transaction's limits: 100 operations, 4 MiB
MAX_BATCH_BYTES = 3_500_000
CONCURRENT_WRITES = 16
# Changes nobody waits for (activity results, timers) gather this long before a write, so a
# burst of them costs one transaction; a client operation waiting for its write cuts it short.
COALESCE_SECONDS = 0.05
FIRST_BACKOFF_SECONDS = 0.2
MAX_BACKOFF_SECONDS = 5.0


class StoreUnavailable(Exception):
    """The store could not be opened or read at start-up."""


def history_key(execution: int, seq: int) -> str:
    """The row key of history event `seq` of `execution` (zero-padded: rows sort in order)."""
    return f"H{execution:06d}-{seq:08d}"


def inbox_key(seq: int) -> str:
    """The row key of inbox message number `seq`."""
    return f"M{seq:012d}"


def state_key(changes: int) -> str:
    """The row key of the bookkeeping written at change `changes` (when it needs its own row)."""
    return f"S{changes:012d}"


@dataclass
class InstanceRecord:
    """An instance as the engine hands it over between two episodes."""

    instance_id: str
    changes: int
    execution: int = 0
    columns: dict[str, Any] = field(default_factory=dict)
    state: dict[str, Any] = field(default_factory=dict)
    # The execution's own history list: appended to, never rewritten, so a reference will do.
    history: list[dict[str, Any]] = field(default_factory=list)
    history_count: int = 0
    inbox: list[tuple[int, int | None, dict[str, Any]]] = field(default_factory=list)
    inbox_consumed: int = 0
    deleted: bool = False


@dataclass
class StoredInstance:
    """An instance as read back at start-up."""

    instance_id: str
    changes: int
    execution: int
    columns: dict[str, Any]
    state: dict[str, Any]
    history: list[dict[str, Any]]
    inbox: list[tuple[int, int | None, dict[str, Any]]]
    inbox_consumed: int


class DurableStore(Protocol):
    """What the engine needs of a store."""

    persistent: bool

    async def open(self) -> None:
        """Get ready (create the table)."""

    async def load(self) -> list[StoredInstance]:
        """Every instance of the task hub."""

    def save(self, record: InstanceRecord) -> None:
        """Persist `record` soon (coalesced: only the latest record of an instance counts)."""

    async def flush(self, instance_id: str, changes: int, timeout: float) -> bool:
        """Wait until change `changes` of the instance is stored; False on timeout."""

    async def close(self, timeout: float) -> None:
        """Write what is pending (at most `timeout` seconds), then let go."""


class MemoryStore:
    """No persistence: today's in-memory engine (a restart loses every instance)."""

    persistent = False

    async def open(self) -> None:
        """Nothing to open."""

    async def load(self) -> list[StoredInstance]:
        """Nothing was kept."""
        return []

    def save(self, record: InstanceRecord) -> None:
        """Nothing to keep."""

    async def flush(self, instance_id: str, changes: int, timeout: float) -> bool:
        """Always stored (nowhere)."""
        return True

    async def close(self, timeout: float) -> None:
        """Nothing to close."""


@dataclass
class _Written:
    """What is known to be in the table for one instance."""

    execution: int = -1
    history_keys: list[str] = field(default_factory=list)
    inbox: set[int] = field(default_factory=set)
    state_rows: list[str] = field(default_factory=list)
    garbage: set[str] = field(default_factory=set)


class TableStore:
    """The store in Azure Table storage (Azurite locally)."""

    persistent = True

    def __init__(self, connection_string: str, table_name: str) -> None:
        """A store on `table_name` in the account of `connection_string` (not opened yet)."""
        self.table_name = table_name
        # No SDK retries: this store retries itself, with back-off and a log line, forever.
        self._client = TableClient.from_connection_string(
            connection_string,
            table_name,
            retry_total=0,
            connection_timeout=5,
            read_timeout=30,
        )
        self._latest: dict[str, InstanceRecord] = {}
        self._written_changes: dict[str, int] = {}
        self._written: dict[str, _Written] = {}
        self._purges: set[str] = set()
        self._writers: dict[str, asyncio.Task[None]] = {}
        self._stored = asyncio.Condition()
        self._slots = asyncio.Semaphore(CONCURRENT_WRITES)
        self._failing = False
        self._urgent: dict[str, asyncio.Event] = {}

    @property
    def endpoint(self) -> str:
        """The table's URL (no credentials)."""
        return f"{self._client.url}/{self.table_name}"

    async def open(self, timeout: float = 20.0) -> None:
        """Create the table, waiting up to `timeout` seconds for the storage to answer."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            try:
                await self._create_table()
                return
            except AzureError as exc:
                if asyncio.get_running_loop().time() > deadline:
                    raise StoreUnavailable(
                        f"the Durable store {self.endpoint} did not answer: {_brief(exc)}"
                    ) from exc
                await asyncio.sleep(0.5)

    async def _create_table(self) -> None:
        """Create the table unless it exists."""
        with contextlib.suppress(ResourceExistsError):
            await self._client.create_table()

    async def load(self) -> list[StoredInstance]:
        """Read every partition and rebuild its instance; rows a crash left half-written are
        ignored (and queued for deletion when they can never be rewritten)."""
        partitions: dict[str, dict[str, dict[str, Any]]] = {}
        try:
            async for entity in self._client.list_entities():
                partitions.setdefault(entity["PartitionKey"], {})[entity["RowKey"]] = dict(entity)
        except AzureError as exc:
            raise StoreUnavailable(
                f"the Durable store {self.endpoint} could not be read: {_brief(exc)}"
            ) from exc
        loaded = []
        for partition, by_key in partitions.items():
            try:
                stored = self._read_partition(partition, by_key)
            except (ValueError, KeyError) as exc:
                log.error("durable store: partition %r is unreadable, skipped: %s", partition, exc)
                continue
            if stored is not None:
                loaded.append(stored)
        return loaded

    def _read_partition(
        self, partition: str, by_key: Mapping[str, Mapping[str, Any]]
    ) -> StoredInstance | None:
        """One partition's rows as an instance (None: never committed)."""
        main = by_key.get(INSTANCE_ROW)
        if main is None:
            return None  # the first commit never finished: the instance was never acknowledged
        state_row = main.get("StateRow")
        text = rows.unpack(by_key[state_row] if state_row else main, by_key)
        if text is None:
            raise ValueError("its bookkeeping row is incomplete")
        execution = int(main["ExecutionNumber"])
        count = int(main["HistoryCount"])
        consumed = int(main["InboxConsumed"])
        changes = int(main["Changes"])
        written = _Written(execution=execution, state_rows=[state_row] if state_row else [])
        history = []
        for seq in range(count):
            key = history_key(execution, seq)
            event_text = rows.unpack(by_key[key], by_key)
            if event_text is None:
                raise ValueError(f"history row {key} is incomplete")
            history.append(json.loads(event_text))
            written.history_keys.append(key)
            written.history_keys.extend(_overflow_keys(by_key[key]))
        inbox = []
        for key, row in sorted(by_key.items()):
            if key != rows.base_key(key):
                continue
            if key.startswith("M"):
                seq = int(key[1:])
                if seq <= consumed:
                    written.garbage.update([key, *_overflow_keys(row)])
                    continue
                message_text = rows.unpack(row, by_key)
                if message_text is None:
                    continue  # never acknowledged: its write did not finish
                envelope = json.loads(message_text)
                inbox.append((seq, envelope["execution"], envelope["message"]))
                written.inbox.add(seq)
            elif _garbage(key, execution, state_row, changes):
                written.garbage.update([key, *_overflow_keys(row)])
        instance_id = main.get("InstanceId") or rows.unescape_key(partition)
        self._written[instance_id] = written
        self._written_changes[instance_id] = changes
        columns = {k: v for k, v in main.items() if not k.startswith("D")}
        return StoredInstance(
            instance_id=instance_id,
            changes=changes,
            execution=execution,
            columns=columns,
            state=json.loads(text),
            history=history,
            inbox=inbox,
            inbox_consumed=consumed,
        )

    def save(self, record: InstanceRecord) -> None:
        """Queue `record`; the instance's writer stores the latest one it finds."""
        if record.deleted:
            self._purges.add(record.instance_id)
        self._latest[record.instance_id] = record
        writer = self._writers.get(record.instance_id)
        if writer is None or writer.done():
            task = asyncio.get_running_loop().create_task(self._write_loop(record.instance_id))
            self._writers[record.instance_id] = task

    async def flush(self, instance_id: str, changes: int, timeout: float) -> bool:
        """Wait until change `changes` of `instance_id` is in the table."""

        def stored() -> bool:
            """Whether the change is in the table."""
            return self._written_changes.get(instance_id, -1) >= changes

        if not stored():
            self._urgent.setdefault(instance_id, asyncio.Event()).set()

        try:
            async with self._stored:
                await asyncio.wait_for(self._stored.wait_for(stored), timeout)
        except TimeoutError:
            return False
        return True

    async def close(self, timeout: float) -> None:
        """Let the writers finish (bounded), then close the client."""
        writers = [task for task in self._writers.values() if not task.done()]
        if writers:
            _, pending = await asyncio.wait(writers, timeout=timeout)
            if pending:
                log.warning(
                    "durable store: %d instance(s) not stored at shutdown (%s unreachable?); "
                    "their last changes are lost, as in a crash",
                    len(pending),
                    self.endpoint,
                )
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        await self._client.close()

    # ----- writing -----

    async def _write_loop(self, instance_id: str) -> None:
        """Store the instance's latest record until none is left, retrying with back-off."""
        backoff = FIRST_BACKOFF_SECONDS
        attempt = 0
        while True:
            urgent = self._urgent.setdefault(instance_id, asyncio.Event())
            if not urgent.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(urgent.wait(), COALESCE_SECONDS)
            urgent.clear()
            record = self._latest[instance_id]
            purge = instance_id in self._purges
            if not purge and self._written_changes.get(instance_id, -1) >= record.changes:
                return
            try:
                async with self._slots:
                    if purge:
                        await self._delete_partition(instance_id)
                        self._purges.discard(instance_id)
                        self._written.pop(instance_id, None)
                    if not record.deleted:
                        await self._write(record)
            except Exception as exc:  # storage away, table gone, a bug: retry, never crash
                attempt += 1
                if _table_missing(exc):
                    await self._table_lost()
                elif getattr(exc, "status_code", None) == 404 and instance_id in self._written:
                    # A row to delete is not there (deleted by hand?): forget the deletions.
                    self._written[instance_id].garbage.clear()
                self._failing = True
                log.warning(
                    "durable store: writing instance %s to %s failed (attempt %d: %s); "
                    "retrying in %.1f s, the engine keeps running in memory",
                    instance_id,
                    self.endpoint,
                    attempt,
                    _brief(exc),
                    backoff,
                )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
                continue
            if self._failing:
                self._failing = False
                log.warning("durable store: %s answers again; writes resumed", self.endpoint)
            backoff, attempt = FIRST_BACKOFF_SECONDS, 0
            async with self._stored:
                self._written_changes[instance_id] = record.changes
                self._stored.notify_all()

    async def _table_lost(self) -> None:
        """The table is gone (Azurite wiped or restarted in memory): create it again, and write
        every instance again from scratch."""
        with contextlib.suppress(AzureError):
            await self._create_table()
            self._written.clear()
            self._written_changes.clear()
            for instance_id in list(self._latest):
                if not self._latest[instance_id].deleted:
                    self.save(self._latest[instance_id])

    async def _write(self, record: InstanceRecord) -> None:
        """One commit: the new history rows, the new inbox rows, then the instance row."""
        known = self._written.get(record.instance_id) or _Written()
        partition = rows.escape_key(record.instance_id)
        new_execution = known.execution != record.execution
        body: list[dict[str, Any]] = []
        history_keys = [] if new_execution else list(known.history_keys)
        start = 0 if new_execution else _history_written(known)
        for seq in range(start, record.history_count):
            key = history_key(record.execution, seq)
            event_rows = rows.pack(partition, key, json.dumps(record.history[seq]))
            body.extend(event_rows)
            history_keys.extend(row["RowKey"] for row in event_rows)
        inbox_written = set(known.inbox)
        for seq, execution, message in record.inbox:
            if seq in inbox_written:
                continue
            text = json.dumps({"execution": execution, "message": message})
            body.extend(rows.pack(partition, inbox_key(seq), text))
            inbox_written.add(seq)
        columns = {
            **record.columns,
            "InstanceId": record.instance_id,
            "ExecutionNumber": record.execution,
            "HistoryCount": record.history_count,
            "InboxConsumed": record.inbox_consumed,
            "Changes": record.changes,
        }
        state_text = json.dumps(record.state)
        state_rows: list[str] = []
        if len(state_text) <= rows.ROW_CHARS:
            main = rows.pack(partition, INSTANCE_ROW, state_text, columns)[0]
        else:
            spilled = rows.pack(partition, state_key(record.changes), state_text)
            body.extend(spilled)
            state_rows = [row["RowKey"] for row in spilled]
            main = {"PartitionKey": partition, "RowKey": INSTANCE_ROW, **columns}
            main["StateRow"] = state_rows[0]
        # Rows known to be there that no load reads once this commit lands go in the same
        # transactions, after the instance row: superseded bookkeeping, an earlier execution's
        # history, taken messages, and what the last load found left over.
        garbage = set(known.garbage)
        if new_execution:
            garbage.update(known.history_keys)
        garbage.update(key for key in known.state_rows if key not in state_rows)
        for seq in [s for s in inbox_written if s <= record.inbox_consumed and s in known.inbox]:
            garbage.add(inbox_key(seq))
            inbox_written.discard(seq)
        deletes = sorted(garbage)
        for batch in _batches(body, main, deletes):
            await self._client.submit_transaction(
                [
                    ("delete", _keys(row)) if row.get("_delete") else ("upsert", row, UPSERT)
                    for row in batch
                ]
            )
        self._written[record.instance_id] = _Written(
            execution=record.execution,
            history_keys=history_keys,
            inbox=inbox_written,
            state_rows=state_rows,
        )

    async def _delete_partition(self, instance_id: str) -> None:
        """Delete every row of the instance (a purge)."""
        partition = rows.escape_key(instance_id)
        keys = [
            entity["RowKey"]
            async for entity in self._client.query_entities(
                "PartitionKey eq @pk", parameters={"pk": partition}, select=["RowKey"]
            )
        ]
        for start in range(0, len(keys), MAX_BATCH_OPS):
            await self._client.submit_transaction(
                [
                    ("delete", {"PartitionKey": partition, "RowKey": key})
                    for key in keys[start : start + MAX_BATCH_OPS]
                ]
            )


def _garbage(key: str, execution: int, state_row: str | None, changes: int) -> bool:
    """A row no load reads again and no later write rewrites: history of an earlier execution,
    or bookkeeping superseded by the committed one."""
    if key.startswith("H"):
        return int(key[1:7]) < execution
    if key.startswith("S"):
        return key != state_row and int(key[1:]) <= changes
    return False


def _history_written(known: _Written) -> int:
    """How many history events of the execution are in the table."""
    return sum(1 for key in known.history_keys if rows.OVERFLOW_MARK not in key)


def _overflow_keys(row: Mapping[str, Any]) -> list[str]:
    """The keys of a first row's overflow rows."""
    return [rows.overflow_key(row["RowKey"], n) for n in range(1, int(row.get("Rows", 1)))]


def _batches(
    body: list[dict[str, Any]], main: dict[str, Any], deletes: list[str]
) -> list[list[dict[str, Any]]]:
    """Transactions of at most 100 operations and ~3.5 MB, in order; the instance row goes
    after the rows it counts, so a commit that fits one transaction is atomic, and a larger
    one becomes visible only when the transaction holding it lands; deletions come last."""
    partition = main["PartitionKey"]
    removals = [{"PartitionKey": partition, "RowKey": key, "_delete": True} for key in deletes]
    batches: list[list[dict[str, Any]]] = [[]]
    size = 0
    for row in [*body, main, *removals]:
        row_size = rows.entity_bytes([row])
        if batches[-1] and (len(batches[-1]) >= MAX_BATCH_OPS or size + row_size > MAX_BATCH_BYTES):
            batches.append([])
            size = 0
        batches[-1].append(row)
        size += row_size
    return batches


def _table_missing(exc: BaseException) -> bool:
    """Whether the table itself is gone (Azurite wiped, or restarted in memory)."""
    code = str(getattr(exc, "error_code", "") or "")
    return (
        isinstance(exc, ResourceNotFoundError) and "Entity" not in code or code == "TableNotFound"
    )


def _keys(row: dict[str, Any]) -> dict[str, Any]:
    """Just the keys of a row (what a deletion sends)."""
    return {"PartitionKey": row["PartitionKey"], "RowKey": row["RowKey"]}


def _brief(exc: BaseException) -> str:
    """One line about an error, without the SDK's multi-line dumps."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}"[:300]
