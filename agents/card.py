"""The A2A 1.0 agent card of a specialist."""

from __future__ import annotations

from a2a.types import AgentCapabilities, AgentCard, AgentInterface, AgentSkill

from agents.base import AGENTS_VERSION, MEDIA_TYPES, SpecialistAgent
from agents.security import InboundAuth, card_security

RPC_PATH = "/a2a"


def build_card(
    agent: SpecialistAgent, base_url: str, *, enable_v0_3_compat: bool, auth: InboundAuth
) -> AgentCard:
    """The card: JSON-RPC at `<base_url>/a2a` (1.0, plus 0.3 when compatibility is on), and the
    credentials a call needs (agents/security.py)."""
    versions = ["1.0", "0.3"] if enable_v0_3_compat else ["1.0"]
    skill = agent.skill
    schemes, requirements = card_security(auth)
    return AgentCard(
        name=agent.title,
        description=agent.description,
        version=AGENTS_VERSION,
        supported_interfaces=[
            AgentInterface(
                url=f"{base_url}{RPC_PATH}", protocol_binding="JSONRPC", protocol_version=version
            )
            for version in versions
        ],
        capabilities=AgentCapabilities(streaming=False, push_notifications=False),
        default_input_modes=list(MEDIA_TYPES),
        default_output_modes=list(MEDIA_TYPES),
        security_schemes=schemes,
        security_requirements=requirements,
        skills=[
            AgentSkill(
                id=skill.id,
                name=skill.name,
                description=skill.description,
                tags=list(skill.tags),
                examples=list(skill.examples),
            )
        ],
    )
