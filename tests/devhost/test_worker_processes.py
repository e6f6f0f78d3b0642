"""FUNCTIONS_WORKER_PROCESS_COUNT: the devhost runs the app in that many worker processes, as
Azure does (docs/devhost.md, "Worker processes"). Real processes throughout: each test starts a
devhost with 2 of them (tests/devhost/apps/workers) and observes them over HTTP, the Durable API,
the log records they send back and the CPU ledger."""

from __future__ import annotations

import base64
import json
import logging
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest

from devhost.functions import AppLoadError, index_app, load_app
from devhost.settings import SettingsError, worker_process_count
from devhost.workerpool import WorkerPool
from tests.devhost.conftest import APPS
from tests.waiting import wait_until

SETTING = "FUNCTIONS_WORKER_PROCESS_COUNT"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def host(start_host, monkeypatch):
    monkeypatch.setenv(SETTING, "2")
    return start_host(APPS / "workers", run_timers=False)


def pids_of(host) -> list[int]:
    return host.host.invoker.pids


def test_invocations_take_turns_over_the_worker_processes(host):
    workers = pids_of(host)

    seen = [host.http.get("/api/whoami").json()["pid"] for _ in range(4)]

    assert len(set(workers)) == 2 and os.getpid() not in workers
    assert seen[0] != seen[1] and seen[:2] == seen[2:], seen  # round-robin, as Azure's host
    assert set(seen) == set(workers)


def test_module_level_state_is_per_process(host):
    answers = [host.http.get("/api/whoami").json() for _ in range(6)]

    counts: dict[int, list[int]] = {}
    for answer in answers:
        counts.setdefault(answer["pid"], []).append(answer["count"])
    assert sorted(counts.values()) == [[1, 2, 3], [1, 2, 3]], answers


def test_the_request_reaches_the_worker_as_sent(host):
    body = bytes(range(256)) * 3

    response = host.http.put(
        "/api/echo/ada%20lovelace/more?q=1&tag=a%26b",
        content=body,
        headers={"X-Test": "yes", "Content-Type": "application/octet-stream"},
    )

    assert response.status_code == 200
    assert response.headers["X-Echo-Length"] == str(len(body))
    seen = response.json()
    assert seen["method"] == "PUT"
    assert seen["url"] == f"{host.host.base_url}/api/echo/ada%20lovelace/more?q=1&tag=a%26b"
    assert seen["route"] == {"name": "ada lovelace", "rest": "more"}
    assert seen["params"] == {"q": "1", "tag": "a&b"}
    assert seen["headers"]["x-test"] == "yes"
    assert seen["headers"]["content-type"] == "application/octet-stream"
    assert base64.b64decode(seen["body"]) == body


def test_a_binary_response_comes_back_unchanged(host):
    body = bytes(range(256))

    response = host.http.post("/api/bytes", content=body)

    assert response.status_code == 200
    assert response.content == body[::-1]


def test_a_function_that_raises_gives_a_500_and_the_host_logs_its_exception(host, caplog):
    with caplog.at_level(logging.ERROR, logger="devhost"):
        response = host.http.get("/api/boom")

    assert response.status_code == 500 and response.content == b""
    failed = [r for r in caplog.records if r.getMessage() == "function boom failed"]
    assert len(failed) == 1
    error = failed[0].exc_info[1]
    assert type(error) is ValueError and str(error) == "kaput in the worker"
    assert any("Raised in the worker process" in note for note in error.__notes__)


def test_log_records_come_back_with_their_extra_fields(host, caplog):
    with caplog.at_level(logging.INFO, logger="workers_app"):
        pid = host.http.get("/api/log").json()["pid"]

    records = [r for r in caplog.records if r.name == "workers_app"]
    line, failure = records
    assert (line.levelname, line.getMessage()) == ("WARNING", "turn t-7 done")
    assert (line.turn_id, line.attempts) == ("t-7", 3)
    assert line.process == pid != os.getpid()
    assert failure.levelname == "ERROR" and "KeyError: 'missing'" in failure.exc_text


def test_cpu_is_charged_by_kind_and_function_from_the_worker_processes(host):
    before = host.host.cpu.snapshot()

    pids = {host.http.get("/api/burn", params={"seconds": "0.05"}).json()["pid"] for _ in range(2)}
    started = host.http.post("/api/start/fan_out", json=0.05)
    output = json.loads(host.wait(started.json()["id"]).output_json)

    delta = host.host.cpu.snapshot().minus(before)
    assert len(pids) == 2
    http = delta.by_function[("http", "burn_http")]
    assert http.invocations == 2 and http.cpu_seconds >= 0.1
    activity = delta.by_function[("activity", "burn_activity")]
    assert activity.invocations == 4
    assert activity.cpu_seconds >= sum(result["seconds"] for result in output)
    assert delta.by_kind["orchestrator"].invocations >= 2
    assert delta.episodes == delta.by_kind["orchestrator"].invocations


