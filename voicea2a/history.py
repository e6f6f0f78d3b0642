"""Conversations and their messages in Table storage, scoped to their owner.

`conversations`: PK = the owner's user id (escaped for Table keys), RK = conversation id;
title, createdAt, updatedAt, and the last identity check: verifiedCustomerId, verifiedIdentity
(a fingerprint, voicea2a.planner.identity_fingerprint), verifiedAt.
`messages`: PK = conversation id and owner (`{conversation}|{user}`: conversation ids are chosen
by clients, so two users may pick the same one), RK = `{startedAt}-{instanceId}-{seq}` with seq
000 for the user's turn, 001.. for the agents' outcomes and 999 for the answer. The keys are
deterministic and a turn is written in one transaction, so a retried activity rewrites the same
rows. Timestamps are UTC ISO 8601 with microseconds, fixed width, so they sort as strings.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NotRequired, TypedDict

from voicea2a.compose import AnswerJson, OutcomeJson
from voicea2a.errors import InvalidRequest, NotFound, UpstreamUnavailable
from voicea2a.messages import CONVERSATION_ID_RE, CUSTOMER_ID_RE
from voicea2a.planner import Verified
from voicea2a.storage import REQUEST_PATH, ensure_table

CONVERSATIONS = "conversations"
MESSAGES = "messages"
MAX_LIMIT = 100
MAX_TITLE_CHARS = 200
MAX_TEXT_CHARS = 8000
MAX_DATA_CHARS = 30000  # a Table string property holds 32K UTF-16 characters
MAX_OUTCOMES = 98  # user turn + outcomes + answer fit one 100-operation transaction
ANSWER_SEQ = 999
# Follow-ups (an agent's answer once a person had answered it) come after the answer: one per
# waiting agent at most.
MAX_FOLLOW_UPS = MAX_OUTCOMES
MAX_TRANSACTION = 100  # operations in one Table transaction
MAX_UPDATE_ATTEMPTS = 5
DEFAULT_TITLE = "Conversation"
CONVERSATION_FIELDS = ("RowKey", "title", "createdAt", "updatedAt", "verifiedCustomerId")

_INSTANCE_ID_RE = re.compile(r"[A-Za-z0-9_:-]{1,100}")
_FINGERPRINT_RE = re.compile(r"(?:[0-9a-f]{64})?")
_MESSAGE_KEY_RE = re.compile(r"\d{8}T\d{12}Z-[A-Za-z0-9_:-]{1,100}-\d{3}")
_TIMESTAMP_RE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")
# Table keys may not hold / \ # ? or control characters; % and ~ are ours (escape, hash marker).
_KEY_SAFE = frozenset(chr(c) for c in range(0x20, 0x7F)) - set("/\\#?%~")
_MAX_USER_KEY_CHARS = 512


def _store_failure() -> UpstreamUnavailable:
    return UpstreamUnavailable("The conversation history store is unavailable; try again shortly.")


def user_key(user_id: str) -> str:
    """The user id as a Table key: escaped (injectively), or hashed when very long."""
    escaped = "".join(
        char if char in _KEY_SAFE else "".join(f"%{b:02X}" for b in char.encode("utf-8"))
        for char in user_id
    )
    if len(escaped) <= _MAX_USER_KEY_CHARS:
        return escaped
    # Escaped keys never contain "~", so hashed ones cannot collide with them.
    return "~" + hashlib.sha256(user_id.encode("utf-8")).hexdigest()


def _conversation_key(conversation_id: str) -> str:
    if not isinstance(conversation_id, str) or not CONVERSATION_ID_RE.fullmatch(conversation_id):
        raise InvalidRequest(
            "Field 'conversationId' must be 1 to 100 letters, digits, underscores or hyphens."
        )
    return conversation_id


def _messages_partition(user_id: str, conversation_id: str) -> str:
    return f"{_conversation_key(conversation_id)}|{user_key(user_id)}"


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse_time(value: str, field: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise InvalidRequest(f"Field '{field}' must be an ISO 8601 timestamp.") from None
    # Orchestration clocks are UTC; a naive timestamp is read as UTC, not local time.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _limit(limit: int) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise InvalidRequest(f"Field 'limit' must be an integer from 1 to {MAX_LIMIT}.")
    return limit


def _encode_cursor(value: Any) -> str:
    raw = json.dumps(value, separators=(",", ":")).encode("utf-8")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _decode_cursor(cursor: str) -> Any:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        return json.loads(raw.decode("utf-8"))
    except (TypeError, ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidRequest("Field 'cursor' is not a valid cursor.") from None


def _conversation_cursor(cursor: str | None) -> tuple[str, str] | None:
    if cursor is None:
        return None
    value = _decode_cursor(cursor)
    if (
        isinstance(value, list)
        and len(value) == 2
        and all(isinstance(part, str) for part in value)
        and _TIMESTAMP_RE.fullmatch(value[0])
        and CONVERSATION_ID_RE.fullmatch(value[1])
    ):
        return value[0], value[1]
    raise InvalidRequest("Field 'cursor' is not a valid cursor.")


def _message_cursor(cursor: str | None) -> str | None:
    if cursor is None:
        return None
    value = _decode_cursor(cursor)
    if isinstance(value, str) and _MESSAGE_KEY_RE.fullmatch(value):
        return value
    raise InvalidRequest("Field 'cursor' is not a valid cursor.")


def _title(title: str) -> str:
    return " ".join(str(title).split())[:MAX_TITLE_CHARS] or DEFAULT_TITLE


def _public_conversation(entity: dict[str, Any]) -> dict[str, Any]:
    return {
        "conversationId": entity["RowKey"],
        "title": entity.get("title") or DEFAULT_TITLE,
        "createdAt": entity.get("createdAt"),
        "updatedAt": entity.get("updatedAt"),
        "verifiedCustomerId": entity.get("verifiedCustomerId") or None,
    }


async def ensure_conversation(user_id: str, conversation_id: str, title: str) -> bool:
    """Create the conversation if it is new; True when this call created it."""
    from azure.core.exceptions import AzureError, ResourceExistsError

    now = _iso(datetime.now(UTC))
    entity = {
        "PartitionKey": user_key(user_id),
        "RowKey": _conversation_key(conversation_id),
        "title": _title(title),
        "createdAt": now,
        "updatedAt": now,
    }
    try:
        table = await ensure_table(CONVERSATIONS)
        await table.create_entity(entity, **REQUEST_PATH)
    except ResourceExistsError:
        return False
    except AzureError:
        raise _store_failure() from None
    return True


async def _get_entity(user_id: str, conversation_id: str) -> dict[str, Any] | None:
    from azure.core.exceptions import AzureError, ResourceNotFoundError

    key = _conversation_key(conversation_id)
    try:
        table = await ensure_table(CONVERSATIONS)
        return await table.get_entity(user_key(user_id), key, **REQUEST_PATH)
    except ResourceNotFoundError:
        return None
    except AzureError:
        raise _store_failure() from None


async def get_conversation(user_id: str, conversation_id: str) -> dict[str, Any] | None:
    """The user's conversation, or None (another user's conversation is None too)."""
    entity = await _get_entity(user_id, conversation_id)
    return _public_conversation(entity) if entity is not None else None


@dataclass(frozen=True, eq=False)
class IdentityCheck:
    """A turn's identity check as its conversation keeps it (validated: `identity_check`)."""

    customer_id: str | None  # None: the check failed, the conversation is verified for nobody
    identity: str  # the fingerprint of the identity that proved it (voicea2a.planner)
    at: str  # when the checking turn started, as stored

    def fields(self) -> dict[str, str]:
        """The conversation's columns for this check."""
        return {
            "verifiedCustomerId": self.customer_id or "",
            "verifiedIdentity": self.identity if self.customer_id else "",
            "verifiedAt": self.at,
        }


