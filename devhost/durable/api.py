"""The Durable HTTP API that `DurableOrchestrationClient` calls, and the binding pointing at it."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from devhost.durable.engine import (
    TERMINAL,
    DurableEngine,
    Instance,
    InstanceExists,
    OrchestratorNotFound,
)
from devhost.durable.history import EventType, timestamp

RPC_PREFIX = "/durabletask"
WEBHOOK_PREFIX = "/runtime/webhooks/durabletask"
CONTINUATION_HEADER = "x-ms-continuation-token"
PAGE_SIZE = 100  # the host's default page size of an instance query
# OrchestrationRuntimeStatus: what `runtimeStatus=` may name, by number or by name.
RUNTIME_STATUSES = {
    -1: "Unknown",
    0: "Running",
    1: "Completed",
    2: "ContinuedAsNew",
    3: "Failed",
    4: "Canceled",
    5: "Terminated",
    6: "Pending",
    7: "Suspended",
}


def client_binding(public_url: str, rpc_url: str, task_hub: str, key: str) -> str:
    """The `durableClient` binding JSON the host gives functions, as Azure's extension builds it:
    the webhook URLs (public, behind the host key, so they carry `code=`) and `rpcBaseUrl`, the
    loopback listener the SDK actually calls (no key, as in Azure)."""
    webhook = f"{public_url}{WEBHOOK_PREFIX}"
    required = f"taskHub={task_hub}&connection=Storage&code={key}"
    instance = f"{webhook}/instances/INSTANCEID"
    return json.dumps(
        {
            "taskHubName": task_hub,
            "creationUrls": {
                "createNewInstancePostUri": (
                    f"{webhook}/orchestrators/{{functionName}}[/{{instanceId}}]?code={key}"
                ),
                "createAndWaitOnNewInstancePostUri": (
                    f"{webhook}/orchestrators/{{functionName}}[/{{instanceId}}]"
                    f"?timeout={{timeoutInSeconds}}&pollingInterval={{intervalInSeconds}}"
                    f"&code={key}"
                ),
            },
            "managementUrls": {
                "id": "INSTANCEID",
                "statusQueryGetUri": f"{instance}?{required}",
                "sendEventPostUri": f"{instance}/raiseEvent/{{eventName}}?{required}",
                "terminatePostUri": f"{instance}/terminate?reason={{text}}&{required}",
                "rewindPostUri": f"{instance}/rewind?reason={{text}}&{required}",
                "purgeHistoryDeleteUri": f"{instance}?{required}",
                "restartPostUri": f"{instance}/restart?{required}",
                "suspendPostUri": f"{instance}/suspend?reason={{text}}&{required}",
                "resumePostUri": f"{instance}/resume?reason={{text}}&{required}",
            },
            "baseUrl": webhook,
            "requiredQueryStringParameters": required,
            "rpcBaseUrl": f"{rpc_url}{RPC_PREFIX}/",
            "httpBaseUrl": webhook,
        }
    )


def management_payload(binding_json: str, instance_id: str) -> dict[str, str]:
    """The management URLs of one instance (the body of a 202 from the start route)."""
    urls = json.loads(binding_json)["managementUrls"]
    return {key: value.replace("INSTANCEID", instance_id) for key, value in urls.items()}


def _json_value(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _input_from_body(body: bytes) -> str | None:
    """The orchestration input as JSON text (the SDK posts the JSON text as a JSON string)."""
    if not body.strip():
        return None
    value = json.loads(body)
    if isinstance(value, str):
        try:
            json.loads(value)
        except ValueError:
            return json.dumps(value)
        return value
    return json.dumps(value)


def status_body(
    instance: Instance, show_input: bool, show_history: bool, show_output: bool
) -> dict[str, Any]:
    """The instance status in the shape of the Durable HTTP API."""
    body: dict[str, Any] = {
        "name": instance.name,
        "instanceId": instance.instance_id,
        "runtimeStatus": instance.status,
        "input": _json_value(instance.input_json) if show_input else None,
        "customStatus": instance.custom_status,
        "output": _json_value(instance.output_json) if instance.status in TERMINAL else None,
        "createdTime": timestamp(instance.created),
        "lastUpdatedTime": timestamp(instance.updated),
    }
    if show_history:
        body["historyEvents"] = [_history_entry(event, show_output) for event in instance.history]
    return body


def _history_entry(event: dict[str, Any], show_output: bool) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "EventType": EventType(event["EventType"]).name,
        "Timestamp": event["Timestamp"],
    }
    for key in (
        "EventId",
        "Name",
        "TaskScheduledId",
        "TimerId",
        "FireAt",
        "Reason",
        "OrchestrationStatus",
    ):
        if key in event and event[key] not in (None, -1):
            entry[key] = event[key]
    if show_output and event.get("Result") is not None:
        entry["Result"] = _json_value(event["Result"])
    return entry


def _flag(request: web.Request, name: str) -> bool:
    return request.query.get(name, "").lower() == "true"


def _status_code(instance: Instance) -> int:
    return 202 if instance.status not in TERMINAL else 200


class DurableApi:
    """Handlers for `/durabletask/...` (rpcBaseUrl) and `/runtime/webhooks/durabletask/...`."""

    def __init__(self, engine: DurableEngine, binding: Callable[[], str]) -> None:
        self.engine = engine
        self.binding = binding

    def add_routes(self, app: web.Application, prefix: str) -> None:
        """Register the API under `prefix`: RPC_PREFIX on the loopback listener, WEBHOOK_PREFIX
        on the public one."""
        app.router.add_post(prefix + "/orchestrators/{name}", self.start)
        app.router.add_post(prefix + "/orchestrators/{name}/{instance_id}", self.start)
        app.router.add_get(prefix + "/instances/", self.list_instances)
        app.router.add_get(prefix + "/instances", self.list_instances)
        app.router.add_get(prefix + "/instances/{instance_id}", self.get_status)
        app.router.add_delete(prefix + "/instances/{instance_id}", self.purge)
        app.router.add_post(
            prefix + "/instances/{instance_id}/raiseEvent/{event}", self.raise_event
        )
        app.router.add_post(prefix + "/instances/{instance_id}/terminate", self.terminate)

    async def start(self, request: web.Request) -> web.Response:
        """Start an orchestration: 202 with its management URLs."""
        name = request.match_info["name"]
        instance_id = request.match_info.get("instance_id") or uuid.uuid4().hex
        try:
            input_json = _input_from_body(await request.read())
        except ValueError:
            return web.json_response(
                {"ExceptionMessage": "The request body is not valid JSON."}, status=400
            )
        try:
            self.engine.start(name, instance_id, input_json)
        except OrchestratorNotFound as exc:
            return web.json_response({"ExceptionMessage": str(exc)}, status=400)
        except InstanceExists as exc:
            return web.json_response({"ExceptionMessage": str(exc)}, status=409)
        if not await self.engine.acknowledge(instance_id):
            return _not_stored()
        # The public webhook URLs whichever listener was asked, as the extension answers.
        payload = management_payload(self.binding(), instance_id)
        return web.json_response(
            payload, status=202, headers={"Location": payload["statusQueryGetUri"]}
        )

    async def get_status(self, request: web.Request) -> web.Response:
        """One instance's status (202 while running, 200 when finished, 404 when unknown)."""
        instance = self.engine.instances.get(request.match_info["instance_id"])
        if instance is None:
            return web.json_response({"message": "No instance with this ID was found."}, status=404)
        body = status_body(
            instance,
            show_input=request.query.get("showInput", "true").lower() != "false",
            show_history=_flag(request, "showHistory"),
            show_output=_flag(request, "showHistoryOutput"),
        )
        return web.json_response(body, status=_status_code(instance))

    async def list_instances(self, request: web.Request) -> web.Response:
        """Instances filtered by runtime status, creation time and id prefix, one page at a
        time, as the host's query does: ordered by instance id (the Instances table's partition
        key), `top` per page (default 100), input shown unless `showInput=false`, and the next
        page's token in the `x-ms-continuation-token` header (sent back as a request header;
        the response always carries the header, empty after the last page)."""
        statuses = _runtime_statuses(request.query.getall("runtimeStatus", []))
        prefix = request.query.get("instanceIdPrefix", "")
        created_from = _query_time(request.query.get("createdTimeFrom"))
        created_to = _query_time(request.query.get("createdTimeTo"))
        top = _page_size(request.query.get("top"))
        try:
            after = _decode_continuation(request.headers.get(CONTINUATION_HEADER, ""))
        except ValueError:
            return web.json_response(
                {"Message": "The continuation token is not valid."}, status=400
            )
        selected = []
        for instance in sorted(self.engine.instances.values(), key=lambda i: i.instance_id):
            if after is not None and instance.instance_id <= after:
                continue
            if statuses is not None and instance.status not in statuses:
                continue
            if prefix and not instance.instance_id.startswith(prefix):
                continue
            if created_from and instance.created < created_from:
                continue
            if created_to and instance.created > created_to:
                continue
            selected.append(instance)
            if len(selected) > top:
                break
        page, more = selected[:top], len(selected) > top
        show_input = request.query.get("showInput", "true").strip().lower() != "false"
        body = [
            status_body(instance, show_input=show_input, show_history=False, show_output=False)
            for instance in page
        ]
        continuation = _encode_continuation(page[-1].instance_id) if more else ""
        return web.json_response(body, headers={CONTINUATION_HEADER: continuation})

    async def raise_event(self, request: web.Request) -> web.Response:
        """Deliver an external event (202), 404 unknown, 410 already finished."""
        if request.content_type != "application/json":
            return web.json_response(
                {"message": "Only application/json request content is supported"}, status=400
            )
        instance_id = request.match_info["instance_id"]
        if instance_id not in self.engine.instances:
            return web.json_response({"message": "No instance with this ID was found."}, status=404)
        body = (await request.read()).decode() or "null"
        if not self.engine.raise_event(instance_id, request.match_info["event"], body):
            return web.json_response(
                {"message": "The instance is gone: it completed or failed."}, status=410
            )
        if not await self.engine.acknowledge(instance_id):
            return _not_stored()
        return web.json_response(None, status=202)

    async def terminate(self, request: web.Request) -> web.Response:
        """Terminate a running instance (202), 404 unknown, 410 already finished."""
        instance_id = request.match_info["instance_id"]
        if instance_id not in self.engine.instances:
            return web.json_response({"message": "No instance with this ID was found."}, status=404)
        if not self.engine.terminate(instance_id, request.query.get("reason", "")):
            return web.json_response(
                {"message": "The instance is gone: it completed or failed."}, status=410
            )
        if not await self.engine.acknowledge(instance_id):
            return _not_stored()
        return web.json_response(None, status=202)

    async def purge(self, request: web.Request) -> web.Response:
        """Delete a finished instance's history."""
        instance_id = request.match_info["instance_id"]
        if not self.engine.purge(instance_id):
            return web.json_response({"instancesDeleted": 0}, status=404)
        if not await self.engine.acknowledge(instance_id):
            return _not_stored()
        return web.json_response({"instancesDeleted": 1})


