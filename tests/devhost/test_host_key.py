"""The host key: `/admin/...` and the Durable webhooks refuse callers without it, as Azure's host
does (401, empty body); the `durableClient` binding carries it as Azure's extension does, so the
SDK's client keeps working; the loopback RPC endpoint the SDK calls needs none, as in Azure."""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from devhost.settings import SettingsError
from tests.conftest import durable_store_env, free_port, remember_secret
from tests.devhost.conftest import APPS
from tests.waiting import wait_until

REPO = Path(__file__).resolve().parents[2]
WEBHOOK = "/runtime/webhooks/durabletask"


@pytest.fixture(autouse=True)
def quiet_test_clients():
    """This module's own HTTP clients put the key in URLs (`code=`) and get it back in Location
    headers on purpose; their request logs (httpx, httpcore) are the test's, not the host's, so
    they stay out of the session's no-secret-in-logs check. The host's own lines stay in it."""
    loggers = [logging.getLogger(name) for name in ("httpx", "httpcore")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.WARNING)
    yield
    for logger, level in zip(loggers, levels, strict=True):
        logger.setLevel(level)


@pytest.fixture
def host(start_host, monkeypatch):
    monkeypatch.delenv("DEVHOST_HOST_KEY", raising=False)
    return start_host(APPS / "durable")


def waiting_instance(host) -> str:
    instance_id = f"keyed-{uuid.uuid4().hex[:8]}"
    started = host.http.post(f"{WEBHOOK}/orchestrators/status_then_wait/{instance_id}")
    assert started.status_code == 202, started.text
    host.loop.run(host.engine.wait_idle(instance_id, 5))
    return instance_id


def protected_calls(instance_id: str) -> list[tuple[str, str]]:
    """One call of every route family the key guards."""
    return [
        ("POST", f"{WEBHOOK}/orchestrators/status_then_wait"),
        ("GET", f"{WEBHOOK}/instances"),
        ("GET", f"{WEBHOOK}/instances/{instance_id}"),
        ("POST", f"{WEBHOOK}/instances/{instance_id}/raiseEvent/go"),
        ("POST", f"{WEBHOOK}/instances/{instance_id}/terminate"),
        ("DELETE", f"{WEBHOOK}/instances/{instance_id}"),
        ("POST", "/admin/functions/hello"),
        ("POST", "/admin/functions/no_such_function"),
        # Spelt otherwise, still the same routes (the check reads the decoded path).
        ("POST", "/%61dmin/functions/hello"),
        ("GET", f"{WEBHOOK.replace('/durabletask', '/%64urabletask')}/instances"),
        ("GET", f"/api/..{WEBHOOK}/instances"),
    ]


def test_without_the_key_every_route_family_answers_401_and_does_nothing(host):
    instance_id = waiting_instance(host)
    wrong = remember_secret("not-the-host-key-0123456789")

    for method, path in protected_calls(instance_id):
        for refused in (
            host.anonymous.request(method, path),
            host.anonymous.request(method, path, headers={"x-functions-key": wrong}),
            host.anonymous.request(method, path, params={"code": wrong}),
            host.anonymous.request(method, path, params={"code": ""}),
            # The header wins over the query, as in the host: a wrong header is refused.
            host.anonymous.request(
                method, path, headers={"x-functions-key": wrong}, params={"code": host.key}
            ),
        ):
            assert refused.status_code == 401, (method, path, refused.status_code)
            assert refused.content == b""

    # Nothing was started, raised, terminated or purged.
    assert list(host.engine.instances) == [instance_id]
    assert host.engine.instances[instance_id].status == "Running"


def test_with_the_key_as_header_or_code_every_route_family_works(host):
    instance_id = waiting_instance(host)
    by_header = {"headers": {"x-functions-key": host.key}}
    by_code = {"params": {"code": host.key}}

    listed = host.anonymous.get(f"{WEBHOOK}/instances", **by_code)
    assert listed.status_code == 200 and [s["instanceId"] for s in listed.json()] == [instance_id]
    status = host.anonymous.get(f"{WEBHOOK}/instances/{instance_id}", **by_header)
    assert status.status_code == 202 and status.json()["runtimeStatus"] == "Running"
    raised = host.anonymous.post(
        f"{WEBHOOK}/instances/{instance_id}/raiseEvent/go", json="hi", **by_code
    )
    assert raised.status_code == 202
    assert host.wait(instance_id).status == "Completed"
    purged = host.anonymous.delete(f"{WEBHOOK}/instances/{instance_id}", **by_header)
    assert purged.status_code == 200 and purged.json() == {"instancesDeleted": 1}
    # The admin API: past the key, its own answers (an activity cannot be fired from here).
    assert host.anonymous.post("/admin/functions/hello", **by_code).status_code == 400
    assert host.anonymous.post("/admin/functions/nope", **by_header).status_code == 404