def test_a_killed_worker_fails_its_invocation_and_is_replaced(host, tmp_path: Path, caplog):
    pidfile = tmp_path / "pid"
    outcome: dict[str, httpx.Response] = {}
    request = threading.Thread(
        target=lambda: outcome.update(
            response=host.http.get("/api/hang", params={"pidfile": str(pidfile)})
        )
    )
    with caplog.at_level(logging.ERROR, logger="devhost"):
        request.start()
        victim = int(wait_until(lambda: pidfile.is_file() and pidfile.read_text(), what="a pid"))
        os.kill(victim, signal.SIGKILL)
        request.join(30)

    assert outcome["response"].status_code == 500
    errors = [r.exc_info[1] for r in caplog.records if r.getMessage() == "function hang failed"]
    assert len(errors) == 1
    assert str(errors[0]).startswith(f"the worker process (pid {victim}) exited with code -9 ")
    assert str(errors[0]).endswith("returned; the host starts another")
    replaced = wait_until(lambda: len(pids_of(host)) == 2 and pids_of(host), what="a new worker")
    assert victim not in replaced
    assert {host.http.get("/api/whoami").json()["pid"] for _ in range(2)} == set(replaced)


def test_an_activity_whose_worker_dies_fails_with_the_reason(host):
    # Started by the engine itself: an HTTP starter could share the doomed process.
    async def start() -> None:
        host.engine.start("killed_activity", "doomed", '"go"')

    host.loop.run(start())
    instance = host.wait("doomed")

    assert instance.status == "Failed"
    assert "Activity function 'die' failed: the worker process (pid " in instance.output_json
    assert "exited with code -9 before die" in instance.output_json
    wait_until(lambda: len(pids_of(host)) == 2, what="the worker replaced")


def test_an_app_the_worker_refuses_fails_the_pool_as_it_fails_the_host():
    with pytest.raises(AppLoadError) as in_process:
        index_app(load_app(APPS / "broken"))
    pool = WorkerPool(APPS / "broken", 2, dict(os.environ), "api")

    with pytest.raises(AppLoadError) as in_workers:
        pool.start()

    assert str(in_workers.value) == str(in_process.value)
    assert pool.pids == []


def test_worker_processes_end_when_the_host_stops_them(host):
    processes = [worker.process for worker in host.host.invoker._workers]

    host.host.invoker.close()

    assert [process.poll() for process in processes] == [0, 0]


def test_worker_processes_do_not_outlive_a_killed_devhost(tmp_path: Path):
    env = {
        **os.environ,
        SETTING: "2",
        "DEVHOST_DURABLE_STORE": "memory",
        "PYTHONPATH": str(REPO),
    }
    devhost = subprocess.Popen(
        [sys.executable, "-m", "devhost", "--script-root", str(APPS / "workers")]
        + ["--no-azurite", "--no-agents", "--port", "0"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        output: list[str] = []
        workers = next(
            (line for line in _lines(devhost, output) if "2 worker processes: " in line), None
        )
        assert workers, "".join(output)
        pids = [int(pid) for pid in workers.split("2 worker processes: ")[1].split(", ")]
        assert all(alive(pid) for pid in pids)

        devhost.kill()
        devhost.wait(10)

        wait_until(lambda: not any(alive(pid) for pid in pids), what="the workers gone")
    finally:
        devhost.kill()
        devhost.wait(10)


def _lines(process: subprocess.Popen, output: list[str]):
    assert process.stdout is not None
    for line in process.stdout:
        output.append(line)
        yield line


def alive(pid: int) -> bool:
    """Whether `pid` is a process that has not exited (a zombie has)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


@pytest.mark.parametrize("value", ["0", "-1", "11", "2.5", "two"])
def test_a_count_outside_azures_range_stops_the_host(start_host, monkeypatch, value):
    monkeypatch.setenv(SETTING, value)

    with pytest.raises(SettingsError, match=f"{SETTING} must be a whole number from 1 to 10"):
        start_host(APPS / "workers", run_timers=False)


def test_the_default_is_azures_one_process_and_ten_is_the_most():
    assert worker_process_count({}) == 1
    assert worker_process_count({SETTING: "10"}) == 10
