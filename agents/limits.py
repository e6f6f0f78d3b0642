"""The authentication agent's attempt limits: per caller, per caller and customer, per customer.

A *caller* is the verified token subject, plus the end user it acts for when the app says so
(message metadata `onBehalfOf`: a pseudonym of the signed-in person), so one person's failures
do not throttle everyone the app serves. A *customer* is the claimed first and last name (a
name is counted whether or not such a customer exists, so the answers never reveal who is one).
All windows slide, on a monotonic clock:

| limit                                   | default        | when reached                      |
|-----------------------------------------|----------------|-----------------------------------|
| verifications per caller                | 10 per minute  | that caller waits (throttled)     |
| failures per caller, any customers      | 6 per 15 min   | that caller is locked out         |
| failures per caller and customer        | 3 per 15 min   | that caller, for that customer    |
| failures per customer, all callers      | 10 per 15 min  | that customer, for every caller   |

Because one caller can add at most 3 failures to a customer, a customer is locked out for
everyone only when at least 4 callers failed on it: no single caller can lock a customer out
for the others. A success clears only that caller's failures for that customer.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass

MINUTE = 60.0
LOCKOUT_WINDOW_SECONDS = 15 * 60
CALLER_ATTEMPTS_PER_MINUTE = 10
CALLER_MAX_FAILURES = 6
MAX_FAILURES = 3
CUSTOMER_MAX_FAILURES = 10


class SlidingWindow:
    """Events per key within the last `window_seconds`; at `limit` the key waits."""

    def __init__(self, limit: int, window_seconds: float, clock: Callable[[], float]) -> None:
        self.limit = limit
        self.window_seconds = window_seconds
        self._clock = clock
        self._events: defaultdict[str, deque[float]] = defaultdict(deque)

    def _recent(self, key: str) -> deque[float]:
        events = self._events[key]
        cutoff = self._clock() - self.window_seconds
        while events and events[0] <= cutoff:
            events.popleft()
        if not events:
            del self._events[key]  # keeps memory to the keys seen within the window
            return deque()
        return events

    def wait(self, key: str) -> float:
        """Seconds until `key` is below its limit again; 0 when it is."""
        events = self._recent(key)
        if len(events) < self.limit:
            return 0.0
        return events[-self.limit] + self.window_seconds - self._clock()

    def add(self, key: str) -> int:
        """Count one event; return how many remain before the limit."""
        self._recent(key)
        events = self._events[key]
        events.append(self._clock())
        return max(0, self.limit - len(events))

    def clear(self, key: str) -> None:
        """Forget the events of `key`."""
        self._events.pop(key, None)


@dataclass(frozen=True)
class Refusal:
    """An attempt refused before verification: whose limit, and for how long."""

    scope: str  # "caller" or "customer"
    retry_after_seconds: int


class VerificationLimits:
    """The four limits of the module docstring, checked before and updated after a verify."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.caller_attempts = SlidingWindow(CALLER_ATTEMPTS_PER_MINUTE, MINUTE, clock)
        self.caller_failures = SlidingWindow(CALLER_MAX_FAILURES, LOCKOUT_WINDOW_SECONDS, clock)
        self.pair_failures = SlidingWindow(MAX_FAILURES, LOCKOUT_WINDOW_SECONDS, clock)
        self.customer_failures = SlidingWindow(CUSTOMER_MAX_FAILURES, LOCKOUT_WINDOW_SECONDS, clock)

    def check(self, caller: str, customer: str) -> Refusal | None:
        """Why this attempt may not be made now, if it may not; else count it as made."""
        checks = (
            ("caller", self.caller_attempts, caller),
            ("caller", self.caller_failures, caller),
            ("customer", self.pair_failures, _pair(caller, customer)),
            ("customer", self.customer_failures, customer),
        )
        for scope, window, key in checks:
            wait = window.wait(key)
            if wait > 0:
                return Refusal(scope, math.ceil(wait))
        self.caller_attempts.add(caller)
        return None

    def failed(self, caller: str, customer: str) -> int:
        """Count a failure; return the attempts left before the nearest lock-out."""
        return min(
            self.caller_failures.add(caller),
            self.pair_failures.add(_pair(caller, customer)),
            self.customer_failures.add(customer),
        )

    def succeeded(self, caller: str, customer: str) -> None:
        """Forget this caller's failures for this customer (not its failures elsewhere)."""
        self.pair_failures.clear(_pair(caller, customer))


def _pair(caller: str, customer: str) -> str:
    # "\n" cannot occur in a name (name_word) and is refused in a caller, so pairs never collide.
    return f"{caller}\n{customer}"
