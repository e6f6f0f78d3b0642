"""Network performance agent: latency, packet loss and connected devices from line telemetry.

Each metric falls in a band by the thresholds below (upper bounds, inclusive); the status is
the worse of the two bands:

| band      | latency (ms) | packet loss (%) |
|-----------|--------------|-----------------|
| EXCELLENT | <= 30        | <= 0.5          |
| GOOD      | <= 80        | <= 2            |
| POOR      | <= 250       | <= 10           |
| CRITICAL  | above        | above           |

CRITICAL recommends a technician visit; POOR recommends a network reset; more than
MAX_RECOMMENDED_DEVICES connected devices adds advice to disconnect idle ones.
"""

from __future__ import annotations

from typing import Any

from agents.base import Reply, Skill, SpecialistAgent, skill_description, unknown_customer_reply
from agents.datastore import index_by_customer, load_data
from agents.inputs import CUSTOMER_ID

BANDS = ("EXCELLENT", "GOOD", "POOR", "CRITICAL")
LATENCY_LIMITS_MS = (30.0, 80.0, 250.0)
PACKET_LOSS_LIMITS_PCT = (0.5, 2.0, 10.0)
MAX_RECOMMENDED_DEVICES = 20

RECOMMENDATIONS = {
    "EXCELLENT": "No action needed.",
    "GOOD": "No action needed; performance is within normal range.",
    "POOR": "Reset the network: restart the modem and router, then test again.",
    "CRITICAL": "Book a technician: the line is failing beyond what a reset can fix.",
}

FIELDS = (CUSTOMER_ID,)


class NetworkPerformanceAgent(SpecialistAgent):
    """Grades the line from telemetry and recommends what to do."""

    name = "network-performance"
    title = "Contoso Network Performance Agent"
    description = (
        "Analyses a Contoso customer's line telemetry (latency, packet loss, jitter, speeds) and "
        "connected devices; grades it EXCELLENT, GOOD, POOR or CRITICAL and recommends a "
        "network reset or a technician."
    )
    port_offset = 4
    fields = FIELDS
    purpose = "analyse your network performance"
    skill = Skill(
        id="network_diagnostics",
        name="Network Performance Diagnostics",
        description=skill_description(
            "Grades latency and packet loss (thresholds: latency 30/80/250 ms, loss "
            "0.5/2/10 %); CRITICAL sets technicianRecommended.",
            FIELDS,
            " | ".join(f'"{band}"' for band in BANDS) + ' | "UNKNOWN_CUSTOMER" | "MISSING_FIELD"',
        ),
        tags=("network", "diagnostics", "performance", "ping", "latency"),
        examples=("My internet is slow, customer CUST-0005.", '{"customerId": "CUST-0003"}'),
    )

    def __init__(self) -> None:
        self._telemetry = index_by_customer(load_data("telemetry.json")["telemetry"])

    def answer(self, values: dict[str, Any], caller: str) -> Reply:
        """Grade the latest measurement."""
        sample = self._telemetry.get(values["customerId"])
        if sample is None:
            return unknown_customer_reply(values["customerId"])
        latency, loss = sample["latency_ms"], sample["packet_loss_pct"]
        status = grade(latency, loss)
        devices = sample["devices"]
        too_many_devices = len(devices) > MAX_RECOMMENDED_DEVICES
        recommendation = RECOMMENDATIONS[status]
        if too_many_devices:
            advice = f"Disconnect idle devices: {len(devices)} are connected."
            healthy = status in ("EXCELLENT", "GOOD")
            recommendation = advice if healthy else f"{recommendation} {advice}"
        return Reply(
            text=(
                f"Your connection is {status.lower()}: latency {latency:g} ms, packet loss "
                f"{loss:g}%, {len(devices)} device(s) connected. {recommendation}"
            ),
            data={
                "status": status,
                "customerId": sample["customer_id"],
                "measuredAt": sample["measured_at"],
                "latencyMs": latency,
                "packetLossPct": loss,
                "jitterMs": sample["jitter_ms"],
                "downloadMbps": sample["download_mbps"],
                "uploadMbps": sample["upload_mbps"],
                "connectedDevices": len(devices),
                "devices": devices,
                "tooManyDevices": too_many_devices,
                "technicianRecommended": status == "CRITICAL",
                "recommendation": recommendation,
            },
        )


def grade(latency_ms: float, packet_loss_pct: float) -> str:
    """The worse of the latency band and the packet-loss band."""
    return BANDS[
        max(_band(latency_ms, LATENCY_LIMITS_MS), _band(packet_loss_pct, PACKET_LOSS_LIMITS_PCT))
    ]


def _band(value: float, limits: tuple[float, ...]) -> int:
    return next((i for i, limit in enumerate(limits) if value <= limit), len(limits))
