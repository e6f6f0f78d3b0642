"""/api/metrics: what only the browser can measure, reported to the app's telemetry."""

import logging

import azure.durable_functions as df
import azure.functions as func

from api._http import read_body, signed_in
from bindings import http_endpoint
from voicea2a import ratelimit
from voicea2a.bodies import LATENCY_REPORT
from voicea2a.config import get_settings
from voicea2a.telemetry.metrics import record_voice_latency

bp = df.Blueprint()
log = logging.getLogger(__name__)


@bp.route(route="metrics/voice-latency", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@http_endpoint
async def voice_latency(req: func.HttpRequest) -> func.HttpResponse:
    """One voice tool call, from the model's call to the answer handed back: a metric and a
    log line (docs/operations.md: its p50/p95). Rate limited per user."""
    principal = await signed_in(req)
    report = read_body(req, LATENCY_REPORT)
    limit = get_settings().rate_limits.latency_reports_per_minute
    await ratelimit.hit("voice-latency", principal.user_id, limit)
    record_voice_latency(report.latency_ms, report.outcome)
    log.info(
        "voice tool call %s in %d ms",
        report.outcome,
        report.latency_ms,
        # The callId is already a field of every line of this request (api/_http.read_json).
        extra={
            "event": "voice.latency",
            "outcome": report.outcome,
            "durationMs": report.latency_ms,
        },
    )
    return func.HttpResponse(status_code=204)
