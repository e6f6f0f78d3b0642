"""The Durable engine: replays orchestrators through the real SDK, runs their activities and timers.

The Python SDK ignores TaskScheduled/TimerCreated when it replays and numbers tasks with its own
counter, so this engine must hand out sequence ids in exactly the order the Durable Task Framework
would, including the ids the host spends on retry timers and reschedules (RetryInterceptor), which
never appear in the SDK's action list. Queued messages are delivered together, as the host
batches them, except that a retry-related message goes alone, so the order of retry ids and newly
scheduled ids is always known.
"""

from __future__ import annotations

import asyncio
import json
import logging
import traceback
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

from devhost.durable import history as h
from devhost.durable.faults import DROP, REPLAY
from devhost.durable.instance import Envelope, Instance, Leaf, RetryChain
from devhost.durable.snapshot import TERMINAL, capture, restore
from devhost.durable.store import DurableStore, MemoryStore
from devhost.functions import FunctionIndex, FunctionInfo, FunctionRunner

__all__ = ["DurableEngine", "Instance", "InstanceExists", "OrchestratorNotFound", "TERMINAL"]

log = logging.getLogger("devhost.durable")

OUT_OF_PROC_MARKER = "$OutOfProcData$:"
# How long a client operation waits for its change to be stored before the API gives up.
ACKNOWLEDGE_TIMEOUT_SECONDS = 10.0
# How long a stopping engine waits for its pending writes.
CLOSE_FLUSH_SECONDS = 3.0
COMPLETIONS = (
    h.EventType.TASK_COMPLETED,
    h.EventType.TASK_FAILED,
    h.EventType.SUB_ORCHESTRATION_COMPLETED,
    h.EventType.SUB_ORCHESTRATION_FAILED,
)

# Action types of the SDK's out-of-proc protocol.
CALL_ACTIVITY, CALL_ACTIVITY_WITH_RETRY = 0, 1
CALL_SUB_ORCHESTRATOR, CALL_SUB_ORCHESTRATOR_WITH_RETRY = 2, 3
CONTINUE_AS_NEW, CREATE_TIMER, WAIT_FOR_EXTERNAL_EVENT = 4, 5, 6
WHEN_ANY, WHEN_ALL = 11, 12
ACTION_NAMES = {
    0: "CallActivity",
    1: "CallActivityWithRetry",
    2: "CallSubOrchestrator",
    3: "CallSubOrchestratorWithRetry",
    4: "ContinueAsNew",
    5: "CreateTimer",
    6: "WaitForExternalEvent",
    7: "CallEntity",
    8: "CallHttp",
    9: "SignalEntity",
}

# The Azure Storage backend's long-timer settings, sent to the SDK in every context.
MAXIMUM_SHORT_TIMER = "6.00:00:00"
LONG_TIMER_INTERVAL = "3.00:00:00"


class InstanceExists(Exception):
    """An instance with that id is already pending or running."""


class OrchestratorNotFound(Exception):
    """No orchestrator function has that name."""


def utcnow() -> datetime:
    """The engine's clock."""
    return datetime.now(UTC)


def parse_time(text: str) -> datetime:
    """Parse the SDK's `fireAt` format back into an aware datetime."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def flatten(actions: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """The leaf actions of the SDK's (cumulative, yield-ordered) action list, depth first."""
    leaves: list[dict[str, Any]] = []

    def walk(action: dict[str, Any]) -> None:
        if action["actionType"] in (WHEN_ANY, WHEN_ALL):
            for child in action.get("compoundActions") or []:
                walk(child)
        else:
            leaves.append(action)

    for group in actions:
        for action in group:
            walk(action)
    return leaves


def leaf_name(action: dict[str, Any]) -> str | None:
    """The function or event name an action refers to."""
    return action.get("functionName") or action.get("externalEventName")


