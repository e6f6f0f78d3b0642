"""Outage check agent: a local outage at the customer's address first, then a regional one.

Only outages with status "active" count. A local outage matches the postal code of the
customer's address; a regional one matches the customer's region.
"""

from __future__ import annotations

from typing import Any

from agents.base import Reply, Skill, SpecialistAgent, skill_description, unknown_customer_reply
from agents.datastore import customers_by_id, load_data
from agents.inputs import CUSTOMER_ID

FIELDS = (CUSTOMER_ID,)


class OutageCheckAgent(SpecialistAgent):
    """Reports an active outage affecting the customer, with cause, ETA and services."""

    name = "outage-check"
    title = "Contoso Outage Check Agent"
    description = (
        "Checks whether a Contoso customer is affected by an outage: first at their address "
        "(local), then in their region. Reports the cause, the estimated time of repair and "
        "the affected services."
    )
    port_offset = 1
    fields = FIELDS
    purpose = "check for outages"
    skill = Skill(
        id="outage_checking",
        name="Outage Checking",
        description=skill_description(
            "Checks for local and regional outages.",
            FIELDS,
            '"LOCAL_OUTAGE" | "REGIONAL_OUTAGE" | "NO_OUTAGE" | "UNKNOWN_CUSTOMER" | '
            '"MISSING_FIELD"',
        ),
        tags=("outage", "connectivity", "internet", "network"),
        examples=("Is there an outage for customer CUST-0001?", '{"customerId": "CUST-0004"}'),
    )

    def __init__(self) -> None:
        self._customers = customers_by_id()
        outages = load_data("outages.json")
        self._local = [o for o in outages["local_outages"] if o["status"] == "active"]
        self._regional = [o for o in outages["regional_outages"] if o["status"] == "active"]

    def answer(self, values: dict[str, Any], caller: str) -> Reply:
        """Report the local outage, else the regional one, else that there is none."""
        customer = self._customers.get(values["customerId"])
        if customer is None:
            return unknown_customer_reply(values["customerId"])
        postal = customer["address"]["postal_code"]
        local = next((o for o in self._local if postal in o["postal_codes"]), None)
        if local is not None:
            return _outage_reply("LOCAL_OUTAGE", f"at your address ({postal})", local, customer)
        regional = next((o for o in self._regional if o["region"] == customer["region"]), None)
        if regional is not None:
            where = f"in the {customer['region']} region"
            return _outage_reply("REGIONAL_OUTAGE", where, regional, customer)
        return Reply(
            text=(
                f"There is no known outage at {postal} or in the {customer['region']} region; "
                "the problem is likely specific to your connection."
            ),
            data={
                "status": "NO_OUTAGE",
                "customerId": customer["customer_id"],
                "postalCode": postal,
                "region": customer["region"],
            },
        )


def _outage_reply(
    status: str, where: str, outage: dict[str, Any], customer: dict[str, Any]
) -> Reply:
    services = ", ".join(outage["affected_services"])
    return Reply(
        text=(
            f"Yes, there is an outage {where}: {outage['cause']}. Affected services: {services}. "
            f"Estimated repair: {outage['eta']}."
        ),
        data={
            "status": status,
            "customerId": customer["customer_id"],
            "outageId": outage["outage_id"],
            "cause": outage["cause"],
            "eta": outage["eta"],
            "startedAt": outage["started_at"],
            "affectedServices": list(outage["affected_services"]),
        },
    )
