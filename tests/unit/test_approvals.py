"""GET /api/approvals' pieces: which instances wait for an approval, the paged instance query,
and the custom status the delegation shows while it waits."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import azure.durable_functions as df
import httpx
import pytest

from api.approvals import pending_approval, pending_approvals, running_instances
from orchestrations.steps import Progress
from voicea2a import instances
from voicea2a.errors import UpstreamUnavailable

NOW = datetime(2026, 8, 15, 10, 0, tzinfo=UTC)
RPC = "http://127.0.0.1:9/durabletask/"
CLIENT_JSON = json.dumps(
    {"taskHubName": "hub", "creationUrls": {}, "managementUrls": {}, "rpcBaseUrl": RPC}
)


def approval(minutes_ago: float = 1, expires_in: float = 9, **extra) -> dict:
    return {
        "reason": "A repeat visit within 30 days needs a supervisor.",
        "customerId": "CUST-0010",
        "requestedAt": (NOW - timedelta(minutes=minutes_ago)).isoformat(),
        "expiresAt": (NOW + timedelta(minutes=expires_in)).isoformat(),
        "conversationId": "conv-1",
        "callId": "call-1",
        **extra,
    }


def status(instance_id: str = "i-1", name: str = "delegation", **custom) -> SimpleNamespace:
    custom = {"stage": "awaiting-approval", "agents": {}, "approval": approval(), **custom}
    return SimpleNamespace(instance_id=instance_id, name=name, custom_status=custom)


def test_a_waiting_delegation_is_listed_with_what_the_event_shows():
    item = pending_approval(status(), NOW)

    assert item == {
        "instanceId": "i-1",
        "reason": "A repeat visit within 30 days needs a supervisor.",
        "customerId": "CUST-0010",
        "requestedAt": "2026-08-15T09:59:00+00:00",
        "expiresAt": "2026-08-15T10:09:00+00:00",
        "conversationId": "conv-1",
        "callId": "call-1",
    }


def test_custom_status_given_as_json_text_is_read():
    waiting = status()
    waiting.custom_status = json.dumps(waiting.custom_status)
    assert pending_approval(waiting, NOW)["instanceId"] == "i-1"


def test_only_the_approval_fields_are_shown():
    extra = approval(user="ada", request="my address is ...", conversationId=None)
    item = pending_approval(status(approval=extra), NOW)

    assert set(item) == {"instanceId", "reason", "customerId", "requestedAt", "expiresAt", "callId"}


@pytest.mark.parametrize(
    "waiting",
    [
        status(name="other_orchestrator"),
        status(stage="dispatching"),
        status(stage="awaiting-approval", approval=None),
        status(approval={"reason": "no times"}),
        status(approval=approval(expiresAt="soon")),
        status(approval=approval(expires_in=-0.1)),  # the timer has won
        SimpleNamespace(instance_id="i-2", name="delegation", custom_status=None),
        SimpleNamespace(instance_id="i-3", name="delegation", custom_status="not json"),
        SimpleNamespace(instance_id="i-4", name="delegation", custom_status="waiting"),
    ],
    ids=[
        "other-orchestrator",
        "other-stage",
        "no-details",
        "missing-fields",
        "bad-time",
        "expired",
        "no-status",
        "text-status",
        "string-status",
    ],
)
def test_anything_else_is_not_listed(waiting):
    assert pending_approval(waiting, NOW) is None


def test_oldest_request_first_and_capped():
    statuses = [
        status("b", approval=approval(minutes_ago=2)),
        status("c", approval=approval(minutes_ago=5)),
        status("a", approval=approval(minutes_ago=2)),
        status("d", stage="answered"),
    ]

    assert [i["instanceId"] for i in pending_approvals(statuses, NOW)] == ["c", "a", "b"]
    assert [i["instanceId"] for i in pending_approvals(statuses, NOW, limit=2)] == ["c", "a"]


# ----- the paged instance query -----


def paged(pages: list[tuple[int, object, str | None]], seen: list[httpx.Request]):
    """An httpx client answering the instance query with `pages` in turn: (status, body,
    continuation header or None for no header)."""
    answers = iter(pages)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        code, body, token = next(answers)
        headers = {} if token is None else {"x-ms-continuation-token": token}
        return httpx.Response(code, json=body, headers=headers)

    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


def instance(instance_id: str) -> dict:
    return {
        "name": "delegation",
        "instanceId": instance_id,
        "runtimeStatus": "Running",
        "input": None,
        "customStatus": {"stage": "awaiting-approval"},
        "output": None,
        "createdTime": "2026-08-15T09:00:00Z",
        "lastUpdatedTime": "2026-08-15T09:01:00Z",
    }


async def test_every_page_is_read_with_the_continuation_token():
    seen: list[httpx.Request] = []
    pages = [(200, [instance("a")], "tok-1"), (200, [], "tok-2"), (200, [instance("b")], "")]
    async with paged(pages, seen) as http:
        statuses = await running_instances(df.DurableOrchestrationClient(CLIENT_JSON), http)

    assert [s.instance_id for s in statuses] == ["a", "b"]
    assert statuses[0].custom_status == {"stage": "awaiting-approval"}
    assert [r.headers.get("x-ms-continuation-token") for r in seen] == [None, "tok-1", "tok-2"]
    first = seen[0].url
    assert str(first).startswith(f"{RPC}instances/?")
    assert dict(first.params) == {"runtimeStatus": "Running", "showInput": "false", "top": "100"}


@pytest.mark.parametrize("last", [None, "", "null"], ids=["no-header", "empty", "null"])
async def test_the_last_page_ends_the_query(last):
    seen: list[httpx.Request] = []
    async with paged([(200, [instance("a")], last)], seen) as http:
        statuses = await running_instances(df.DurableOrchestrationClient(CLIENT_JSON), http)
    assert [s.instance_id for s in statuses] == ["a"] and len(seen) == 1


async def test_the_query_stops_after_max_pages(monkeypatch, caplog):
    monkeypatch.setattr(instances, "MAX_PAGES", 2)
    seen: list[httpx.Request] = []
    pages = [(200, [instance("a")], "t1"), (200, [instance("b")], "t2")]
    async with paged(pages, seen) as http:
        statuses = await running_instances(df.DurableOrchestrationClient(CLIENT_JSON), http)
    assert len(statuses) == 2 and len(seen) == 2
    assert "some of the pending approvals may be missing" in caplog.text


@pytest.mark.parametrize(
    "answer", [(500, {"Message": "boom"}, None), (200, {"not": "a list"}, None)]
)
async def test_a_failing_query_is_upstream_unavailable(answer):
    async with paged([answer], []) as http:
        with pytest.raises(UpstreamUnavailable):
            await running_instances(df.DurableOrchestrationClient(CLIENT_JSON), http)


async def test_an_unreachable_host_is_upstream_unavailable():
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(refuse)) as http:
        with pytest.raises(UpstreamUnavailable):
            await running_instances(df.DurableOrchestrationClient(CLIENT_JSON), http)


# ----- the custom status the delegation shows -----


class Context:
    def __init__(self) -> None:
        self.statuses: list[dict] = []

    def set_custom_status(self, value: dict) -> None:
        self.statuses.append(json.loads(json.dumps(value)))


def test_the_approval_is_in_the_custom_status_only_while_awaiting_it():
    context = Context()
    progress = Progress(context)
    progress.update("dispatching", dispatch="working")
    details = approval()

    progress.awaiting_approval(details, dispatch="input-required")
    progress.update(dispatch="input-required")  # an agent update keeps the stage and approval
    details["reason"] = "changed later"  # the status holds its own copy
    progress.update("dispatching", dispatch="working")
    progress.answered({"answer": "Booked.", "agents": ["dispatch"], "partial": False})

    waiting, still, resolved, answered = context.statuses[1:]
    assert waiting == {
        "stage": "awaiting-approval",
        "agents": {"dispatch": "input-required"},
        "approval": approval(),
    }
    assert still == waiting
    assert "approval" not in resolved and resolved["stage"] == "dispatching"
    assert "approval" not in answered and answered["stage"] == "answered"
