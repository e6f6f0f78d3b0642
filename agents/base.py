"""What every specialist shares: its description, the reply shape, and the missing-field answer."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from agents.inputs import InputField, RequestInput, collect_fields

if TYPE_CHECKING:
    from a2a.server.agent_execution import AgentExecutor

AGENTS_VERSION = "1.0.0"
MEDIA_TYPES = ("text/plain", "application/json")


@dataclass(frozen=True)
class Reply:
    """An answer: a sentence to speak and a structured `data` part that always has `status`."""

    text: str
    data: dict[str, Any]


@dataclass(frozen=True)
class Skill:
    """The one skill an agent's card advertises."""

    id: str
    name: str
    description: str
    tags: tuple[str, ...]
    examples: tuple[str, ...] = ()


class SpecialistAgent(ABC):
    """One Contoso specialist: card metadata, its input fields and its deterministic logic."""

    name: ClassVar[str]
    title: ClassVar[str]
    description: ClassVar[str]
    port_offset: ClassVar[int]
    skill: ClassVar[Skill]
    fields: ClassVar[tuple[InputField, ...]]
    # Completes "To {purpose} I need ..." in the missing-field answer.
    purpose: ClassVar[str]

    def handle(self, request: RequestInput) -> Reply:
        """Answer a request, or say which required fields are missing."""
        values = collect_fields(self.fields, request)
        missing = [spec for spec in self.fields if spec.required and spec.name not in values]
        if missing:
            return missing_fields_reply(self.purpose, missing)
        return self.answer(values, request.caller)

    @abstractmethod
    def answer(self, values: dict[str, Any], caller: str) -> Reply:
        """Answer a request whose required fields are all present (normalized), from `caller`."""

    def create_executor(self) -> AgentExecutor | None:
        """This agent's own a2a-sdk executor, if it needs one; None: the usual one Message per
        request (agents/executors.py `executor_for`)."""
        return None


def missing_fields_reply(purpose: str, missing: list[InputField]) -> Reply:
    """The normal answer to an incomplete request: it names every missing field."""
    wanted = ", ".join(f"{spec.description} ({spec.name}, e.g. {spec.example})" for spec in missing)
    return Reply(
        text=f"To {purpose} I need the {wanted}.",
        data={"status": "MISSING_FIELD", "missingFields": [spec.name for spec in missing]},
    )


def unknown_customer_reply(customer_id: str) -> Reply:
    """The answer for a customer id that is not in our records."""
    return Reply(
        text=f"I could not find customer {customer_id} in our records.",
        data={"status": "UNKNOWN_CUSTOMER", "customerId": customer_id},
    )


def skill_description(summary: str, fields: tuple[InputField, ...], statuses: str) -> str:
    """A skill description that documents the structured input and output."""
    names = ", ".join(
        f'"{spec.name}"' + ("" if spec.required else " (optional)") for spec in fields
    )
    return (
        f"{summary} Input: a data part with {names}, or free text that mentions them. "
        f'Output: text plus a data part {{"status": {statuses}, ...}}.'
    )