def identity_check(
    customer_id: str | None, identity: str = "", as_of: str | None = None
) -> IdentityCheck:
    """A check's outcome, validated; `as_of` is when the checking turn started (default: now)."""
    if customer_id is not None and (
        not isinstance(customer_id, str) or not CUSTOMER_ID_RE.fullmatch(customer_id)
    ):
        raise InvalidRequest("Field 'customerId' must look like CUST-0001.")
    if not isinstance(identity, str) or not _FINGERPRINT_RE.fullmatch(identity):
        raise InvalidRequest("Field 'identity' must be an identity fingerprint or empty.")
    at = _iso(_parse_time(as_of, "startedAt") if as_of is not None else datetime.now(UTC))
    return IdentityCheck(customer_id, identity, at)


async def set_verified_customer(
    user_id: str,
    conversation_id: str,
    customer_id: str | None,
    as_of: str | None = None,
    identity: str = "",
) -> None:
    """Remember the outcome of a turn's identity check (NotFound if the conversation does not
    exist): the customer verified and the fingerprint of the identity that proved it, or None
    when it failed (the conversation is then verified for nobody).

    `as_of` is when the verifying turn started (default: now). Activities run at least once, so
    an earlier turn's write may land again after a later turn's: a write older than the stored
    `verifiedAt` changes nothing, and the check and the write are one (ETag) step.
    """
    from azure.core.exceptions import AzureError

    check = identity_check(customer_id, identity, as_of)
    key = _conversation_key(conversation_id)
    try:
        table = await ensure_table(CONVERSATIONS)
        await _update_conversation(table, user_id, key, check=check)
    except AzureError:
        raise _store_failure() from None


