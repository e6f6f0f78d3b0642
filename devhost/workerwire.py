"""What the devhost and its worker processes send each other (pickled over a socket pair).

The shapes mirror the gRPC messages Azure's host and Python worker exchange, reduced to what
the devhost needs: an invocation request and its response, the worker's log records (Azure's
RpcLog) and, for the CPU ledger, the worker's CPU tallies.
"""

from __future__ import annotations

import logging
import pickle
from dataclasses import dataclass
from typing import Any

import azure.functions as func

from devhost.cpu import Kind, Usage


@dataclass(frozen=True)
class HttpRequestData:
    """A `func.HttpRequest` as the host hands it over: rebuilt as such in the worker."""

    method: str
    url: str
    headers: dict[str, str]
    params: dict[str, str]
    route_params: dict[str, str]
    body: bytes

    @classmethod
    def of(cls, request: func.HttpRequest) -> HttpRequestData:
        """Take the parts of `request` the worker's `HttpRequest` is built from."""
        return cls(
            method=request.method,
            url=request.url,
            headers=dict(request.headers),
            params=dict(request.params),
            route_params=dict(request.route_params),
            body=request.get_body(),
        )

    def build(self) -> func.HttpRequest:
        """The request again, as the function receives it."""
        return func.HttpRequest(
            method=self.method,
            url=self.url,
            headers=self.headers,
            params=self.params,
            route_params=self.route_params,
            body=self.body,
        )


@dataclass(frozen=True)
class HttpCall:
    """Invoke an HTTP-triggered function."""

    request: HttpRequestData
    client_json: str | None


@dataclass(frozen=True)
class TimerCall:
    """Invoke a timer-triggered function."""

    client_json: str | None
    past_due: bool


@dataclass(frozen=True)
class ActivityCall:
    """Invoke an activity with its input JSON."""

    input_json: str | None


@dataclass(frozen=True)
class OrchestratorCall:
    """Run one orchestrator episode with the context JSON."""

    context_json: str


Call = HttpCall | TimerCall | ActivityCall | OrchestratorCall


@dataclass(frozen=True)
class Invocation:
    """Host to worker: run `function` with `call`; answered by a Result or a Failure."""

    id: int
    function: str
    call: Call


@dataclass(frozen=True)
class CpuQuery:
    """Host to worker: what has the worker's CPU ledger counted so far? (a CpuReport)"""

    id: int


@dataclass(frozen=True)
class Ready:
    """Worker to host: the app is imported and indexed; invocations may come."""

    pid: int


@dataclass(frozen=True)
class LoadFailed:
    """Worker to host: the app could not be imported or indexed (the AppLoadError's text)."""

    message: str


@dataclass(frozen=True)
class Result:
    """Worker to host: what an invocation returned (HttpResult, JSON text or None)."""

    id: int
    value: Any


@dataclass(frozen=True)
class Failure:
    """Worker to host: an invocation raised; the exception pickled when it can be."""

    id: int
    type_name: str
    message: str
    traceback: str
    pickled: bytes | None

    @classmethod
    def of(cls, invocation_id: int, exc: BaseException, traceback: str) -> Failure:
        """Describe `exc`, keeping the exception itself when it survives pickling."""
        pickled: bytes | None
        try:
            pickled = pickle.dumps(exc)
            pickle.loads(pickled)  # noqa: S301 - our own bytes; an exception that cannot load
        except Exception:  # any exception type may refuse pickling: send its text instead
            pickled = None
        return cls(invocation_id, type(exc).__name__, str(exc), traceback, pickled)

    def exception(self) -> Exception:
        """The exception to raise at the host: the original one, or one that names it."""
        try:
            original = pickle.loads(self.pickled) if self.pickled else None  # noqa: S301
        except Exception:  # its class may not import here: fall back to the text
            original = None
        error = original if isinstance(original, Exception) else WorkerFunctionError(self)
        error.add_note(f"Raised in the worker process:\n{self.traceback}")
        return error


class WorkerFunctionError(Exception):
    """A function's exception that could not be pickled back: its type name and message."""

    def __init__(self, failure: Failure) -> None:
        super().__init__(f"{failure.type_name}: {failure.message}")


@dataclass(frozen=True)
class CpuReport:
    """Worker to host: the worker's CPU ledger, by (kind, function)."""

    id: int
    by_function: dict[tuple[Kind, str], Usage]


# The attributes every LogRecord has; anything else on a record is the caller's `extra`.
_STANDARD_ATTRIBUTES = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
}


@dataclass(frozen=True)
class LogMessage:
    """Worker to host: one log record (Azure's RpcLog), its `extra` fields kept."""

    fields: dict[str, Any]

    @classmethod
    def of(cls, record: logging.LogRecord, formatter: logging.Formatter) -> LogMessage:
        """The record with its message formatted and its traceback as text (both pickle)."""
        fields = {
            name: value if name in _STANDARD_ATTRIBUTES else _picklable(value)
            for name, value in record.__dict__.items()
        }
        fields["msg"] = record.getMessage()
        fields["args"] = None
        if record.exc_info:
            fields["exc_text"] = record.exc_text or formatter.formatException(record.exc_info)
        fields["exc_info"] = None
        fields.pop("message", None)
        return cls(fields)

    def record(self) -> logging.LogRecord:
        """The record again, for the host's loggers."""
        return logging.makeLogRecord(self.fields)


def _picklable(value: Any) -> Any:
    try:
        pickle.dumps(value)
    except Exception:  # an `extra` value of any type may refuse pickling: its repr then
        return repr(value)
    return value


ToWorker = Invocation | CpuQuery
FromWorker = Ready | LoadFailed | Result | Failure | CpuReport | LogMessage
