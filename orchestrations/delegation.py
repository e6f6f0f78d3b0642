"""The delegation orchestration: one voice tool call, delegated to the specialists stage by stage.

Deterministic code only: every I/O is an activity (activities/). The answer is composed here:
`compose` is pure, and the playbook it reads is part of the deployed app (loaded and validated at
start-up), so every replay of one deployment composes the same answer. Log lines and the
`delegation.duration` metric are written only when not replaying.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Generator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import azure.durable_functions as df

from orchestrations.contract import (
    APPROVAL_EVENT,
    DIAGNOSING,
    DISPATCHING,
    DONE,
    ORCHESTRATOR,
    PLAN_DELEGATION,
    PLANNING,
    RECORD_TURN,
    TRANSIENT_FAILURE,
    Answer,
    ApprovalDecision,
    DelegationJob,
    DelegationOutput,
    PendingApproval,
    PlanInput,
    PlanResult,
    TurnRecord,
)
from orchestrations.steps import (
    EventBatch,
    Progress,
    brief,
    call_with_backoff,
    first_of,
    run_stage,
    say,
    timer,
    trace_fields,
)
from voicea2a.a2a import asks_a_person
from voicea2a.compose import AWAITING_PERSON, AgentOutcome, compose, compose_follow_up
from voicea2a.config import DelegationSettings
from voicea2a.planner import Plan, Step, with_customer
from voicea2a.playbook import get_playbook
from voicea2a.telemetry.metrics import record_delegation, record_history_pending
from voicea2a.telemetry.setup import ensure_setup

bp = df.Blueprint()
DEFAULT_APPROVAL_REASON = "An agent needs a supervisor's approval to go on."
NOBODY_ANSWERED = "No supervisor answered in time."
# A person answers an agent's question; the agent may ask again, this many times at most.
MAX_PERSON_ROUNDS = 3
MAX_REASON_CHARS = 1000  # docs/events.schema.json approvalRequested.reason
MAX_TITLE_CHARS = 80  # docs/events.schema.json conversationCreated.title
# Planning reads storage: a blip is retried within the turn's deadline.
PLAN_RETRY_FIRST_SECONDS, PLAN_RETRY_MAX_SECONDS = 0.5, 4.0
# The answer is already out when the turn is recorded: retried patiently, for minutes.
RECORD_RETRY_FIRST_SECONDS, RECORD_RETRY_MAX_SECONDS = 1.0, 60.0
DEFAULTS = DelegationSettings()  # for instances started before a limit existed


class TransientFailure(Exception):
    """The delegation could not go on for a cause worth retrying (storage unreachable)."""


@bp.orchestration_trigger(context_name="context", orchestration=ORCHESTRATOR)
def delegation(context: df.DurableOrchestrationContext) -> Generator[Any, Any, DelegationOutput]:
    """Plan, run the stages in parallel, compose, answer, record; then put each question an
    agent has for a person to a supervisor and deliver what the agent says next as a follow-up."""
    ensure_setup()
    # The input is always the job api/messages.py started this instance with.
    job = cast(DelegationJob, context.get_input())
    events, progress = EventBatch(context, job), Progress(context)
    say(context, job, "delegation started", event="delegation.started")
    try:
        turn = yield from delegate(context, job, events, progress)
    except Exception as exc:
        finished(context, job, "failed", type(exc).__name__)
        raise
    outcome = "partial" if turn.answer.get("partial") else "completed"
    finished(context, job, outcome, history_pending=turn.pending is not None)
    for waiting in list(turn.waiting):
        yield from follow_up(context, job, turn, waiting, events, progress)
    progress.update(DONE)
    output: DelegationOutput = {"answer": turn.answer}
    if turn.follow_ups:
        output["followUps"] = turn.follow_ups
    if turn.pending is not None:
        output["historyPending"] = turn.pending
    return output


@dataclass
class Turn:
    """What the delegation answered, and what still waits for a person."""

    plan: Plan
    cards: dict[str, dict[str, Any]]
    outcomes: list[AgentOutcome]
    answer: Answer
    record: TurnRecord  # the turn's fixed fields; `recorded()` adds what changes
    waiting: list[AgentOutcome]  # input-required outcomes whose question is for a person
    follow_ups: list[Answer] = field(default_factory=list)
    pending: TurnRecord | None = None  # the record the history could not take

    def recorded(self) -> TurnRecord:
        """The turn as the history keeps it now: an agent waiting for a person is
        `awaiting-person` (so the caller's next turn does not answer the supervisor's question),
        and the follow-ups come after the answer."""
        record: TurnRecord = {**self.record, "outcomes": []}
        for outcome in self.outcomes:
            row = outcome.to_json()
            if any(outcome is waiting for waiting in self.waiting):
                row["status"] = AWAITING_PERSON
            record["outcomes"].append(row)
        if self.follow_ups:
            record["followUps"] = list(self.follow_ups)
        return record


def finished(
    context: df.DurableOrchestrationContext,
    job: DelegationJob,
    outcome: str,
    error: str = "",
    history_pending: bool = False,
) -> None:
    """Log the answered (or failed) turn and record `delegation.duration` (from the POST to the
    answer: a person's follow-up comes later), unless replaying."""
    if context.is_replaying:
        return
    now = context.current_utc_datetime
    now = now if now.tzinfo else now.replace(tzinfo=UTC)
    elapsed_ms = (now - datetime.fromisoformat(job["startedAt"])).total_seconds() * 1000
    record_delegation(elapsed_ms, outcome)
    say(
        context,
        job,
        "delegation %s%s in %.0f ms%s",
        outcome,
        ", history pending" if history_pending else "",
        elapsed_ms,
        f": {error}" if error else "",
        level=logging.ERROR if outcome == "failed" else logging.INFO,
        event="delegation.finished",
        outcome=outcome,
        durationMs=round(elapsed_ms, 1),
        historyPending=history_pending,
    )


def delegate(
    context: df.DurableOrchestrationContext,
    job: DelegationJob,
    events: EventBatch,
    progress: Progress,
) -> Generator[Any, Any, Turn]:
    """The delegation up to its answer, recorded (see `delegation`)."""
    progress.update(PLANNING)
    limits = job["limits"]
    deadline_seconds = limits.get("turnDeadlineSeconds", DEFAULTS.turn_deadline_seconds)
    turn_ends = context.current_utc_datetime + timedelta(seconds=deadline_seconds)
    if job.get("newConversation"):
        title = job["request"]["request"][:MAX_TITLE_CHARS]
        events.add("conversation.created", {"title": title})

    plan_input: PlanInput = {**job, "instanceId": context.instance_id}
    planned, result = yield from call_with_backoff(
        context,
        job,
        PLAN_DELEGATION,
        plan_input,
        events,
        first_seconds=PLAN_RETRY_FIRST_SECONDS,
        max_seconds=PLAN_RETRY_MAX_SECONDS,
        until=turn_ends,
    )
    if not planned:
        yield from events.drain()
        raise TransientFailure(f"{TRANSIENT_FAILURE} could not plan: {brief(result)}")
    prepared: PlanResult = result
    plan = Plan.from_json(prepared["plan"])
    cards = prepared["cards"]
    say(
        context,
        job,
        "planned %s",
        " then ".join("+".join(step.agent for step in stage) for stage in plan.stages)
        or "no specialist",
        event="delegation.planned",
    )
    events.add(
        "task.created",
        {
            "taskId": context.instance_id,
            "request": job["request"]["request"],
            "stages": [[step.agent for step in stage] for stage in plan.stages],
        },
    )
    events.add("task.updated", {"taskId": context.instance_id, "state": "working"})

    outcomes: list[AgentOutcome] = []
    # A turn that verifies an identity is about that customer alone, whoever was verified before.
    customer = None if plan.authenticates else prepared.get("verifiedCustomerId")
    for stage in plan.stages:
        steps = list(stage) if plan.chosen else _account_steps(plan, stage, customer)
        if not steps:
            break  # account work needs a verified customer: the answer asks for identity
        progress.update(DIAGNOSING)
        stage_outcomes = yield from run_stage(
            context, job, steps, cards, events, progress, until=turn_ends
        )
        outcomes.extend(stage_outcomes)
        for outcome in stage_outcomes:
            if outcome.skill == plan.identity_skill:
                completed = outcome.status == "completed"
                customer = plan.verified_customer(outcome.data) if completed else None

    results = {o.skill: o.data for o in outcomes if o.status == "completed"}
    # Account work needs a verified customer, unless the playbook verifies nobody.
    allowed = customer or plan.identity_skill is None
    if (
        plan.dispatch
        and allowed
        and (plan.dispatch_requested or plan.recommends_follow_up(results))
    ):
        progress.update(DISPATCHING)
        dispatch = with_customer(plan.dispatch, customer) if customer else plan.dispatch
        booking = yield from run_stage(
            context, job, [dispatch], cards, events, progress, until=turn_ends
        )
        outcomes.extend(booking)

    waiting = [o for o in _latest(outcomes) if _asks_a_person(o, cards)]
    answer = compose(plan, outcomes, None, get_playbook(), [o.agent for o in waiting]).to_json()
    progress.answered(answer)
    events.add("message", _spoken(answer))
    events.add("task.updated", {"taskId": context.instance_id, "state": "completed"})
    # The answer is out: the history is written beside it, retried for minutes if storage is down,
    # and, if it never could be, left in the output for jobs/reconcile_history.py.
    record: TurnRecord = {
        **trace_fields(context, job),
        "user": job["user"],
        "conversationId": job["conversationId"],
        "instanceId": context.instance_id,
        "startedAt": job["startedAt"],
        "request": job["request"]["request"],
        "outcomes": [],
        "answer": answer,
        "verifiedCustomerId": customer,
        "identityChecked": plan.authenticates,
        "verifiedIdentity": prepared.get("identity", "") if plan.authenticates else "",
    }
    turn = Turn(plan, cards, outcomes, answer, record, waiting)
    turn.pending = yield from record_turn(context, job, turn.recorded(), events)
    yield from events.drain()
    return turn


def record_turn(
    context: df.DurableOrchestrationContext,
    job: DelegationJob,
    record: TurnRecord,
    events: EventBatch,
) -> Generator[Any, Any, TurnRecord | None]:
    """Write the turn to the history, retried for minutes if storage is down; the record if it
    never could be (the output keeps it for jobs/reconcile_history.py)."""
    record_minutes = job["limits"].get("historyRetryMinutes", DEFAULTS.history_retry_minutes)
    recorded, failure = yield from call_with_backoff(
        context,
        job,
        RECORD_TURN,
        record,
        events,
        first_seconds=RECORD_RETRY_FIRST_SECONDS,
        max_seconds=RECORD_RETRY_MAX_SECONDS,
        until=context.current_utc_datetime + timedelta(minutes=record_minutes),
    )
    if recorded:
        return None
    say(
        context,
        job,
        "turn not recorded in the history after %g min (%s); kept for reconciliation",
        record_minutes,
        brief(failure),
        level=logging.ERROR,
        event="history.pending",
    )
    if not context.is_replaying:
        record_history_pending()
    return record


def _account_steps(plan: Plan, stage: tuple[Step, ...], customer: str | None) -> list[Step]:
    """A planned stage's steps for the verified `customer`: without one, only the identity
    step, unless the playbook verifies nobody (the voice model's own choices carry the customer
    already: planner.chosen_plan)."""
    if plan.identity_skill is None:
        return list(stage)
    steps = [with_customer(step, customer) if customer else step for step in stage]
    return [step for step in steps if step.skill == plan.identity_skill or customer]


def follow_up(
    context: df.DurableOrchestrationContext,
    job: DelegationJob,
    turn: Turn,
    waiting: AgentOutcome,
    events: EventBatch,
    progress: Progress,
) -> Generator[Any, Any, None]:
    """Put `waiting`'s question to a supervisor, continue its task with their answer (again while
    it asks more, a few rounds at most), then say what it answered as a follow-up of the turn."""
    outcome, decision = waiting, "timed-out"
    for _ in range(MAX_PERSON_ROUNDS):
        decision, message = yield from ask_a_person(context, job, turn, outcome, events, progress)
        step = Step(outcome.agent, outcome.skill, message.data, text=message.text)
        continuation = {
            "taskId": outcome.data.get("taskId"),
            "contextId": outcome.data.get("contextId"),
        }
        progress.update(DISPATCHING)
        [outcome] = yield from run_stage(
            context, job, [step], turn.cards, events, progress, continuation=continuation
        )
        if outcome.status != "input-required" or decision == "timed-out":
            break

    answer = compose_follow_up(turn.plan, outcome, decision, get_playbook()).to_json()
    turn.follow_ups.append(answer)
    turn.waiting.remove(waiting)
    turn.outcomes = [outcome if o.agent == outcome.agent else o for o in turn.outcomes]
    progress.followed_up(turn.follow_ups)
    events.add("message", {**_spoken(answer), "followUp": True})
    say(context, job, "follow-up from %s: %s", outcome.agent, decision, event="delegation.followUp")
    turn.pending = yield from record_turn(context, job, turn.recorded(), events)
    yield from events.drain()


@dataclass(frozen=True)
class PersonMessage:
    """What the agent is told once a person has answered (or nobody did)."""

    text: str
    data: dict[str, Any]


def ask_a_person(
    context: df.DurableOrchestrationContext,
    job: DelegationJob,
    turn: Turn,
    outcome: AgentOutcome,
    events: EventBatch,
    progress: Progress,
) -> Generator[Any, Any, tuple[str, PersonMessage]]:
    """Ask the ops group, wait for a supervisor's decision or reply (or the timer); what they
    did ("approved", "rejected", "replied", "timed-out") and what the agent is told."""
    minutes = job["limits"]["approvalTimeoutMinutes"]
    now = context.current_utc_datetime
    expires = now + timedelta(minutes=minutes)
    request = {
        "reason": (outcome.text or DEFAULT_APPROVAL_REASON)[:MAX_REASON_CHARS],
        "expiresAt": _iso(expires),
        "customerId": turn.record.get("verifiedCustomerId") or "",
    }
    events.add("approval.requested", request, agent=outcome.agent)
    # Shown in the custom status while pending, for a supervisor who was not listening for the
    # event (GET /api/approvals): the event's data and ids, never the owner's id.
    pending: PendingApproval = {
        "agent": outcome.agent,
        "reason": request["reason"],
        "expiresAt": request["expiresAt"],
        "customerId": request["customerId"],
        "requestedAt": _iso(now),
        "conversationId": job.get("conversationId"),
        "callId": job.get("callId"),
    }
    progress.awaiting_approval(pending, **{outcome.agent: "input-required"})
    say(
        context,
        job,
        "waiting up to %g min for a supervisor to answer %s",
        minutes,
        outcome.agent,
        agent=outcome.agent,
        event="approval.requested",
    )
    decision = context.wait_for_external_event(APPROVAL_EVENT)
    expiry = timer(context, expires)
    winner = yield from first_of(context, [decision, expiry], events)
    if winner is decision:
        expiry.cancel()
        raw = decision.result
        # The Durable extension hands raised-event data over as JSON text (see README).
        choice: ApprovalDecision = json.loads(raw) if isinstance(raw, str) else raw
        if choice.get("reply"):
            done, message = "replied", PersonMessage(choice["reply"], {})
        else:
            done = "approved" if choice.get("approve") else "rejected"
            note = choice.get("note", "")
            said = note or f"{done.capitalize()} by a supervisor."
            message = PersonMessage(said, {"approved": done == "approved", "note": note})
        resolved = {"outcome": done, "by": choice.get("by", ""), "note": choice.get("note", "")}
        if done == "replied":
            resolved["reply"] = choice["reply"]
    else:
        done = "timed-out"
        message = PersonMessage(NOBODY_ANSWERED, {"approved": False, "note": NOBODY_ANSWERED})
        resolved = {"outcome": done}
    events.add("approval.resolved", resolved, agent=outcome.agent)
    say(
        context,
        job,
        "%s's question: %s",
        outcome.agent,
        done,
        agent=outcome.agent,
        event="approval.resolved",
        outcome=done,
    )
    return done, message


def _latest(outcomes: list[AgentOutcome]) -> list[AgentOutcome]:
    """Each agent's last outcome (a retried or continued call reports again)."""
    return list({outcome.agent: outcome for outcome in outcomes}.values())


def _asks_a_person(outcome: AgentOutcome, cards: dict[str, dict[str, Any]]) -> bool:
    """Whether `outcome` is a question for a supervisor rather than for the caller."""
    card = cards.get(outcome.agent, {})
    return outcome.status == "input-required" and asks_a_person(card, outcome.skill)


def _spoken(answer: Answer) -> dict[str, Any]:
    """A `message` event's data for `answer`."""
    return {"text": answer["answer"], "agents": answer["agents"], "partial": answer["partial"]}


def _iso(moment: datetime) -> str:
    """ISO 8601 with an offset (the orchestration clock is UTC)."""
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat()