async def verified_customer(user_id: str, conversation_id: str) -> Verified | None:
    """The customer verified earlier in this conversation, if any, with its identity."""
    entity = await _get_entity(user_id, conversation_id)
    customer_id = entity.get("verifiedCustomerId") if entity else None
    if not entity or not customer_id:
        return None
    return Verified(customer_id, entity.get("verifiedIdentity") or "")


def _data_json(data: Any) -> str:
    text = json.dumps(data if isinstance(data, dict) else {}, separators=(",", ":"))
    return text if len(text) <= MAX_DATA_CHARS else "{}"


def _parts_json(parts: Any) -> str:
    """An answer's parts as stored: as many whole parts, in order, as fit the column."""
    kept: list[str] = []
    size = 2
    for part in parts if isinstance(parts, list) else []:
        text = json.dumps(part, separators=(",", ":"))
        if size + len(text) + 1 > MAX_DATA_CHARS:
            break
        kept.append(text)
        size += len(text) + 1
    return f"[{','.join(kept)}]"


def _turn_key_prefix(instance_id: str, started_at: str) -> str:
    """What the row keys of one turn's messages start with: `{startedAt}-{instanceId}`."""
    if not isinstance(instance_id, str) or not _INSTANCE_ID_RE.fullmatch(instance_id):
        raise InvalidRequest("Field 'instanceId' must be 1 to 100 letters, digits, _ : or -.")
    moment = _parse_time(started_at, "startedAt")
    return f"{moment.astimezone(UTC):%Y%m%dT%H%M%S%f}Z-{instance_id}"


def turn_rows(
    partition: str,
    instance_id: str,
    started_at: str,
    request: str,
    outcomes: Sequence[Mapping[str, Any]],
    answer: Mapping[str, Any],
    customer_id: str | None = None,
    follow_ups: Sequence[Mapping[str, Any]] = (),
) -> list[dict[str, Any]]:
    """The message rows of one turn: the user's request, each outcome, the answer (with the
    customer the turn was about), then its follow-ups."""
    prefix = _turn_key_prefix(instance_id, started_at)
    if len(outcomes) > MAX_OUTCOMES:
        raise InvalidRequest(f"Field 'outcomes' must have at most {MAX_OUTCOMES} items.")
    if len(follow_ups) > MAX_FOLLOW_UPS:
        raise InvalidRequest(f"Field 'followUps' must have at most {MAX_FOLLOW_UPS} items.")
    created_at = _iso(_parse_time(started_at, "startedAt"))

    def row(seq: str, role: str, text: Any, **fields: Any) -> dict[str, Any]:
        return {
            "PartitionKey": partition,
            "RowKey": f"{prefix}-{seq}",
            "role": role,
            "text": str(text or "")[:MAX_TEXT_CHARS],
            "createdAt": created_at,
            "instanceId": instance_id,
            **fields,
        }

    rows = [row("000", "user", request)]
    for seq, outcome in enumerate(outcomes, start=1):
        # An outcome's `reason` is internal (exception names, URLs): it is not kept here.
        rows.append(
            row(
                f"{seq:03d}",
                "agent",
                outcome.get("text"),
                agent=str(outcome.get("agent", "")),
                skill=str(outcome.get("skill", "")),
                status=str(outcome.get("status", "")),
                data=_data_json(outcome.get("data")),
                parts=_parts_json(outcome.get("parts")),
            )
        )
    said: list[tuple[str, Mapping[str, Any], dict[str, Any]]] = [(f"{ANSWER_SEQ:03d}", answer, {})]
    said += [
        (_follow_up_seq(n), follow_up, {"followUp": True})
        for n, follow_up in enumerate(follow_ups, start=1)
    ]
    for key, spoken, fields in said:
        agents = [str(agent) for agent in spoken.get("agents") or ()]
        rows.append(
            row(
                key,
                "assistant",
                spoken.get("answer"),
                agents=json.dumps(agents),
                partial=bool(spoken.get("partial", False)),
                customerId=customer_id or "",
                **fields,
            )
        )
    return rows