def _not_stored() -> web.Response:
    """A client operation done in memory whose write the store did not take in time (Azurite
    away): not acknowledged, as the extension cannot acknowledge what it could not store. The
    devhost keeps it and stores it once the storage answers again."""
    return web.json_response(
        {"ExceptionMessage": "The Durable store (Azure Storage) did not answer; try again."},
        status=503,
    )


def _runtime_statuses(values: list[str]) -> set[str] | None:
    """The `runtimeStatus` filter as the host parses it (`Enum.TryParse`, case-sensitive):
    comma-separated names or numbers; a value it cannot parse is ignored, and no value parsed
    means no filter (None)."""
    parsed = set()
    for value in (v.strip() for text in values for v in text.split(",")):
        if value in RUNTIME_STATUSES.values():
            parsed.add(value)
            continue
        try:
            number = int(value)
        except ValueError:
            continue
        # An undefined number parses too, and then matches no instance.
        parsed.add(RUNTIME_STATUSES.get(number, f"#{number}"))
    return parsed or None


def _page_size(text: str | None) -> int:
    try:
        size = int(text or "")
    except ValueError:
        return PAGE_SIZE
    return size if size > 0 else PAGE_SIZE


def _query_time(text: str | None) -> datetime | None:
    """A creation-time bound; the host ignores one it cannot parse. Naive times are UTC."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _encode_continuation(last_instance_id: str) -> str:
    raw = json.dumps({"after": last_instance_id}).encode()
    return base64.urlsafe_b64encode(raw).decode()


def _decode_continuation(token: str) -> str | None:
    """The last instance id of the previous page (None: first page); ValueError if malformed."""
    if not token.strip():
        return None
    try:
        value = json.loads(base64.urlsafe_b64decode(token.strip().encode()))
    except (ValueError, TypeError) as exc:
        raise ValueError("malformed continuation token") from exc
    if not isinstance(value, dict) or not isinstance(value.get("after"), str):
        raise ValueError("malformed continuation token")
    return value["after"]
