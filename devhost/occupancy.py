"""Wall time the app's functions keep instances executing, per Flex Consumption scale group.

Flex Consumption bills an instance's memory for the time it executes at least one function
(the On Demand Execution Time meter, GB-s), and scales HTTP functions and Durable functions
(orchestrators, activities) in separate groups of instances; every other function (here the
timers) scales in a group of its own. How many invocations share an instance decides the bill:
for HTTP it is the plan's per-instance concurrency, which is 1 for a Python app unless set.
So two figures per group, the two ends of that range:

- `held`: the invocations' wall times added up, the instance time when each instance runs one
  invocation at a time;
- `busy`: the time at least one of the group's invocations was running, the instance time when
  one instance runs them all at once.

Wall time (`time.monotonic()`), unlike devhost/cpu.py: an instance is billed while it waits.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

from devhost.cpu import Kind

HTTP = "http"
DURABLE = "durable"


def scale_group(kind: Kind, name: str) -> str:
    """The Flex Consumption scale group a function of this kind runs in."""
    if kind == "http":
        return HTTP
    if kind in ("orchestrator", "activity"):
        return DURABLE
    return name


@dataclass(frozen=True)
class Occupied:
    """A group's invocations, and the instance seconds they took at both ends of sharing."""

    invocations: int = 0
    held_seconds: float = 0.0
    busy_seconds: float = 0.0

    def minus(self, earlier: Occupied) -> Occupied:
        """What was added since `earlier`."""
        return Occupied(
            self.invocations - earlier.invocations,
            self.held_seconds - earlier.held_seconds,
            self.busy_seconds - earlier.busy_seconds,
        )


class _Group:
    """One group's running count and totals (the caller holds the lock)."""

    def __init__(self) -> None:
        self.invocations = 0
        self.running = 0
        self.started_sum = 0.0  # the start times of the invocations running now, added up
        self.busy_since = 0.0
        self.held = 0.0
        self.busy = 0.0

    def at(self, now: float) -> Occupied:
        """The totals as of `now`, the invocations still running counted up to it."""
        held = self.held + self.running * now - self.started_sum
        busy = self.busy + (now - self.busy_since if self.running else 0.0)
        return Occupied(self.invocations, held, busy)


class Occupancy:
    """Per scale group: invocations, held and busy seconds. Thread-safe (the engine's thread
    and the event loop both report)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._groups: dict[str, _Group] = {}

    @contextmanager
    def running(self, kind: Kind, name: str) -> Iterator[None]:
        """Count the `with` block as one invocation of function `name` executing."""
        group = scale_group(kind, name)
        with self._lock:
            tally = self._groups.setdefault(group, _Group())
            start = self._clock()
            tally.invocations += 1
            if tally.running == 0:
                tally.busy_since = start
            tally.running += 1
            tally.started_sum += start
        try:
            yield
        finally:
            with self._lock:
                end = self._clock()
                tally.running -= 1
                tally.started_sum -= start
                tally.held += end - start
                if tally.running == 0:
                    tally.busy += end - tally.busy_since
                    tally.started_sum = 0.0  # no rounding left over from the subtractions

    def snapshot(self) -> Mapping[str, Occupied]:
        """Every group's totals so far."""
        with self._lock:
            now = self._clock()
            return {group: tally.at(now) for group, tally in self._groups.items()}
