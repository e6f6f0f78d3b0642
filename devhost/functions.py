"""Import the Function App as the Functions host does, index its functions and invoke them."""

from __future__ import annotations

import asyncio
import functools
import importlib.util
import inspect
import json
import os
import sys
import threading
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import azure.functions as func
from azure.functions import meta

# The context parts azure.functions declares but does not export at its top level.
from azure.functions._abc import RetryContext, RpcException, TraceContext

from devhost import worker_rules
from devhost.cpu import CpuLedger, Kind, metered, run_measured
from devhost.occupancy import Occupancy
from devhost.worker_rules import IndexedFunction

HTTP_TRIGGER = "httpTrigger"
TIMER_TRIGGER = "timerTrigger"
ORCHESTRATION_TRIGGER = "orchestrationTrigger"
ACTIVITY_TRIGGER = "activityTrigger"
DURABLE_CLIENT = "durableClient"
REFUSED = "the Azure Functions Python worker refuses this app"
# The kind of worker invocation each trigger makes, as the CPU ledger counts them.
KIND_OF_TRIGGER: dict[str, Kind] = {
    HTTP_TRIGGER: "http",
    TIMER_TRIGGER: "timer",
    ORCHESTRATION_TRIGGER: "orchestrator",
    ACTIVITY_TRIGGER: "activity",
}


class AppLoadError(Exception):
    """The Function App could not be imported or indexed."""


@dataclass
class FunctionInfo:
    """One indexed function: its trigger, binding names and what the worker keeps of it."""

    name: str
    trigger_type: str
    trigger: Any
    trigger_arg: str
    user_function: Callable[..., Any]
    worker: IndexedFunction
    client_arg: str | None = None

    @property
    def is_async(self) -> bool:
        """True when the worker would await the function on its event loop."""
        return inspect.iscoroutinefunction(self.user_function)

    @property
    def durable_name(self) -> str:
        """The name orchestrations use to call this orchestrator or activity."""
        declared = getattr(self.trigger, "orchestration", None) or getattr(
            self.trigger, "activity", None
        )
        return declared or self.name


@dataclass
class FunctionIndex:
    """Every function of the app, grouped by trigger type."""

    http: list[FunctionInfo] = field(default_factory=list)
    timers: list[FunctionInfo] = field(default_factory=list)
    orchestrators: dict[str, FunctionInfo] = field(default_factory=dict)
    activities: dict[str, FunctionInfo] = field(default_factory=dict)
    by_name: dict[str, FunctionInfo] = field(default_factory=dict)
    unsupported: list[str] = field(default_factory=list)
    route_prefix: str = "api"


