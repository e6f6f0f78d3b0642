"""The agent registry (Table `agents`): registration, the public list, and health probing."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from voicea2a.a2a import A2AError, A2AErrorKind, AgentCardInfo, fetch_card, parse_card
from voicea2a.config import AgentRegistrySettings
from voicea2a.errors import InvalidRequest, NotFound, UpstreamUnavailable
from voicea2a.events import Event
from voicea2a.httpclient import http_client
from voicea2a.ssrf import Resolver, system_resolver, vet_url
from voicea2a.storage import REQUEST_PATH, ensure_table

TABLE = "agents"
PARTITION = "agent"
HEALTHY, UNHEALTHY = "healthy", "unhealthy"
# Card problems are the registrant's to fix (400); an unreachable agent is an upstream failure.
CARD_ERRORS = {A2AErrorKind.INVALID_CARD, A2AErrorKind.TOO_LARGE, A2AErrorKind.MALFORMED}
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AgentRecord:
    """One registered agent as stored: its card, where it lives, and its health."""

    name: str
    url: str
    card: AgentCardInfo
    health: str = HEALTHY
    failures: int = 0
    last_seen: datetime | None = None

    def public(self) -> dict[str, Any]:
        """What any signed-in user may see: no URLs, no counters."""
        return {
            "name": self.name,
            "description": self.card.description,
            "version": self.card.version,
            "health": self.health,
            "skills": [
                {"id": s.id, "name": s.name, "description": s.description, "tags": list(s.tags)}
                for s in self.card.skills
            ],
        }

    def summary(self) -> dict[str, Any]:
        """The agent as `registry.updated` events describe it."""
        return {
            "name": self.name,
            "description": self.card.description,
            "health": self.health,
            "skills": [s.id for s in self.card.skills],
        }


def agent_key(card_name: str) -> str:
    """A stable registry key from the card's name (also a valid Table row key)."""
    key = re.sub(r"[^a-z0-9]+", "-", card_name.lower()).strip("-")
    if not key:
        raise InvalidRequest("The agent card's name must contain letters or digits.")
    return key[:64]


def _entity(record: AgentRecord) -> dict[str, Any]:
    return {
        "PartitionKey": PARTITION,
        "RowKey": record.name,
        "url": record.url,
        "card": json.dumps(dict(record.card.raw)),
        "health": record.health,
        "failures": record.failures,
        "lastSeen": (record.last_seen or datetime.now(UTC)).isoformat(),
    }


def _record(entity: dict[str, Any]) -> AgentRecord:
    return AgentRecord(
        name=entity["RowKey"],
        url=entity["url"],
        card=parse_card(json.loads(entity["card"])),
        health=entity["health"],
        failures=int(entity["failures"]),
        last_seen=datetime.fromisoformat(entity["lastSeen"]),
    )


def _store_failure(operation: str) -> UpstreamUnavailable:
    return UpstreamUnavailable(f"The agent registry is unavailable ({operation}); try again.")


async def fetch_vetted_card(
    url: str, settings: AgentRegistrySettings, resolver: Resolver = system_resolver
) -> AgentCardInfo:
    """Vet the URL, fetch the card, and vet the card's own JSON-RPC URL too."""
    vetted = await vet_url(url, settings.url_allowlist, resolver)
    try:
        card = await fetch_card(
            http_client(),
            vetted.url,
            timeout=settings.probe_timeout_seconds,
            max_bytes=settings.card_max_bytes,
        )
    except A2AError as exc:
        if exc.kind in CARD_ERRORS:
            raise InvalidRequest(f"The agent card is not valid: {exc.message}") from None
        raise UpstreamUnavailable(
            f"The agent could not be reached: {exc.message}", status=502
        ) from None
    # The card says where to send messages: that address must pass the same guard.
    await vet_url(card.rpc_url, settings.url_allowlist, resolver)
    return card


async def register(
    url: str, settings: AgentRegistrySettings, resolver: Resolver = system_resolver
) -> tuple[AgentRecord, bool]:
    """Fetch and validate the agent's card, then upsert it as healthy; (record, changed)."""
    from azure.core.exceptions import AzureError

    card = await fetch_vetted_card(url, settings, resolver)
    record = AgentRecord(agent_key(card.name), url.rstrip("/"), card, last_seen=datetime.now(UTC))
    try:
        table = await ensure_table(TABLE)
        previous = await _get(table, record.name)
        await table.upsert_entity(_entity(record), **REQUEST_PATH)
    except AzureError:
        raise _store_failure("register") from None
    changed = previous is None or previous.summary() != record.summary()
    return record, changed


