"""CPU time per invocation, by kind: the share of a turn that Azure's Python worker would run.

The Functions host hands the Python worker four kinds of work: HTTP functions, orchestrator
episodes (the Durable SDK's replay), activities and timers. The ledger adds up the thread CPU
time (`time.thread_time()`, never wall time) each invocation spends; everything else the
devhost's process does is the devhost's own (in Azure: the .NET host and the Durable extension).

How CPU is attributed:
- a sync function (on an executor thread) or an orchestrator episode (on the engine's thread):
  that thread's CPU time around the call, measured in that thread;
- an async function shares the event loop's thread with the devhost and every other
  invocation, so the time around the whole `await` would count theirs too: `metered` drives the
  coroutine one step at a time and times only its own `send`/`throw`/`close` slices;
- a task the function creates (`asyncio.create_task`, `gather`, `wait`) is the function's work
  too, in Azure done by the worker: a task factory (`attribute_spawned_tasks`) wraps it the
  same way and charges the invocation that created it, even after that invocation returned;
- the worker's own conversions (decoding the inputs, encoding the result) are charged to the
  invocation as well.

Not attributed, hence counted as the devhost's own: loop callbacks that run outside any step of
the function's coroutines (a transport's `data_received`, e.g. aiohttp parsing the responses to
the app's Table and Durable client calls), and work the function hands to another thread with
`asyncio.to_thread` or `run_in_executor`.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time
from collections.abc import Callable, Coroutine, Generator, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

Kind = Literal["http", "orchestrator", "activity", "timer"]
KINDS: tuple[Kind, ...] = ("http", "orchestrator", "activity", "timer")
T = TypeVar("T")

# The meter of the invocation whose code runs now. Set around each step of a metered coroutine,
# so a task created during the step copies it into its own context and is charged to the same
# invocation; it never leaks into the devhost's code, which runs between steps.
_current: contextvars.ContextVar[Meter | None] = contextvars.ContextVar(
    "devhost_cpu_meter", default=None
)
# Whether this thread is inside a timed step: a metered coroutine awaited inside another one
# must not count its slices twice (the outer step's time already holds them).
_stepping = threading.local()


class Meter:
    """An account that CPU seconds are added to, from any thread."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.slices = 0
        self._lock = threading.Lock()

    def add(self, seconds: float) -> None:
        """Add one timed slice."""
        with self._lock:
            self.seconds += seconds
            self.slices += 1

    @contextmanager
    def measuring(self) -> Iterator[None]:
        """Add the CPU time this thread spends inside the `with` block."""
        start = time.thread_time()
        try:
            yield
        finally:
            self.add(time.thread_time() - start)


@dataclass(frozen=True)
class Usage:
    """Invocations, the CPU seconds they spent, and how many timed slices that took."""

    invocations: int = 0
    cpu_seconds: float = 0.0
    slices: int = 0

    def minus(self, earlier: Usage) -> Usage:
        """What was added since `earlier`."""
        return Usage(
            self.invocations - earlier.invocations,
            self.cpu_seconds - earlier.cpu_seconds,
            self.slices - earlier.slices,
        )

    def plus(self, other: Usage) -> Usage:
        """Both together (one function's usage in two processes)."""
        return Usage(
            self.invocations + other.invocations,
            self.cpu_seconds + other.cpu_seconds,
            self.slices + other.slices,
        )


@dataclass(frozen=True)
class CpuSnapshot:
    """The ledger at one moment; `minus` gives what happened in between two of them."""

    by_kind: Mapping[Kind, Usage]
    by_function: Mapping[tuple[Kind, str], Usage]
    # Orchestrator episodes the engine ran, and the history events it handed them in all
    # (each episode replays the whole history so far).
    episodes: int
    replayed_events: int
    # Orchestration executions that ended (completed, failed, terminated, continued as new),
    # and their history lengths at the end, summed.
    executions_finished: int
    history_events: int

    @property
    def worker_cpu_seconds(self) -> float:
        """CPU seconds of every kind together: what the Python worker would have run."""
        return sum(usage.cpu_seconds for usage in self.by_kind.values())

    def minus(self, earlier: CpuSnapshot) -> CpuSnapshot:
        """What was added since `earlier`."""
        return CpuSnapshot(
            by_kind={k: u.minus(earlier.by_kind.get(k, Usage())) for k, u in self.by_kind.items()},
            by_function={
                key: usage.minus(earlier.by_function.get(key, Usage()))
                for key, usage in self.by_function.items()
            },
            episodes=self.episodes - earlier.episodes,
            replayed_events=self.replayed_events - earlier.replayed_events,
            executions_finished=self.executions_finished - earlier.executions_finished,
            history_events=self.history_events - earlier.history_events,
        )


