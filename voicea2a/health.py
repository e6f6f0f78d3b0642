"""Dependency health checks for GET /api/health: concurrent, bounded, and free of secrets."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any

from voicea2a.config import Settings
from voicea2a.httpclient import http_client
from voicea2a.playbook import Playbook
from voicea2a.storage import fail_fast, table_client, table_service

OK = "ok"
DEGRADED = "degraded"
UNAVAILABLE = "unavailable"
NOT_CONFIGURED = "not_configured"

AGENTS_TABLE = "agents"

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DependencyHealth:
    """The status of one dependency, plus safe facts about it (such as the agent count)."""

    status: str
    details: dict[str, Any] = field(default_factory=dict)

    def to_body(self) -> dict[str, Any]:
        """Return the JSON shape: {"status": ..., **details}."""
        return {"status": self.status, **self.details}


@dataclass(frozen=True)
class HealthReport:
    """The overall result: status, HTTP status code and one entry per dependency."""

    status: str
    http_status: int
    version: str
    dependencies: dict[str, DependencyHealth]

    def to_body(self) -> dict[str, Any]:
        """Return the response body of GET /api/health."""
        return {
            "status": self.status,
            "version": self.version,
            "dependencies": {name: dep.to_body() for name, dep in self.dependencies.items()},
        }


async def _check_storage(timeout: float) -> DependencyHealth:
    async for _ in table_service().list_tables(results_per_page=1, **fail_fast(timeout)):
        break
    return DependencyHealth(OK)


async def _check_webpubsub(endpoint: str | None, timeout: float) -> DependencyHealth:
    if endpoint is None:
        return DependencyHealth(NOT_CONFIGURED)
    # Both the Azure service and the local emulator answer HEAD /api/health without auth.
    response = await http_client().head(f"{endpoint}/api/health", timeout=timeout)
    return DependencyHealth(OK if response.is_success else UNAVAILABLE)


async def _check_agent_registry(timeout: float) -> DependencyHealth:
    from azure.core.exceptions import ResourceNotFoundError

    count = 0
    try:
        entities = table_client(AGENTS_TABLE).list_entities(
            select=["PartitionKey"], **fail_fast(timeout)
        )
        async for _ in entities:
            count += 1
    except ResourceNotFoundError:
        # No agent has registered yet, so the table was never created.
        count = 0
    return DependencyHealth(OK, {"agents": count})


async def _check_playbook(playbook: Playbook | None) -> DependencyHealth:
    """Degraded while a skill of the playbook has no routable agent: its steps are unavailable."""
    if playbook is None:
        return DependencyHealth(OK, {"name": None, "missingSkills": []})
    from voicea2a import registry

    offered = registry.skill_routes(await registry.routable_agents())
    missing = [skill.id for skill in playbook.skills if skill.id not in offered]
    details = {"name": playbook.name, "missingSkills": missing}
    return DependencyHealth(DEGRADED if missing else OK, details)


async def _bounded(
    name: str, check: Awaitable[DependencyHealth], timeout: float, unavailable: DependencyHealth
) -> DependencyHealth:
    try:
        return await asyncio.wait_for(check, timeout)
    except Exception as exc:
        # Only the exception type is logged: its text may carry endpoints or account names.
        logger.warning("Health check %s failed: %s", name, type(exc).__name__)
        return unavailable


def _overall(dependencies: dict[str, DependencyHealth]) -> tuple[str, int]:
    if dependencies["storage"].status != OK:
        return UNAVAILABLE, 503
    if all(dep.status == OK for dep in dependencies.values()):
        return OK, 200
    return DEGRADED, 200


async def check_health(settings: Settings, playbook: Playbook | None) -> HealthReport:
    """Check storage, Web PubSub, the agent registry and whether the playbook's skills have
    agents, concurrently, each within the timeout."""
    timeout = settings.health_check_timeout_seconds
    down = DependencyHealth(UNAVAILABLE)
    checks = {
        "storage": (_check_storage(timeout), down),
        "webPubSub": (_check_webpubsub(settings.webpubsub_service_endpoint, timeout), down),
        # The agent count is unknown (null) rather than absent, so the body keeps one shape.
        "agentRegistry": (
            _check_agent_registry(timeout),
            DependencyHealth(UNAVAILABLE, {"agents": None}),
        ),
        "playbook": (
            _check_playbook(playbook),
            DependencyHealth(
                UNAVAILABLE, {"name": playbook.name if playbook else None, "missingSkills": None}
            ),
        ),
    }
    results = await asyncio.gather(
        *(_bounded(name, check, timeout, fallback) for name, (check, fallback) in checks.items())
    )
    dependencies = dict(zip(checks, results, strict=True))
    status, http_status = _overall(dependencies)
    return HealthReport(status, http_status, settings.app_version, dependencies)
