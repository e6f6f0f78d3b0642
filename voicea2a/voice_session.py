"""The `session.update` payload the browser sends to Voice Live, with our one tool."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from voicea2a.config import VoiceSettings
from voicea2a.messages import MAX_AGENT_MESSAGE_CHARS, MAX_REQUEST_CHARS
from voicea2a.playbook import DEFAULT_DETAIL_CHARS, Detail, Playbook

TOOL_NAME = "send_to_agent_network"
MAX_AGENT_LISTING_CHARS = 600
GENERIC_INSTRUCTIONS = (
    "You are a support assistant on a phone-style voice call. Be brief, warm and concrete: one "
    "or two sentences at a time. When the caller needs something checked or done, call the "
    f"{TOOL_NAME} tool with what you know and name the agents that can help; never invent "
    "facts. While the tool works, tell the caller you are checking. Read the tool's answer back "
    "in your own words."
)
GENERIC_TOOL_DESCRIPTION = (
    "Ask the specialist agents to check or do something for the caller. The request sentence "
    "is required."
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


def _detail_schema(detail: Detail) -> dict[str, Any]:
    """A playbook detail as a tool parameter."""
    schema: dict[str, Any] = {"type": "string", "description": detail.description}
    if detail.type == "choice":
        schema["enum"] = list(detail.values)
    elif detail.type == "date":
        schema["description"] = f"{detail.description} YYYY-MM-DD."
    else:
        schema["maxLength"] = detail.max_length or DEFAULT_DETAIL_CHARS
    return schema


def tool_definition(
    playbook: Playbook | None, agents: Sequence[AgentSummary] = (), max_agents: int = 6
) -> dict[str, Any]:
    """The `send_to_agent_network` function tool: the request, the playbook's structured fields,
    and an `agents` parameter naming exactly the agents that may be asked now (none: no
    parameter)."""
    description = playbook.tool_description if playbook else GENERIC_TOOL_DESCRIPTION
    properties: dict[str, Any] = {
        "request": {
            "type": "string",
            "description": "What the customer needs, in one sentence.",
            "maxLength": MAX_REQUEST_CHARS,
        },
    }
    if playbook is not None and playbook.identity is not None:
        properties["customer"] = {
            "type": "object",
            "description": "Identity details the customer gave, for verification.",
            "properties": {
                **{
                    field.name: {
                        "type": "string",
                        "description": "YYYY-MM-DD" if field.name == "dateOfBirth" else field.label,
                    }
                    for field in playbook.identity.fields
                },
                "customerId": {"type": "string"},
            },
            "additionalProperties": False,
        }
    if playbook is not None and playbook.symptoms:
        properties["symptoms"] = {
            "type": "array",
            "description": "What the customer reports.",
            "items": {"type": "string", "enum": [symptom.id for symptom in playbook.symptoms]},
        }
    for detail in playbook.details if playbook else ():
        properties[detail.name] = _detail_schema(detail)
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
    voice: VoiceSettings,
    playbook: Playbook | None,
    agents: Sequence[AgentSummary] = (),
    max_agents: int = 6,
) -> dict[str, Any]:
    """The complete `session.update` event for a new voice conversation."""
    return {
        "type": "session.update",
        "session": {
            "modalities": ["text", "audio"],
            "instructions": playbook.instructions if playbook else GENERIC_INSTRUCTIONS,
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
            "tools": [tool_definition(playbook, agents, max_agents)],
            "tool_choice": "auto",
            "parallel_tool_calls": False,
            "temperature": 0.8,
        },
    }
