"""A supervisor who opens the page after a dispatch asked for approval still sees it (from
GET /api/approvals, not the live event they missed) and can decide it."""

from __future__ import annotations

import pytest

from voicea2a.playbook import load_playbook

pytestmark = pytest.mark.azurite

# The answer after a supervisor rejects the visit: the Contoso playbook's (the browser tests run
# with PLAYBOOK=contoso, tests/system.py).
APPROVAL_REJECTED = load_playbook("contoso").follow_up.answers.rejected


@pytest.mark.parametrize("overrides", [{"VOICE_SYNC_WAIT_SECONDS": "0.5"}])
def test_a_supervisor_who_signs_in_late_sees_and_decides_a_pending_approval(system):
    user = system.new_page()
    user.sign_in("ada", "user")
    user.ask("I need a technician to come and look at my line.", "CUST-0010", ("technician_visit",))
    user.page.locator("#timeline .turn-note[data-kind=approval]").wait_for()
    turn = user.page.locator("#timeline li.turn[data-instance-id]")
    turn.wait_for()
    instance_id = turn.get_attribute("data-instance-id")

    supervisor = system.new_page()
    supervisor.sign_in("sam", "supervisor")

    request = supervisor.page.locator(
        f"#approvals li.approval[data-state=pending][data-instance-id='{instance_id}']"
    )
    request.wait_for()
    assert supervisor.count("GET", "/api/approvals") == 1
    assert "CUST-0010" in request.inner_text()
    assert request.locator(".approval-reason").inner_text().strip()

    request.locator("button.reject").click()
    supervisor.page.locator(
        f"#approvals li.approval[data-state=resolved][data-instance-id='{instance_id}']"
    ).wait_for()
    follow_up = user.page.locator("#timeline li.turn .bubble-follow-up .answer-text")
    follow_up.wait_for()
    assert APPROVAL_REJECTED in follow_up.inner_text()
    user.assert_clean()
    supervisor.assert_clean()


@pytest.mark.parametrize("overrides", [{"VOICE_SYNC_WAIT_SECONDS": "0.5"}])
def test_a_decision_resolved_before_its_post_answers_stays_resolved(system):
    supervisor = system.new_page()
    supervisor.sign_in("sam", "supervisor")
    # The POST's answer reaches the page's code only after the approval.resolved event has.
    supervisor.page.evaluate(
        """() => {
          const fetch = window.fetch;
          window.fetch = async (url, init) => {
            const response = await fetch(url, init);
            if (init && init.method === "POST" && String(url).includes("/api/approvals/")) {
              await new Promise((done) => setTimeout(done, 1500));
              window.lateAnswerGiven = true;
            }
            return response;
          };
        }"""
    )
    resolved_event = supervisor.page.locator("#approvals li.approval .approval-message")
    user = system.new_page()
    user.sign_in("ada", "user")
    user.ask("I need a technician to come and look at my line.", "CUST-0010", ("technician_visit",))
    request = supervisor.page.locator("#approvals li.approval[data-state=pending]")
    request.wait_for()

    request.locator("button.approve").click()

    user.page.locator("#timeline li.turn[data-state=answered]").wait_for()
    resolved = supervisor.page.locator("#approvals li.approval[data-state=resolved]")
    resolved.wait_for()
    supervisor.page.wait_for_function("window.lateAnswerGiven === true")
    assert resolved.get_attribute("data-state") == "resolved"
    assert "Approved by sam" in resolved_event.inner_text()
    supervisor.assert_clean()
