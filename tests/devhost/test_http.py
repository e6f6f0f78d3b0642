"""HTTP conformance: routing, real HttpRequest/HttpResponse, CORS, errors, timers, start-up."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import help_text
from tests.devhost.conftest import APPS
from tests.waiting import wait_until

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def host(start_host, monkeypatch):
    monkeypatch.setenv("DEVHOST_TEST_OVERRIDDEN", "from-environment")
    monkeypatch.delenv("DEVHOST_TEST_FROM_FILE", raising=False)
    monkeypatch.delenv("NIGHTLY_SCHEDULE", raising=False)
    return start_host(APPS / "http")


def assert_error_body(response, status: int, code: str) -> None:
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert error["code"] == code and error["message"] and error["retryable"] is False


def test_route_parameters_query_headers_and_body_reach_the_function(host):
    response = host.http.get("/api/items/42", params={"q": "x"}, headers={"x-test": "yes"})

    assert response.status_code == 200
    body = response.json()
    assert body["method"] == "GET"
    assert body["route"] == {"id": "42"}
    assert body["params"] == {"q": "x"}
    assert body["header"] == "yes"
    assert body["url"].endswith("/api/items/42?q=x")


def test_response_status_headers_and_body_are_returned_faithfully(host):
    response = host.http.post(
        "/api/items", content=b'{"a": 1}', headers={"content-type": "application/json"}
    )

    assert response.status_code == 201
    assert response.headers["location"] == "/api/items/7"
    assert response.headers["x-custom"] == "yes"
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["body"] == '{"a": 1}'


def test_literal_routes_win_over_parameters_and_constraints_apply(host):
    assert host.http.get("/api/items/special").text == "special"
    assert_error_body(host.http.get("/api/items/not-a-number"), 404, "not_found")


def test_optional_and_catch_all_parameters(host):
    assert host.http.get("/api/greet/ada").text == "hello ada"
    assert host.http.get("/api/greet").text == "hello nobody"
    assert host.http.get("/api/files/a/b/c.txt").text == "a/b/c.txt"


def test_unknown_route_and_wrong_method_get_the_error_body(host):
    assert_error_body(host.http.get("/api/nothing/here"), 404, "not_found")
    wrong = host.http.delete("/api/items")
    assert_error_body(wrong, 405, "invalid_request")
    assert wrong.headers["allow"] == "POST, PUT"


def test_an_unhandled_exception_is_a_bare_500_without_details(host):
    response = host.http.get("/api/crash")

    assert response.status_code == 500
    assert b"secret-detail" not in response.content and b"Traceback" not in response.content


def test_malformed_and_oversized_json_reach_the_app_error_body(start_host, monkeypatch):
    # Set before the host starts, as an app setting is: worker processes start with it.
    monkeypatch.setenv("MAX_REQUEST_BODY_BYTES", "64")
    monkeypatch.setenv("AzureWebJobsStorage", "UseDevelopmentStorage=true")
    from voicea2a.config import reset_settings

    reset_settings()  # the app in this process reads them afresh
    try:
        host = start_host(APPS / "http")
        json_headers = {"content-type": "application/json"}
        ok = host.http.post("/api/json", content=b'{"a": 1}', headers=json_headers)
        assert ok.status_code == 200 and ok.json() == {"received": {"a": 1}}
        assert_error_body(
            host.http.post("/api/json", content=b"{not json", headers=json_headers),
            400,
            "invalid_request",
        )
        too_big = host.http.post(
            "/api/json", content=b'{"a": "' + b"x" * 100 + b'"}', headers=json_headers
        )
        assert_error_body(too_big, 413, "invalid_request")
        wrong_type = host.http.post(
            "/api/json", content=b"a=1", headers={"content-type": "text/plain"}
        )
        assert_error_body(wrong_type, 415, "invalid_request")
    finally:
        reset_settings()


def test_cors_follows_the_host_setting(host):
    allowed = host.http.get("/api/greet", headers={"Origin": "http://localhost:3000"})
    assert allowed.headers["access-control-allow-origin"] == "http://localhost:3000"
    other = host.http.get("/api/greet", headers={"Origin": "http://evil.example"})
    assert "access-control-allow-origin" not in other.headers

    preflight = host.http.options(
        "/api/items",
        headers={"Origin": "http://localhost:3000", "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status_code == 204
    assert "POST" in preflight.headers["access-control-allow-methods"]
    refused = host.http.options(
        "/api/items",
        headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert refused.status_code == 403


def test_local_settings_are_loaded_and_the_environment_wins(host):
    values = host.http.get(
        "/api/env", params={"names": "DEVHOST_TEST_FROM_FILE,DEVHOST_TEST_OVERRIDDEN"}
    )

    assert values.json() == {
        "DEVHOST_TEST_FROM_FILE": "from-file",
        "DEVHOST_TEST_OVERRIDDEN": "from-environment",
    }


def ticks(caplog) -> list[float]:
    """The timer runs the app logged (whichever process ran them)."""
    return [r.tick for r in caplog.records if r.name == "http_app.ticks"]


def test_timer_runs_on_its_ncrontab_schedule(host, caplog):
    """The host runs the app's timers (when, to the second: test_schedule's runner test)."""
    wait_until(lambda: len(ticks(caplog)) >= 2, 5, what="two runs of the every-second timer")


def test_admin_endpoint_fires_a_timer_now(host, caplog):
    response = host.http.post("/admin/functions/nightly")

    assert response.status_code == 202
    assert -1.0 in ticks(caplog)
    assert_error_body(host.http.post("/admin/functions/get_item"), 404, "not_found")
    assert_error_body(host.http.post("/admin/functions/missing"), 404, "not_found")


def test_a_broken_function_app_stops_the_devhost_with_the_import_error():
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "devhost",
            "--script-root",
            str(APPS / "broken"),
            "--no-azurite",
            "--port",
            "0",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )

    assert result.returncode != 0
    assert "a_module_that_does_not_exist" in result.stderr


def test_help_documents_the_options():
    text = help_text("devhost")

    for option in ("--script-root", "--port", "--no-azurite", "--no-agents"):
        assert option in text