class _Account(Meter):
    """One invocation's meter: each slice goes straight to the ledger (child tasks may go on
    after the invocation returned)."""

    def __init__(self, ledger: CpuLedger, key: tuple[Kind, str]) -> None:
        super().__init__()
        self._ledger = ledger
        self._key = key

    def add(self, seconds: float) -> None:
        """Add one timed slice to this invocation and to the ledger."""
        super().add(seconds)
        self._ledger._charge(self._key, seconds)


class CpuLedger:
    """Per kind and per function: invocations and thread CPU seconds; plus the Durable engine's
    episodes and history sizes. Thread-safe (executor threads and the engine's thread write).
    With worker processes, `remote` gives their tallies and a snapshot adds them in."""

    def __init__(
        self, remote: Callable[[], Mapping[tuple[Kind, str], Usage]] | None = None
    ) -> None:
        self._lock = threading.Lock()
        # The tallies of worker processes (devhost/workerpool.py), added to this process's own.
        self._remote = remote
        # Mutable [invocations, cpu seconds, slices] per (kind, function name).
        self._functions: dict[tuple[Kind, str], list[Any]] = {}
        self._episodes = 0
        self._replayed_events = 0
        self._executions_finished = 0
        self._history_events = 0

    def invocation(self, kind: Kind, name: str) -> Meter:
        """Count one invocation of function `name` and return the meter its CPU goes to."""
        key = (kind, name)
        with self._lock:
            self._functions.setdefault(key, [0, 0.0, 0])[0] += 1
        return _Account(self, key)

    def _charge(self, key: tuple[Kind, str], seconds: float) -> None:
        with self._lock:
            tally = self._functions.setdefault(key, [0, 0.0, 0])
            tally[1] += seconds
            tally[2] += 1

    def episode(self, history_events: int) -> None:
        """Count one orchestrator episode that was handed `history_events` events."""
        with self._lock:
            self._episodes += 1
            self._replayed_events += history_events

    def execution_finished(self, history_events: int) -> None:
        """Count one orchestration execution that ended with `history_events` events."""
        with self._lock:
            self._executions_finished += 1
            self._history_events += history_events

    def snapshot(self) -> CpuSnapshot:
        """A copy of everything counted so far."""
        with self._lock:
            by_function = {key: Usage(*tally) for key, tally in self._functions.items()}
            counters = (
                self._episodes,
                self._replayed_events,
                self._executions_finished,
                self._history_events,
            )
        for key, usage in (self._remote() if self._remote else {}).items():
            by_function[key] = by_function.get(key, Usage()).plus(usage)
        by_kind: dict[Kind, Usage] = {}
        for kind in KINDS:
            parts = [usage for (k, _), usage in by_function.items() if k == kind]
            by_kind[kind] = Usage(
                sum(u.invocations for u in parts),
                sum(u.cpu_seconds for u in parts),
                sum(u.slices for u in parts),
            )
        return CpuSnapshot(by_kind, by_function, *counters)


