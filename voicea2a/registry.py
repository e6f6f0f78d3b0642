"""The agent registry (Table `agents`): registration, admission, the lists, and health probing.

Who may be routed to: an agent is `pending` until a supervisor admits it, unless a supervisor
registered it or its identity is allow-listed (AGENT_ADMISSION_ALLOWLIST); only admitted, healthy
agents whose credentials were not refused are routable. A registered name belongs to the identity
that registered it: another identity registering the same name is refused (409) and audited.
Every write goes over the row version it read (its ETag), so two writers never silently undo each
other: of two identities registering a free name at once, one gets it and the other a 409; an
admission or removal made while a health probe runs is not reverted by the probe's result.
When two routable agents offer one skill, the higher `priority` (a supervisor's choice at
admission) wins, then the one admitted first; never the alphabetical order of their names.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from voicea2a.a2a import A2AError, A2AErrorKind, AgentCardInfo, fetch_card, parse_card
from voicea2a.audit import AuditRecord
from voicea2a.audit import record as audit
from voicea2a.config import AgentRegistrySettings
from voicea2a.errors import Conflict, InvalidRequest, NotFound, UpstreamUnavailable
from voicea2a.events import Event
from voicea2a.ssrf import Resolver, pinned_client, system_resolver, vet_url
from voicea2a.storage import REQUEST_PATH, ensure_table

if TYPE_CHECKING:
    from azure.data.tables import TableEntity

TABLE = "agents"
PARTITION = "agent"
HEALTHY, UNHEALTHY = "healthy", "unhealthy"
PENDING, ADMITTED = "pending", "admitted"
# The owner of agents registered from A2A_AGENT_URLS: the operator, through the app's settings.
CONFIGURED = "settings:A2A_AGENT_URLS"
# Card problems are the registrant's to fix (400); an unreachable agent is an upstream failure.
CARD_ERRORS = {A2AErrorKind.INVALID_CARD, A2AErrorKind.TOO_LARGE, A2AErrorKind.MALFORMED}
# A write that finds its row changed since the read reads again, this many times at most.
MAX_WRITE_ATTEMPTS = 5
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
    owner: str = ""
    admission: str = PENDING
    priority: int = 0
    admitted_at: datetime | None = None
    # Why calls to the agent cannot succeed although it answers probes (its credential refused);
    # cleared when the agent registers again.
    problem: str = ""
    # The stored row's version when this record was read; "" for a row not stored yet.
    etag: str = field(default="", compare=False, repr=False)

    @property
    def routable(self) -> bool:
        """True when delegations may call this agent."""
        return self.admission == ADMITTED and self.health == HEALTHY and not self.problem

    def public(self) -> dict[str, Any]:
        """What any signed-in user may see: no URLs, no counters, no owner."""
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

    def for_supervisor(self) -> dict[str, Any]:
        """The public view plus what a supervisor decides on: admission, priority, problems."""
        return {
            **self.public(),
            "admission": self.admission,
            "priority": self.priority,
            "owner": self.owner,
            "problem": self.problem or None,
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


_NAME_RE = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")


def route_name(name: str) -> str:
    """An agent name taken from a URL; one `agent_key` can never produce is not found (404)."""
    if len(name) > 64 or not _NAME_RE.fullmatch(name):
        raise NotFound("No agent by that name is registered.")
    return name


def _entity(record: AgentRecord) -> dict[str, Any]:
    return {
        "PartitionKey": PARTITION,
        "RowKey": record.name,
        "url": record.url,
        "card": json.dumps(dict(record.card.raw)),
        "health": record.health,
        "failures": record.failures,
        "lastSeen": (record.last_seen or datetime.now(UTC)).isoformat(),
        "owner": record.owner,
        "admission": record.admission,
        "priority": record.priority,
        "admittedAt": record.admitted_at.isoformat() if record.admitted_at else "",
        "problem": record.problem,
    }


def _record(entity: TableEntity) -> AgentRecord:
    admitted_at = entity.get("admittedAt") or ""
    return AgentRecord(
        name=entity["RowKey"],
        url=entity["url"],
        card=parse_card(json.loads(entity["card"])),
        health=entity["health"],
        failures=int(entity["failures"]),
        last_seen=datetime.fromisoformat(entity["lastSeen"]),
        # Rows written before admission existed have no owner and are pending.
        owner=entity.get("owner") or "",
        admission=entity.get("admission") or PENDING,
        priority=int(entity.get("priority") or 0),
        admitted_at=datetime.fromisoformat(admitted_at) if admitted_at else None,
        problem=entity.get("problem") or "",
        etag=entity.metadata["etag"] or "",
    )


def _store_failure(operation: str) -> UpstreamUnavailable:
    return UpstreamUnavailable(f"The agent registry is unavailable ({operation}); try again.")


async def _store(table: Any, record: AgentRecord) -> AgentRecord:
    """Write the record over the row version it was read from, or as a new row when it was not
    stored yet; the SDK raises ResourceModifiedError, ResourceNotFoundError or
    ResourceExistsError when another writer came first. Returns it with its new version."""
    from azure.core import MatchConditions
    from azure.data.tables import UpdateMode

    if record.etag:
        written = await table.update_entity(
            _entity(record),
            mode=UpdateMode.REPLACE,
            etag=record.etag,
            match_condition=MatchConditions.IfNotModified,
            **REQUEST_PATH,
        )
    else:
        written = await table.create_entity(_entity(record), **REQUEST_PATH)
    return replace(record, etag=written["etag"])


async def _update(
    name: str, change: Callable[[AgentRecord | None], AgentRecord], operation: str
) -> tuple[AgentRecord | None, AgentRecord]:
    """Read the agent's row, apply `change`, and store the result unless another writer changed
    the row in between (then read it again); (the record before, the record stored).

    An exception from `change` (NotFound, Conflict) ends the update and writes nothing."""
    from azure.core.exceptions import (
        AzureError,
        ResourceExistsError,
        ResourceModifiedError,
        ResourceNotFoundError,
    )

    try:
        table = await ensure_table(TABLE)
        for _ in range(MAX_WRITE_ATTEMPTS):
            previous = await _get(table, name)
            try:
                return previous, await _store(table, change(previous))
            except (ResourceExistsError, ResourceModifiedError, ResourceNotFoundError):
                continue
    except AzureError:
        raise _store_failure(operation) from None
    raise UpstreamUnavailable(f"The agent registry is too busy ({operation}); try again shortly.")


async def fetch_vetted_card(
    url: str, settings: AgentRegistrySettings, resolver: Resolver = system_resolver
) -> AgentCardInfo:
    """Vet the URL, fetch the card, and vet the card's own JSON-RPC URL too."""
    vetted = await vet_url(url, settings.url_allowlist, resolver)
    try:
        async with pinned_client(vetted) as client:
            card = await fetch_card(
                client,
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


@dataclass(frozen=True)
class Registrant:
    """Who registers an agent: their identity and whether their registration is admitted."""

    identity: str
    admits: bool


def registrant(identity: str, supervisor: bool, settings: AgentRegistrySettings) -> Registrant:
    """A supervisor's or an allow-listed identity's registration is admitted at once."""
    return Registrant(identity, supervisor or identity in settings.admission_allowlist)


async def register(
    url: str,
    settings: AgentRegistrySettings,
    by: Registrant,
    resolver: Resolver = system_resolver,
) -> tuple[AgentRecord, bool]:
    """Fetch and validate the agent's card, then store it as healthy; (record, changed).

    Conflict (409, audited) when the name belongs to another identity."""
    card = await fetch_vetted_card(url, settings, resolver)
    name = agent_key(card.name)
    now = datetime.now(UTC)

    def claimed(previous: AgentRecord | None) -> AgentRecord:
        if previous is not None and not _may_claim(previous, by):
            raise Conflict(f"An agent named {name!r} is registered by someone else.")
        keeps = previous is not None and previous.admission == ADMITTED
        admitted = keeps or by.admits
        return AgentRecord(
            name,
            url.rstrip("/"),
            card,
            last_seen=now,
            owner=by.identity,
            admission=ADMITTED if admitted else PENDING,
            priority=previous.priority if previous is not None else 0,
            admitted_at=(previous.admitted_at if keeps and previous else now) if admitted else None,
            etag=previous.etag if previous is not None else "",
        )

    try:
        previous, record = await _update(name, claimed, "register")
    except Conflict:
        await _audit_refusal(by.identity, name)
        raise
    changed = previous is None or previous.summary() != record.summary()
    return record, changed


def _may_claim(previous: AgentRecord, by: Registrant) -> bool:
    # A row without an owner predates admission: only an identity that would be admitted may
    # claim it, so an impostor cannot take over a name that was routed to before.
    return previous.owner == by.identity or (not previous.owner and by.admits)


async def _audit_refusal(identity: str, name: str) -> None:
    try:
        await audit(
            AuditRecord(
                user=identity,
                kind=f"agent-registration:{name}",
                outcome="refused: the name belongs to another identity",
                client_ip="",
                user_agent="",
                correlation_id="",
            )
        )
    except UpstreamUnavailable:
        log.warning("the refused registration of agent %s could not be audited", name)


async def admit(name: str, priority: int | None = None) -> AgentRecord:
    """A supervisor admits an agent (and may set its priority); NotFound if not registered."""

    def admitted(record: AgentRecord | None) -> AgentRecord:
        if record is None:
            raise NotFound(f"No agent named {name!r} is registered.")
        return replace(
            record,
            admission=ADMITTED,
            admitted_at=record.admitted_at or datetime.now(UTC),
            priority=record.priority if priority is None else priority,
        )

    return (await _update(name, admitted, "admit"))[1]


async def record_credential_refused(name: str, status: int) -> None:
    """An agent refused our credential (HTTP 401/403): not routable until it registers again."""

    def refused(record: AgentRecord | None) -> AgentRecord:
        if record is None:
            raise NotFound(f"No agent named {name!r} is registered.")
        return replace(record, problem=f"credential refused (HTTP {status})")

    try:
        await _update(name, refused, "record a refused credential")
    except NotFound:
        return  # removed meanwhile: nothing routes to it
    except UpstreamUnavailable:
        log.warning("the refused credential of agent %s could not be recorded", name)
        return
    log.warning("agent %s refused the app's credential (HTTP %d)", name, status)


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


async def routable_agents() -> list[AgentRecord]:
    """The agents delegations may call: admitted, healthy, credentials not refused."""
    return [record for record in await list_agents() if record.routable]


def skill_routes(records: list[AgentRecord]) -> dict[str, str]:
    """Each skill id -> the agent that gets it: highest priority, then admitted first."""

    def rank(record: AgentRecord) -> tuple[int, datetime]:
        return (-record.priority, record.admitted_at or datetime.max.replace(tzinfo=UTC))

    routes: dict[str, str] = {}
    for record in sorted(records, key=rank):
        for skill in record.card.skills:
            routes.setdefault(skill.id, record.name)
    return routes


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
        return replace(record, health=UNHEALTHY if down else record.health, failures=failures)
    if agent_key(card.name) != record.name:
        # The card now names another agent: treat this registration as failing, not renamed.
        return replace(record, health=UNHEALTHY, failures=record.failures + 1)
    return replace(record, card=card, health=HEALTHY, failures=0, last_seen=now)


async def probe_all(
    settings: AgentRegistrySettings, resolver: Resolver = system_resolver
) -> tuple[list[AgentRecord], bool]:
    """Probe every agent concurrently, bootstrap the configured URLs, drop expired agents;
    returns the registry afterwards and whether anything users can see changed.

    A probe's result is written over the row version the probe started from: a registration,
    admission or removal that landed meanwhile is newer and stays (the next probe sees it)."""
    from azure.core import MatchConditions
    from azure.core.exceptions import AzureError, ResourceModifiedError, ResourceNotFoundError

    before = await list_agents()
    known_urls = {record.url for record in before}
    for url in settings.bootstrap_urls:
        if url.rstrip("/") not in known_urls:
            try:
                await register(url, settings, Registrant(CONFIGURED, admits=True), resolver)
            except (InvalidRequest, Conflict, UpstreamUnavailable) as exc:
                log.warning("bootstrap agent %s not registered: %s", url, exc.message)
    current = await list_agents()
    probed = await asyncio.gather(*(probe(record, settings, resolver) for record in current))
    expiry = datetime.now(UTC) - timedelta(minutes=settings.expiry_minutes)
    try:
        table = await ensure_table(TABLE)
        for record in probed:
            try:
                if record.last_seen and record.last_seen < expiry:
                    await table.delete_entity(
                        PARTITION,
                        record.name,
                        etag=record.etag,
                        match_condition=MatchConditions.IfNotModified,
                        **REQUEST_PATH,
                    )
                else:
                    await _store(table, record)
            except (ResourceModifiedError, ResourceNotFoundError):
                continue
    except AzureError:
        raise _store_failure("probe") from None
    after = await list_agents()
    changed = [r.summary() for r in before] != [r.summary() for r in after]
    return after, changed


def registry_event(records: list[AgentRecord]) -> Event:
    """The `registry.updated` event every connected browser receives: the admitted agents."""
    admitted = [record.summary() for record in records if record.admission == ADMITTED]
    return Event("registry.updated", {"agents": admitted})
