"""The delegation orchestration: one voice tool call, delegated to the specialists stage by stage.

Deterministic code only: every I/O is an activity (activities/). Log lines and the
`delegation.duration` metric are written only when not replaying.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Generator
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import azure.durable_functions as df

from orchestrations.contract import (
    APPROVAL_EVENT,
    COMPOSE_ANSWER,
    COMPOSING,
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
    ComposeInput,
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
from voicea2a.compose import AgentOutcome
from voicea2a.config import DelegationSettings
from voicea2a.planner import Plan, Step, with_customer
from voicea2a.telemetry.metrics import record_delegation, record_history_pending
from voicea2a.telemetry.setup import ensure_setup

bp = df.Blueprint()
DEFAULT_APPROVAL_REASON = "An agent needs a supervisor's approval to go on."
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
    """Plan, run the stages in parallel, get a dispatch approved, compose, record, answer."""
    ensure_setup()
    # The input is always the job api/messages.py started this instance with.
    job = cast(DelegationJob, context.get_input())
    say(context, job, "delegation started", event="delegation.started")
    try:
        output = yield from delegate(context, job)
    except Exception as exc:
        finished(context, job, "failed", type(exc).__name__)
        raise
    outcome = "partial" if output["answer"].get("partial") else "completed"
    finished(context, job, outcome, history_pending="historyPending" in output)
    return output


def finished(
    context: df.DurableOrchestrationContext,
    job: DelegationJob,
    outcome: str,
    error: str = "",
    history_pending: bool = False,
) -> None:
    """Log the end and record `delegation.duration` (from the POST to now), unless replaying."""
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
    context: df.DurableOrchestrationContext, job: DelegationJob
) -> Generator[Any, Any, DelegationOutput]:
    """The delegation itself (see `delegation`)."""
    events, progress = EventBatch(context, job), Progress(context)
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

    approval = None
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
        [booking] = yield from run_stage(
            context, job, [dispatch], cards, events, progress, until=turn_ends
        )
        if booking.status == "input-required":
            approval, booking = yield from get_approval(
                context, job, dispatch, booking, cards, events, progress
            )
        outcomes.append(booking)

    progress.update(COMPOSING)
    compose_input: ComposeInput = {
        "plan": plan.to_json(),
        "outcomes": [o.to_json() for o in outcomes],
        "approval": approval,
        **trace_fields(context, job),
    }
    answer: Answer = yield context.call_activity(COMPOSE_ANSWER, compose_input)
    progress.answered(answer)
    events.add(
        "message",
        {"text": answer["answer"], "agents": answer["agents"], "partial": answer["partial"]},
    )
    events.add("task.updated", {"taskId": context.instance_id, "state": "completed"})
    # The answer is out: the history is written beside it, retried for minutes if storage is down,
    # and, if it never could be, left in the output for jobs/reconcile_history.py.
    turn: TurnRecord = {
        **trace_fields(context, job),
        "user": job["user"],
        "conversationId": job["conversationId"],
        "instanceId": context.instance_id,
        "startedAt": job["startedAt"],
        "request": job["request"]["request"],
        "outcomes": [o.to_json() for o in outcomes],
        "answer": answer,
        "verifiedCustomerId": customer,
        "identityChecked": plan.authenticates,
        "verifiedIdentity": prepared.get("identity", "") if plan.authenticates else "",
    }
    record_minutes = limits.get("historyRetryMinutes", DEFAULTS.history_retry_minutes)
    recorded, failure = yield from call_with_backoff(
        context,
        job,
        RECORD_TURN,
        turn,
        events,
        first_seconds=RECORD_RETRY_FIRST_SECONDS,
        max_seconds=RECORD_RETRY_MAX_SECONDS,
        until=context.current_utc_datetime + timedelta(minutes=record_minutes),
    )
    yield from events.drain()
    progress.update(DONE)
    if recorded:
        return {"answer": answer}
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
    return {"answer": answer, "historyPending": turn}


def _account_steps(plan: Plan, stage: tuple[Step, ...], customer: str | None) -> list[Step]:
    """A planned stage's steps for the verified `customer`: without one, only the identity
    step, unless the playbook verifies nobody (the voice model's own choices carry the customer
    already: planner.chosen_plan)."""
    if plan.identity_skill is None:
        return list(stage)
    steps = [with_customer(step, customer) if customer else step for step in stage]
    return [step for step in steps if step.skill == plan.identity_skill or customer]


def get_approval(
    context: df.DurableOrchestrationContext,
    job: DelegationJob,
    dispatch: Step,
    booking: AgentOutcome,
    cards: dict,
    events: EventBatch,
    progress: Progress,
) -> Generator[Any, Any, tuple[str, AgentOutcome]]:
    """Ask the ops group, wait for a supervisor (or the timer), then continue the agent's task."""
    minutes = job["limits"]["approvalTimeoutMinutes"]
    now = context.current_utc_datetime
    expires = now + timedelta(minutes=minutes)
    request = {
        "reason": (booking.text or DEFAULT_APPROVAL_REASON)[:MAX_REASON_CHARS],
        "expiresAt": _iso(expires),
        "customerId": dispatch.data.get("customerId", ""),
    }
    events.add("approval.requested", request)
    # Shown in the custom status while pending, for a supervisor who was not listening for the
    # event (GET /api/approvals): the event's data and ids, never the owner's id.
    pending: PendingApproval = {
        "reason": request["reason"],
        "expiresAt": request["expiresAt"],
        "customerId": request["customerId"],
        "requestedAt": _iso(now),
        "conversationId": job.get("conversationId"),
        "callId": job.get("callId"),
    }
    progress.awaiting_approval(pending, **{dispatch.agent: "input-required"})
    say(
        context,
        job,
        "waiting up to %g min for a supervisor to approve a dispatch",
        minutes,
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
        outcome = "approved" if choice.get("approve") else "rejected"
        resolved = {"outcome": outcome, "by": choice.get("by", ""), "note": choice.get("note", "")}
    else:
        outcome = "timed-out"
        resolved = {"outcome": outcome}
    events.add("approval.resolved", resolved)
    say(context, job, "dispatch approval: %s", outcome, event="approval.resolved", outcome=outcome)

    answer_step = Step(
        dispatch.agent,
        dispatch.skill,
        {"approved": outcome == "approved", "note": resolved.get("note", "")},
    )
    continuation = {
        "taskId": booking.data.get("taskId"),
        "contextId": booking.data.get("contextId"),
    }
    progress.update(DISPATCHING)
    [final] = yield from run_stage(
        context, job, [answer_step], cards, events, progress, continuation=continuation
    )
    return outcome, final


def _iso(moment: datetime) -> str:
    """ISO 8601 with an offset (the orchestration clock is UTC)."""
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat()
