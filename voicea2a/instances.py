"""The Durable HTTP API's instance query, every page of it (the SDK reads only the first)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from azure.durable_functions.models.DurableOrchestrationStatus import DurableOrchestrationStatus

from voicea2a.errors import UpstreamUnavailable
from voicea2a.httpclient import http_client

if TYPE_CHECKING:
    import azure.durable_functions as df
    import httpx

log = logging.getLogger(__name__)

# The host's default page size is 100; a page may hold fewer instances even when more exist.
PAGE_SIZE = 100
MAX_PAGES = 50
PAGE_TIMEOUT_SECONDS = 10.0
CONTINUATION_HEADER = "x-ms-continuation-token"


async def list_instances(
    client: df.DurableOrchestrationClient,
    query: dict[str, str],
    what: str,
    http: httpx.AsyncClient | None = None,
) -> list[DurableOrchestrationStatus]:
    """The instances matching `query` (the HTTP API's parameters: runtimeStatus,
    createdTimeFrom, showInput ...), following the continuation token for at most MAX_PAGES
    pages; `what` names them in errors and logs ("the pending approvals")."""
    import httpx  # on first use: the app imports no HTTP client at start-up

    # The SDK exposes no paged query; its binding holds the host's RPC URL it calls itself.
    url = f"{client._orchestration_bindings.rpc_base_url}instances/"
    params: dict[str, Any] = {**query, "top": str(PAGE_SIZE)}
    http = http or http_client()
    statuses: list[DurableOrchestrationStatus] = []
    continuation = ""
    for _ in range(MAX_PAGES):
        headers = {CONTINUATION_HEADER: continuation} if continuation else {}
        try:
            response = await http.get(
                url, params=params, headers=headers, timeout=PAGE_TIMEOUT_SECONDS
            )
            page = response.json() if response.status_code == 200 else None
        except (httpx.HTTPError, ValueError):
            page = None
        if not isinstance(page, list):
            raise UpstreamUnavailable(f"{what[:1].upper()}{what[1:]} could not be read.")
        statuses += [DurableOrchestrationStatus.from_json(item) for item in page]
        continuation = response.headers.get(CONTINUATION_HEADER, "").strip()
        if continuation in ("", "null"):
            return statuses
    log.warning(
        "listed %d instances in %d pages and stopped; some of %s may be missing",
        len(statuses),
        MAX_PAGES,
        what,
    )
    return statuses
