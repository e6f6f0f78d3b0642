"""Technical dispatch: booking, the approval rule, and the input-required -> approval task flow."""

import pytest

from agents.inputs import RequestInput
from agents.server import start_agents
from agents.technical_dispatch import TechnicalDispatchAgent
from tests.agents.conftest import QUIET, ask, bearer, rpc


@pytest.fixture
def agent():
    return TechnicalDispatchAgent()


def request(agent, data=None, text=""):
    return agent.handle(RequestInput(data=data or {}, text=text))


def decide(agent, proposal, data=None, text=""):
    return agent.decide(proposal, RequestInput(data=data or {}, text=text))


def test_books_the_earliest_free_slot_in_the_region(agent):
    reply = request(agent, {"customerId": "CUST-0001", "issue": "line drops"})
    assert reply.data["status"] == "BOOKED"
    assert reply.data["slotId"] == "SLOT-TOR-01"
    assert reply.data["bookingId"] == "BKG-SLOT-TOR-01"
    assert reply.data["issue"] == "line drops"
    assert reply.data["approvalRequired"] is False
    # The slot is taken now: the next Toronto customer gets the next one.
    assert request(agent, {"customerId": "CUST-0002"}).data["slotId"] == "SLOT-TOR-02"


def test_preferred_date_picks_that_day_or_the_next_free_one(agent):
    reply = request(agent, {"customerId": "CUST-0002", "preferredDate": "2026-12-02"})
    assert reply.data["slotId"] == "SLOT-TOR-03"
    reply = request(agent, text="Book a technician for CUST-0019 on December 2, 2026")
    # SLOT-TOR-03 is booked; the next Toronto slot is out of hours and needs approval.
    assert reply.data["status"] == "APPROVAL_REQUIRED"
    assert reply.data["proposal"]["slotId"] == "SLOT-TOR-04"


def test_repeat_visit_within_30_days_needs_approval_and_holds_the_slot(agent):
    reply = request(agent, {"customerId": "CUST-0003", "issue": "no signal again"})
    assert reply.data["status"] == "APPROVAL_REQUIRED"
    assert reply.data["reasons"] == ["REPEAT_VISIT"]
    assert "2026-11-20" in reply.data["reason"]
    assert reply.data["proposal"]["slotId"] == "SLOT-TOR-01"
    assert "supervisor must approve" in reply.text
    # Held: another customer cannot take it meanwhile.
    assert request(agent, {"customerId": "CUST-0002"}).data["slotId"] == "SLOT-TOR-02"


def test_a_visit_more_than_30_days_ago_needs_no_approval(agent):
    assert request(agent, {"customerId": "CUST-0002"}).data["status"] == "BOOKED"


def test_out_of_hours_slot_needs_approval(agent):
    reply = request(agent, {"customerId": "CUST-0006"})
    assert (reply.data["status"], reply.data["reasons"]) == ("APPROVAL_REQUIRED", ["OUT_OF_HOURS"])
    assert reply.data["proposal"]["start"] == "2026-12-02T18:30"


def test_weekend_slot_needs_approval(agent):
    reply = request(agent, {"customerId": "CUST-0008", "preferredDate": "2026-12-05"})
    assert reply.data["reasons"] == ["OUT_OF_HOURS"]
    assert reply.data["proposal"]["slotId"] == "SLOT-VAN-02"


def test_both_reasons_are_given(agent):
    # CUST-0007 (Ottawa) had a visit on 2026-11-10; the only Ottawa slot is in the evening.
    reply = request(agent, {"customerId": "CUST-0007"})
    assert reply.data["reasons"] == ["REPEAT_VISIT", "OUT_OF_HOURS"]
    assert "2026-11-10" in reply.text and "outside business hours" in reply.text


def test_repeat_visit_counts_days_before_the_slot(agent):
    # CUST-0010 (Calgary) had a visit on 2026-11-25, 7 days before SLOT-CAL-01.
    assert request(agent, {"customerId": "CUST-0010"}).data["reasons"] == ["REPEAT_VISIT"]
    assert request(agent, {"customerId": "CUST-0018"}).data["slotId"] == "SLOT-CAL-02"


def test_no_slot_in_the_region(agent):
    reply = request(agent, {"customerId": "CUST-0012"})
    assert reply.data == {
        "status": "NO_SLOT_AVAILABLE",
        "customerId": "CUST-0012",
        "region": "Halifax",
    }


