"""Internet plan agent: plan, data usage and overage, and the last three bills.

Status, the first that applies: SUSPENDED (SUSPEND_AFTER_UNPAID or more of the last three bills
unpaid: access is off), PAYMENT_OVERDUE (one unpaid bill), OVERAGE (a capped plan used past its
cap this cycle; charged per GB over), OK.
"""

from __future__ import annotations

from typing import Any

from agents.base import Reply, Skill, SpecialistAgent, skill_description, unknown_customer_reply
from agents.datastore import index_by_customer, load_data
from agents.inputs import CUSTOMER_ID

SUSPEND_AFTER_UNPAID = 2
RECENT_BILLS = 3

FIELDS = (CUSTOMER_ID,)


class InternetPlanAgent(SpecialistAgent):
    """Reports the plan, usage, overage and bill status, and whether access should be active."""

    name = "internet-plan"
    title = "Contoso Internet Plan Agent"
    description = (
        "Checks a Contoso customer's internet plan (capped or unlimited), data usage and "
        "overage this cycle, and whether the last three bills are paid; says whether access "
        "should be active."
    )
    port_offset = 3
    fields = FIELDS
    purpose = "check your plan and bills"
    skill = Skill(
        id="plan_checking",
        name="Internet Plan & Billing Check",
        description=skill_description(
            "Checks plan, usage, overage and bills.",
            FIELDS,
            '"OK" | "OVERAGE" | "PAYMENT_OVERDUE" | "SUSPENDED" | "UNKNOWN_CUSTOMER" | '
            '"MISSING_FIELD"',
        ),
        tags=("plan", "billing", "data-usage", "payment", "subscription"),
        examples=(
            "What plan is CUST-0003 on, and are the bills paid?",
            '{"customerId": "CUST-0011"}',
        ),
    )

    def __init__(self) -> None:
        data = load_data("plans.json")
        self._plans = {plan["plan_id"]: plan for plan in data["plans"]}
        self._subscriptions = index_by_customer(data["subscriptions"])

    def answer(self, values: dict[str, Any], caller: str) -> Reply:
        """Work out overage and bill status for the current cycle."""
        subscription = self._subscriptions.get(values["customerId"])
        if subscription is None:
            return unknown_customer_reply(values["customerId"])
        plan = self._plans[subscription["plan_id"]]
        bills = sorted(subscription["bills"], key=lambda bill: bill["period"])[-RECENT_BILLS:]
        unpaid = [bill for bill in bills if not bill["paid"]]
        usage = subscription["usage_gb"]
        cap = plan["data_cap_gb"]
        overage_gb = max(0.0, usage - cap) if plan["type"] == "capped" else 0.0
        overage_charge = round(overage_gb * plan["overage_per_gb"], 2)
        status = _status(len(unpaid), overage_gb)
        data = {
            "status": status,
            "customerId": subscription["customer_id"],
            "accessActive": status != "SUSPENDED",
            "plan": {
                "planId": plan["plan_id"],
                "name": plan["name"],
                "type": plan["type"],
                "dataCapGb": cap,
                "monthlyPrice": plan["monthly_price"],
            },
            "usageGb": usage,
            "overageGb": round(overage_gb, 1),
            "overageCharge": overage_charge,
            "bills": [
                {
                    "billId": bill["bill_id"],
                    "period": bill["period"],
                    "amount": bill["amount"],
                    "dueDate": bill["due_date"],
                    "paid": bill["paid"],
                }
                for bill in bills
            ],
            "unpaidBills": len(unpaid),
        }
        return Reply(text=_sentence(plan, data), data=data)


def _status(unpaid_count: int, overage_gb: float) -> str:
    if unpaid_count >= SUSPEND_AFTER_UNPAID:
        return "SUSPENDED"
    if unpaid_count:
        return "PAYMENT_OVERDUE"
    if overage_gb > 0:
        return "OVERAGE"
    return "OK"


def _sentence(plan: dict[str, Any], data: dict[str, Any]) -> str:
    if plan["type"] == "capped":
        usage = f"{data['usageGb']:g} GB of {plan['data_cap_gb']} GB used this cycle"
    else:
        usage = f"{data['usageGb']:g} GB used this cycle (unlimited)"
    parts = [f"You are on {plan['name']}: {usage}."]
    if data["overageGb"]:
        parts.append(
            f"That is {data['overageGb']:g} GB over the cap, "
            f"an overage charge of ${data['overageCharge']:.2f}."
        )
    if data["status"] == "SUSPENDED":
        parts.append(
            f"{data['unpaidBills']} of the last {RECENT_BILLS} bills are unpaid, so internet "
            "access is suspended until they are paid."
        )
    elif data["status"] == "PAYMENT_OVERDUE":
        parts.append("One of the last three bills is unpaid; access stays on for now.")
    else:
        parts.append(f"The last {RECENT_BILLS} bills are paid; access is active.")
    return " ".join(parts)
