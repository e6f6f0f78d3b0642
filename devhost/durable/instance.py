"""An orchestration instance as the engine holds it in memory, and the parts it is made of."""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple


class Envelope(NamedTuple):
    """A message in an instance's inbox: its delivery number, the execution it is for (None:
    any) and the history event it carries."""

    seq: int
    execution: int | None
    message: dict[str, Any]


@dataclass
class Leaf:
    """One scheduled action, in the order the SDK yielded it."""

    action_type: int
    name: str | None
    task_id: int | None


@dataclass
class RetryChain:
    """The host-side state of one `*_with_retry` call (DTFx RetryInterceptor)."""

    action: dict[str, Any]
    max_attempts: int
    interval: timedelta
    attempts: int = 1


@dataclass
class Instance:
    """One orchestration instance and everything the host keeps about it."""

    instance_id: str
    name: str
    input_json: str | None
    created: datetime
    updated: datetime
    parent: tuple[str, int] | None = None
    # The parent's execution that started this one (a parent continued as new ignores it).
    parent_execution: int = 0
    status: str = "Pending"
    output_json: str | None = None
    custom_status: Any = None
    execution: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    inbox: deque[Envelope] = field(default_factory=deque)
    next_id: int = 0
    leaves: list[Leaf] = field(default_factory=list)
    retry_tasks: dict[int, RetryChain] = field(default_factory=dict)
    retry_timers: dict[int, RetryChain] = field(default_factory=dict)
    timers: dict[int, asyncio.TimerHandle] = field(default_factory=dict)
    # When each pending timer fires: what a restarted engine re-arms.
    timer_due: dict[int, datetime] = field(default_factory=dict)
    pump: asyncio.Task[None] | None = None
    # Inbox bookkeeping for the store: the next delivery number, and the last one an episode
    # has taken (messages are taken in delivery order).
    inbox_next: int = 1
    inbox_consumed: int = 0
    # True while an episode runs: the state is only saved between episodes, never half-way.
    busy: bool = False
    # Counts changes, so a client operation can wait until its change is stored.
    changes: int = 0

    def reset(self, input_json: str | None) -> None:
        """Start a fresh execution (continue-as-new): new history, ids and timers."""
        for handle in self.timers.values():
            handle.cancel()
        self.input_json = input_json
        self.execution += 1
        self.history = []
        self.next_id = 0
        self.leaves = []
        self.retry_tasks = {}
        self.retry_timers = {}
        self.timers = {}
        self.timer_due = {}
        self.output_json = None

    def take_id(self) -> int:
        """Hand out the next sequence id, as DTFx's context does."""
        task_id = self.next_id
        self.next_id += 1
        return task_id

    def cancel_timer(self, timer_id: int) -> None:
        """Disarm a pending timer (it will never fire)."""
        handle = self.timers.pop(timer_id, None)
        self.timer_due.pop(timer_id, None)
        if handle is not None:
            handle.cancel()

    def cancel_all_timers(self) -> None:
        """Disarm every pending timer."""
        for timer_id in list(self.timers):
            self.cancel_timer(timer_id)
        self.timer_due.clear()
