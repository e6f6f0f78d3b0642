"""POST /api/metrics/voice-latency: the browser's measure of a voice tool call becomes the metric
`voice.tool.latency` and a `voice.latency` log line; bad reports are refused; a user's reports
are rate limited."""

from __future__ import annotations

import json
import logging

import pytest

from tests.conftest import in_one_rate_window
from tests.system import error_of
from tests.unit.test_telemetry import in_memory_telemetry  # noqa: F401 (a fixture)
from voicea2a.telemetry.logs import JsonFormatter

pytestmark = pytest.mark.azurite

REPORT = {"callId": "call_latency_1", "latencyMs": 2345, "outcome": "answered"}


def report(system, body: dict, user: str = "ada"):
    return system.app.http.post(
        "/api/metrics/voice-latency", json=body, headers=system.headers(user)
    )


# The in-memory meter is this process's (use_providers): the app must run here.
@pytest.mark.in_process_worker
@pytest.mark.parametrize("system_options", [{"with_agents": False}])
def test_a_report_is_a_metric_and_a_log_line(system, in_memory_telemetry, caplog):  # noqa: F811
    with caplog.at_level(logging.INFO, logger="api.metrics"):
        response = report(system, REPORT)

    assert response.status_code == 204 and response.content == b""
    [(attributes, point)] = in_memory_telemetry.points("voice.tool.latency")
    assert attributes == {"outcome": "answered"} and (point.count, point.sum) == (1, 2345)
    [line] = [
        json.loads(JsonFormatter().format(record))
        for record in caplog.records
        if getattr(record, "event", None) == "voice.latency"
    ]
    # What docs/operations.md's p50/p95 query reads (j.event, j.durationMs), and the call.
    assert (line["event"], line["durationMs"], line["callId"]) == (
        "voice.latency",
        2345,
        "call_latency_1",
    )


@pytest.mark.parametrize("system_options", [{"with_agents": False}])
@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({**REPORT, "latencyMs": -1}, "Field 'latencyMs' must be an integer from 0 to 3600000."),
        ({**REPORT, "outcome": "slow"}, "Field 'outcome' must be one of answered, failed, late."),
        ({"latencyMs": 1}, "Field 'callId' is required."),
    ],
)
def test_a_bad_report_is_refused_naming_the_field(system, body, message):
    response = report(system, body)
    assert response.status_code == 400 and error_of(response)["message"] == message
    unsigned = system.app.anonymous.post("/api/metrics/voice-latency", json=REPORT)
    assert unsigned.status_code == 401


@pytest.mark.parametrize("system_options", [{"with_agents": False}])
@pytest.mark.parametrize("overrides", [{"RATE_LIMIT_LATENCY_REPORTS_PER_MINUTE": "2"}])
def test_reports_are_rate_limited_per_user(system):
    def burst(attempt: int) -> list[int]:
        user = f"lat-{attempt}"
        return [report(system, REPORT, user).status_code for _ in range(3)] + [
            report(system, REPORT, f"{user}-other").status_code
        ]

    assert in_one_rate_window(burst) == [204, 204, 429, 204]
