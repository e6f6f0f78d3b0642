"""A supervisor admits an agent from the page; users never see it before then."""

from __future__ import annotations

import pytest

from tests.faults.fake_agent import FakeAgent

pytestmark = pytest.mark.azurite


def test_a_supervisor_admits_a_pending_agent_and_users_then_see_it(system, loop_thread):
    newcomer = FakeAgent(system.agents.urls["internet-plan"])
    newcomer.card_changes = {"name": "Tide Tables Agent"}
    loop_thread.run(newcomer.start())
    try:
        user = system.new_page()
        user.sign_in("ada", "user")
        supervisor = system.new_page()
        supervisor.sign_in("sam", "supervisor")

        registered = system.app.http.post(
            "/api/agents",
            json={"url": newcomer.url},
            headers=system.headers("agent-tides", ("agent",)),
        )
        assert registered.json()["admission"] == "pending"

        pending = supervisor.page.locator(
            "#agents li.agent[data-agent=tide-tables-agent][data-admission=pending]"
        )
        pending.wait_for()
        assert "waiting for admission" in supervisor.page.locator("#agents-summary").inner_text()
        assert user.page.locator("#agents li.agent[data-agent=tide-tables-agent]").count() == 0

        pending.get_by_role("button", name="Admit tide tables").click()
        supervisor.page.locator(
            "#agents li.agent[data-agent=tide-tables-agent][data-admission=admitted]"
        ).wait_for()
        user.page.locator("#agents li.agent[data-agent=tide-tables-agent]").wait_for()
        assert supervisor.count("POST", "/api/agents/tide-tables-agent/admit") == 1
        user.assert_clean()
        supervisor.assert_clean()
    finally:
        loop_thread.run(newcomer.stop())