def _follow_up_seq(n: int) -> str:
    # After the answer's `999` in row-key order.
    return f"{ANSWER_SEQ:03d}-{n:02d}"


async def _update_conversation(
    table: Any,
    user_id: str,
    conversation_id: str,
    touched_at: str | None = None,
    title: str = "",
    check: IdentityCheck | None = None,
) -> None:
    """One read and at most one write (ETag) of the conversation: move updatedAt forward to
    `touched_at` (never back), creating the conversation if it is missing, and keep `check`
    unless a later turn's is stored already. Without `touched_at` a missing conversation is
    NotFound."""
    from azure.core import MatchConditions
    from azure.core.exceptions import (
        ResourceExistsError,
        ResourceModifiedError,
        ResourceNotFoundError,
    )
    from azure.data.tables import UpdateMode

    keys = {"PartitionKey": user_key(user_id), "RowKey": conversation_id}
    checked = check.fields() if check is not None else {}
    for _ in range(MAX_UPDATE_ATTEMPTS):
        try:
            entity = await table.get_entity(keys["PartitionKey"], conversation_id, **REQUEST_PATH)
        except ResourceNotFoundError:
            if touched_at is None:
                raise NotFound("No such conversation.") from None
            created = {
                **keys,
                "title": _title(title),
                "createdAt": touched_at,
                "updatedAt": touched_at,
                **checked,
            }
            try:
                await table.create_entity(created, **REQUEST_PATH)
                return
            except ResourceExistsError:
                continue
        changes: dict[str, str] = {}
        if touched_at is not None and str(entity.get("updatedAt") or "") < touched_at:
            changes["updatedAt"] = touched_at
        if check is not None and str(entity.get("verifiedAt") or "") <= check.at:
            changes.update(checked)
        if not changes:
            return
        try:
            await table.update_entity(
                {**keys, **changes},
                mode=UpdateMode.MERGE,
                etag=entity.metadata["etag"],
                match_condition=MatchConditions.IfNotModified,
                **REQUEST_PATH,
            )
            return
        except ResourceModifiedError:
            continue
        except ResourceNotFoundError:
            if touched_at is None:
                raise NotFound("No such conversation.") from None
            continue
    raise UpstreamUnavailable("The conversation history store is too busy; try again shortly.")


async def record_turn(
    user_id: str,
    conversation_id: str,
    instance_id: str,
    started_at: str,
    request: str,
    outcomes: Sequence[Mapping[str, Any]],
    answer: Mapping[str, Any],
    customer_id: str | None = None,
    follow_ups: Sequence[Mapping[str, Any]] = (),
    check: IdentityCheck | None = None,
) -> None:
    """Write one turn (idempotent: a retry upserts the same rows). Its conversation is written
    first, in one step: updatedAt moved forward and, if the turn checked an identity, `check`
    (set_verified_customer's rules); a retry writes both again."""
    from azure.core.exceptions import AzureError
    from azure.data.tables import UpdateMode

    partition = _messages_partition(user_id, conversation_id)
    rows = turn_rows(
        partition, instance_id, started_at, request, outcomes, answer, customer_id, follow_ups
    )
    try:
        conversations = await ensure_table(CONVERSATIONS)
        await _update_conversation(
            conversations, user_id, conversation_id, rows[0]["createdAt"], request, check
        )
        messages = await ensure_table(MESSAGES)
        operations = [("upsert", row, {"mode": UpdateMode.REPLACE}) for row in rows]
        # A transaction takes 100 operations: a turn without follow-ups is always one.
        for start in range(0, len(operations), MAX_TRANSACTION):
            chunk = operations[start : start + MAX_TRANSACTION]
            await messages.submit_transaction(chunk, **REQUEST_PATH)
    except AzureError:
        raise _store_failure() from None