def test_approval_books_and_decline_frees_the_slot(agent):
    proposal = request(agent, {"customerId": "CUST-0003"}).data["proposal"]
    declined = decide(agent, proposal, {"approved": False, "note": "second visit not justified"})
    assert declined.data == {
        "status": "DECLINED",
        "customerId": "CUST-0003",
        "note": "second visit not justified",
    }
    again = request(agent, {"customerId": "CUST-0003"}).data["proposal"]
    assert again["slotId"] == proposal["slotId"], "a declined slot is free again"
    booked = decide(agent, again, text="Approved by the supervisor")
    assert booked.data["status"] == "BOOKED"
    assert booked.data["approvalRequired"] is True
    assert booked.data["bookingId"] == "BKG-SLOT-TOR-01"


def test_no_decision_asks_again(agent):
    proposal = request(agent, {"customerId": "CUST-0006"}).data["proposal"]
    reply = decide(agent, proposal, {"note": "let me think"})
    assert reply.data["status"] == "APPROVAL_REQUIRED"
    assert reply.data["proposal"] == proposal


def test_missing_customer_id(agent):
    reply = request(agent, text="send someone please")
    assert reply.data == {"status": "MISSING_FIELD", "missingFields": ["customerId"]}


# --- over A2A: the task survives between the two messages ---


@pytest.fixture
async def dispatch():
    group = await start_agents(["technical-dispatch"], base_port=0, settings=QUIET)
    yield group.urls["technical-dispatch"]
    await group.stop()


async def test_input_required_then_approval_completes_the_same_task(dispatch, http):
    first = await ask(http, dispatch, data={"customerId": "CUST-0003", "issue": "no signal"})
    assert (first.kind, first.state) == ("task", "TASK_STATE_INPUT_REQUIRED")
    assert first.data["status"] == "APPROVAL_REQUIRED"
    assert first.data["reason"] in first.text
    second = await ask(
        http,
        dispatch,
        data={"approved": True, "note": "ok by supervisor"},
        task_id=first.task_id,
        context_id=first.context_id,
    )
    assert (second.task_id, second.context_id) == (first.task_id, first.context_id)
    assert second.state == "TASK_STATE_COMPLETED"
    assert second.data["status"] == "BOOKED"
    assert second.data["approvalNote"] == "ok by supervisor"
    # A completed task takes no more messages.
    late = await rpc(
        http,
        dispatch,
        [{"data": {"approved": False}}],
        task_id=first.task_id,
        context_id=first.context_id,
    )
    assert late["error"]["code"] == -32004


async def test_declined_path_completes_with_declined(dispatch, http):
    first = await ask(http, dispatch, text="Book a technician for CUST-0006")
    assert first.state == "TASK_STATE_INPUT_REQUIRED"
    second = await ask(
        http, dispatch, text="Declined.", task_id=first.task_id, context_id=first.context_id
    )
    assert second.state == "TASK_STATE_COMPLETED"
    assert second.data["status"] == "DECLINED"


async def test_a_follow_up_without_a_decision_stays_input_required(dispatch, http):
    first = await ask(http, dispatch, data={"customerId": "CUST-0006"})
    second = await ask(
        http, dispatch, text="hmm", task_id=first.task_id, context_id=first.context_id
    )
    assert second.state == "TASK_STATE_INPUT_REQUIRED"
    third = await ask(
        http, dispatch, data={"approved": True}, task_id=first.task_id, context_id=first.context_id
    )
    assert (third.state, third.data["status"]) == ("TASK_STATE_COMPLETED", "BOOKED")


async def test_booking_without_approval_completes_at_once(dispatch, http):
    answer = await ask(http, dispatch, data={"customerId": "CUST-0001"})
    assert (answer.kind, answer.state, answer.data["status"]) == (
        "task",
        "TASK_STATE_COMPLETED",
        "BOOKED",
    )


async def test_a_wrong_context_id_is_refused(dispatch, http):
    first = await ask(http, dispatch, data={"customerId": "CUST-0006"})
    reply = await rpc(
        http, dispatch, [{"data": {"approved": True}}], task_id=first.task_id, context_id="other"
    )
    assert reply["error"]["code"] == -32602


async def test_cancel_frees_the_held_slot(dispatch, http):
    first = await ask(http, dispatch, data={"customerId": "CUST-0006"})
    body = {"jsonrpc": "2.0", "id": 1, "method": "CancelTask", "params": {"id": first.task_id}}
    headers = {"A2A-Version": "1.0", **(await bearer(http, dispatch))}
    response = await http.post(f"{dispatch}/a2a", json=body, headers=headers)
    assert response.json()["result"]["status"]["state"] == "TASK_STATE_CANCELED"
    again = await ask(http, dispatch, data={"customerId": "CUST-0016"})
    assert again.data["proposal"]["slotId"] == first.data["proposal"]["slotId"]
