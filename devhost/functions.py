"""Import the Function App as the Functions host does, index its functions and invoke them."""

from __future__ import annotations

import asyncio
import functools
import importlib.util
import inspect
import sys
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import azure.functions as func
from azure.functions import meta
from azure.functions.timer import TimerRequest

HTTP_TRIGGER = "httpTrigger"
TIMER_TRIGGER = "timerTrigger"
ORCHESTRATION_TRIGGER = "orchestrationTrigger"
ACTIVITY_TRIGGER = "activityTrigger"
DURABLE_CLIENT = "durableClient"


class AppLoadError(Exception):
    """The Function App could not be imported or indexed."""


@dataclass
class FunctionInfo:
    """One indexed function: its trigger, binding names and the callable the worker would invoke."""

    name: str
    trigger_type: str
    trigger: Any
    trigger_arg: str
    user_function: Callable[..., Any]
    client_arg: str | None = None
    parameters: list[str] = field(default_factory=list)

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


def load_app(script_root: Path) -> Any:
    """Import `function_app.py` from the script root (put on sys.path) and return `app`."""
    root = script_root.resolve()
    path = root / "function_app.py"
    if not path.is_file():
        raise AppLoadError(f"no function_app.py in {root}")
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    # Load this root's file even when another app's `function_app` was imported before (tests).
    spec = importlib.util.spec_from_file_location("function_app", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["function_app"] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # an app that fails to import must stop the host, with the cause shown
        del sys.modules["function_app"]
        raise AppLoadError(f"importing {path} failed: {type(exc).__name__}: {exc}") from exc
    app = getattr(module, "app", None)
    if app is None or not hasattr(app, "get_functions"):
        raise AppLoadError(f"{path} does not define a FunctionApp named 'app'")
    return app


def index_app(app: Any, route_prefix: str = "api") -> FunctionIndex:
    """Index the app with `get_functions()`, the same call the Python worker makes."""
    app.functions_bindings = None  # get_functions() is not idempotent without this reset
    try:
        functions = app.get_functions()
    except Exception as exc:
        raise AppLoadError(f"indexing the app failed: {type(exc).__name__}: {exc}") from exc
    index = FunctionIndex(route_prefix=route_prefix)
    for function in functions:
        info = _describe(function)
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


def _describe(function: Any) -> FunctionInfo:
    trigger = function.get_trigger()
    client_arg = next(
        (b.name for b in function.get_bindings() if b.get_binding_name() == DURABLE_CLIENT), None
    )
    user_function = function.get_user_function()
    return FunctionInfo(
        name=function.get_function_name(),
        trigger_type=trigger.get_binding_name(),
        trigger=trigger,
        trigger_arg=trigger.name,
        user_function=user_function,
        client_arg=client_arg,
        parameters=list(inspect.signature(user_function).parameters),
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
    def thread_local_storage(self) -> threading.local:
        """Per-invocation thread-local storage."""
        return self._thread_local_storage

    @property
    def function_name(self) -> str:
        """The function's name."""
        return self._function_name

    @property
    def function_directory(self) -> str:
        """The script root."""
        return self._function_directory

    @property
    def trace_context(self) -> None:
        """No distributed trace context locally."""
        return None

    @property
    def retry_context(self) -> None:
        """No retry policy locally."""
        return None


class Invoker:
    """Calls functions as the Python worker does: async ones awaited, sync ones on threads."""

    def __init__(self, script_root: Path, max_workers: int | None = None) -> None:
        self.script_root = script_root
        self.executor = ThreadPoolExecutor(
            max_workers=max_workers, thread_name_prefix="devhost-worker"
        )

    async def call(self, info: FunctionInfo, bindings: dict[str, Any]) -> Any:
        """Invoke `info` with its bindings by parameter name (plus `context` when declared)."""
        kwargs = {name: value for name, value in bindings.items() if name in info.parameters}
        if "context" in info.parameters and "context" not in kwargs:
            kwargs["context"] = InvocationContext(info.name, str(self.script_root))
        if info.is_async:
            return await info.user_function(**kwargs)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self.executor, functools.partial(info.user_function, **kwargs)
        )

    async def call_http(
        self, info: FunctionInfo, request: func.HttpRequest, client_json: str | None
    ) -> Any:
        """Invoke an HTTP-triggered function; its durable client gets the binding JSON."""
        bindings: dict[str, Any] = {info.trigger_arg: request}
        if info.client_arg:
            bindings[info.client_arg] = client_json
        return await self.call(info, bindings)

    async def call_timer(
        self, info: FunctionInfo, client_json: str | None, past_due: bool = False
    ) -> None:
        """Invoke a timer-triggered (or other non-HTTP) function."""
        bindings: dict[str, Any] = {info.trigger_arg: TimerRequest(past_due=past_due)}
        if info.client_arg:
            bindings[info.client_arg] = client_json
        await self.call(info, bindings)

    async def call_activity(self, info: FunctionInfo, input_json: str | None) -> str:
        """Invoke an activity, decoding its input and encoding its result as the worker does."""
        converter = meta.get_binding_registry().get(ACTIVITY_TRIGGER)
        value = converter.decode(
            meta.Datum(input_json if input_json is not None else "null", "json"),
            trigger_metadata={},
        )
        result = await self.call(info, {info.trigger_arg: value})
        return converter.encode(result, expected_type=None).value

    def call_orchestrator(self, info: FunctionInfo, context_json: str) -> str:
        """Run one orchestrator episode (synchronously; the engine runs it on its own thread)."""
        converter = meta.get_binding_registry().get(ORCHESTRATION_TRIGGER)
        context = converter.decode(meta.Datum(context_json, "string"), trigger_metadata={})
        return info.user_function(context)

    def close(self) -> None:
        """Stop the worker threads."""
        self.executor.shutdown(wait=False, cancel_futures=True)
