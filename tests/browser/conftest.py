"""Browser tests: Debian's Chromium driven by Playwright against the whole local system (the
devhost serving web/, the sample agents, the local Web PubSub service, Azurite), with the
browser's name resolution locked to loopback."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from azure.data.tables import TableServiceClient

from tests.agents.identities import IDENTITIES
from tests.system import LocalSystem, start_system, stop_system

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "web"
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
CHROMIUM = Path("/usr/bin/chromium")
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
    """A browser tab plus what it did: every request (and its host), script errors and console
    errors. `allow_console` holds regular expressions for console errors a test causes on
    purpose (matched in full against the message text), `allow_hosts` hosts other than
    loopback it lets the page try."""

    def __init__(
        self,
        context,
        base_url: str,
        allow_console: tuple[str, ...] = (),
        allow_hosts: tuple[str, ...] = (),
    ) -> None:
        self.context = context
        self.base_url = base_url
        self.allow_console = [re.compile(pattern) for pattern in allow_console]
        self.allow_hosts = {"127.0.0.1", *allow_hosts}
        self.page = context.new_page()
        self.page.set_default_timeout(TIMEOUT_MS)
        self.requests: list[tuple[str, str, str | None]] = []
        self.errors: list[str] = []
        self.allowed: list[str] = []
        self.page.on("request", self._request)
        self.page.on("pageerror", lambda error: self.errors.append(f"pageerror: {error}"))
        self.page.on("console", self._console)
        self.page.on("websocket", lambda ws: self.requests.append(("WS", ws.url, None)))

    def _request(self, request) -> None:
        self.requests.append((request.method, request.url, request.post_data))

    def _console(self, message) -> None:
        if message.type != "error":
            return
        if any(pattern.fullmatch(message.text) for pattern in self.allow_console):
            self.allowed.append(message.text)
        else:
            where = message.location.get("url")
            self.errors.append(f"console.error: {message.text}" + (f" ({where})" if where else ""))

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

    def screenshot(self, name: str) -> Path:
        """Save the whole page as tests/browser/artifacts/<name>.png and check it was written."""
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        path.unlink(missing_ok=True)  # a file left by an earlier run proves nothing
        self.page.screenshot(path=str(path), full_page=True)
        png = path.read_bytes()
        assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 1000, path
        return path

    def problems(self) -> list[str]:
        """Hosts other than loopback (or an allowed one) contacted, script and console errors."""
        hosts = {urlsplit(url).hostname for _, url, _ in self.requests} - self.allow_hosts
        return [f"contacted {host}" for host in sorted(hosts)] + self.errors

    def assert_clean(self) -> None:
        """Nothing went wrong so far; the system fixture checks every page again at the end."""
        assert not self.problems(), self.problems()


def ask_with_events_off(page: Page, system: LocalSystem) -> str:
    """Sign in with live events off, ask a question the outage agent answers after 1.5 s (past
    the sync wait), see the interim then the polled answer; the turn's instance id."""
    page.goto()
    page.page.fill("#dev-user", "ada")
    page.page.click("#dev-signin-submit")
    page.page.locator("#events-state[data-state=disabled]").wait_for()
    system.faults("outage-check", latencyMs=1500)

    page.ask("Is there an outage?", "CUST-0001", ("no_internet",))

    page.page.locator("#timeline li.turn[data-state=interim]").wait_for()
    answered = page.page.locator("#timeline li.turn[data-state=answered] .answer-text")
    answered.wait_for()
    assert "outage" in answered.inner_text().lower()
    return page.page.locator("#timeline li.turn").get_attribute("data-instance-id")


@dataclass
class System(LocalSystem):
    """The whole local system for one browser test, and the browser tabs it opened."""

    browser: Any = None
    contexts: list = field(default_factory=list)
    pages: list[Page] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return self.app.host.base_url

    def new_page(
        self,
        viewport: tuple[int, int] = (1400, 900),
        allow_console: tuple[str, ...] = (),
        allow_hosts: tuple[str, ...] = (),
    ) -> Page:
        """A tab in a browser context of its own (its own storage: another person)."""
        width, height = viewport
        context = self.browser.new_context(viewport={"width": width, "height": height})
        context.grant_permissions(["microphone"], origin=self.base_url)
        self.contexts.append(context)
        page = Page(context, self.base_url, allow_console, allow_hosts)
        self.pages.append(page)
        return page

    def close(self) -> None:
        for context in self.contexts:
            context.close()

    def assert_pages_clean(self) -> None:
        """Every page of the test, checked once its context is closed: none can be forgotten."""
        dirty = {f"page {index}": page.problems() for index, page in enumerate(self.pages)}
        assert not any(dirty.values()), dirty


@pytest.fixture
def system(start_host, azurite, app_env, loop_thread, overrides, browser) -> Iterator[System]:
    # Not azurite_env: its async fixture cannot run beside Playwright's sync loop; start_host
    # closes the per-loop clients itself.
    service = TableServiceClient.from_connection_string(azurite.connection_string)
    for table in ("conversations", "messages"):  # each test's page lists its own history
        service.delete_table(table)
    settings = {
        "AzureWebJobsStorage": azurite.connection_string,
        "AGENT_TIMEOUT_SECONDS": "4",
        "APPROVAL_TIMEOUT_MINUTES": "2",
        **overrides,
    }
    system = start_system(
        start_host,
        loop_thread,
        app_env,
        azurite.connection_string,
        # A setting overridden with None is set empty, as local.settings.json says "unset" (the
        # example file's value must not fill it in); without Web PubSub, no local service.
        settings={name: value or "" for name, value in settings.items()},
        with_pubsub=settings.get("WEBPUBSUB_CONNECTION_STRING", "") is not None,
        host_options={"web_root": WEB},
        system_class=System,
    )
    system.browser = browser
    yield system
    system.close()
    stop_system(system)
    system.assert_pages_clean()


@pytest.fixture
def double(request, loop_thread):
    """The Voice Live double, its options from the test's indirect parameter (`calls`, ...)."""
    from tests.browser.voicelive_double import VOICE_KEY, VoiceLiveDouble

    options = dict(getattr(request, "param", {}))
    double = VoiceLiveDouble(options.pop("api_key", VOICE_KEY), options.pop("calls", []), **options)
    loop_thread.run(double.start())
    yield double
    loop_thread.run(double.stop())
