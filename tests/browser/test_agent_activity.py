"""The agent network and the turn show what each agent went through on the current request:
working, retrying, done, failed, timed out (the `agent.status` events, live)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.azurite

OUTAGE = "contoso-outage-check-agent"
AUTHENTICATION = "contoso-authentication-agent"

# Records every activity an agent shows, in the network view and on the turn, as it changes:
# a retry lasts a fraction of a second, too short to catch by polling.
RECORD_ACTIVITY = """() => {
  window.seenActivity = [];
  const record = () => {
    for (const li of document.querySelectorAll('#agents li.agent, #timeline .turn-agents li')) {
      const where = li.closest('#agents') ? 'network' : 'turn';
      const entry = `${where} ${li.dataset.agent} ${li.dataset.activity || li.dataset.status}`;
      if (window.seenActivity.at(-1) !== entry && !window.seenActivity.includes(entry)) {
        window.seenActivity.push(entry);
      }
    }
  };
  new MutationObserver(record).observe(document.body, {
    subtree: true, childList: true, attributes: true,
    attributeFilter: ['data-activity', 'data-status'],
  });
}"""


def seen(page, where: str, agent: str) -> list[str]:
    """The activities `agent` showed in `where` (network or turn), in order, from the request on
    (the network lists every agent idle before it)."""
    entries = page.page.evaluate("() => window.seenActivity")
    shown = [e.split(" ")[2] for e in entries if e.startswith(f"{where} {agent} ")]
    return shown[1:] if shown[:1] == ["idle"] else shown


@pytest.mark.parametrize(
    ("faults", "network", "turn"),
    [
        (
            {"failFirst": 1},
            ["working", "retrying", "completed"],
            ["started", "retrying", "completed"],
        ),
        ({"failFirst": 10}, ["working", "retrying", "failed"], ["started", "retrying", "failed"]),
        ({"latencyMs": 6000}, ["working", "timed-out"], ["started", "timed-out"]),
    ],
    ids=["retried", "failed", "timed-out"],
)
def test_each_agent_shows_working_retrying_and_how_it_ended(system, faults, network, turn):
    page = system.new_page()
    page.sign_in()
    system.faults("outage-check", **faults)
    page.page.evaluate(RECORD_ACTIVITY)

    page.ask("Is there an outage in my area?", "CUST-0001", ("no_internet",))

    page.page.locator("#timeline li.turn[data-state=answered]").wait_for()
    final = network[-1]
    page.page.locator(f"#agents li.agent[data-agent={OUTAGE}][data-activity={final}]").wait_for()
    assert seen(page, "network", OUTAGE) == network
    assert seen(page, "turn", OUTAGE) == turn
    assert seen(page, "network", AUTHENTICATION) == ["working", "completed"]
    label = page.page.locator(f"#agents li.agent[data-agent={OUTAGE}]").get_attribute("aria-label")
    assert label.endswith({"completed": "done", "failed": "failed"}.get(final, "timed out"))
    page.assert_clean()
