"""The audit trail of issued tokens: one Table row and one log line each, never the token."""

from __future__ import annotations

import hashlib
import logging
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from voicea2a.errors import UpstreamUnavailable
from voicea2a.storage import REQUEST_PATH, ensure_table

TABLE = "audit"
log = logging.getLogger("voicea2a.audit")


@dataclass(frozen=True)
class AuditRecord:
    """Who got what kind of token, when, from where, and how it ended."""

    user: str
    kind: str
    outcome: str
    client_ip: str
    user_agent: str
    correlation_id: str


def pseudonym(user_id: str) -> str:
    """A stable, non-reversible stand-in for a user id in log lines."""
    return hashlib.sha256(user_id.encode()).hexdigest()[:12]


async def record(entry: AuditRecord) -> None:
    """Write the audit row (and a log line); a token is only handed out once this succeeds."""
    from azure.core.exceptions import AzureError

    now = datetime.now(UTC)
    # Newest first within a day's partition: row keys sort by inverted time.
    inverted = f"{(10**13 - int(now.timestamp() * 1000)):013d}"
    row = {
        "PartitionKey": now.strftime("%Y-%m-%d"),
        "RowKey": f"{inverted}-{uuid.uuid4().hex[:8]}",
        "time": now.isoformat(),
        "user": entry.user,
        "kind": entry.kind,
        "outcome": entry.outcome,
        "clientIp": entry.client_ip[:64],
        "userAgent": entry.user_agent[:256],
        "correlationId": entry.correlation_id,
    }
    # The log line carries no IP address or raw user id; the audit table has them.
    log.info(
        "token %s %s for user %s (correlation id %s)",
        entry.kind,
        entry.outcome,
        pseudonym(entry.user),
        entry.correlation_id,
    )
    try:
        table = await ensure_table(TABLE)
        await table.create_entity(row, **REQUEST_PATH)
    except AzureError:
        raise UpstreamUnavailable("The audit store is unavailable; try again shortly.") from None


async def record_rejection(entry: AuditRecord) -> None:
    """Audit a refused token request; best effort, since the caller is refused either way."""
    try:
        await record(replace(entry, outcome="rate_limited"))
    except UpstreamUnavailable:
        log.warning("could not audit a rate-limited %s token request", entry.kind)
