"""The six Contoso specialists, in port order (base port + offset)."""

from __future__ import annotations

from agents.authentication import AuthenticationAgent
from agents.base import SpecialistAgent
from agents.internet_plan import InternetPlanAgent
from agents.modem_check import ModemCheckAgent
from agents.network_performance import NetworkPerformanceAgent
from agents.outage_check import OutageCheckAgent
from agents.technical_dispatch import TechnicalDispatchAgent

_CLASSES: tuple[type[SpecialistAgent], ...] = (
    AuthenticationAgent,
    OutageCheckAgent,
    ModemCheckAgent,
    InternetPlanAgent,
    NetworkPerformanceAgent,
    TechnicalDispatchAgent,
)
AGENT_CLASSES: dict[str, type[SpecialistAgent]] = {
    cls.name: cls for cls in sorted(_CLASSES, key=lambda cls: cls.port_offset)
}
AGENT_NAMES = tuple(AGENT_CLASSES)
DEFAULT_BASE_PORT = 8101