class MeteredCoroutine(Coroutine[Any, Any, T], Generic[T]):
    """Drives a coroutine step by step, adding the thread CPU time of each step to a meter.

    Each `send`/`throw`/`close` is passed to the coroutine unchanged and what it yields, returns
    or raises comes back unchanged (the futures it awaits go through to the task), so exceptions
    and cancellation behave as without the wrapper. Awaitable, and usable as a task's coroutine.
    Only the coroutine's own steps are timed: the loop's callbacks in between (transport
    parsing, other tasks) are not its CPU.
    """

    __slots__ = ("_coro", "_meter")

    def __init__(self, coro: Coroutine[Any, Any, T], meter: Meter) -> None:
        self._coro = coro
        self._meter = meter

    def send(self, value: Any) -> Any:
        """Resume the coroutine with `value`; what it yields next (StopIteration on return)."""
        return self._step(self._coro.send, value)

    def throw(self, typ: Any, val: Any = None, tb: Any = None) -> Any:
        """Raise an exception (e.g. CancelledError) inside the coroutine, as given."""
        if val is None and tb is None:
            return self._step(self._coro.throw, typ)
        return self._step(self._coro.throw, typ, val, tb)

    def close(self) -> None:
        """Close the coroutine (its `finally` blocks are its CPU too)."""
        self._step(self._coro.close)

    def __await__(self) -> Generator[Any, None, T]:
        """Await the wrapper itself: it is its own iterator, as a generator-based awaitable is."""
        return self

    def __iter__(self) -> MeteredCoroutine[T]:
        """The iterator `await` delegates to."""
        return self

    def __next__(self) -> Any:
        """Resume with None (how a task and `await` first start a coroutine)."""
        return self._step(self._coro.send, None)

    def __getattr__(self, name: str) -> Any:
        """The coroutine's `cr_*` and names, so a task's repr, stack and state show the function."""
        if name.startswith("cr_") or name in ("__name__", "__qualname__"):
            return getattr(self._coro, name)
        raise AttributeError(name)

    def _step(self, method: Callable[..., Any], *args: Any) -> Any:
        token = _current.set(self._meter)
        try:
            if getattr(_stepping, "active", False):
                return method(*args)  # the enclosing step is timed already
            _stepping.active = True
            start = time.thread_time()
            try:
                return method(*args)
            finally:
                self._meter.add(time.thread_time() - start)
                _stepping.active = False
        finally:
            _current.reset(token)


def metered(coro: Coroutine[Any, Any, T], meter: Meter) -> MeteredCoroutine[T]:
    """Wrap `coro` so the CPU of its own steps (and of the tasks it creates) goes to `meter`."""
    return MeteredCoroutine(coro, meter)


def run_measured(function: Callable[[], T], meter: Meter) -> T:
    """Call `function` and add the CPU this thread spent in it to `meter` (sync functions)."""
    with meter.measuring():
        return function()


class _MeteringTaskFactory:
    """A loop's task factory that meters each task created while a meter is current."""

    def __init__(self, previous: Any) -> None:
        self.previous = previous
        self.users = 0

    def __call__(
        self,
        loop: asyncio.AbstractEventLoop,
        coro: Any,
        context: contextvars.Context | None = None,
    ) -> asyncio.Future[Any]:
        """Create the task, its coroutine wrapped when the creating code is metered."""
        meter = _current.get() if context is None else context.get(_current)
        # A non-coroutine is passed on as it is, for the task to refuse it as it would.
        if (
            meter is not None
            and asyncio.iscoroutine(coro)
            and not isinstance(coro, MeteredCoroutine)
        ):
            coro = MeteredCoroutine(coro, meter)
        if self.previous is not None:
            if context is None:
                return self.previous(loop, coro)
            return self.previous(loop, coro, context=context)
        return asyncio.Task(coro, loop=loop, context=context)


def attribute_spawned_tasks(loop: asyncio.AbstractEventLoop) -> None:
    """Meter the tasks metered code creates on `loop` (once per host; undo with the next)."""
    current = loop.get_task_factory()
    if isinstance(current, _MeteringTaskFactory):
        current.users += 1
        return
    factory = _MeteringTaskFactory(current)
    factory.users = 1
    loop.set_task_factory(factory)


def stop_attributing_spawned_tasks(loop: asyncio.AbstractEventLoop) -> None:
    """Undo one `attribute_spawned_tasks`; the last one puts the previous factory back."""
    current = loop.get_task_factory()
    if not isinstance(current, _MeteringTaskFactory):
        return  # replaced by someone else since: theirs stays
    current.users -= 1
    if current.users <= 0:
        loop.set_task_factory(current.previous)
