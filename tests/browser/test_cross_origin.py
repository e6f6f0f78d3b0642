"""The page served from another origin than its API, as in Azure: Static Web Apps serves web/ and
the Function App is elsewhere. Here a static file server on its own loopback port serves web/ with
a config.json naming the devhost, and the devhost allows exactly that origin (Host.CORS of its
local.settings.json): sign-in, a question and its answer work; a malformed config.json and an
origin the API does not allow each show a clear message instead of a blank or stuck page."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from aiohttp import web
from azure.data.tables import TableServiceClient

from tests.browser.conftest import ROOT, WEB, Page, System, ask_with_events_off
from tests.loopback import LoopbackServer
from tests.system import start_system, stop_system

pytestmark = pytest.mark.azurite


class StaticSite:
    """web/ on an origin of its own, with the config.json the test sets (None: 404, no file)."""

    def __init__(self, loop_thread) -> None:
        self.config: str | None = None
        app = web.Application()
        app.router.add_get("/config.json", self._config)
        app.router.add_get("/", lambda _request: web.FileResponse(WEB / "index.html"))
        app.router.add_static("/", WEB)
        self.server = LoopbackServer(app)
        self.loop = loop_thread
        self.origin = loop_thread.run(self.server.start())

    async def _config(self, _request: web.Request) -> web.Response:
        if self.config is None:
            raise web.HTTPNotFound()
        return web.Response(text=self.config, content_type="application/json")

    def close(self) -> None:
        self.loop.run(self.server.stop())


@pytest.fixture
def sites(loop_thread) -> Iterator[Callable[[], StaticSite]]:
    started: list[StaticSite] = []

    def start() -> StaticSite:
        started.append(StaticSite(loop_thread))
        return started[-1]

    yield start
    for site in started:
        site.close()


@pytest.fixture
def site(sites) -> StaticSite:
    return sites()


def script_root_allowing(origin: str, where: Path) -> Path:
    """This repository as a script root whose local.settings.json allows exactly `origin`."""
    where.mkdir()
    for entry in ROOT.iterdir():
        if not entry.name.startswith("local.settings"):
            (where / entry.name).symlink_to(entry)
    settings = json.loads((ROOT / "local.settings.example.json").read_text())
    settings["Host"] = {**settings.get("Host", {}), "CORS": origin, "CORSCredentials": False}
    (where / "local.settings.json").write_text(json.dumps(settings))
    return where


@pytest.fixture
def api(
    start_host, azurite, app_env, loop_thread, overrides, browser, site, tmp_path
) -> Iterator[System]:
    """The whole local system with the devhost allowing `site`'s origin, which is told where the
    API is. The devhost serves no web/ here: the Function App in Azure does not either."""
    service = TableServiceClient.from_connection_string(azurite.connection_string)
    for table in ("conversations", "messages"):
        service.delete_table(table)
    settings = {"AzureWebJobsStorage": azurite.connection_string, **overrides}
    root = script_root_allowing(site.origin, tmp_path / "app")
    system = start_system(
        lambda _root, **options: start_host(root, **options),
        loop_thread,
        app_env,
        azurite.connection_string,
        # None: set empty, as local.settings.json says "unset" (the example's value stays out).
        settings={name: value or "" for name, value in settings.items()},
        with_pubsub=settings.get("WEBPUBSUB_CONNECTION_STRING", "") is not None,
        system_class=System,
    )
    system.browser = browser
    site.config = json.dumps({"apiBaseUrl": system.base_url})
    yield system
    system.close()
    stop_system(system)
    # The devhost put the script root on sys.path to import function_app; it goes with the test.
    sys.path[:] = [entry for entry in sys.path if entry != str(root.resolve())]
    system.assert_pages_clean()


def open_site(system: System, site: StaticSite, allow_console: tuple[str, ...] = ()) -> Page:
    context = system.browser.new_context(viewport={"width": 1400, "height": 900})
    system.contexts.append(context)
    page = Page(context, site.origin, allow_console)
    system.pages.append(page)
    return page


def api_requests(page: Page) -> list[str]:
    """Every URL the page asked for under an /api path, wherever it went."""
    return [url for _, url, _ in page.requests if urlsplit(url).path.startswith("/api/")]


def test_a_page_on_another_origin_signs_in_and_gets_its_answer(api, site):
    page = open_site(api, site)
    sent = []
    page.page.on("request", lambda request: sent.append((request.url, request.all_headers())))

    page.sign_in()  # also waits for live events: negotiate went to the API too
    page.ask("Is there an outage in my area?", "CUST-0001", ("no_internet",))

    answered = page.page.locator("#timeline li.turn[data-state=answered] .answer-text")
    answered.wait_for()
    assert "outage" in answered.inner_text().lower()
    page.page.locator("#agents li.agent[data-health=healthy]").nth(5).wait_for()
    assert page.count("GET", "/config.json") == 1
    requests = api_requests(page)
    assert requests and all(url.startswith(f"{api.base_url}/api/") for url in requests), requests
    for path in ("/api/auth/dev-token", "/api/auth/me", "/api/messages"):
        assert any(urlsplit(url).path == path for url in requests), path
    # The bearer token crosses origins in the Authorization header; no cookie ever does.
    me = next(headers for url, headers in sent if urlsplit(url).path == "/api/auth/me")
    assert me["authorization"].startswith("Bearer ")
    assert not any("cookie" in headers for url, headers in sent if url.startswith(api.base_url))
    page.assert_clean()


@pytest.mark.parametrize(
    "overrides", [{"VOICE_SYNC_WAIT_SECONDS": "0.5", "WEBPUBSUB_CONNECTION_STRING": None}]
)
def test_the_status_url_the_api_returns_is_polled_on_the_api_origin(api, site):
    page = open_site(api, site)
    instance_id = ask_with_events_off(page, api)
    polls = [url for url in api_requests(page) if url.endswith(f"/api/messages/{instance_id}")]
    assert polls and all(url.startswith(api.base_url) for url in polls), polls
    page.assert_clean()


def test_an_origin_the_api_does_not_allow_shows_an_error(api, sites):
    elsewhere = sites()  # not in the devhost's Host.CORS
    elsewhere.config = json.dumps({"apiBaseUrl": api.base_url})
    page = open_site(
        api,
        elsewhere,
        allow_console=(
            r"Access to fetch at '.*/api/config' from origin '.*' has been blocked by CORS "
            r"policy: .*",
            r"Failed to load resource: net::ERR_FAILED",
        ),
    )
    page.goto()

    banner = page.page.locator("#error[data-code=unreachable]")
    banner.wait_for()
    text = banner.inner_text()
    assert api.base_url in text and "CORS" in text, text
    assert page.page.locator("#loading").is_hidden()
    assert page.page.locator("#signin").is_hidden()
    assert page.allowed  # the browser did refuse it
    page.screenshot("cross-origin-refused")


@pytest.mark.parametrize(
    ("config", "reason"),
    [
        ("{not json", "not valid JSON"),
        ('{"apiBaseUrl": 42}', '"apiBaseUrl" must be a string'),
        ('{"apiBaseUrl": "ftp://api.example"}', "must be an http(s) URL"),
        ('{"apiBaseUrl": "https://api.example/?x=1"}', "no query or fragment"),
        ('{"apiBaseURL": "https://api.example"}', 'unknown setting "apiBaseURL"'),
    ],
    ids=["json", "type", "scheme", "query", "misspelt"],
)
def test_a_malformed_config_json_shows_what_is_wrong(browser, site, config, reason):
    site.config = config
    context = browser.new_context()
    try:
        page = Page(context, site.origin)
        page.goto()
        banner = page.page.locator("#error[data-code=invalid_config]")
        banner.wait_for()
        text = banner.inner_text()
        assert "This site's config.json is malformed" in text and reason in text, text
        assert page.page.locator("#loading").is_hidden()
        assert page.page.locator("#signin").is_hidden()
        # Nothing was asked of any API: the page did not guess where it is.
        assert not [url for _, url, _ in page.requests if "/api/" in url]
        page.assert_clean()
    finally:
        context.close()


def test_without_config_json_the_page_asks_its_own_origin(browser, site):
    # What a deployment whose hook did not run shows: Static Web Apps has no /api of its own.
    site.config = None
    context = browser.new_context()
    try:
        page = Page(
            context,
            site.origin,
            allow_console=(
                r"Failed to load resource: the server responded with a status of 404 "
                r"\((Not Found|File not found)\)",
            ),
        )
        page.goto()
        banner = page.page.locator("#error[data-code=http_404]")
        banner.wait_for()
        assert "The client settings could not be loaded." in banner.inner_text()
        asked = [urlsplit(url).path for _, url, _ in page.requests if url.startswith(site.origin)]
        assert asked.index("/config.json") < asked.index("/api/config"), asked
        page.assert_clean()
    finally:
        context.close()
