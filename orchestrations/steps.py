"""Building blocks of the delegation orchestration: deterministic generator helpers.

Everything here runs inside the orchestrator: no I/O, no clock but
`context.current_utc_datetime`, no randomness but `context.new_uuid()`. Log lines are written
only when not replaying (`say`), with the correlation fields passed explicitly from the input.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
from collections.abc import Generator, Iterable
from datetime import datetime, timedelta
from typing import Any, cast

import azure.durable_functions as df
from azure.durable_functions.models.Task import TaskBase, TaskState, TimerTask

from orchestrations.contract import (
    ANSWERED,
    AWAITING_APPROVAL,
    CALL_SPECIALIST,
    PLANNING,
    PUBLISH_EVENTS,
    Answer,
    CustomStatus,
    DelegationJob,
    EventBatchInput,
    PendingApproval,
    QueuedEvent,
    SpecialistCall,
    SpecialistResult,
    TraceFields,
)
from voicea2a.a2a import card_streams
from voicea2a.compose import AgentOutcome
from voicea2a.config import DelegationSettings
from voicea2a.planner import Step
from voicea2a.telemetry.context import log_fields

log = logging.getLogger("orchestrations.delegation")
_DEFAULTS = DelegationSettings()  # for instances started before a limit existed


def trace_fields(context: df.DurableOrchestrationContext, job: DelegationJob) -> TraceFields:
    """What every activity input carries so its log lines and span join this delegation's:
    the correlation fields and the HTTP request's traceparent (bindings.activity);
    without one, a traceparent derived from the instance id keeps the delegation one trace."""
    return {
        "correlationId": job.get("correlationId"),
        "traceparent": job.get("traceparent") or _derived_traceparent(context.instance_id),
        "conversationId": job.get("conversationId"),
        "callId": job.get("callId"),
        "instanceId": context.instance_id,
        "user": job.get("user"),
    }


def timer(context: df.DurableOrchestrationContext, fire_at: datetime) -> TimerTask:
    """A durable timer that can be cancelled (the SDK annotates it as a plain TaskBase)."""
    # create_timer returns a TimerTask, or for long waits a LongTimerTask: both have cancel().
    return cast(TimerTask, context.create_timer(fire_at))


def _derived_traceparent(instance_id: str) -> str:
    # Deterministic (replays give the same value) and never all zeros.
    digest = hashlib.sha256(instance_id.encode()).hexdigest()
    return f"00-{digest[:31]}1-{digest[32:47]}1-01"


def say(
    context: df.DurableOrchestrationContext,
    job: DelegationJob,
    message: str,
    *args: Any,
    level: int = logging.INFO,
    agent: str | None = None,
    **extra: Any,
) -> None:
    """Log one line of this delegation, unless replaying (a replay must not repeat it)."""
    if context.is_replaying:
        return
    fields = log_fields(
        correlationId=job.get("correlationId"),
        conversationId=job.get("conversationId"),
        callId=job.get("callId"),
        instanceId=context.instance_id,
        user=job.get("user"),
        agent=agent,
    )
    log.log(level, message, *args, extra={**fields, **extra})


def settle(
    context: df.DurableOrchestrationContext,
    tasks: Iterable[TaskBase],
    events: EventBatch | None = None,
) -> Generator[Any, Any, None]:
    """Wait until every task has finished, successfully or not (task_all stops at the first
    failure; here a failed activity must not cut the others short). Meanwhile the queued
    `events` go out, one batch after another, without being waited for."""
    pending = [task for task in tasks if not task.is_completed]
    while pending:
        publishing = events.flush() if events else []
        # A failure ends task_all early; each task's own state is read by the caller.
        with contextlib.suppress(Exception):
            work = context.task_all(pending)
            yield context.task_any([work, *publishing]) if publishing else work
        pending = [task for task in pending if not task.is_completed]


def settle_before(
    context: df.DurableOrchestrationContext,
    groups: list[tuple[list[TaskBase], TimerTask]],
    events: EventBatch,
) -> Generator[Any, Any, None]:
    """Wait until, in each group, every task has finished (successfully or not) or the group's
    timer has fired, while the queued `events` go out."""
    while True:
        # A task is given one parent at a time (the SDK notifies only the last): a timer joins a
        # new race only once its previous one has ended.
        races = [
            context.task_any([context.task_all(left), due])
            for tasks, due in groups
            if (left := [task for task in tasks if not task.is_completed]) and not due.is_completed
        ]
        if not races:
            return
        yield from settle(context, races, events)


def brief(failure: object) -> str:
    """A failed task's error for a log line: its first line, short (never a stack trace)."""
    lines = str(failure).strip().splitlines()
    return lines[0][:200] if lines else type(failure).__name__


