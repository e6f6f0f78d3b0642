"""Shared fixtures: settings isolation, a session-wide Azurite, cached-client cleanup, devhosts
running on one background event loop, and the whole local system (tests/system.py) for a test.
Waiting on a state is in tests/waiting.py; serving an aiohttp app on loopback, tests/loopback.py."""

import asyncio
import logging
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Coroutine, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from devhost.azurite import AzuriteProcess, start_azurite
from devhost.host import DevHost
from devhost.settings import WORKER_PROCESS_COUNT_SETTING
from voicea2a import config, httpclient, publisher, secrets, storage

ROOT = Path(__file__).resolve().parent.parent
T = TypeVar("T")
STORAGE_SETTING = "AzureWebJobsStorage"

# Env vars read outside Settings (secrets, identity) that a test machine might have set.
_OTHER_APP_ENV = ("AUTH_SIGNING_KEY", "AZURE_CLIENT_ID")


def free_port() -> int:
    """Return a TCP port that was free a moment ago on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def devhost_url(lines: Iterable[str], output: list[str]) -> str | None:
    """The URL a `python -m devhost` process announces ("Open http://..."), read from its
    output `lines` (kept in `output`); None if the output ends first."""
    for line in lines:
        output.append(line)
        if "Open http://" in line:
            return line.split("Open ", 1)[1].split("/ ", 1)[0]
    return None


def help_text(module: str) -> str:
    """What `python -m module --help` prints, once it has exited successfully."""
    return subprocess.run(
        [sys.executable, "-m", module, "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout


def after_importing_the_app(code: str) -> str:
    """What `code` prints in a fresh interpreter that has just imported `function_app`."""
    env = {**os.environ, "AzureWebJobsStorage": "UseDevelopmentStorage=true"}
    result = subprocess.run(
        [sys.executable, "-c", f"import function_app\n{code}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    return result.stdout


def in_one_rate_window(burst: Callable[[int], T], window_seconds: int = 60) -> T:
    """Run `burst(attempt)`, requests a test counts against a rate limit, so that they all fall
    in one window of voicea2a/ratelimit.py and return what it returns. The app counts per fixed
    window of the wall clock, the clock read here (the app may run in another process, so it
    cannot be given another): if a window boundary passed during the burst, the burst runs once
    more, with `attempt` 1, and must then count against a fresh subject (another user, another
    client address). Two short bursts in a row cannot both straddle a boundary."""
    for attempt in range(2):
        window = time.time() // window_seconds
        result = burst(attempt)
        if time.time() // window_seconds == window:
            return result
    raise AssertionError("two bursts in a row straddled a rate-limit window: is one that slow?")


@pytest.fixture
def isolated_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Clear every app setting from the environment and reset the cached settings and seams."""
    for name in (*config.SETTING_NAMES, *_OTHER_APP_ENV):
        monkeypatch.delenv(name, raising=False)
    config.reset_settings()
    secrets.set_key_vault_source(None)
    yield
    config.reset_settings()
    secrets.set_key_vault_source(None)


@pytest.fixture
def app_env(
    isolated_settings: None, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., config.Settings]:
    """Set env vars over a minimal valid base (Azurite shortcut) and return fresh Settings."""

    def apply(**values: str) -> config.Settings:
        monkeypatch.setenv("AzureWebJobsStorage", "UseDevelopmentStorage=true")
        for name, value in values.items():
            monkeypatch.setenv(name, value)
        config.reset_settings()
        return config.get_settings()

    return apply


def start_in_memory_azurite() -> AzuriteProcess:
    """An in-memory Azurite on free ports (the tests' and the benchmarks'); stop it when done."""
    return start_azurite(
        blob_port=free_port(),
        queue_port=free_port(),
        table_port=free_port(),
        location=None,
        in_memory=True,
        script_root=ROOT,
    )


@pytest.fixture(scope="session")
def azurite() -> Iterator[AzuriteProcess]:
    """One in-memory Azurite for the whole test session, on free ports."""
    process = start_in_memory_azurite()
    yield process
    process.stop()


@pytest.fixture
async def cached_clients_closed() -> None:
    """Close the per-loop Table and HTTP clients after the test (they bind to its loop)."""
    yield
    await storage.close_all()
    await httpclient.close_http_clients()


@pytest.fixture
def azurite_env(
    azurite: AzuriteProcess,
    app_env: Callable[..., config.Settings],
    cached_clients_closed: None,
) -> Callable[..., config.Settings]:
    """Like app_env, with AzureWebJobsStorage pointing at the session Azurite."""

    def apply(**values: str) -> config.Settings:
        return app_env(**{"AzureWebJobsStorage": azurite.connection_string, **values})

    return apply


