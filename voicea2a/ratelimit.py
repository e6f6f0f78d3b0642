"""Fixed-window rate limits kept in Table storage, exact across scaled-out instances.

One row per (route, subject, window) holds a counter. Increments use the row's ETag
(optimistic concurrency), so two instances can never both take the last slot. Each process
remembers the last count and ETag it saw: the usual request costs one Table round trip (an
update with the remembered ETag); a conflict costs a re-read.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from voicea2a.errors import RateLimited, UpstreamUnavailable
from voicea2a.storage import REQUEST_PATH, ensure_table
from voicea2a.telemetry.metrics import record_rate_limited

if TYPE_CHECKING:
    from azure.data.tables.aio import TableClient

TABLE = "ratelimits"
log = logging.getLogger(__name__)
MAX_ATTEMPTS = 200  # each failed attempt means another caller succeeded: bounded by the limit


@dataclass
class _Seen:
    count: int
    etag: str


_seen: dict[tuple[str, str], _Seen] = {}


def _row_key(subject: str, window_start: int) -> str:
    # Subjects are user ids or IP addresses: hashed so no character can break a Table key.
    digest = hashlib.sha256(subject.encode()).hexdigest()[:32]
    return f"{window_start}-{digest}"


async def hit(
    route: str,
    subject: str,
    limit: int,
    window_seconds: int = 60,
    clock: Callable[[], float] = time.time,
) -> None:
    """Count one request of `subject` on `route`; RateLimited (429) when over `limit`.

    Fails closed: if the store cannot be reached the request is refused with 503.
    """
    from azure.core import MatchConditions
    from azure.core.exceptions import (
        AzureError,
        ResourceExistsError,
        ResourceModifiedError,
        ResourceNotFoundError,
    )
    from azure.data.tables import UpdateMode

    now = clock()
    window_start = int(now // window_seconds) * window_seconds
    retry_after = max(1, math.ceil(window_start + window_seconds - now))
    key = (route, _row_key(subject, window_start))
    try:
        table = await ensure_table(TABLE)
        for _ in range(MAX_ATTEMPTS):
            seen = _seen.get(key)
            if seen is None:
                try:
                    meta = await table.create_entity(
                        {"PartitionKey": key[0], "RowKey": key[1], "count": 1}, **REQUEST_PATH
                    )
                except ResourceExistsError:
                    _seen[key] = await _read(table, key)
                    continue
                _remember(key, _Seen(1, meta["etag"]))
                return
            if seen.count >= limit:
                _rejected(route, limit, window_seconds)
                raise RateLimited(
                    f"Too many requests; try again in {retry_after} s.", retry_after=retry_after
                )
            entity = {"PartitionKey": key[0], "RowKey": key[1], "count": seen.count + 1}
            try:
                meta = await table.update_entity(
                    entity,
                    mode=UpdateMode.REPLACE,
                    etag=seen.etag,
                    match_condition=MatchConditions.IfNotModified,
                    **REQUEST_PATH,
                )
            except ResourceModifiedError:
                _seen[key] = await _read(table, key)
                continue
            except ResourceNotFoundError:
                _seen.pop(key, None)
                continue
            _remember(key, _Seen(seen.count + 1, meta["etag"]))
            return
    except AzureError:
        raise UpstreamUnavailable(
            "The rate-limit store is unavailable; try again shortly."
        ) from None
    raise UpstreamUnavailable("The rate-limit store is too busy; try again shortly.")


def _rejected(route: str, limit: int, window_seconds: int) -> None:
    # The subject (a user id or an IP address) is not logged: the line carries the caller's
    # pseudonym when one is known, and the audit table has the rest.
    record_rate_limited(route)
    log.warning(
        "rate limited on %s: over %d requests per %d s",
        route,
        limit,
        window_seconds,
        extra={"event": "ratelimit.rejected", "route": route},
    )


async def _read(table: TableClient, key: tuple[str, str]) -> _Seen:
    entity = await table.get_entity(key[0], key[1], **REQUEST_PATH)
    return _Seen(int(entity["count"]), entity.metadata["etag"] or "")


def _remember(key: tuple[str, str], seen: _Seen) -> None:
    # Only the current window's rows are worth keeping: drop the others as windows roll over.
    window = key[1].split("-", 1)[0]
    for old in [k for k in _seen if k[1].split("-", 1)[0] != window]:
        del _seen[old]
    _seen[key] = seen


def forget_seen() -> None:
    """Drop this process's remembered counters (tests simulating another instance)."""
    _seen.clear()
