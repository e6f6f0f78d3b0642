"""CORS as the Functions host applies `Host.CORS` (Core Tools) and the Function App's CORS setting
(Azure): an allowed origin gets its preflight granted and every response marked for it; any other
origin gets no CORS header at all, so the browser refuses to hand the response to the page."""

from __future__ import annotations

import json
import shutil

import pytest

from tests.devhost.conftest import APPS

SITE = "http://localhost:3000"  # the one origin Host.CORS of tests/devhost/apps/http allows
OTHER = "http://127.0.0.1:3000"  # same host, other spelling: another origin


@pytest.fixture
def host(start_host):
    return start_host(APPS / "http")


def cors_headers(response) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k.lower().startswith("access-control-")}


def preflight(host, origin: str, method: str = "POST", headers: str | None = None):
    asked = {"Origin": origin, "Access-Control-Request-Method": method}
    if headers:
        asked["Access-Control-Request-Headers"] = headers
    return host.http.options("/api/items", headers=asked)


def test_a_preflight_from_the_allowed_origin_grants_the_method_and_the_headers(host):
    response = preflight(host, SITE, "POST", "authorization,content-type")

    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == SITE
    assert "POST" in response.headers["access-control-allow-methods"]
    granted = {
        h.strip().lower() for h in response.headers["access-control-allow-headers"].split(",")
    }
    assert {"authorization", "content-type"} <= granted
    assert "access-control-allow-credentials" not in response.headers  # CORSCredentials: false
    assert "Origin" in response.headers["vary"]


def test_a_preflight_from_another_origin_gets_no_cors_header(host):
    for origin in (OTHER, "https://localhost:3000", "http://evil.example", "null"):
        response = preflight(host, origin, "POST", "authorization,content-type")
        assert response.status_code >= 400, origin
        assert cors_headers(response) == {}, origin


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/api/greet/ada", 200),
        ("POST", "/api/items", 201),
        ("GET", "/api/nothing/here", 404),  # the host's own error body is readable too
        ("DELETE", "/api/items", 405),
        ("GET", "/api/crash", 500),
    ],
)
def test_every_response_to_the_allowed_origin_is_marked_for_it_and_no_other(
    host, method, path, status
):
    allowed = host.http.request(method, path, headers={"Origin": SITE})
    assert allowed.status_code == status
    assert allowed.headers["access-control-allow-origin"] == SITE
    assert "Origin" in allowed.headers["vary"]

    refused = host.http.request(method, path, headers={"Origin": OTHER})
    assert refused.status_code == status  # CORS is the browser's to enforce, on the headers
    assert cors_headers(refused) == {}

    same_origin = host.http.request(method, path)
    assert cors_headers(same_origin) == {}


@pytest.fixture
def host_with(start_host, tmp_path):
    """The same test app with another `Host` section in its local.settings.json."""

    def start(host_section: dict):
        root = tmp_path / "app"
        shutil.copytree(APPS / "http", root)
        example = json.loads((root / "local.settings.example.json").read_text())
        settings = {**example, "Host": host_section}
        (root / "local.settings.json").write_text(json.dumps(settings))
        return start_host(root)

    return start


def test_a_list_of_origins_and_credentials(host_with):
    host = host_with({"CORS": f"{SITE}, {OTHER}", "CORSCredentials": True})

    for origin in (SITE, OTHER):
        response = preflight(host, origin, "PUT", "authorization")
        assert response.headers["access-control-allow-origin"] == origin
        assert response.headers["access-control-allow-credentials"] == "true"
        answered = host.http.get("/api/greet", headers={"Origin": origin})
        assert answered.headers["access-control-allow-origin"] == origin
        assert answered.headers["access-control-allow-credentials"] == "true"
    assert cors_headers(preflight(host, "http://evil.example")) == {}


def test_a_wildcard_allows_every_origin_without_credentials(host_with):
    host = host_with({"CORS": "*"})

    response = host.http.get("/api/greet", headers={"Origin": "http://anywhere.example"})
    assert response.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in response.headers


def test_without_host_cors_no_origin_is_allowed(host_with):
    host = host_with({})

    assert cors_headers(preflight(host, SITE)) == {}
    assert cors_headers(host.http.get("/api/greet", headers={"Origin": SITE})) == {}