class LoopThread:
    """An event loop in a thread. All devhosts share it: the Durable SDK keeps one aiohttp
    session per process, bound to the loop that first used it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(
            target=self.loop.run_forever, name="devhost-loop", daemon=True
        )
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, Any], timeout: float = 30) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)


@pytest.fixture(scope="session")
def loop_thread() -> Iterator[LoopThread]:
    yield LoopThread()


class RunningHost:
    """A started devhost plus an HTTP client pointed at it. The client sends the host key, as a
    test harness calling Azure's /admin and Durable webhook APIs would (the app's own routes
    ignore it); `anonymous` sends none."""

    def __init__(self, host: DevHost, loop: LoopThread) -> None:
        self.host = host
        self.loop = loop
        self.key = remember_secret(host.host_key.value)
        self.http = httpx.Client(
            base_url=host.base_url, timeout=30, headers={"x-functions-key": self.key}
        )
        self.anonymous = httpx.Client(base_url=host.base_url, timeout=30)

    @property
    def engine(self):
        return self.host.engine

    def wait(self, instance_id: str, timeout: float = 20):
        return self.loop.run(self.engine.wait(instance_id, timeout), timeout + 5)


async def _close_loop_clients() -> None:
    await storage.close_all()
    await httpclient.close_http_clients()
    await publisher.close_clients()


def own_task_hub() -> str:
    """A task hub name of its own (the Durable store's instances are per hub)."""
    return "t" + uuid.uuid4().hex[:16]


def durable_store_env(azurite: AzuriteProcess) -> dict[str, str]:
    """Settings for a `python -m devhost` subprocess: the Durable store on `azurite`, in a
    task hub of its own."""
    return {STORAGE_SETTING: azurite.connection_string, "TASKHUB_NAME": own_task_hub()}


@pytest.fixture
def start_host(
    loop_thread: LoopThread, request: pytest.FixtureRequest
) -> Iterator[Callable[..., RunningHost]]:
    """Start devhosts (port 0) for a test; the environment is restored afterwards, since the
    devhost copies local settings into it as the Functions host does. Unless the test chose
    them, the Durable store is the session Azurite and the task hub is the test's own, so no
    test resumes another's orchestrations (hosts of one test share it, as a restart would).
    A test marked `in_process_worker` runs the app in this process whatever
    FUNCTIONS_WORKER_PROCESS_COUNT says (it reaches into the app's modules)."""
    started: list[RunningHost] = []
    saved_environ = dict(os.environ)
    hub = own_task_hub()

    def start(root: Path, **options: Any) -> RunningHost:
        if not os.environ.get(STORAGE_SETTING):
            os.environ[STORAGE_SETTING] = request.getfixturevalue("azurite").connection_string
        os.environ.setdefault("TASKHUB_NAME", hub)
        if request.node.get_closest_marker("in_process_worker"):
            os.environ[WORKER_PROCESS_COUNT_SETTING] = "1"
        host = DevHost(root, **{"port": 0, **options})
        loop_thread.run(host.start())
        running = RunningHost(host, loop_thread)
        started.append(running)
        return running

    yield start
    for running in started:
        running.http.close()
        running.anonymous.close()
        loop_thread.run(running.host.stop())
    loop_thread.run(_close_loop_clients())
    os.environ.clear()
    os.environ.update(saved_environ)


@pytest.fixture
def overrides() -> dict[str, str]:
    """Extra app settings for one test (tests parametrize this fixture)."""
    return {}


@pytest.fixture
def system_options() -> dict[str, Any]:
    """start_system's options for the `system` of a module or folder (they override this)."""
    return {}


@pytest.fixture
def system(start_host, loop_thread, azurite_env, azurite, overrides, system_options):
    """The whole local system of tests/system.py on the session Azurite, for one test."""
    from tests.system import start_system, stop_system  # tests.system imports this module

    running = start_system(
        start_host,
        loop_thread,
        azurite_env,
        azurite.connection_string,
        settings=overrides,
        **system_options,
    )
    yield running
    stop_system(running)


# Every token, key and signing secret a test creates; no log line of the session may hold one.
SECRET_VALUES: set[str] = set()


def remember_secret(value: str) -> str:
    """Register a secret value for the end-of-session log scan and return it."""
    SECRET_VALUES.add(value)
    return value


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture(scope="session", autouse=True)
def no_secret_in_any_log_line() -> Iterator[None]:
    """Capture every log record of the whole session (tracebacks included); fail the session
    if any registered secret appears in one."""
    root = logging.getLogger()
    capture = _Capture()
    previous_level = root.level
    root.addHandler(capture)
    root.setLevel(logging.DEBUG)
    yield
    root.removeHandler(capture)
    root.setLevel(previous_level)
    leaks = sorted(
        {
            line.split(" ", 1)[0]
            for line in capture.lines
            for value in SECRET_VALUES
            if value in line
        }
    )
    assert not leaks, f"secret values found in log lines of: {', '.join(leaks)}"
