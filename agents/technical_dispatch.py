"""Technical dispatch agent: books a technician slot, asking a person to approve special cases.

Slot choice: the customer's region's technicians; the first free slot on `preferredDate` (or,
if that day is full, the earliest after it); without a date, the earliest free slot.
Slot times are local to the region. The calendar is fictional and is not compared with today.

Approval rule: a booking needs a person's approval when
- REPEAT_VISIT: the customer had a technician visit within `repeat_visit_days` (30) days before
  the slot's date (a second visit costs a truck roll that a supervisor signs off), or
- OUT_OF_HOURS: the slot is outside business hours (08:00-18:00, Monday to Friday).
Then the task goes to `input-required` with the reasons and the proposed slot (held meanwhile).
A follow-up message on the same task with a data part `{"approved": true|false, "note": "..."}`
(or free text "approved" / "declined") completes it: BOOKED, or DECLINED (the slot is freed).
Holds and bookings live in memory for the life of the agent.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from a2a.helpers import get_data_parts, new_task_from_user_message
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.events import EventQueue
from a2a.server.tasks import TaskUpdater
from a2a.types import Task, TaskState
from a2a.utils.errors import InvalidParamsError, UnsupportedOperationError

from agents.base import Reply, Skill, SpecialistAgent, skill_description, unknown_customer_reply
from agents.datastore import customers_by_id, load_data
from agents.executors import message_input, reply_parts
from agents.inputs import (
    CUSTOMER_ID,
    InputField,
    RequestInput,
    approval,
    approval_in_text,
    date_in_text,
    iso_date,
    nothing_in_text,
    short_text,
)

FIELDS = (
    CUSTOMER_ID,
    InputField(
        "preferredDate", "preferred date", "2026-12-01", iso_date, date_in_text, required=False
    ),
    InputField("issue", "issue summary", "no signal", short_text, short_text, required=False),
)
DECISION_FIELDS = (
    InputField("approved", "approval decision", "true", approval, approval_in_text),
    InputField(
        "note", "note", "approved by supervisor", short_text, nothing_in_text, required=False
    ),
)
WEEKDAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


@dataclass(frozen=True)
class Slot:
    """One bookable technician slot."""

    slot_id: str
    technician_id: str
    technician_name: str
    region: str
    start: dt.datetime
    end: dt.datetime

    def to_json(self) -> dict[str, Any]:
        """The slot and its technician as reply data."""
        return {
            "slotId": self.slot_id,
            "start": self.start.isoformat(timespec="minutes"),
            "end": self.end.isoformat(timespec="minutes"),
            "technicianId": self.technician_id,
            "technicianName": self.technician_name,
        }


class Calendar:
    """Technician slots, and which are held (awaiting approval) or booked."""

    def __init__(self, technicians: list[dict[str, Any]]) -> None:
        self._slots = sorted(
            (
                Slot(
                    slot_id=slot["slot_id"],
                    technician_id=tech["technician_id"],
                    technician_name=tech["name"],
                    region=tech["region"],
                    start=dt.datetime.fromisoformat(slot["start"]),
                    end=dt.datetime.fromisoformat(slot["end"]),
                )
                for tech in technicians
                for slot in tech["slots"]
            ),
            key=lambda slot: (slot.start, slot.slot_id),
        )
        self._by_id = {slot.slot_id: slot for slot in self._slots}
        self.held: set[str] = set()
        self.booked: dict[str, str] = {}

    def slot(self, slot_id: str) -> Slot:
        """The slot with this id."""
        return self._by_id[slot_id]

    def first_free(self, region: str, preferred: dt.date | None) -> Slot | None:
        """The earliest free slot in `region` on or after `preferred` (first on that day)."""
        for slot in self._slots:
            if slot.region != region or slot.slot_id in self.held or slot.slot_id in self.booked:
                continue
            if preferred is None or slot.start.date() >= preferred:
                return slot
        return None

    def hold(self, slot_id: str) -> None:
        """Keep a slot for a booking awaiting approval."""
        self.held.add(slot_id)

    def release(self, slot_id: str) -> None:
        """Free a held slot."""
        self.held.discard(slot_id)

    def book(self, slot_id: str, customer_id: str) -> str:
        """Book a slot (held or free) and return the booking id."""
        self.held.discard(slot_id)
        self.booked[slot_id] = customer_id
        return f"BKG-{slot_id}"


class TechnicalDispatchAgent(SpecialistAgent):
    """Books technician visits; repeat and out-of-hours visits need a person's approval."""

    name = "technical-dispatch"
    title = "Contoso Technical Dispatch Agent"
    description = (
        "Books a technician visit for a Contoso customer from the technicians' calendar. A "
        "repeat visit within 30 days or an out-of-hours slot needs a person's approval: the "
        "task then waits in input-required until a follow-up message approves or declines it."
    )
    port_offset = 5
    fields = FIELDS
    purpose = "book a technician"
    skill = Skill(
        id="dispatch_scheduling",
        name="Technician Dispatch Scheduling",
        description=skill_description(
            "Books a technician slot. When approval is needed the task is input-required; "
            'continue the same task with a data part {"approved": true|false, "note": "..."}.',
            FIELDS,
            '"BOOKED" | "APPROVAL_REQUIRED" | "DECLINED" | "NO_SLOT_AVAILABLE" | '
            '"UNKNOWN_CUSTOMER" | "MISSING_FIELD"',
        ),
        tags=("dispatch", "technician", "scheduling", "escalation", "human-in-loop"),
        examples=(
            "Book a technician for CUST-0001, the line keeps dropping.",
            '{"customerId": "CUST-0003", "issue": "no signal", "preferredDate": "2026-12-01"}',
            '{"approved": true, "note": "approved by supervisor"}',
        ),
    )

    def __init__(self) -> None:
        self._customers = customers_by_id()
        data = load_data("dispatch.json")
        self.calendar = Calendar(data["technicians"])
        self._visits = data["visits"]
        self._repeat_visit_days = data["repeat_visit_days"]
        hours = data["business_hours"]
        self._opens = dt.time.fromisoformat(hours["start"])
        self._closes = dt.time.fromisoformat(hours["end"])
        self._weekdays = {WEEKDAY_NAMES.index(day) for day in hours["weekdays"]}

    def answer(self, values: dict[str, Any], caller: str) -> Reply:
        """Pick a slot; book it, or hold it and ask for approval."""
        customer = self._customers.get(values["customerId"])
        if customer is None:
            return unknown_customer_reply(values["customerId"])
        preferred = values.get("preferredDate")
        slot = self.calendar.first_free(
            customer["region"], dt.date.fromisoformat(preferred) if preferred else None
        )
        if slot is None:
            return Reply(
                text=f"No technician slot is free in the {customer['region']} region.",
                data={
                    "status": "NO_SLOT_AVAILABLE",
                    "customerId": customer["customer_id"],
                    "region": customer["region"],
                },
            )
        proposal = {
            "customerId": customer["customer_id"],
            "issue": values.get("issue", ""),
            **slot.to_json(),
        }
        reasons = self.approval_reasons(customer["customer_id"], slot)
        if not reasons:
            return self._booked(proposal, approval_note=None)
        self.calendar.hold(slot.slot_id)
        reason = " ".join(text for _code, text in reasons)
        return Reply(
            text=(
                f"I can book {slot.technician_name} on {_spoken_slot(slot)}, but {reason} "
                "A supervisor must approve this booking."
            ),
            data={
                "status": "APPROVAL_REQUIRED",
                "reasons": [code for code, _text in reasons],
                "reason": reason,
                "proposal": proposal,
            },
        )

    def decide(self, proposal: dict[str, Any], request: RequestInput) -> Reply:
        """Complete a held proposal with the approver's decision (or ask again)."""
        decision = {
            spec.name: spec.normalize(request.data.get(spec.name)) for spec in DECISION_FIELDS
        }
        if decision["approved"] is None:
            decision["approved"] = approval_in_text(request.text)
        note = decision["note"]
        if decision["approved"] is None:
            return Reply(
                text=(
                    'I still need a decision: reply with {"approved": true} or {"approved": false}.'
                ),
                data={
                    "status": "APPROVAL_REQUIRED",
                    "reasons": [],
                    "reason": "awaiting a decision",
                    "proposal": proposal,
                },
            )
        if decision["approved"]:
            return self._booked(proposal, approval_note=note or "")
        self.calendar.release(proposal["slotId"])
        return Reply(
            text="The technician visit was declined, so nothing is booked.",
            data={"status": "DECLINED", "customerId": proposal["customerId"], "note": note or ""},
        )

    def approval_reasons(self, customer_id: str, slot: Slot) -> list[tuple[str, str]]:
        """Why booking `slot` for the customer needs approval (empty: it does not)."""
        reasons = []
        for visit in self._visits:
            days = (slot.start.date() - dt.date.fromisoformat(visit["date"])).days
            if visit["customer_id"] == customer_id and 0 <= days <= self._repeat_visit_days:
                reasons.append(
                    (
                        "REPEAT_VISIT",
                        f"a technician already visited on {visit['date']}, within "
                        f"{self._repeat_visit_days} days.",
                    )
                )
                break
        in_hours = (
            slot.start.weekday() in self._weekdays
            and slot.start.time() >= self._opens
            and slot.end.time() <= self._closes
        )
        if not in_hours:
            reasons.append(("OUT_OF_HOURS", "the slot is outside business hours."))
        return reasons

    def create_executor(self) -> AgentExecutor:
        """Dispatch runs as a task, so an approval can continue it."""
        return DispatchExecutor(self)

    def _booked(self, proposal: dict[str, Any], approval_note: str | None) -> Reply:
        booking_id = self.calendar.book(proposal["slotId"], proposal["customerId"])
        slot = self.calendar.slot(proposal["slotId"])
        data = {
            "status": "BOOKED",
            "bookingId": booking_id,
            **proposal,
            "approvalRequired": approval_note is not None,
        }
        if approval_note is not None:
            data["approvalNote"] = approval_note
        return Reply(
            text=f"Booked: {slot.technician_name} will visit on {_spoken_slot(slot)} "
            f"(booking {booking_id}).",
            data=data,
        )


