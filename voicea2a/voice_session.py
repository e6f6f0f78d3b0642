"""The `session.update` payload the browser sends to Voice Live, with our one tool."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from voicea2a.config import VoiceSettings

TOOL_NAME = "send_to_agent_network"
SYMPTOMS = (
    "no_internet",
    "slow_internet",
    "intermittent_connection",
    "modem_lights",
    "billing_question",
    "plan_question",
    "technician_visit",
)
INSTRUCTIONS = (
    "You are Contoso's internet support assistant on a phone-style voice call. Be brief, warm "
    "and concrete: one or two sentences at a time. To check anything about the customer's "
    "account, line, modem, plan, bills, outages or to book a technician, call the "
    f"{TOOL_NAME} tool with what you know; never invent account facts. Verify identity before "
    "account details: ask for first name, last name, postal code and date of birth. While the "
    "tool works, tell the customer you are checking. Read the tool's answer back in your own "
    "words."
)


@dataclass(frozen=True)
class SkillSummary:
    """One healthy specialist's skill, as the tool description lists it."""

    agent: str
    skill: str
    description: str


def tool_definition(skills: Sequence[SkillSummary] = ()) -> dict[str, Any]:
    """The `send_to_agent_network` function tool, its description listing the live skills."""
    description = (
        "Ask Contoso's specialist agents to check or do something for the customer. Fill in the "
        "fields you know; the request sentence is required."
    )
    if skills:
        listed = "; ".join(f"{s.agent}: {s.description}" for s in skills)
        description += f" Available specialists: {listed}."
    return {
        "type": "function",
        "name": TOOL_NAME,
        "description": description,
        "parameters": {
            "type": "object",
            "properties": {
                "request": {
                    "type": "string",
                    "description": "What the customer needs, in one sentence.",
                    "maxLength": 4000,
                },
                "customer": {
                    "type": "object",
                    "description": "Identity details the customer gave, for verification.",
                    "properties": {
                        "firstName": {"type": "string"},
                        "lastName": {"type": "string"},
                        "postalCode": {"type": "string"},
                        "dateOfBirth": {"type": "string", "description": "YYYY-MM-DD"},
                        "customerId": {"type": "string"},
                    },
                    "additionalProperties": False,
                },
                "symptoms": {
                    "type": "array",
                    "description": "What the customer reports.",
                    "items": {"type": "string", "enum": list(SYMPTOMS)},
                },
            },
            "required": ["request"],
            "additionalProperties": False,
        },
    }


def session_update(voice: VoiceSettings, skills: Sequence[SkillSummary] = ()) -> dict[str, Any]:
    """The complete `session.update` event for a new voice conversation."""
    return {
        "type": "session.update",
        "session": {
            "modalities": ["text", "audio"],
            "instructions": INSTRUCTIONS,
            "voice": {"type": "azure-standard", "name": voice.voice, "temperature": 0.8},
            "input_audio_format": "pcm16",
            "output_audio_format": "pcm16",
            "input_audio_sampling_rate": 24000,
            "turn_detection": {
                "type": "azure_semantic_vad",
                "threshold": 0.5,
                "prefix_padding_ms": 300,
                "silence_duration_ms": 500,
                "remove_filler_words": False,
                "create_response": True,
                "interrupt_response": True,
            },
            "input_audio_noise_reduction": {"type": "azure_deep_noise_suppression"},
            "input_audio_echo_cancellation": {"type": "server_echo_cancellation"},
            "input_audio_transcription": {"model": "azure-speech", "language": "en"},
            # Filler speech while our tool runs: the person would otherwise hear silence.
            # Spelled as the azure-ai-voicelive SDK serialises it (generated from the service spec).
            "interim_response": {
                "type": "llm_interim_response",
                "triggers": ["tool", "latency"],
                "latency_threshold_ms": 1500,
            },
            "tools": [tool_definition(skills)],
            "tool_choice": "auto",
            "parallel_tool_calls": False,
            "temperature": 0.8,
        },
    }
