"""The delegation orchestration: one voice tool call, delegated to the specialists stage by stage.

Deterministic code only: every I/O is an activity (activities/delegation.py).
"""

from __future__ import annotations

import json
from collections.abc import Generator
from datetime import timedelta
from typing import Any

import azure.durable_functions as df

from orchestrations.steps import EventBatch, Progress, run_stage, settle
from voicea2a.compose import AgentOutcome
from voicea2a.planner import (
    AUTHENTICATION,
    Plan,
    Step,
    needs_dispatch,
    verified_customer,
    with_customer,
)

bp = df.Blueprint()
APPROVAL_EVENT = "approval"


@bp.orchestration_trigger(context_name="context")
def delegation(context: df.DurableOrchestrationContext):  # noqa: ANN201 (a generator)
    """Plan, run the stages in parallel, get a dispatch approved, compose, record, answer."""
    job = context.get_input()
    events, progress = EventBatch(context, job), Progress(context)
    progress.update("planning")

    prepared = yield context.call_activity("plan_delegation", job)
    plan = Plan.from_json(prepared["plan"])
    cards = prepared["cards"]
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
    customer = prepared.get("verifiedCustomerId")
    for stage in plan.stages:
        steps = [with_customer(step, customer) if customer else step for step in stage]
        steps = [step for step in steps if step.skill == AUTHENTICATION or customer]
        if not steps:
            break  # account work needs a verified customer: the answer asks for identity
        progress.update("diagnosing")
        stage_outcomes = yield from run_stage(context, job, steps, cards, events, progress)
        outcomes.extend(stage_outcomes)
        for outcome in stage_outcomes:
            if outcome.skill == AUTHENTICATION:
                customer = (
                    verified_customer(outcome.data) if outcome.status == "completed" else None
                )

    approval = None
    results = {o.skill: o.data for o in outcomes if o.status == "completed"}
    if plan.dispatch and customer and (plan.dispatch_requested or needs_dispatch(results)):
        progress.update("dispatching")
        dispatch = with_customer(plan.dispatch, customer)
        [booking] = yield from run_stage(context, job, [dispatch], cards, events, progress)
        if booking.status == "input-required":
            approval, booking = yield from get_approval(
                context, job, dispatch, booking, cards, events, progress
            )
        outcomes.append(booking)

    progress.update("composing")
    answer = yield context.call_activity(
        "compose_answer",
        {
            "plan": plan.to_json(),
            "outcomes": [outcome_json(o) for o in outcomes],
            "approval": approval,
        },
    )
    events.add(
        "message",
        {"text": answer["answer"], "agents": answer["agents"], "partial": answer["partial"]},
    )
    events.add("task.updated", {"taskId": context.instance_id, "state": "completed"})
    record = context.call_activity(
        "record_turn",
        {
            "user": job["user"],
            "conversationId": job["conversationId"],
            "instanceId": context.instance_id,
            "startedAt": job["startedAt"],
            "request": job["request"]["request"],
            "outcomes": [outcome_json(o) for o in outcomes],
            "answer": answer,
            "verifiedCustomerId": customer,
        },
    )
    yield from settle(context, [record, *events.flush()])
    progress.update("done")
    return answer


def get_approval(
    context: df.DurableOrchestrationContext,
    job: dict[str, Any],
    dispatch: Step,
    booking: AgentOutcome,
    cards: dict,
    events: EventBatch,
    progress: Progress,
) -> Generator[Any, Any, tuple[str, AgentOutcome]]:
    """Ask the ops group, wait for a supervisor (or the timer), then continue the agent's task."""
    minutes = job["limits"]["approvalTimeoutMinutes"]
    expires = context.current_utc_datetime + timedelta(minutes=minutes)
    events.add(
        "approval.requested",
        {
            "reason": booking.text or "A technician visit needs a supervisor's approval.",
            "expiresAt": expires.isoformat(),
            "customerId": dispatch.data.get("customerId", ""),
        },
    )
    progress.update("awaiting-approval", **{dispatch.agent: "input-required"})
    yield from settle(context, events.flush())

    decision = context.wait_for_external_event(APPROVAL_EVENT)
    timer = context.create_timer(expires)
    winner = yield context.task_any([decision, timer])
    if winner == decision:
        timer.cancel()
        raw = decision.result
        # The Durable extension hands raised-event data over as JSON text (see README).
        choice = json.loads(raw) if isinstance(raw, str) else raw
        outcome = "approved" if choice.get("approve") else "rejected"
        resolved = {"outcome": outcome, "by": choice.get("by", ""), "note": choice.get("note", "")}
    else:
        outcome = "timed-out"
        resolved = {"outcome": outcome}
    events.add("approval.resolved", resolved)

    answer_step = Step(
        dispatch.agent,
        dispatch.skill,
        {"approved": outcome == "approved", "note": resolved.get("note", "")},
    )
    continuation = {
        "taskId": booking.data.get("taskId"),
        "contextId": booking.data.get("contextId"),
    }
    progress.update("dispatching")
    [final] = yield from run_stage(
        context, job, [answer_step], cards, events, progress, continuation=continuation
    )
    return outcome, final


def outcome_json(outcome: AgentOutcome) -> dict[str, Any]:
    """An outcome as activities receive it."""
    return {
        "agent": outcome.agent,
        "skill": outcome.skill,
        "status": outcome.status,
        "text": outcome.text,
        "data": outcome.data,
        "reason": outcome.reason,
    }
