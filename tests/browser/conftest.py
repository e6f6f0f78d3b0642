"""Browser tests: Debian's Chromium driven by Playwright against the whole local system (the
devhost serving web/, the sample agents, the local Web PubSub service, Azurite), with the
browser's name resolution locked to loopback."""

from __future__ import annotations

import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import jwt
import pytest
from azure.data.tables import TableServiceClient

from agents.server import start_agents
from agents.settings import load_settings as load_agent_settings
from devhost.pubsub import PubSubService
from tests.agents.identities import IDENTITIES
from tests.conftest import remember_secret
from voicea2a.auth import key_id

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "web"
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
CHROMIUM = Path("/usr/bin/chromium")
ACCESS_KEY = "browser-test-access-key-0123456789abcdefghijklmn"
HUB = "voicea2a"
# Nothing but loopback resolves: the page cannot reach a CDN or anything else off the machine.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    "--autoplay-policy=no-user-gesture-required",
]
TIMEOUT_MS = 20_000


@pytest.fixture(scope="package")
def web_build() -> Path:
    """Build web/dist from web/src (esbuild takes well under a second)."""
    node = shutil.which("node")
    assert node, "Node.js is required to build the browser client (see scripts/setup.sh)"
    assert (ROOT / "node_modules" / "esbuild").is_dir(), (
        "esbuild is not installed: run scripts/setup.sh (npm ci) first"
    )
    result = subprocess.run(
        [node, str(WEB / "build.mjs")], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, f"web build failed:\n{result.stdout}\n{result.stderr}"
    assert (WEB / "dist" / "app.js").is_file()
    return WEB / "dist"


@pytest.fixture(scope="package")
def browser(web_build) -> Iterator:
    """One headless Debian Chromium for the browser tests."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: the browser tests need Debian's chromium package "
            "(scripts/setup.sh installs it with apt-get as root; else: "
            "apt-get install -y chromium)",
            pytrace=False,
        )
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    browser = playwright.chromium.launch(
        executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True, timeout=30_000
    )
    yield browser
    browser.close()
    playwright.stop()


class Page:
    """A browser tab plus what it did: every request (and its host), console errors."""

    def __init__(self, context, base_url: str) -> None:
        self.context = context
        self.base_url = base_url
        self.page = context.new_page()
        self.page.set_default_timeout(TIMEOUT_MS)
        self.requests: list[tuple[str, str, str | None]] = []
        self.errors: list[str] = []
        self.page.on("request", self._request)
        self.page.on("pageerror", lambda error: self.errors.append(f"pageerror: {error}"))
        self.page.on("websocket", lambda ws: self.requests.append(("WS", ws.url, None)))

    def _request(self, request) -> None:
        self.requests.append((request.method, request.url, request.post_data))

    def count(self, method: str, path: str) -> int:
        return sum(1 for m, url, _ in self.requests if m == method and urlsplit(url).path == path)

    def goto(self, path: str = "/") -> None:
        self.page.goto(self.base_url + path)

    def sign_in(self, user: str = "ada", role: str = "user") -> None:
        self.goto()
        self.page.locator("#dev-signin").wait_for(state="visible")
        self.page.fill("#dev-user", user)
        self.page.check(f"input[name=role][value={role}]")
        self.page.click("#dev-signin-submit")
        self.page.locator("#app").wait_for(state="visible")
        self.wait_events_connected()

    def wait_events_connected(self) -> None:
        self.page.locator("#events-state[data-state=connected]").wait_for()

    def ask(
        self,
        request: str,
        customer: str | None = None,
        symptoms: tuple[str, ...] = (),
    ) -> None:
        page = self.page
        page.fill("#ask-request", request)
        closed = page.locator("#ask-details").get_attribute("open") is None
        if (customer or symptoms) and closed:
            page.click("#ask-details summary")
        if customer:
            first, last, postal, born = IDENTITIES[customer]
            page.fill("#ask-first-name", first)
            page.fill("#ask-last-name", last)
            page.fill("#ask-postal-code", postal)
            page.fill("#ask-dob", born)
        for symptom in symptoms:
            page.check(f"#ask-symptoms input[value={symptom}]")
        page.click("#ask-submit")

    def assert_clean(self) -> None:
        """Only loopback was contacted, and no script error happened."""
        hosts = {urlsplit(url).hostname for _, url, _ in self.requests}
        assert hosts <= {"127.0.0.1"}, hosts
        assert not self.errors, self.errors


class System:
    """The whole local system for one browser test."""

    def __init__(self, app, agents, pubsub, key: str, connection_string: str, browser) -> None:
        self.app, self.agents, self.pubsub, self.key = app, agents, pubsub, key
        self.connection_string = connection_string
        self.browser = browser
        self.contexts: list = []
        self.pages: list[Page] = []

    @property
    def base_url(self) -> str:
        return self.app.host.base_url

    def new_page(self) -> Page:
        context = self.browser.new_context(viewport={"width": 1400, "height": 900})
        context.grant_permissions(["microphone"], origin=self.base_url)
        self.contexts.append(context)
        page = Page(context, self.base_url)
        self.pages.append(page)
        return page

    def headers(self, user: str = "ada", roles: tuple[str, ...] = ("user",)) -> dict[str, str]:
        now = int(time.time())
        claims = {
            "iss": "voicea2a",
            "aud": "voicea2a-api",
            "sub": user,
            "roles": list(roles),
            "iat": now,
            "exp": now + 900,
        }
        token = jwt.encode(claims, self.key, algorithm="HS256", headers={"kid": key_id(self.key)})
        return {"Authorization": f"Bearer {remember_secret(token)}"}

    def faults(self, agent: str, **faults) -> None:
        response = httpx.post(f"{self.agents.urls[agent]}/_faults", json=faults, timeout=10)
        assert response.status_code == 200, response.text

    def close(self) -> None:
        for context in self.contexts:
            context.close()


@pytest.fixture
def overrides() -> dict[str, str]:
    """Extra app settings for one test (tests parametrize this fixture)."""
    return {}


@pytest.fixture
def system(start_host, azurite, app_env, loop_thread, overrides, browser):
    # Not azurite_env: its async fixture cannot run beside Playwright's sync loop; start_host
    # closes the per-loop clients itself.
    pubsub = PubSubService(ACCESS_KEY, endpoint="http://127.0.0.1")
    port = loop_thread.run(pubsub.start(port=0))
    connection_string = f"Endpoint=http://127.0.0.1:{port};AccessKey={ACCESS_KEY};"
    key = remember_secret("browser-signing-key-" + secrets.token_hex(24))
    settings = {
        "AzureWebJobsStorage": azurite.connection_string,
        "AUTH_SIGNING_KEY": key,
        "AUTH_DEV_LOGIN_ENABLED": "true",
        "WEBPUBSUB_CONNECTION_STRING": connection_string,
        "AGENT_URL_ALLOWLIST": "127.0.0.1",
        "RATE_LIMIT_VOICE_TOKEN_PER_MINUTE": "1000",
        "AGENT_TIMEOUT_SECONDS": "4",
        "AGENT_RETRY_FIRST_SECONDS": "0.2",
        "AGENT_RETRY_MAX_SECONDS": "0.4",
        "APPROVAL_TIMEOUT_MINUTES": "2",
        "VOICE_SYNC_WAIT_SECONDS": "8",
        **overrides,
    }
    app_env(**{name: value for name, value in settings.items() if value is not None})
    service = TableServiceClient.from_connection_string(azurite.connection_string)
    for table in ("agents", "conversations", "messages"):
        service.delete_table(table)
    app = start_host(ROOT, run_timers=False, web_root=WEB)
    agent_settings = replace(
        load_agent_settings({"AGENT_FAULTS_ENABLED": "true"}),
        function_app_url=app.host.base_url,
        heartbeat_seconds=30,
    )
    agents = loop_thread.run(start_agents(base_port=0, settings=agent_settings))
    system = System(app, agents, pubsub, key, connection_string, browser)
    deadline = time.monotonic() + 20
    while len(app.http.get("/api/agents", headers=system.headers()).json()["agents"]) < 6:
        assert time.monotonic() < deadline, "the agents did not register"
        time.sleep(0.1)
    yield system
    system.close()
    loop_thread.run(agents.stop())
    loop_thread.run(pubsub.stop())