def first_of(
    context: df.DurableOrchestrationContext, tasks: list[TaskBase], events: EventBatch
) -> Generator[Any, Any, TaskBase]:
    """The first of `tasks` to finish, while the queued `events` go out."""
    while True:
        winner = yield context.task_any([*tasks, *events.flush()])
        if any(winner is task for task in tasks):
            return winner


def call_with_backoff(
    context: df.DurableOrchestrationContext,
    job: DelegationJob,
    name: str,
    payload: Any,
    events: EventBatch,
    *,
    first_seconds: float,
    max_seconds: float,
    until: datetime,
) -> Generator[Any, Any, tuple[bool, Any]]:
    """Call activity `name` until it succeeds or no attempt fits before `until`, waiting
    `first_seconds`, twice that, ... (at most `max_seconds`) between attempts on durable timers
    (RetryOptions has a constant interval and no deadline); the first attempt carries the
    queued events (`payload` must be a `CarriedEvents`). Returns (succeeded, result), the
    result being the last failure when it never succeeded."""
    attempt, carried = 1, events.take()
    while True:
        # The events queued so far go out with the first attempt, not again with a retry.
        task = context.call_activity(name, {**payload, "events": carried} if carried else payload)
        carried = []
        yield from settle(context, [task], events)
        if task.state is TaskState.SUCCEEDED:
            return True, task.result
        pause = min(first_seconds * 2 ** (attempt - 1), max_seconds)
        wake = context.current_utc_datetime + timedelta(seconds=pause)
        if wake > until:
            return False, task.result
        say(
            context,
            job,
            "%s failed on attempt %d; retrying in %g s",
            name,
            attempt,
            pause,
            level=logging.WARNING,
            event="activity.retrying",
            activity=name,
            attempt=attempt + 1,
        )
        yield from settle(context, [context.create_timer(wake)], events)
        attempt += 1


