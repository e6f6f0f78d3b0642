"""Logs, traces and metrics: the app's one telemetry setup (docs/operations.md explains its use).

One module per purpose: `context` (the correlation fields), `redaction`, `logs` (the filter and
formatters), `setup` (once per process), `spans`, `metrics`. The wrappers that run every function
inside them, `http_endpoint` and `activity`, are in bindings.py beside function_app.py.

Logs
----
Each log line is one JSON object (`LOG_FORMAT=json`, the default): `time, level, logger,
message`, plus `correlationId, conversationId, callId, instanceId, agent, user` when known (the
user id only as `audit.pseudonym`), `traceId`/`spanId` inside a span, and a few structured
fields such as `event` and `durationMs`. `LOG_FORMAT=text` gives readable console lines locally.

The correlation fields live in one contextvar (`context`): HTTP functions bind it
(`bindings.http_endpoint`), activities bind it from their input (`bindings.activity`). An
orchestrator has no context of its own that survives replays, so it passes the fields explicitly
from its input (`extra=log_fields(...)`) and logs only when not replaying.

Setup happens once per process, lazily, at the first invocation (`setup.ensure_setup()`: called by
`http_endpoint`, by `activity`, by the orchestrator and by the timer jobs), never at import:
importing the app must stay cheap (bench/cold_start.py). The Functions Python worker owns the root
logger: its handler ships every record to the host, which forwards it to Application Insights
(`traces`, filtered and sampled by host.json). That handler is never removed or replaced. We add our
`TelemetryFilter` (correlation fields + redaction) to every root handler, so third-party loggers are
covered too, and our formatter to the handlers whose lines a person or the host reads: the worker's
handler and plain console `StreamHandler`s (the devhost's). Other handlers (files, test capture)
keep their format. Root handlers added later are adopted at the next invocation.

Traces and metrics
------------------
With `APPLICATIONINSIGHTS_CONNECTION_STRING`, `configure_azure_monitor` is called once, on that
first invocation (its import costs ~300 ms: never at cold start), with the app's identity when
`APPLICATIONINSIGHTS_AUTHENTICATION_STRING` says `Authorization=AAD`. It exports spans and
metrics only: logs already reach Application Insights through the host, and exporting them a
second time would duplicate every line. Without a connection string nothing is exported, or
spans are printed with `OTEL_TRACES_EXPORTER=console`.

Spans: one per HTTP function (`http_endpoint`), per activity (`activity`) and per A2A call
(voicea2a/a2a.py), continuing the W3C `traceparent` the request or the orchestration input
carried. Metrics: the instruments of the one meter `voicea2a` (`metrics.record_*`).
"""