def load_app(script_root: Path, environ: Mapping[str, str] = os.environ) -> Any:
    """Import the app's script (put its folder on sys.path) and find its app as the worker does."""
    root = script_root.resolve()
    try:
        script_name = worker_rules.script_file_name(environ)
    except worker_rules.WorkerRefusal as exc:
        raise AppLoadError(f"{REFUSED}: {exc}") from exc
    path = root / script_name
    if not path.is_file():
        raise AppLoadError(f"no {script_name} in {root}")
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    # Load this root's file even when another app's script was imported before (tests).
    module_name = path.stem
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise AppLoadError(f"{path} cannot be imported as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # an app that fails to import must stop the host, with the cause shown
        del sys.modules[module_name]
        raise AppLoadError(f"importing {path} failed: {type(exc).__name__}: {exc}") from exc
    try:
        return worker_rules.find_app(module, script_name)
    except worker_rules.WorkerRefusal as exc:
        raise AppLoadError(f"{REFUSED}: {exc}") from exc


def index_app(app: Any, route_prefix: str = "api") -> FunctionIndex:
    """Index the app with `get_functions()` and the worker's checks; the first refusal stops it."""
    app.functions_bindings = None  # get_functions() is not idempotent without this reset
    try:
        functions = app.get_functions()
    except Exception as exc:
        raise AppLoadError(f"{REFUSED}: {type(exc).__name__}: {exc}") from exc
    index = FunctionIndex(route_prefix=route_prefix)
    for function in functions:
        try:
            worker = worker_rules.index_function(function)
        except worker_rules.WorkerRefusal as exc:
            raise AppLoadError(
                f"{REFUSED} (function {function.get_function_name()}): {exc}"
            ) from exc
        info = _describe(function, worker)
        index.by_name[info.name] = info
        if info.trigger_type == HTTP_TRIGGER:
            index.http.append(info)
        elif info.trigger_type == TIMER_TRIGGER:
            index.timers.append(info)
        elif info.trigger_type == ORCHESTRATION_TRIGGER:
            index.orchestrators[info.durable_name] = info
        elif info.trigger_type == ACTIVITY_TRIGGER:
            index.activities[info.durable_name] = info
        else:
            index.unsupported.append(f"{info.name} ({info.trigger_type})")
    return index


def _describe(function: Any, worker: IndexedFunction) -> FunctionInfo:
    trigger = function.get_trigger()
    client_arg = next(
        (b.name for b in function.get_bindings() if b.get_binding_name() == DURABLE_CLIENT), None
    )
    return FunctionInfo(
        name=function.get_function_name(),
        trigger_type=trigger.get_binding_name(),
        trigger=trigger,
        trigger_arg=trigger.name,
        user_function=function.get_user_function(),
        worker=worker,
        client_arg=client_arg,
    )


class InvocationContext(func.Context):
    """The `context` argument the worker passes to functions that declare one."""

    def __init__(self, function_name: str, function_directory: str) -> None:
        self._invocation_id = str(uuid.uuid4())
        self._function_name = function_name
        self._function_directory = function_directory
        self._thread_local_storage = threading.local()

    @property
    def invocation_id(self) -> str:
        """A fresh id per invocation."""
        return self._invocation_id

    @property
    def thread_local_storage(self) -> type[threading.local]:
        """Per-invocation thread-local storage."""
        # azure.functions declares the type, the worker hands over an instance: so do we.
        return self._thread_local_storage  # type: ignore[return-value]

    @property
    def function_name(self) -> str:
        """The function's name."""
        return self._function_name

    @property
    def function_directory(self) -> str:
        """The script root."""
        return self._function_directory

    @property
    def trace_context(self) -> TraceContext:
        """An empty trace context: the worker always passes one, empty without a trace."""
        return _NO_TRACE

    @property
    def retry_context(self) -> RetryContext:
        """A first attempt: the worker always passes one, zeros without a retry policy."""
        return _FIRST_ATTEMPT


class _EmptyTraceContext(TraceContext):
    @property
    def trace_state(self) -> str:
        return ""

    @property
    def trace_parent(self) -> str:
        return ""

    @property
    def attributes(self) -> dict[str, str]:
        return {}


class _NoException(RpcException):
    @property
    def source(self) -> str:
        return ""

    @property
    def stack_trace(self) -> str:
        return ""

    @property
    def message(self) -> str:
        return ""


class _FirstAttempt(RetryContext):
    @property
    def retry_count(self) -> int:
        return 0

    @property
    def max_retry_count(self) -> int:
        return 0

    @property
    def exception(self) -> RpcException:
        return _NoException()


_NO_TRACE = _EmptyTraceContext()
_FIRST_ATTEMPT = _FirstAttempt()


class FunctionRunner(Protocol):
    """What runs the app's functions for the host: the in-process Invoker, or the worker
    processes of FUNCTIONS_WORKER_PROCESS_COUNT (devhost/workerpool.py)."""

    ledger: CpuLedger
    occupancy: Occupancy

    async def call_http(
        self, info: FunctionInfo, request: func.HttpRequest, client_json: str | None
    ) -> HttpResult:
        """Invoke an HTTP-triggered function."""

    async def call_timer(
        self, info: FunctionInfo, client_json: str | None, past_due: bool = False
    ) -> None:
        """Invoke a timer-triggered function."""

    async def call_activity(self, info: FunctionInfo, input_json: str | None) -> str:
        """Invoke an activity; its result as JSON text."""

    def call_orchestrator(self, info: FunctionInfo, context_json: str) -> str:
        """Run one orchestrator episode (blocking)."""

    def close(self) -> None:
        """Stop running functions."""


class Invoker:
    """Calls functions as the Python worker does: async ones awaited, sync ones on threads."""

    def __init__(
        self, script_root: Path, max_workers: int | None = None, ledger: CpuLedger | None = None
    ) -> None:
        self.script_root = script_root
        self.executor = ThreadPoolExecutor(
            max_workers=max_workers, thread_name_prefix="devhost-worker"
        )
        # The thread CPU each invocation spends, by kind (devhost/cpu.py): the worker's share.
        self.ledger = ledger or CpuLedger()
        # The wall time invocations keep an instance executing (devhost/occupancy.py).
        self.occupancy = Occupancy()

    async def call(self, info: FunctionInfo, inputs: dict[str, Any]) -> meta.Datum | None:
        """Invoke `info` as the worker does: decode each input, call, encode the return value.

        `inputs` maps binding names to the host's data (`meta.Datum`); an HTTP request is
        passed already built.
        """
        meter = self.ledger.invocation(KIND_OF_TRIGGER[info.trigger_type], info.name)
        # The worker decodes the inputs and encodes the result: its CPU, on the loop's thread.
        with meter.measuring():
            kwargs = {
                name: worker_rules.decode(info.worker.inputs[name], value)
                if isinstance(value, meta.Datum)
                else value
                for name, value in inputs.items()
            }
            if info.worker.requires_context:
                kwargs["context"] = InvocationContext(info.name, str(self.script_root))
        if info.is_async:
            # Only the coroutine's own steps (and its tasks'): the loop's thread is shared.
            result = await metered(info.user_function(**kwargs), meter)
        else:
            loop = asyncio.get_running_loop()
            result = await loop.run_in_executor(
                self.executor,
                functools.partial(
                    run_measured, functools.partial(info.user_function, **kwargs), meter
                ),
            )
        with meter.measuring():
            return self._encode_return(info, result)

    @staticmethod
    def _encode_return(info: FunctionInfo, result: Any) -> meta.Datum | None:
        if info.worker.return_type is None:
            if result is not None:
                raise RuntimeError(
                    f"function {info.name!r} without a $return binding returned a non-None value"
                )
            return None
        return worker_rules.encode(info.worker.return_type, result)

    async def call_http(
        self, info: FunctionInfo, request: func.HttpRequest, client_json: str | None
    ) -> HttpResult:
        """Invoke an HTTP-triggered function; its durable client gets the binding JSON."""
        inputs: dict[str, Any] = {info.trigger_arg: request}
        if info.client_arg:
            inputs[info.client_arg] = meta.Datum(client_json, "string")
        return HttpResult.from_datum(await self.call(info, inputs))

    async def call_timer(
        self, info: FunctionInfo, client_json: str | None, past_due: bool = False
    ) -> None:
        """Invoke a timer-triggered function with the timer info the host sends."""
        timer = {"Schedule": {"AdjustForDST": True}, "ScheduleStatus": None, "IsPastDue": past_due}
        inputs: dict[str, Any] = {info.trigger_arg: meta.Datum(json.dumps(timer), "json")}
        if info.client_arg:
            inputs[info.client_arg] = meta.Datum(client_json, "string")
        await self.call(info, inputs)

    async def call_activity(self, info: FunctionInfo, input_json: str | None) -> str:
        """Invoke an activity: its input arrives as JSON text, its result leaves as JSON text."""
        datum = meta.Datum(input_json if input_json is not None else "null", "json")
        result = await self.call(info, {info.trigger_arg: datum})
        return result.value if result is not None else "null"

    def call_orchestrator(self, info: FunctionInfo, context_json: str) -> str:
        """Run one orchestrator episode (synchronously; the engine runs it on its own thread)."""
        # The whole episode is the worker's: the SDK parses the history, replays, encodes.
        with self.ledger.invocation("orchestrator", info.name).measuring():
            context = worker_rules.decode(
                info.worker.inputs[info.trigger_arg], meta.Datum(context_json, "string")
            )
            result = self._encode_return(info, info.user_function(context))
        if result is None:  # an orchestration trigger always has its $return binding
            raise RuntimeError(f"orchestrator {info.name!r} has no $return binding")
        return result.value

    def close(self) -> None:
        """Stop the worker threads."""
        self.executor.shutdown(wait=False, cancel_futures=True)


@dataclass
class HttpResult:
    """What the host turns into the HTTP response: the worker's `http` (or `string`) data."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes

    @classmethod
    def from_datum(cls, datum: meta.Datum | None) -> HttpResult:
        """Read the data the worker returns for an HTTP function's result."""
        if datum is None:
            raise TypeError("the HTTP function returned no response")
        if datum.type == "string":
            return cls(200, [("Content-Type", "text/plain; charset=utf-8")], datum.value.encode())
        response = datum.value
        headers = [(name, header.value) for name, header in response["headers"].items()]
        for cookie in response.get("cookies") or []:
            headers.extend(("Set-Cookie", morsel.OutputString()) for morsel in cookie.values())
        return cls(int(response["status_code"].value), headers, response["body"].value)