class DurableEngine:
    """Runs orchestration instances on the real clock, in memory, writing them through to a
    store (devhost/durable/store.py) that a restarted engine resumes from (`load`)."""

    def __init__(
        self,
        index: FunctionIndex,
        invoker: FunctionRunner,
        *,
        event_double_encoding: bool = True,
        activity_faults: frozenset[str] = frozenset(),
        on_step: Callable[[str], None] | None = None,
        store: DurableStore | None = None,
    ) -> None:
        self.index = index
        self.store: DurableStore = store or MemoryStore()
        self.invoker = invoker
        # Off unless asked for (devhost/durable/faults.py): the activities' at-least-once runs.
        self.activity_faults = activity_faults
        # The SDK posts an event's data as JSON text wrapped in a JSON string, and the extension
        # stores that body without unwrapping it, so orchestrators receive the JSON text, not the
        # value (Azure/azure-functions-durable-python#295). Kept by default: the app must be
        # written for what Azure does.
        self.event_double_encoding = event_double_encoding
        self.instances: dict[str, Instance] = {}
        self._progress = asyncio.Condition()
        self._orchestrator_thread = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="devhost-orch"
        )
        self._background: set[asyncio.Task[None]] = set()
        self._step = on_step or (lambda line: log.info("%s", line))
        # Stamps every change (global, so a purged id started again keeps counting upwards).
        self._clock = 0
        self._last_change: dict[str, int] = {}
        # A stopped engine takes no more work: a late activity result belongs to the next one.
        self._closed = False

    # ----- persistence -----

    async def load(self) -> int:
        """Open the store and take over every instance in it: finished ones answer queries,
        running ones resume (their inbox, timers and unfinished activities); the count."""
        await self.store.open()
        stored = await self.store.load()
        for record in stored:
            instance = restore(record)
            self.instances[instance.instance_id] = instance
            self._clock = max(self._clock, record.changes)
        running = [i for i in self.instances.values() if i.status not in TERMINAL]
        for instance in sorted(running, key=lambda i: i.created):
            self._resume(instance)
        if stored:
            self._step(
                f"[durable] loaded {len(stored)} instance(s) from the store, {len(running)} resumed"
            )
        return len(stored)

    def _resume(self, instance: Instance) -> None:
        """Pick a running instance up where the store left it: messages not yet taken go
        back in (but completions from an episode that was never stored are dropped: that
        episode runs again and schedules its work again), timers are re-armed (a due one fires
        at once), and the activities and sub-orchestrations scheduled without a completion
        run again (at least once, as in Azure)."""
        instance.inbox = deque(e for e in instance.inbox if not self._unscheduled(instance, e))
        for timer_id, due in sorted(instance.timer_due.items()):
            self._start_timer(instance, timer_id, due)
        done = {
            event["TaskScheduledId"]
            for event in [*instance.history, *(e.message for e in instance.inbox)]
            if event["EventType"] in COMPLETIONS
        }
        rerun = []
        for event in instance.history:
            task_id = event["EventId"]
            if task_id in done:
                continue
            if event["EventType"] == h.EventType.TASK_SCHEDULED:
                self._start_activity(instance, task_id, event["Name"], event.get("Input"))
                rerun.append(f"{event['Name']}#{task_id}")
            elif event["EventType"] == h.EventType.SUB_ORCHESTRATION_CREATED:
                self._start_child(
                    instance, task_id, event["Name"], event["InstanceId"], event.get("Input")
                )
                rerun.append(f"{event['Name']}#{task_id}")
        self._start_pump(instance)
        self._step(
            f"[durable] {instance.name} {instance.instance_id}: resumed "
            f"({len(instance.inbox)} message(s), {len(instance.timer_due)} timer(s)"
            + (f", running again: {', '.join(rerun)})" if rerun else ")")
        )

    @staticmethod
    def _unscheduled(instance: Instance, envelope: Envelope) -> bool:
        """A completion for a task id the stored history never handed out."""
        message = envelope.message
        if envelope.execution not in (None, instance.execution):
            return False  # dropped as stale when it is taken
        if message["EventType"] in COMPLETIONS:
            return message["TaskScheduledId"] >= instance.next_id
        if message["EventType"] == h.EventType.TIMER_FIRED:
            return message["TimerId"] >= instance.next_id
        return False

    async def acknowledge(
        self, instance_id: str, timeout: float = ACKNOWLEDGE_TIMEOUT_SECONDS
    ) -> bool:
        """Wait until the instance's latest change is stored (what a client operation needs
        before the API answers); False when the store did not take it in time."""
        changes = self._last_change.get(instance_id)
        if changes is None:
            return True
        return await self.store.flush(instance_id, changes, timeout)

    def _changed(self, instance: Instance) -> None:
        """Stamp a change; store it now unless an episode runs (then at the episode's end)."""
        self._clock += 1
        instance.changes = self._clock
        self._last_change[instance.instance_id] = self._clock
        if not instance.busy:
            self._save(instance)

    def _save(self, instance: Instance) -> None:
        """Hand the store a snapshot of the instance (between episodes only)."""
        if self.store.persistent and not self._closed:
            self.store.save(capture(instance))

    # ----- client operations (what the Durable HTTP API calls) -----

    def start(
        self,
        name: str,
        instance_id: str,
        input_json: str | None,
        parent: tuple[str, int] | None = None,
    ) -> Instance:
        """Create an instance and queue its ExecutionStarted; an existing running one is refused."""
        if name not in self.index.orchestrators:
            raise OrchestratorNotFound(
                f"The function '{name}' doesn't exist, is disabled, "
                "or is not an orchestrator function."
            )
        existing = self.instances.get(instance_id)
        if existing and existing.status not in TERMINAL:
            raise InstanceExists(
                f"An Orchestration instance with the status {existing.status} already exists."
            )
        if existing:
            existing.reset(None)
        now = utcnow()
        instance = Instance(instance_id, name, input_json, now, now, parent=parent)
        if parent is not None:
            parent_instance = self.instances.get(parent[0])
            instance.parent_execution = parent_instance.execution if parent_instance else 0
        if existing:
            instance.execution = existing.execution
            # Delivery numbers keep growing: the store drops messages numbered up to the last
            # one taken, whichever execution they were for.
            instance.inbox_next = existing.inbox_next
            instance.inbox_consumed = existing.inbox_consumed
        self.instances[instance_id] = instance
        self._deliver(
            instance,
            None,
            h.execution_started(now, name, instance_id, input_json, parent[0] if parent else None),
        )
        self._step(f"[durable] {name} {instance_id}: started")
        return instance

    def raise_event(self, instance_id: str, name: str, body_json: str) -> bool:
        """Queue an external event (the request body as posted); False when unknown or finished."""
        instance = self.instances.get(instance_id)
        if instance is None or instance.status in TERMINAL:
            return False
        payload = body_json
        if not self.event_double_encoding:
            value = json.loads(body_json)
            payload = value if isinstance(value, str) else body_json
        self._deliver(instance, None, h.event_raised(utcnow(), name, payload))
        return True

    def terminate(self, instance_id: str, reason: str) -> bool:
        """Terminate a running instance; False when unknown or already finished."""
        instance = self.instances.get(instance_id)
        if instance is None or instance.status in TERMINAL:
            return False
        self._deliver(
            instance, None, {"EventType": h.EventType.EXECUTION_TERMINATED, "Input": reason}
        )
        return True

    def purge(self, instance_id: str) -> bool:
        """Forget a finished instance."""
        instance = self.instances.get(instance_id)
        if instance is None or instance.status not in TERMINAL:
            return False
        del self.instances[instance_id]
        self._clock += 1
        instance.changes = self._clock
        self._last_change[instance_id] = self._clock
        if self.store.persistent:
            self.store.save(capture(instance, deleted=True))
        return True

    async def wait(self, instance_id: str, timeout: float) -> Instance:
        """Wait until the instance has finished (tests and tools; the app polls over HTTP)."""

        def finished() -> bool:
            instance = self.instances.get(instance_id)
            return instance is not None and instance.status in TERMINAL

        async with self._progress:
            await asyncio.wait_for(self._progress.wait_for(finished), timeout)
        return self.instances[instance_id]

    async def wait_idle(self, instance_id: str, timeout: float) -> Instance:
        """Wait until the instance has no queued work (it may still wait for a timer or event)."""

        def idle() -> bool:
            instance = self.instances.get(instance_id)
            return (
                instance is not None
                and not instance.inbox
                and (instance.pump is None or instance.pump.done())
            )

        deadline = asyncio.get_running_loop().time() + timeout
        while not idle():
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"instance {instance_id} still busy after {timeout}s")
            await asyncio.sleep(0.01)
        return self.instances[instance_id]

    async def activities_settled(self, timeout: float) -> None:
        """Wait until no activity runs, including the reruns the fault modes make after the
        orchestration has moved on (tests and tools)."""
        if self._background:
            await asyncio.wait_for(asyncio.gather(*list(self._background)), timeout)

    async def close(self) -> None:
        """Cancel timers and background work; store what is pending (bounded). An episode cut
        short is not stored: a restarted engine runs it again, as after a crash."""
        self._closed = True
        for instance in self.instances.values():
            for handle in instance.timers.values():
                handle.cancel()
            if instance.pump and not instance.pump.done():
                instance.pump.cancel()
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        self._orchestrator_thread.shutdown(wait=False, cancel_futures=True)
        await self.store.close(CLOSE_FLUSH_SECONDS)

    # ----- message delivery -----

    def _deliver(self, instance: Instance, execution: int | None, message: dict[str, Any]) -> None:
        if self._closed:
            return
        instance.inbox.append(Envelope(instance.inbox_next, execution, message))
        instance.inbox_next += 1
        self._changed(instance)
        self._start_pump(instance)

    def _start_pump(self, instance: Instance) -> None:
        """Run the instance's episodes, one at a time, while its inbox has messages."""
        if instance.inbox and (instance.pump is None or instance.pump.done()):
            instance.pump = asyncio.get_running_loop().create_task(self._pump(instance))

    def _deliver_to(self, instance_id: str, execution: int, message: dict[str, Any]) -> None:
        instance = self.instances.get(instance_id)
        if instance is None or instance.status in TERMINAL:
            return
        self._deliver(instance, execution, message)

    async def _pump(self, instance: Instance) -> None:
        while instance.inbox:
            batch = self._next_batch(instance)
            if not batch:
                continue
            instance.busy = True
            try:
                await self._process(instance, batch)
            except Exception as exc:  # the engine must survive any single bad episode
                log.exception("[durable] %s: episode crashed", instance.instance_id)
                await self._fail(instance, f"devhost could not run this episode: {exc}")
            instance.busy = False
            self._changed(instance)  # the episode's commit point
            async with self._progress:
                self._progress.notify_all()

    def _next_batch(self, instance: Instance) -> list[dict[str, Any]]:
        """The messages of the next episode: everything queued, as the host batches them, except
        that a retry-related message or a termination goes alone (the ids the host spends on a
        retry depend on where in the episode it is processed)."""
        batch: list[dict[str, Any]] = []
        while instance.inbox:
            seq, execution, message = instance.inbox[0]
            stale = execution is not None and execution != instance.execution
            if instance.status in TERMINAL or stale:
                instance.inbox.popleft()  # for a finished instance, or from before continue-as-new
                instance.inbox_consumed = seq
                continue
            alone = self._goes_alone(instance, message)
            if alone and batch:
                break
            instance.inbox.popleft()
            instance.inbox_consumed = seq
            batch.append(message)
            if alone:
                break
        return batch

    @staticmethod
    def _goes_alone(instance: Instance, message: dict[str, Any]) -> bool:
        kind = message["EventType"]
        if kind == h.EventType.EXECUTION_TERMINATED:
            return True
        if kind in (h.EventType.TASK_FAILED, h.EventType.SUB_ORCHESTRATION_FAILED):
            return message["TaskScheduledId"] in instance.retry_tasks
        return kind == h.EventType.TIMER_FIRED and message["TimerId"] in instance.retry_timers

    # ----- one episode -----

    async def _process(self, instance: Instance, messages: list[dict[str, Any]]) -> None:
        first = messages[0]
        if first["EventType"] == h.EventType.EXECUTION_TERMINATED:
            await self._finish(instance, "Terminated", json.dumps(first.get("Input") or ""))
            self._step(f"[durable] {instance.name} {instance.instance_id}: terminated")
            return
        now = max(utcnow(), self._last_timestamp(instance))
        instance.status = "Running"
        for event in instance.history:
            event["IsPlayed"] = True
        instance.history.append(h.orchestrator_started(now))
        instance.history.extend(messages)
        context_json = json.dumps(
            {
                "history": instance.history,
                "input": instance.input_json,
                "instanceId": instance.instance_id,
                "isReplaying": False,
                "parentInstanceId": instance.parent[0] if instance.parent else None,
                "upperSchemaVersion": 1,
                "upperSchemaVersionNew": 2,
                "maximumShortTimerDuration": MAXIMUM_SHORT_TIMER,
                "longRunningTimerIntervalDuration": LONG_TIMER_INTERVAL,
                "defaultHttpAsyncRequestSleepTimeMillseconds": 30000,
            }
        )
        # Counted for the bench (devhost/cpu.py): each episode replays the whole history.
        self.invoker.ledger.episode(len(instance.history))
        state, error = await self._run_orchestrator(instance, context_json)
        instance.updated = now
        if state is not None and state.get("customStatus") is not None:
            instance.custom_status = state["customStatus"]
        if error is not None or state is None:
            instance.history.append(h.orchestrator_completed(now))
            cause = error or "it returned no state"
            await self._fail(instance, f"Orchestrator function '{instance.name}' failed: {cause}")
            return

        for message in messages:
            self._host_retry_bookkeeping(instance, message, now)
        leaves = flatten(state.get("actions") or [])
        mismatch = self._nondeterminism(instance, leaves)
        if mismatch:
            instance.history.append(h.orchestrator_completed(now))
            await self._fail(instance, mismatch)
            return
        scheduled = [
            self._schedule(instance, action, now) for action in leaves[len(instance.leaves) :]
        ]
        self._apply_cancellations(instance, leaves)
        instance.history.append(h.orchestrator_completed(now))
        self._step(self._describe_step(instance, messages, scheduled))

        if state.get("isDone"):
            continue_as_new = next((a for a in leaves if a["actionType"] == CONTINUE_AS_NEW), None)
            if continue_as_new is not None:
                self._continue_as_new(instance, continue_as_new.get("input"))
            elif instance.timers:
                # Durable keeps an instance Running until its un-cancelled timers have fired.
                instance.output_json = json.dumps(state.get("output"))
            else:
                await self._finish(instance, "Completed", json.dumps(state.get("output")))

    async def _run_orchestrator(
        self, instance: Instance, context_json: str
    ) -> tuple[dict[str, Any] | None, str | None]:
        info = self.index.orchestrators[instance.name]
        loop = asyncio.get_running_loop()
        try:
            with self.invoker.occupancy.running("orchestrator", info.name):
                result = await loop.run_in_executor(
                    self._orchestrator_thread, self.invoker.call_orchestrator, info, context_json
                )
        except Exception as exc:  # the SDK reports orchestrator exceptions this way
            text = str(exc)
            if OUT_OF_PROC_MARKER in text:
                message, _, state_json = text.partition("\n\n" + OUT_OF_PROC_MARKER)
                state = json.loads(state_json)
                return state, state.get("error") or message
            return None, f"{type(exc).__name__}: {exc}"
        return json.loads(result), None

    def _host_retry_bookkeeping(
        self, instance: Instance, message: dict[str, Any], now: datetime
    ) -> None:
        """What DTFx's RetryInterceptor does after a failed attempt or a fired retry timer."""
        kind = message["EventType"]
        if kind in (h.EventType.TASK_FAILED, h.EventType.SUB_ORCHESTRATION_FAILED):
            chain = instance.retry_tasks.pop(message["TaskScheduledId"], None)
            if chain is not None:
                # A timer follows every failed attempt, the last one included.
                timer_id = instance.take_id()
                fire_at = now + chain.interval
                instance.history.append(h.timer_created(now, timer_id, fire_at))
                instance.retry_timers[timer_id] = chain
                self._start_timer(instance, timer_id, fire_at)
        elif kind == h.EventType.TIMER_FIRED:
            chain = instance.retry_timers.pop(message["TimerId"], None)
            if chain is not None and chain.attempts < chain.max_attempts:
                chain.attempts += 1
                task_id = instance.take_id()
                instance.retry_tasks[task_id] = chain
                self._launch(instance, chain.action, task_id, now)

    def _nondeterminism(self, instance: Instance, leaves: list[dict[str, Any]]) -> str | None:
        for position, known in enumerate(instance.leaves):
            if position >= len(leaves):
                return self._nondeterminism_message(known, None)
            action = leaves[position]
            if (action["actionType"], leaf_name(action)) != (known.action_type, known.name):
                return self._nondeterminism_message(known, action)
        return None

    @staticmethod
    def _nondeterminism_message(known: Leaf, action: dict[str, Any] | None) -> str:
        now_doing = (
            "hasn't (yet?) scheduled this task"
            if action is None
            else f"scheduled {ACTION_NAMES.get(action['actionType'])} '{leaf_name(action)}' instead"
        )
        return (
            "Non-Deterministic workflow detected: A previous execution of this orchestration "
            f"scheduled {ACTION_NAMES.get(known.action_type)} '{known.name}' with sequence ID "
            f"{known.task_id}, but the current replay execution {now_doing}. "
            "Was a change made to the "
            "orchestrator code after this instance had already started running?"
        )

    def _schedule(self, instance: Instance, action: dict[str, Any], now: datetime) -> str:
        """Turn one new leaf action into history and work, taking a sequence id where DTFx does."""
        kind = action["actionType"]
        name = leaf_name(action)
        if kind in (WAIT_FOR_EXTERNAL_EVENT, CONTINUE_AS_NEW):
            instance.leaves.append(Leaf(kind, name, None))
            return f"wait:{name}" if kind == WAIT_FOR_EXTERNAL_EVENT else "continue-as-new"
        if kind not in (
            CALL_ACTIVITY,
            CALL_ACTIVITY_WITH_RETRY,
            CALL_SUB_ORCHESTRATOR,
            CALL_SUB_ORCHESTRATOR_WITH_RETRY,
            CREATE_TIMER,
        ):
            raise NotImplementedError(
                f"devhost does not support {ACTION_NAMES.get(kind, kind)} actions"
            )
        task_id = instance.take_id()
        instance.leaves.append(Leaf(kind, name, task_id))
        if kind == CREATE_TIMER:
            fire_at = parse_time(action["fireAt"])
            instance.history.append(h.timer_created(now, task_id, fire_at))
            if not action.get("isCanceled"):
                self._start_timer(instance, task_id, fire_at)
            return f"timer#{task_id}"
        if kind in (CALL_ACTIVITY_WITH_RETRY, CALL_SUB_ORCHESTRATOR_WITH_RETRY):
            options = action["retryOptions"]
            instance.retry_tasks[task_id] = RetryChain(
                action=action,
                max_attempts=int(options["maxNumberOfAttempts"]),
                interval=timedelta(milliseconds=int(options["firstRetryIntervalInMilliseconds"])),
            )
        self._launch(instance, action, task_id, now)
        return f"{name}#{task_id}"

    def _launch(
        self, instance: Instance, action: dict[str, Any], task_id: int, now: datetime
    ) -> None:
        """Start an activity or a sub-orchestration for sequence id `task_id`."""
        name = action["functionName"]
        input_json = action.get("input")
        if action["actionType"] in (CALL_SUB_ORCHESTRATOR, CALL_SUB_ORCHESTRATOR_WITH_RETRY):
            child_id = action.get("instanceId") or f"{instance.instance_id}:{task_id}"
            instance.history.append(
                h.sub_orchestration_created(now, task_id, name, child_id, input_json)
            )
            self._start_child(instance, task_id, name, child_id, input_json)
            return
        instance.history.append(h.task_scheduled(now, task_id, name, input_json))
        self._start_activity(instance, task_id, name, input_json)

    def _start_child(
        self, instance: Instance, task_id: int, name: str, child_id: str, input_json: str | None
    ) -> None:
        """Start sub-orchestration `child_id`, or adopt it: an episode that was never stored
        (a crash) may already have started it, and its run again must not start it twice."""
        existing = self.instances.get(child_id)
        if (
            existing is not None
            and existing.parent == (instance.instance_id, task_id)
            and existing.parent_execution == instance.execution
        ):
            if existing.status in TERMINAL:
                self._notify_parent(existing)
            return
        try:
            self.start(name, child_id, input_json, parent=(instance.instance_id, task_id))
        except (OrchestratorNotFound, InstanceExists) as exc:
            self._deliver(
                instance,
                instance.execution,
                h.sub_orchestration_failed(utcnow(), task_id, str(exc), None),
            )

    def _start_activity(
        self, instance: Instance, task_id: int, name: str, input_json: str | None
    ) -> None:
        """Run activity `task_id` in the background; its result comes back as a message."""
        task = asyncio.get_running_loop().create_task(
            self._run_activity(instance.instance_id, instance.execution, task_id, name, input_json)
        )
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _run_activity(
        self, instance_id: str, execution: int, task_id: int, name: str, input_json: str | None
    ) -> None:
        info = self.index.activities.get(name)
        if info is None:
            message = h.task_failed(
                utcnow(),
                task_id,
                f"The function '{name}' doesn't exist, is disabled, "
                "or is not an activity function.",
                None,
            )
            self._deliver_to(instance_id, execution, message)
            return
        label = f"[durable] activity {name}#{task_id} ({instance_id})"
        message = await self._execute(info, label, task_id, input_json)
        if DROP in self.activity_faults:
            self._step(f"{label}: completion dropped (fault: {DROP}); running it again")
            message = await self._execute(info, label, task_id, input_json)
        self._deliver_to(instance_id, execution, message)
        if REPLAY in self.activity_faults:
            self._step(f"{label}: completion delivered; running it again (fault: {REPLAY})")
            await self._execute(info, label, task_id, input_json)

    async def _execute(
        self, info: FunctionInfo, label: str, task_id: int, input_json: str | None
    ) -> dict[str, Any]:
        """Run the activity once; its TaskCompleted or TaskFailed message."""
        self._step(f"{label}: started")
        try:
            with self.invoker.occupancy.running("activity", info.name):
                result_json = await self.invoker.call_activity(info, input_json)
        except Exception as exc:  # an activity's exception becomes TaskFailed, as in the host
            details = "".join(traceback.format_exception(exc))
            self._step(f"{label}: failed: {exc}")
            return h.task_failed(
                utcnow(), task_id, f"Activity function '{info.durable_name}' failed: {exc}", details
            )
        self._step(f"{label}: completed")
        return h.task_completed(utcnow(), task_id, result_json)

    # ----- timers -----

    def _start_timer(self, instance: Instance, timer_id: int, fire_at: datetime) -> None:
        delay = max(0.0, (fire_at - utcnow()).total_seconds())
        instance.timer_due[timer_id] = fire_at
        loop = asyncio.get_running_loop()
        instance.timers[timer_id] = loop.call_later(
            delay, self._fire_timer, instance.instance_id, instance.execution, timer_id, fire_at
        )

    def _fire_timer(
        self, instance_id: str, execution: int, timer_id: int, fire_at: datetime
    ) -> None:
        instance = self.instances.get(instance_id)
        if instance is None or instance.execution != execution:
            return
        if utcnow() < fire_at:  # the loop's monotonic clock ran ahead of the wall clock
            self._start_timer(instance, timer_id, fire_at)
            return
        instance.timers.pop(timer_id, None)
        instance.timer_due.pop(timer_id, None)
        if instance.status in TERMINAL:
            return
        self._deliver_to(instance_id, execution, h.timer_fired(fire_at, timer_id, fire_at))

    def _apply_cancellations(self, instance: Instance, leaves: list[dict[str, Any]]) -> None:
        for leaf, action in zip(instance.leaves, leaves, strict=False):
            if (
                leaf.action_type == CREATE_TIMER
                and leaf.task_id is not None
                and action.get("isCanceled")
            ):
                instance.cancel_timer(leaf.task_id)

    # ----- endings -----

    def _continue_as_new(self, instance: Instance, input_json: str | None) -> None:
        self.invoker.ledger.execution_finished(len(instance.history))
        instance.reset(input_json)
        instance.status = "Running"
        now = utcnow()
        self._deliver(
            instance,
            None,
            h.execution_started(
                now,
                instance.name,
                instance.instance_id,
                input_json,
                instance.parent[0] if instance.parent else None,
            ),
        )
        self._step(f"[durable] {instance.name} {instance.instance_id}: continued as new")

    async def _fail(self, instance: Instance, error: str) -> None:
        self._step(
            f"[durable] {instance.name} {instance.instance_id}: failed: {error.splitlines()[0]}"
        )
        await self._finish(instance, "Failed", json.dumps(error))

    async def _finish(self, instance: Instance, status: str, output_json: str) -> None:
        instance.cancel_all_timers()
        now = utcnow()
        instance.status = status
        instance.output_json = output_json
        instance.updated = now
        instance.history.append(h.execution_completed(now, status, output_json))
        self.invoker.ledger.execution_finished(len(instance.history))
        if status == "Completed":
            self._step(f"[durable] {instance.name} {instance.instance_id}: completed")
        self._notify_parent(instance)
        async with self._progress:
            self._progress.notify_all()

    def _notify_parent(self, instance: Instance) -> None:
        """Tell the parent orchestration that this sub-orchestration finished."""
        if not instance.parent:
            return
        parent_id, task_id = instance.parent
        if parent_id not in self.instances:
            return
        now = utcnow()
        if instance.status == "Completed":
            message = h.sub_orchestration_completed(now, task_id, instance.output_json)
        else:
            reason = (
                f"Orchestrator function '{instance.name}' failed: "
                f"{json.loads(instance.output_json or 'null')}"
            )
            message = h.sub_orchestration_failed(now, task_id, reason, None)
        self._deliver_to(parent_id, instance.parent_execution, message)

    # ----- helpers -----

    @staticmethod
    def _last_timestamp(instance: Instance) -> datetime:
        if not instance.history:
            return instance.created
        return parse_time(instance.history[-1]["Timestamp"])

    @staticmethod
    def _describe_step(
        instance: Instance, messages: list[dict[str, Any]], scheduled: list[str]
    ) -> str:
        received = []
        for message in messages:
            kind = h.EventType(message["EventType"]).name
            ref = message.get("TaskScheduledId", message.get("TimerId", message.get("Name", "")))
            received.append(f"{kind} {ref}".rstrip())
        line = f"[durable] {instance.name} {instance.instance_id}: {', '.join(received)}"
        if scheduled:
            line += " -> " + ", ".join(scheduled)
        return line