def _spoken_slot(slot: Slot) -> str:
    return f"{slot.start:%A %B} {slot.start.day} from {slot.start:%H:%M} to {slot.end:%H:%M}"


def pending_proposal(task: Task) -> dict[str, Any] | None:
    """The proposal a task in input-required is waiting on (kept in its status message)."""
    if task.status.state != TaskState.TASK_STATE_INPUT_REQUIRED:
        return None
    for data in get_data_parts(task.status.message.parts):
        if isinstance(data, dict) and isinstance(data.get("proposal"), dict):
            return data["proposal"]
    return None


class DispatchExecutor(AgentExecutor):
    """Runs dispatch as an A2A task, so an approval can continue it in a later message."""

    def __init__(self, agent: TechnicalDispatchAgent) -> None:
        self.agent = agent

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        """Start a task (book or ask for approval), or continue one with the decision."""
        request = message_input(context)
        task = context.current_task
        proposal = pending_proposal(task) if task is not None else None
        if task is None:
            if context.message is None:  # the SDK always passes one with message/send
                raise InvalidParamsError(message="A dispatch request needs a message")
            task = new_task_from_user_message(context.message)
            await event_queue.enqueue_event(task)
        reply = (
            self.agent.handle(request) if proposal is None else self.agent.decide(proposal, request)
        )
        updater = TaskUpdater(event_queue, task.id, task.context_id)
        message = updater.new_agent_message(reply_parts(reply))
        if reply.data["status"] == "APPROVAL_REQUIRED":
            await updater.requires_input(message)
        else:
            await updater.complete(message)

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        """Cancel a task waiting for approval, freeing its held slot."""
        task = context.current_task
        proposal = pending_proposal(task) if task is not None else None
        if task is None or proposal is None:
            raise UnsupportedOperationError(message="Only a task awaiting approval can be canceled")
        self.agent.calendar.release(proposal["slotId"])
        await TaskUpdater(event_queue, task.id, task.context_id).cancel()