async def _get(table: Any, name: str) -> AgentRecord | None:
    from azure.core.exceptions import ResourceNotFoundError

    try:
        return _record(await table.get_entity(PARTITION, name, **REQUEST_PATH))
    except ResourceNotFoundError:
        return None


async def list_agents() -> list[AgentRecord]:
    """Every registered agent, by name."""
    from azure.core.exceptions import AzureError, ResourceNotFoundError

    try:
        table = await ensure_table(TABLE)
        entities = table.query_entities(
            "PartitionKey eq @p", parameters={"p": PARTITION}, **REQUEST_PATH
        )
        records = [_record(entity) async for entity in entities]
    except ResourceNotFoundError:
        return []
    except AzureError:
        raise _store_failure("list") from None
    return sorted(records, key=lambda r: r.name)


async def healthy_agents() -> list[AgentRecord]:
    """The agents the planner may use."""
    return [record for record in await list_agents() if record.health == HEALTHY]


async def remove(name: str) -> None:
    """Remove an agent (NotFound when it is not registered)."""
    from azure.core.exceptions import AzureError, ResourceNotFoundError

    try:
        table = await ensure_table(TABLE)
        if await _get(table, name) is None:
            raise NotFound(f"No agent named {name!r} is registered.")
        await table.delete_entity(PARTITION, name, **REQUEST_PATH)
    except ResourceNotFoundError:
        raise NotFound(f"No agent named {name!r} is registered.") from None
    except AzureError:
        raise _store_failure("remove") from None


async def probe(
    record: AgentRecord, settings: AgentRegistrySettings, resolver: Resolver = system_resolver
) -> AgentRecord:
    """Fetch the agent's card once: success heals it, the Nth failure in a row marks it down."""
    now = datetime.now(UTC)
    try:
        card = await fetch_vetted_card(record.url, settings, resolver)
    except (InvalidRequest, UpstreamUnavailable) as exc:
        failures = record.failures + 1
        down = failures >= settings.failures_before_unhealthy
        log.info("probe of agent %s failed (%d in a row): %s", record.name, failures, exc.message)
        return AgentRecord(
            record.name,
            record.url,
            record.card,
            UNHEALTHY if down else record.health,
            failures,
            record.last_seen,
        )
    if agent_key(card.name) != record.name:
        # The card now names another agent: treat this registration as failing, not renamed.
        return AgentRecord(
            record.name, record.url, record.card, UNHEALTHY, record.failures + 1, record.last_seen
        )
    return AgentRecord(record.name, record.url, card, HEALTHY, 0, now)


async def probe_all(
    settings: AgentRegistrySettings, resolver: Resolver = system_resolver
) -> tuple[list[AgentRecord], bool]:
    """Probe every agent concurrently, bootstrap the configured URLs, drop expired agents;
    returns the registry afterwards and whether anything users can see changed."""
    from azure.core.exceptions import AzureError

    before = await list_agents()
    known_urls = {record.url for record in before}
    for url in settings.bootstrap_urls:
        if url.rstrip("/") not in known_urls:
            try:
                await register(url, settings, resolver)
            except (InvalidRequest, UpstreamUnavailable) as exc:
                log.warning("bootstrap agent %s not registered: %s", url, exc.message)
    current = await list_agents()
    probed = await asyncio.gather(*(probe(record, settings, resolver) for record in current))
    expiry = datetime.now(UTC) - timedelta(minutes=settings.expiry_minutes)
    try:
        table = await ensure_table(TABLE)
        for record in probed:
            if record.last_seen and record.last_seen < expiry:
                await table.delete_entity(PARTITION, record.name, **REQUEST_PATH)
            else:
                await table.upsert_entity(_entity(record), **REQUEST_PATH)
    except AzureError:
        raise _store_failure("probe") from None
    after = await list_agents()
    changed = [r.summary() for r in before] != [r.summary() for r in after]
    return after, changed


def registry_event(records: list[AgentRecord]) -> Event:
    """The `registry.updated` event every connected browser receives."""
    return Event("registry.updated", {"agents": [record.summary() for record in records]})