class EventBatch:
    """The delegation's events, queued as the orchestrator runs. The next activity scheduled
    carries them and publishes them beside its work (`take`); those no activity carries go out
    with `publish_events`, one batch at a time (`flush`). Never holding up the work either way,
    and with no activity nor orchestrator episode of their own when something carries them."""

    def __init__(self, context: df.DurableOrchestrationContext, job: DelegationJob) -> None:
        self.context = context
        self.job = job
        self.pending: list[QueuedEvent] = []
        self.sending: TaskBase | None = None

    def add(self, kind: str, data: dict[str, Any], agent: str | None = None) -> None:
        """Queue one event of this delegation (ids and times replay identically)."""
        self.pending.append(
            {
                "type": kind,
                "id": self.context.new_uuid(),
                "time": self.context.current_utc_datetime.isoformat(),
                "owner": self.job["user"],
                "conversationId": self.job["conversationId"],
                "callId": self.job.get("callId"),
                "instanceId": self.context.instance_id,
                "correlationId": self.job.get("correlationId"),
                "agent": agent,
                "data": data,
            }
        )

    def take(self, agent: str | None = None) -> list[QueuedEvent]:
        """The queued events of the delegation itself and of `agent`, in order, for an activity
        about to be scheduled to carry (CarriedEvents); the others stay queued."""
        taken = [event for event in self.pending if event["agent"] in (None, agent)]
        self.pending = [event for event in self.pending if event["agent"] not in (None, agent)]
        return taken

    def flush(self) -> list[TaskBase]:
        """The publish activity in flight, else one for the events queued since (if any): to
        schedule beside other work, not to wait for."""
        if self.sending is not None and not self.sending.is_completed:
            return [self.sending]
        self.sending = None
        if not self.pending:
            return []
        events, self.pending = self.pending, []
        batch: EventBatchInput = {"events": events, **trace_fields(self.context, self.job)}
        self.sending = self.context.call_activity(PUBLISH_EVENTS, batch)
        return [self.sending]

    def drain(self) -> Generator[Any, Any, None]:
        """Wait until every queued event has been through the publisher (the delegation's end;
        each batch has its own time budget, activities/publish.py)."""
        while publishing := self.flush():
            with contextlib.suppress(Exception):  # publish_events never raises; a host might
                yield self.context.task_any(publishing)


class Progress:
    """Per-agent progress in the instance's custom status, read by the status route and, while
    an agent's question waits for a supervisor, by the pending-approvals route
    (api/approvals.py)."""

    def __init__(self, context: df.DurableOrchestrationContext) -> None:
        self.context = context
        self.stage = PLANNING
        self.agents: dict[str, str] = {}
        self.answer: Answer | None = None
        self.follow_ups: list[Answer] = []
        self.approval: PendingApproval | None = None

    def update(self, stage: str | None = None, **agents: str) -> None:
        """Record a stage change and/or agent states, and publish them as custom status."""
        self.stage = stage or self.stage
        if self.stage != AWAITING_APPROVAL:
            self.approval = None  # resolved: no longer pending
        self.agents.update(agents)
        status: CustomStatus = {"stage": self.stage, "agents": dict(self.agents)}
        if self.approval is not None:
            status["approval"] = self.approval
        if self.answer is not None:
            status["answer"] = self.answer
        if self.follow_ups:
            status["followUps"] = list(self.follow_ups)
        self.context.set_custom_status(status)

    def awaiting_approval(self, approval: PendingApproval, **agents: str) -> None:
        """Enter the `awaiting-approval` stage, showing the pending approval's details until the
        next stage change."""
        self.approval = approval.copy()  # its own: the caller may change the dict
        self.update(AWAITING_APPROVAL, **agents)

    def answered(self, answer: Answer) -> None:
        """Show the answer before the turn is recorded: the waiting call can take it from here."""
        self.answer = answer
        self.update(ANSWERED)

    def followed_up(self, follow_ups: list[Answer]) -> None:
        """Show the follow-ups so far beside the answer (for a page that missed their events)."""
        self.follow_ups = follow_ups
        self.update(ANSWERED)


def _backoff(job: DelegationJob, attempt: int) -> timedelta:
    limits = job["limits"]
    seconds = min(limits["retryFirstSeconds"] * 2 ** (attempt - 1), limits["retryMaxSeconds"])
    return timedelta(seconds=seconds)


