"""The app's metrics: the instruments of the one meter `voicea2a` (docs/operations.md: Metrics)."""

from __future__ import annotations

import threading
from typing import Any

from voicea2a.telemetry.spans import INSTRUMENTATION_NAME


class Instruments:
    """The app's instruments, all on the one meter `voicea2a`."""

    def __init__(self, meter: Any) -> None:
        self.delegation_duration = meter.create_histogram(
            "delegation.duration",
            unit="ms",
            description="Time from POST /api/messages to the composed answer, by outcome",
            explicit_bucket_boundaries_advisory=(
                250, 500, 1000, 2000, 4000, 8000, 15000, 30000, 60000, 300000, 900000,
            ),
        )  # fmt: skip
        self.agent_call_duration = meter.create_histogram(
            "agent.call.duration",
            unit="ms",
            description="One A2A call to a specialist agent, by agent and outcome",
            explicit_bucket_boundaries_advisory=(
                25, 50, 100, 250, 500, 1000, 2000, 4000, 8000, 15000,
            ),
        )  # fmt: skip
        self.voice_tool_latency = meter.create_histogram(
            "voice.tool.latency",
            unit="ms",
            description="From the voice model's tool call to the answer handed back to it, "
            "measured by the browser, by outcome",
            explicit_bucket_boundaries_advisory=(
                250, 500, 1000, 2000, 4000, 8000, 15000, 30000, 60000,
            ),
        )  # fmt: skip
        self.agent_call_retries = meter.create_counter(
            "agent.call.retries", unit="{retry}", description="Repeated A2A calls, by agent"
        )
        self.tokens_issued = meter.create_counter(
            "tokens.issued", unit="{token}", description="Tokens handed out, by kind"
        )
        self.ratelimit_rejected = meter.create_counter(
            "ratelimit.rejected", unit="{request}", description="Requests refused 429, by route"
        )
        self.events_published = meter.create_counter(
            "events.published", unit="{event}", description="Events sent to Web PubSub, by type"
        )
        self.events_failed = meter.create_counter(
            "events.failed",
            unit="{event}",
            description="Events dropped (Web PubSub failed twice, or the batch ran out of time), "
            "by type",
        )
        self.history_pending = meter.create_counter(
            "history.pending",
            unit="{turn}",
            description="Turns the history could not take within HISTORY_RETRY_MINUTES "
            "(left for the reconciliation job)",
        )
        self.history_reconciled = meter.create_counter(
            "history.reconciled",
            unit="{turn}",
            description="Pending turns the reconciliation job wrote to the history",
        )


_lock = threading.Lock()
_meter_provider: Any = None
_instruments: Instruments | None = None


def use_meter_provider(provider: Any = None) -> None:
    """Use this meter provider instead of the global one (None: the global one again)."""
    global _meter_provider, _instruments
    _meter_provider, _instruments = provider, None


def instruments() -> Instruments:
    """The instruments (created on first use, from the current meter provider)."""
    global _instruments
    current = _instruments
    if current is None:
        with _lock:
            if _instruments is None:
                from opentelemetry import metrics

                provider = _meter_provider or metrics.get_meter_provider()
                _instruments = Instruments(provider.get_meter(INSTRUMENTATION_NAME))
            current = _instruments
    return current


def record_delegation(duration_ms: float, outcome: str) -> None:
    """A delegation ended: `completed`, `partial` (an agent failed or timed out) or `failed`."""
    instruments().delegation_duration.record(max(duration_ms, 0.0), {"outcome": outcome})


def record_agent_call(agent: str, outcome: str, duration_ms: float) -> None:
    """One A2A call ended: the agent's task state, or how the call failed."""
    instruments().agent_call_duration.record(duration_ms, {"agent": agent, "outcome": outcome})


def record_voice_latency(latency_ms: float, outcome: str) -> None:
    """One voice tool call as the browser measured it."""
    instruments().voice_tool_latency.record(latency_ms, {"outcome": outcome})


def record_agent_retry(agent: str) -> None:
    """An A2A call is a retry (its attempt number is above 1)."""
    instruments().agent_call_retries.add(1, {"agent": agent})


def record_token_issued(kind: str) -> None:
    """A token of `kind` was audited and handed out."""
    instruments().tokens_issued.add(1, {"kind": kind})


def record_rate_limited(route: str) -> None:
    """A request on `route` was refused with 429."""
    instruments().ratelimit_rejected.add(1, {"route": route})


def record_event_published(event_type: str) -> None:
    """An event reached Web PubSub."""
    instruments().events_published.add(1, {"type": event_type})


def record_event_failed(event_type: str) -> None:
    """An event was dropped: Web PubSub failed on both attempts, or its batch ran out of time."""
    instruments().events_failed.add(1, {"type": event_type})


def record_history_pending() -> None:
    """A delegation ended with its turn not in the history (kept in its output)."""
    instruments().history_pending.add(1)


def record_history_reconciled(count: int) -> None:
    """The reconciliation job wrote `count` pending turns to the history."""
    instruments().history_reconciled.add(count)
