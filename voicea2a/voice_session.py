"""The `session.update` payload the browser sends to Voice Live, with our one tool."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from voicea2a.config import VoiceSettings

TOOL_NAME = "send_to_agent_network"
# The tool's limits, which POST /api/messages enforces too (voicea2a/messages.py).
MAX_REQUEST_CHARS = 4000
MAX_AGENT_MESSAGE_CHARS = 2000
MAX_AGENT_LISTING_CHARS = 600
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
    """One skill of an agent, as the tool description lists it."""

    name: str
    description: str
    examples: tuple[str, ...] = ()


@dataclass(frozen=True)
class AgentSummary:
    """One admitted, healthy agent the voice model may ask, with its skills."""

    name: str
    description: str
    skills: tuple[SkillSummary, ...] = ()


def _listing(agent: AgentSummary) -> str:
    """`name: description; skills: Skill (description, e.g. "example")`, clipped."""
    skills = "; ".join(
        f"{skill.name} ({skill.description.rstrip('. ')}"
        + (f', e.g. "{skill.examples[0]}"' if skill.examples else "")
        + ")"
        for skill in agent.skills
    )
    text = f"{agent.name}: {agent.description}" + (f" Skills: {skills}." if skills else "")
    return text[:MAX_AGENT_LISTING_CHARS]


def tool_definition(agents: Sequence[AgentSummary] = (), max_agents: int = 6) -> dict[str, Any]:
    """The `send_to_agent_network` function tool: the request, the structured fields, and an
    `agents` parameter naming exactly the agents that may be asked now (none: no parameter)."""
    description = (
        "Ask Contoso's specialist agents to check or do something for the customer. Fill in the "
        "fields you know; the request sentence is required."
    )
    properties: dict[str, Any] = {
        "request": {
            "type": "string",
            "description": "What the customer needs, in one sentence.",
            "maxLength": MAX_REQUEST_CHARS,
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
    }
    if agents:
        listed = " | ".join(_listing(agent) for agent in agents)
        description += (
            f" To ask particular agents, name them in `agents` (at most {max_agents}; they are "
            f"asked at the same time) with what to tell each. The agents: {listed}"
        )
        properties["agents"] = {
            "type": "array",
            "description": "The agents to ask, and what to tell each; leave out to let the "
            "network decide.",
            "minItems": 1,
            "maxItems": max_agents,
            "items": {
                "type": "object",
                "properties": {
                    "name": {"type": "string", "enum": [agent.name for agent in agents]},
                    "message": {
                        "type": "string",
                        "description": "What to ask this agent, in words.",
                        "maxLength": MAX_AGENT_MESSAGE_CHARS,
                    },
                },
                "required": ["name"],
                "additionalProperties": False,
            },
        }
    return {
        "type": "function",
        "name": TOOL_NAME,
        "description": description,
        "parameters": {
            "type": "object",
            "properties": properties,
            "required": ["request"],
            "additionalProperties": False,
        },
    }


def session_update(
    voice: VoiceSettings, agents: Sequence[AgentSummary] = (), max_agents: int = 6
) -> dict[str, Any]:
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
            "tools": [tool_definition(agents, max_agents)],
            "tool_choice": "auto",
            "parallel_tool_calls": False,
            "temperature": 0.8,
        },
    }