def _call(
    context: df.DurableOrchestrationContext,
    job: DelegationJob,
    step: Step,
    card: dict[str, Any],
    attempt: int,
    continuation: dict[str, Any] | None,
    deadline: datetime,
    events: EventBatch,
) -> TaskBase:
    """Schedule `call_specialist` for `step`, carrying its agent's queued events."""
    limits = job["limits"]
    call: SpecialistCall = {
        "deadline": deadline.isoformat(),
        "agent": step.agent,
        "skill": step.skill,
        "card": card,
        "data": step.data,
        "text": step.text,
        "context": step.context,
        "taskId": (continuation or {}).get("taskId") or step.task_id,
        "contextId": (continuation or {}).get("contextId") or conversation_context(job, step.agent),
        "attempt": attempt,
        "timeoutSeconds": limits["agentTimeoutSeconds"],
        "maxBytes": limits["responseMaxBytes"],
        **trace_fields(context, job),
    }
    if card_streams(card):
        # A stream may run until the step's deadline and no longer: past it nobody waits.
        left = (deadline - context.current_utc_datetime).total_seconds()
        call["timeoutSeconds"] = max(left, 0.001)
        call["silenceSeconds"] = _stream_limits(job)[1]
    carried = events.take(step.agent)
    if carried:  # a retry usually has none: no empty list kept in the history
        call["events"] = carried
    return context.call_activity(CALL_SPECIALIST, call)


def _stream_limits(job: DelegationJob) -> tuple[float, float]:
    """The whole-call and silence deadlines of a streaming agent (a job started before they
    were settings carries neither: the defaults)."""
    limits = job["limits"]
    return (
        limits.get("agentStreamTimeoutSeconds", _DEFAULTS.stream_timeout_seconds),
        limits.get("agentStreamSilenceSeconds", _DEFAULTS.stream_silence_seconds),
    )


def _step_deadline(
    context: df.DurableOrchestrationContext,
    job: DelegationJob,
    card: dict[str, Any],
    until: datetime | None,
) -> datetime:
    """When a step's call must have answered, retries included: AGENT_TIMEOUT_SECONDS, or
    AGENT_STREAM_TIMEOUT_SECONDS for an agent that streams its progress; never past `until`."""
    seconds = _stream_limits(job)[0] if card_streams(card) else job["limits"]["agentTimeoutSeconds"]
    deadline = context.current_utc_datetime + timedelta(seconds=seconds)
    return until if until is not None and until < deadline else deadline


def conversation_context(job: DelegationJob, agent: str) -> str:
    """The A2A contextId of this conversation with `agent`: the same every turn, so an agent
    that keeps a thread per context keeps one per conversation, and no caller meets another's."""
    material = json.dumps([job["user"], job["conversationId"], agent])
    return "ctx-" + hashlib.sha256(material.encode()).hexdigest()[:32]


