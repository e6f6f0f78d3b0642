"""Modem check agent: the LED the customer sees plus remote provisioning, firmware and signal.

The verdict is the first that applies, in this order (each with its next step):
NO_POWER (light off), HARDWARE_FAULT (red), NOT_PROVISIONED, SIGNAL_ISSUE (a reading outside
SIGNAL_LIMITS), FIRMWARE_OUTDATED (older than the model's latest), RESTART_MODEM (the light is
not solid white although every check passes), HEALTHY.
When the request gives no LED state, the state the modem last reported is used.
"""

from __future__ import annotations

from typing import Any

from agents.base import Reply, Skill, SpecialistAgent, skill_description, unknown_customer_reply
from agents.datastore import index_by_customer, load_data
from agents.inputs import CUSTOMER_ID, InputField, led_state, led_state_in_text

# Healthy DOCSIS ranges: (low, high); None = unbounded.
SIGNAL_LIMITS = {
    "downstream_power_dbmv": (-7.0, 7.0),
    "upstream_power_dbmv": (35.0, 51.0),
    "snr_db": (33.0, None),
}

FIELDS = (
    CUSTOMER_ID,
    InputField(
        "ledState",
        "modem light state",
        "blinking-yellow",
        led_state,
        led_state_in_text,
        required=False,
    ),
)

NEXT_STEPS = {
    "NO_POWER": "Check that the power cable is plugged in and the outlet works.",
    "HARDWARE_FAULT": "The modem needs to be replaced; we can ship one or book a technician.",
    "NOT_PROVISIONED": "We are re-provisioning the modem remotely; restart it in 10 minutes.",
    "SIGNAL_ISSUE": "The line signal is out of range; a technician should check the wiring.",
    "FIRMWARE_OUTDATED": "We are pushing a firmware update; the modem will restart by itself.",
    "RESTART_MODEM": "Unplug the modem for 30 seconds, plug it back in and wait 5 minutes.",
    "HEALTHY": "The modem is fine; the problem is elsewhere (Wi-Fi or the device).",
}


class ModemCheckAgent(SpecialistAgent):
    """Diagnoses the customer's modem and says what to do next."""

    name = "modem-check"
    title = "Contoso Modem Check Agent"
    description = (
        "Diagnoses a Contoso customer's modem from the LED state they describe and remote "
        "checks (provisioning, firmware, signal levels), with a verdict and the next step."
    )
    port_offset = 2
    fields = FIELDS
    purpose = "check your modem"
    skill = Skill(
        id="modem_diagnostics",
        name="Modem Diagnostics",
        description=skill_description(
            "Diagnoses the modem. ledState is one of solid-white, blinking-white, "
            "solid-yellow, blinking-yellow, red, off.",
            FIELDS,
            " | ".join(f'"{verdict}"' for verdict in NEXT_STEPS)
            + ' | "UNKNOWN_CUSTOMER" | "MISSING_FIELD"',
        ),
        tags=("modem", "diagnostics", "led", "hardware", "configuration"),
        examples=(
            "Customer CUST-0003 says the modem light is blinking yellow.",
            '{"customerId": "CUST-0005", "ledState": "red"}',
        ),
    )

    def __init__(self) -> None:
        data = load_data("modems.json")
        self._modems = index_by_customer(data["modems"])
        self._latest = data["latest_firmware"]
        self._led_guide = data["led_guide"]

    def answer(self, values: dict[str, Any], caller: str) -> Reply:
        """Run the checks and pick the verdict."""
        modem = self._modems.get(values["customerId"])
        if modem is None:
            return unknown_customer_reply(values["customerId"])
        led = values.get("ledState", modem["reported_led"])
        latest = self._latest[modem["model"]]
        firmware_current = _version(modem["firmware_version"]) >= _version(latest)
        signal_faults = _signal_faults(modem["signal"])
        verdict = _verdict(led, modem["provisioned"], signal_faults, firmware_current)
        return Reply(
            text=f"{self._led_guide[led]} Verdict: {_spoken(verdict)}. {NEXT_STEPS[verdict]}",
            data={
                "status": verdict,
                "customerId": modem["customer_id"],
                "modemId": modem["modem_id"],
                "model": modem["model"],
                "ledState": led,
                "checks": {
                    "provisioned": modem["provisioned"],
                    "firmwareVersion": modem["firmware_version"],
                    "latestFirmware": latest,
                    "firmwareCurrent": firmware_current,
                    "signalOk": not signal_faults,
                    "signalFaults": signal_faults,
                },
                "nextStep": NEXT_STEPS[verdict],
            },
        )


def _verdict(led: str, provisioned: bool, signal_faults: list[str], firmware_current: bool) -> str:
    if led == "off":
        return "NO_POWER"
    if led == "red":
        return "HARDWARE_FAULT"
    if not provisioned:
        return "NOT_PROVISIONED"
    if signal_faults:
        return "SIGNAL_ISSUE"
    if not firmware_current:
        return "FIRMWARE_OUTDATED"
    if led != "solid-white":
        return "RESTART_MODEM"
    return "HEALTHY"


def _signal_faults(signal: dict[str, float]) -> list[str]:
    faults = []
    for reading, (low, high) in SIGNAL_LIMITS.items():
        value = signal[reading]
        if (low is not None and value < low) or (high is not None and value > high):
            faults.append(reading)
    return faults


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


def _spoken(verdict: str) -> str:
    return verdict.replace("_", " ").lower()
