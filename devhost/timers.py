"""Run timer triggers on their NCRONTAB schedules."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime

from devhost.functions import FunctionInfo, FunctionRunner
from devhost.schedule import Schedule, resolve_setting_reference

log = logging.getLogger("devhost")


class TimerRunner:
    """One asyncio task per timer function, sleeping until its next occurrence."""

    def __init__(
        self,
        timers: list[FunctionInfo],
        invoker: FunctionRunner,
        client_binding: Callable[[], str],
        environ: Mapping[str, str] = os.environ,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.invoker = invoker
        self.client_binding = client_binding
        # The clock and the sleep are seams for tests: a schedule checked without waiting.
        self._clock = clock
        self._sleep = sleep
        # Parse every schedule up front so a bad one stops the host at start-up.
        self.schedules = [
            (info, Schedule.parse(resolve_setting_reference(info.trigger.schedule, environ)))
            for info in timers
        ]
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        """Start the schedule loops."""
        for info, schedule in self.schedules:
            self._tasks.append(asyncio.get_running_loop().create_task(self._run(info, schedule)))

    async def stop(self) -> None:
        """Cancel the schedule loops."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _run(self, info: FunctionInfo, schedule: Schedule) -> None:
        if getattr(info.trigger, "run_on_startup", False):
            await self._fire(info)
        while True:
            now = self._clock()
            due = schedule.next_after(now)
            await self._sleep((due - now).total_seconds())
            await self._fire(info)

    async def _fire(self, info: FunctionInfo) -> None:
        log.info("[timer] %s: running", info.name)
        try:
            with self.invoker.occupancy.running("timer", info.name):
                await self.invoker.call_timer(info, self.client_binding())
        except Exception:  # a failing run is logged; the schedule goes on, as in the host
            log.exception("[timer] %s failed", info.name)