def run_stage(
    context: df.DurableOrchestrationContext,
    job: DelegationJob,
    steps: list[Step],
    cards: dict[str, dict],
    events: EventBatch,
    progress: Progress,
    continuation: dict | None = None,
    until: datetime | None = None,
) -> Generator[Any, Any, list[AgentOutcome]]:
    """Call a stage's agents in parallel. Each call has one deadline (retries included), never
    past `until` (the turn's); an agent error is retried with exponential back-off built from
    durable timers (RetryOptions only has a constant interval); a late or failing agent becomes
    a partial outcome."""
    limits = job["limits"]
    now = context.current_utc_datetime
    ends = {step.agent: _step_deadline(context, job, cards[step.agent], until) for step in steps}
    if all(end <= now for end in ends.values()):
        return [_out_of_time(context, job, step, events, progress) for step in steps]
    # One durable timer per distinct deadline (a stage's agents mostly share one): each timer is
    # history that every later episode replays.
    deadlines: dict[datetime, TimerTask] = {}
    for step in steps:
        if ends[step.agent] not in deadlines:
            deadlines[ends[step.agent]] = timer(context, ends[step.agent])
    outcomes: dict[str, AgentOutcome] = {}
    for step in steps:
        events.add("agent.status", {"status": "started", "attempt": 1}, agent=step.agent)
        progress.update(**{step.agent: "working"})
    pending, attempt = list(steps), 1
    while pending:
        calls = {
            s.agent: _call(
                context, job, s, cards[s.agent], attempt, continuation, ends[s.agent], events
            )
            for s in pending
        }
        yield from settle_before(
            context,
            [
                ([calls[s.agent] for s in pending if ends[s.agent] == end], due)
                for end, due in deadlines.items()
            ],
            events,
        )
        retry = []
        for step in pending:
            call = calls[step.agent]
            result: SpecialistResult | None = (
                call.result if call.state is TaskState.SUCCEEDED else None
            )
            if not call.is_completed:
                outcomes[step.agent] = AgentOutcome(
                    step.agent, step.skill, "timed-out", reason="no answer before the deadline"
                )
            elif result is None or (result["state"] == "failed" and result.get("retryable")):
                reason = (result["error"] if result else None) or "the call failed"
                if attempt < limits["retryMaxAttempts"]:
                    retry.append(step)
                    say(
                        context,
                        job,
                        "agent %s failed on attempt %d; retrying",
                        step.agent,
                        attempt,
                        level=logging.WARNING,
                        agent=step.agent,
                        event="agent.retrying",
                        attempt=attempt + 1,
                    )
                    events.add(
                        "agent.status",
                        {"status": "retrying", "attempt": attempt + 1, "reason": reason[:500]},
                        agent=step.agent,
                    )
                    continue
                outcomes[step.agent] = AgentOutcome(step.agent, step.skill, "failed", reason=reason)
            else:
                outcomes[step.agent] = _outcome(step, result)
            outcome = outcomes[step.agent]
            if not (result and result.get("announced")):  # else call_specialist announced it
                events.add("agent.status", outcome.status_event(), agent=step.agent)
            _said(context, job, outcome)
            progress.update(**{step.agent: outcome.status})
        pending = []
        if retry:
            wake = context.current_utc_datetime + _backoff(job, attempt)
            for step in retry:
                if wake < ends[step.agent]:
                    pending.append(step)
                    continue
                # No time left for another attempt before this step's deadline.
                outcomes[step.agent] = AgentOutcome(
                    step.agent, step.skill, "timed-out", reason="no answer before the deadline"
                )
                events.add("agent.status", {"status": "timed-out"}, agent=step.agent)
                _said(context, job, outcomes[step.agent])
                progress.update(**{step.agent: "timed-out"})
            if pending:
                yield from settle(context, [context.create_timer(wake)], events)
                attempt += 1
    for deadline_timer in deadlines.values():
        if not deadline_timer.is_completed:
            deadline_timer.cancel()
    return [outcomes[step.agent] for step in steps]


def _out_of_time(
    context: df.DurableOrchestrationContext,
    job: DelegationJob,
    step: Step,
    events: EventBatch,
    progress: Progress,
) -> AgentOutcome:
    """The outcome of a step the turn has no time left for: not called, timed out."""
    outcome = AgentOutcome(step.agent, step.skill, "timed-out", reason="no time left in this turn")
    events.add("agent.status", outcome.status_event(), agent=step.agent)
    _said(context, job, outcome)
    progress.update(**{step.agent: "timed-out"})
    return outcome


def _said(
    context: df.DurableOrchestrationContext, job: DelegationJob, outcome: AgentOutcome
) -> None:
    ok = outcome.status in ("completed", "input-required")
    say(
        context,
        job,
        "agent %s: %s%s",
        outcome.agent,
        outcome.status,
        f" ({outcome.reason[:200]})" if outcome.reason else "",
        level=logging.INFO if ok else logging.WARNING,
        agent=outcome.agent,
        event="agent.outcome",
        outcome=outcome.status,
    )


def _outcome(step: Step, result: SpecialistResult) -> AgentOutcome:
    return AgentOutcome.ended(
        step.agent,
        step.skill,
        result["state"],
        result.get("error"),
        text=result.get("text") or "",
        data={
            **(result.get("data") or {}),
            **({"taskId": result["taskId"]} if result.get("taskId") else {}),
            **({"contextId": result["contextId"]} if result.get("contextId") else {}),
        },
        parts=tuple(dict(part) for part in result.get("parts") or ()),
    )