class TurnJson(TypedDict):
    """One finished turn as the history takes it (the delegation's `record_turn` input, and
    what a delegation keeps in its output while the history cannot take it)."""

    user: str
    conversationId: str
    instanceId: str
    startedAt: str
    request: str  # the spoken request's text
    outcomes: list[OutcomeJson]
    answer: AnswerJson
    verifiedCustomerId: str | None
    identityChecked: bool
    verifiedIdentity: str
    followUps: NotRequired[list[AnswerJson]]  # said later, once a person had answered an agent


async def save_turn(turn: TurnJson) -> None:
    """Write the turn and, if it checked an identity, the check's outcome (idempotent, so a
    retry or the reconciliation job may write it again)."""
    check = None
    if turn.get("identityChecked"):
        # Verified or not, this check replaces the earlier one: a failed check verifies nobody.
        # As of the turn's start: a rerun of this turn never undoes a later turn's check.
        check = identity_check(
            turn.get("verifiedCustomerId"), turn.get("verifiedIdentity") or "", turn["startedAt"]
        )
    await record_turn(
        turn["user"],
        turn["conversationId"],
        turn["instanceId"],
        turn["startedAt"],
        turn["request"],
        turn["outcomes"],
        turn["answer"],
        turn.get("verifiedCustomerId"),
        turn.get("followUps") or (),
        check,
    )


async def turn_saved(turn: TurnJson) -> bool:
    """Whether the turn's answer, and its last follow-up, are in the history already (one point
    read: a turn's rows are written in order)."""
    from azure.core.exceptions import AzureError, ResourceNotFoundError

    partition = _messages_partition(turn["user"], turn["conversationId"])
    follow_ups = len(turn.get("followUps") or ())
    last = _follow_up_seq(follow_ups) if follow_ups else f"{ANSWER_SEQ:03d}"
    answer_key = f"{_turn_key_prefix(turn['instanceId'], turn['startedAt'])}-{last}"
    try:
        table = await ensure_table(MESSAGES)
        await table.get_entity(partition, answer_key, **REQUEST_PATH)
    except ResourceNotFoundError:
        return False
    except AzureError:
        raise _store_failure() from None
    return True


async def list_conversations(
    user_id: str, limit: int = 20, cursor: str | None = None
) -> tuple[list[dict[str, Any]], str | None]:
    """The user's conversations, most recently updated first; (page, next cursor or None)."""
    from azure.core.exceptions import AzureError

    limit = _limit(limit)
    after = _conversation_cursor(cursor)
    # Table storage orders by key only: the user's partition is read and sorted here.
    try:
        table = await ensure_table(CONVERSATIONS)
        entities = table.query_entities(
            "PartitionKey eq @pk",
            parameters={"pk": user_key(user_id)},
            select=list(CONVERSATION_FIELDS),
            **REQUEST_PATH,
        )
        items = [_public_conversation(entity) async for entity in entities]
    except AzureError:
        raise _store_failure() from None
    items.sort(key=lambda item: item["conversationId"])
    items.sort(key=lambda item: item["updatedAt"] or "", reverse=True)
    if after is not None:
        updated, conversation = after
        items = [
            item
            for item in items
            if (item["updatedAt"] or "") < updated
            or (item["updatedAt"] == updated and item["conversationId"] > conversation)
        ]
    page = items[:limit]
    if len(items) <= limit:
        return page, None
    last = page[-1]
    return page, _encode_cursor([last["updatedAt"], last["conversationId"]])


def _stored_json(text: Any, empty: Any) -> Any:
    """A JSON column of a stored row; `empty` when it is absent or malformed, so that one bad
    row never makes the whole history unreadable."""
    try:
        return json.loads(text) if text else empty
    except (TypeError, ValueError):
        return empty