def test_management_urls_carry_the_key_and_work_as_given(host):
    started = host.http.post(f"{WEBHOOK}/orchestrators/status_then_wait", json=None)
    assert started.status_code == 202
    urls = started.json()
    assert started.headers["Location"] == urls["statusQueryGetUri"]
    for name in ("statusQueryGetUri", "sendEventPostUri", "terminatePostUri"):
        query = parse_qs(urlsplit(urls[name]).query)
        assert query["code"] == [host.key], name
        assert query["taskHub"] == [host.host.settings.task_hub], name

    # A client holding only the URLs (no header) can use them, as in Azure.
    host.loop.run(host.engine.wait_idle(urls["id"], 5))
    assert httpx.get(urls["statusQueryGetUri"]).status_code == 202
    event_url = urls["sendEventPostUri"].replace("{eventName}", "go")
    assert httpx.post(event_url, json={"ok": True}).status_code == 202
    assert host.wait(urls["id"]).status == "Completed"


def test_the_binding_carries_the_key_as_azure_and_the_rpc_endpoint_is_loopback_only(host):
    binding = json.loads(host.host.client_binding())

    required = binding["requiredQueryStringParameters"]
    hub = host.host.settings.task_hub
    assert required == f"taskHub={hub}&connection=Storage&code={host.key}"
    urls = {**binding["creationUrls"], **binding["managementUrls"]}
    assert urls.pop("id") == "INSTANCEID"
    for name, url in urls.items():
        assert f"code={host.key}" in url, name
    assert binding["baseUrl"] == f"{host.host.base_url}{WEBHOOK}"

    # The SDK calls rpcBaseUrl: a listener of its own on loopback, with no key (Azure's
    # LocalHttpListener); the public port does not serve it.
    rpc = urlsplit(binding["rpcBaseUrl"])
    assert (rpc.hostname, rpc.path) == ("127.0.0.1", "/durabletask/")
    assert rpc.port != host.host.port
    assert host.key not in binding["rpcBaseUrl"]
    assert httpx.get(f"{binding['rpcBaseUrl']}instances/").status_code == 200
    assert host.http.get("/durabletask/instances/").status_code == 404


def test_the_sdk_client_works_with_no_app_change(host):
    """The app's own functions use DurableOrchestrationClient with the binding as handed over."""
    instance_id = f"sdk-{uuid.uuid4().hex[:8]}"
    started = host.anonymous.post("/api/orchestrators/once", params={"id": instance_id}, json="k:0")
    assert started.status_code == 202 and started.text == instance_id
    host.wait(instance_id)
    status = host.anonymous.get(f"/api/instances/{instance_id}")
    assert status.json()["output"] == "ok after 1"


def test_the_host_key_setting_is_used_and_an_unsafe_one_is_refused(start_host, monkeypatch):
    chosen = remember_secret("a-reproducible-host-key-0123456789")
    monkeypatch.setenv("DEVHOST_HOST_KEY", chosen)
    running = start_host(APPS / "durable")
    assert running.key == chosen and running.host.host_key.from_setting

    monkeypatch.setenv("DEVHOST_HOST_KEY", "short")
    with pytest.raises(SettingsError, match="DEVHOST_HOST_KEY"):
        start_host(APPS / "durable")


def test_two_runs_get_different_random_keys(start_host, monkeypatch):
    monkeypatch.delenv("DEVHOST_HOST_KEY", raising=False)
    first, second = start_host(APPS / "durable"), start_host(APPS / "durable")
    assert first.key != second.key and len(first.key) >= 32
    assert not first.host.host_key.from_setting


def test_the_key_is_printed_once_at_start_up_and_in_no_other_line(tmp_path, azurite):
    """`python -m devhost`: its whole output, after calls with the key as header and as `code=`,
    with wrong keys, and through the management URLs, holds the key on one line only."""
    port = free_port()
    log = tmp_path / "devhost.log"
    env = {**os.environ, "PYTHONPATH": str(REPO), **durable_store_env(azurite)}
    env.pop("DEVHOST_HOST_KEY", None)
    command = [
        *(sys.executable, "-m", "devhost", "--script-root", str(APPS / "durable")),
        *("--port", str(port), "--no-azurite", "--no-agents", "--no-pubsub", "--no-timers"),
    ]
    with log.open("wb") as out:
        process = subprocess.Popen(  # noqa: S603 (our interpreter, fixed arguments)
            command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        key = _printed_key(process, log)
        base = f"http://127.0.0.1:{port}"
        start_url = f"{base}{WEBHOOK}/orchestrators/once"
        started = httpx.post(start_url, params={"code": key}, json="x:0")
        assert started.status_code == 202, started.text
        assert httpx.get(started.json()["statusQueryGetUri"]).status_code in (200, 202)
        assert httpx.post(f"{base}/admin/functions/hello?code={key}").status_code == 400
        headers = {"x-functions-key": key}
        assert httpx.post(f"{base}/admin/functions/nope", headers=headers).status_code == 404
        assert httpx.post(f"{base}/admin/functions/hello?code={key}x").status_code == 401
        assert httpx.get(f"{base}/api/instances/{started.json()['id']}").status_code == 200
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(20)

    lines = [line for line in log.read_text().splitlines() if key in line]
    assert len(lines) == 1 and "Host key" in lines[0], lines


def _printed_key(process: subprocess.Popen, log: Path, timeout: float = 60) -> str:
    """The key from the start-up line, once the host is up."""

    def printed() -> re.Match | None:
        assert process.poll() is None, log.read_text()[-3000:]
        return re.search(r"Host key \(.*random for this run\): (\S+)", log.read_text())

    found = wait_until(printed, timeout, what=lambda: f"the key line\n{log.read_text()[-3000:]}")
    return remember_secret(found.group(1))
