"""The rules every token route follows: a budget per caller, and an audit row for every outcome."""

from __future__ import annotations

from voicea2a import audit, ratelimit
from voicea2a.audit import AuditRecord
from voicea2a.errors import RateLimited
from voicea2a.telemetry.metrics import record_token_issued


async def admit(route: str, subject: str, limit: int, entry: AuditRecord) -> None:
    """Count one request of `subject` against `limit` per minute; a refusal is audited too."""
    try:
        await ratelimit.hit(route, subject, limit)
    except RateLimited:
        await audit.record_rejection(entry)
        raise


async def issued(entry: AuditRecord) -> None:
    """Audit an issued token; runs before the token is returned, so none goes unrecorded."""
    await audit.record(entry)
    record_token_issued(entry.kind)