def _public_message(entity: dict[str, Any]) -> dict[str, Any]:
    message: dict[str, Any] = {
        "id": entity["RowKey"].split("-", 1)[1],
        "role": entity.get("role"),
        "text": entity.get("text") or "",
        "createdAt": entity.get("createdAt"),
        "instanceId": entity.get("instanceId"),
    }
    if message["role"] == "agent":
        message["agent"] = entity.get("agent")
        message["skill"] = entity.get("skill")
        message["status"] = entity.get("status")
        message["data"] = _stored_json(entity.get("data"), {})
        message["parts"] = _stored_json(entity.get("parts"), [])
    elif message["role"] == "assistant":
        message["agents"] = _stored_json(entity.get("agents"), [])
        message["partial"] = bool(entity.get("partial", False))
        message["customerId"] = entity.get("customerId") or None
        if entity.get("followUp"):
            message["followUp"] = True
    return message


@dataclass(frozen=True)
class Recent:
    """What the next turn of a conversation carries from the earlier ones."""

    turns: list[tuple[str, str]]  # the last (request, answer) pairs, oldest first
    # Agent -> the task it left waiting for an answer (input-required) in the last turn.
    waiting: dict[str, str]


async def recent(user_id: str, conversation_id: str, turns: int) -> Recent:
    """The last `turns` (request, answer) pairs of the conversation, and the tasks its last turn
    left input-required; nothing for a conversation that is new or not this user's."""
    from azure.core.exceptions import AzureError, ResourceNotFoundError

    partition = _messages_partition(user_id, conversation_id)
    # Row keys sort by turn, then by role within it; Tables reads ascending only, so the last
    # rows are kept as they stream by, and the agents' rows of the latest turn.
    last: deque[dict[str, Any]] = deque(maxlen=2 * max(turns, 1))
    latest_agents: list[dict[str, Any]] = []
    try:
        table = await ensure_table(MESSAGES)
        entities = table.query_entities(
            "PartitionKey eq @pk",
            parameters={"pk": partition},
            select=["role", "text", "instanceId", "agent", "status", "data"],
            **REQUEST_PATH,
        )
        async for entity in entities:
            if entity.get("role") == "agent":
                if latest_agents and latest_agents[0].get("instanceId") != entity.get("instanceId"):
                    latest_agents = []
                latest_agents.append(entity)
            elif entity.get("role") in ("user", "assistant"):
                last.append(entity)
    except ResourceNotFoundError:
        return Recent([], {})
    except AzureError:
        raise _store_failure() from None
    pairs = []
    rows = list(last)
    for request, answer in zip(rows, rows[1:], strict=False):
        same_turn = request.get("instanceId") == answer.get("instanceId")
        if request.get("role") == "user" and answer.get("role") == "assistant" and same_turn:
            pairs.append((str(request.get("text") or ""), str(answer.get("text") or "")))
    last_turn = rows[-1].get("instanceId") if rows else None
    waiting = {}
    for row in latest_agents:
        data = _stored_json(row.get("data"), {})
        task = data.get("taskId") if isinstance(data, dict) else None
        if row.get("instanceId") == last_turn and row.get("status") == "input-required" and task:
            waiting[str(row.get("agent"))] = str(task)
    return Recent(pairs[-turns:] if turns > 0 else [], waiting)


async def list_messages(
    user_id: str, conversation_id: str, limit: int = 50, cursor: str | None = None
) -> tuple[list[dict[str, Any]], str | None]:
    """The conversation's messages in order; NotFound if it is not this user's conversation."""
    from azure.core.exceptions import AzureError

    limit = _limit(limit)
    after = _message_cursor(cursor)
    partition = _messages_partition(user_id, conversation_id)
    if await _get_entity(user_id, conversation_id) is None:
        raise NotFound("No such conversation.")
    query, parameters = "PartitionKey eq @pk", {"pk": partition}
    if after is not None:
        query += " and RowKey gt @after"
        parameters["after"] = after
    rows: list[dict[str, Any]] = []
    try:
        table = await ensure_table(MESSAGES)
        entities = table.query_entities(
            query, parameters=parameters, results_per_page=limit + 1, **REQUEST_PATH
        )
        async for entity in entities:
            rows.append(entity)
            if len(rows) > limit:
                break
    except AzureError:
        raise _store_failure() from None
    page = [_public_message(row) for row in rows[:limit]]
    if len(rows) <= limit:
        return page, None
    return page, _encode_cursor(rows[limit - 1]["RowKey"])
