"""The live network view (web/src/graph.js): the host in the middle, the agents around it, each
edge lit by the live `agent.status` events of the current turn with its stage number, a person
node while a supervisor is asked, and a text alternative. The edges' states are recorded in the
page as they change (a MutationObserver), so the order is checked, never the timing."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser.conftest import ARTIFACTS
from tests.browser.test_accessibility import NARROW, PAGE_WIDTH, controls

pytestmark = pytest.mark.azurite

AUTHENTICATION = "contoso-authentication-agent"
OUTAGE = "contoso-outage-check-agent"
MODEM = "contoso-modem-check-agent"
PLAN = "contoso-internet-plan-agent"
DISPATCH = "contoso-technical-dispatch-agent"
SECOND_STAGE = (OUTAGE, MODEM, PLAN)
GRAPH = "#agent-graph"
QUICK_REPLY = {"VOICE_SYNC_WAIT_SECONDS": "0.5"}

# Every state each edge and the person node take, in the order they take them (one list for the
# whole page, so the order across agents is kept too). Events that arrive together are drawn in
# one task, and the observer then sees only the last state: the states in between are the
# mutation records' old values. Repeats are left out (a redraw at a new width draws the same).
RECORD_GRAPH = """() => {
  window.graphSeen = [];
  const last = new Map();
  const who = (node) => node.classList.contains('graph-person')
    ? `person ${node.dataset.agent}` : `edge ${node.dataset.agent}`;
  const note = (node, state) => {
    if (state !== null && last.get(who(node)) !== state) {
      last.set(who(node), state);
      window.graphSeen.push(`${who(node)} ${state}`);
    }
  };
  const shown = () => document.querySelectorAll(
    '#agent-graph .graph-edge, #agent-graph .graph-person:not([hidden])');
  for (const node of shown()) note(node, node.dataset.state || '');
  new MutationObserver((records) => {
    // The value each record set: the next record's old value on that node, else today's.
    const set = new Map();
    const after = new Map();
    for (const record of [...records].reverse()) {
      if (record.attributeName !== 'data-state') continue;
      const node = record.target;
      set.set(record, after.has(node) ? after.get(node) : node.getAttribute('data-state'));
      after.set(node, record.oldValue);
    }
    for (const record of records) {
      const node = record.target;
      if (set.has(record) && node.matches('.graph-edge, .graph-person:not([hidden])')) {
        note(node, set.get(record));
      }
    }
    for (const node of shown()) note(node, node.dataset.state || '');
  }).observe(document.getElementById('agent-graph'), {
    subtree: true, childList: true, attributes: true, attributeOldValue: true,
    attributeFilter: ['data-state', 'data-agent', 'hidden'],
  });
}"""


def recorded(page) -> list[str]:
    return page.page.evaluate("() => window.graphSeen")


def states(entries: list[str], who: str) -> list[str]:
    """The states `who` ("edge <agent>" or "person <agent>") took, in order."""
    return [entry.rsplit(" ", 1)[1] for entry in entries if entry.rsplit(" ", 1)[0] == who]


def graph_shot(page, name: str) -> Path:
    """The graph alone as tests/browser/artifacts/<name>.png (a fresh file, checked written)."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    path.unlink(missing_ok=True)  # a file left by an earlier run proves nothing
    page.page.locator("#agent-graph-box").screenshot(path=str(path))
    png = path.read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 1000, path
    return path


def signed_in_with_graph(system, viewport=(1400, 900)):
    """A signed-in page whose graph shows the six sample agents around the host."""
    page = system.new_page(viewport=viewport)
    page.sign_in()
    page.page.locator(f"{GRAPH} .graph-node").nth(5).wait_for()
    assert page.page.locator(f"{GRAPH} .graph-node").count() == 6
    assert page.page.locator(f"{GRAPH} .graph-host").count() == 1
    assert page.page.locator("#agent-graph-status").inner_text() == "No request yet."
    return page


def wait_seen(page, *entries: str, ordered: bool = True) -> None:
    """Wait until the recorded states hold `entries`: in this order (not necessarily adjacent),
    or in any order."""
    page.page.wait_for_function(
        """([entries, ordered]) => {
          if (!ordered) return entries.every((entry) => window.graphSeen.includes(entry));
          let at = 0;
          for (const entry of window.graphSeen) if (entry === entries[at]) at += 1;
          return at === entries.length;
        }""",
        arg=[list(entries), ordered],
    )


def test_a_two_stage_turn_lights_its_edges_stage_by_stage(system):
    page = signed_in_with_graph(system)
    # Slow enough that the second stage is still running when the picture is taken.
    system.faults("outage-check", latencyMs=2500)
    page.page.evaluate(RECORD_GRAPH)

    page.ask("Is there an outage in my area?", "CUST-0001", ("no_internet",))

    working = page.page.locator(f"{GRAPH} .graph-edge[data-agent={OUTAGE}][data-state=working]")
    working.wait_for(state="attached")
    status = page.page.locator("#agent-graph-status")
    assert status.inner_text() == "Stage 2 of 2: outage check, modem check and internet plan."
    graph_shot(page, "network-graph-mid-turn")

    page.page.locator("#timeline li.turn[data-state=answered]").wait_for()
    # The task's events and each agent's are published side by side: wait for all of them.
    done = (f"edge {agent} done" for agent in (AUTHENTICATION, *SECOND_STAGE))
    wait_seen(page, *done, ordered=False)
    status.filter(has_text="Request answered").wait_for()
    graph_shot(page, "network-graph-after")
    page.screenshot("network-graph-page")

    seen = recorded(page)
    # The first stage's agent may start before the plan's event reaches the page (another lane).
    assert [s for s in states(seen, f"edge {AUTHENTICATION}") if s not in ("idle", "planned")] == [
        "working",
        "done",
    ], seen
    for agent in SECOND_STAGE:
        assert states(seen, f"edge {agent}") == ["idle", "planned", "working", "done"], seen
    # Stage 2 starts after stage 1: an activity sends the events it carried (its `started`)
    # before it returns. (Stage 1's outcome and stage 2's `started` go out from different
    # activities: either may come first.)
    auth_working = seen.index(f"edge {AUTHENTICATION} working")
    second = [seen.index(f"edge {agent} working") for agent in SECOND_STAGE]
    assert auth_working < min(second), seen
    # Its three agents run side by side, each shown working from when its own call starts (a
    # quick one may be done before a busy worker has started a stage-mate's call): the slow
    # one is done last.
    assert seen.index(f"edge {PLAN} done") < seen.index(f"edge {OUTAGE} done"), seen
    # Agents outside the turn stay dark; nobody was asked.
    assert states(seen, f"edge {DISPATCH}") == ["idle"]
    assert not [entry for entry in seen if entry.startswith("person ")]

    stages = {
        agent: page.page.locator(f"{GRAPH} .graph-edge[data-agent={agent}]").get_attribute(
            "data-stage"
        )
        for agent in (AUTHENTICATION, *SECOND_STAGE, DISPATCH)
    }
    assert stages == {AUTHENTICATION: "1", OUTAGE: "2", MODEM: "2", PLAN: "2", DISPATCH: ""}
    assert page.page.locator(f"{GRAPH} .graph-edge[data-agent={MODEM}] text").text_content() == "2"

    # The text alternative says the same: the status line and each node's name.
    assert status.inner_text() == "Request answered: 4 done."
    label = page.page.locator(f"{GRAPH} .graph-node[data-agent={OUTAGE}]").get_attribute(
        "aria-label"
    )
    assert label == "outage check: healthy, done, stage 2"
    page.assert_clean()


@pytest.mark.parametrize("overrides", [QUICK_REPLY])
def test_the_person_node_appears_while_a_supervisor_is_asked(system):
    page = signed_in_with_graph(system)
    page.page.evaluate(RECORD_GRAPH)

    page.ask("I need a technician to come and look at my line.", "CUST-0010", ("technician_visit",))

    person = page.page.locator(f"{GRAPH} .graph-person")
    page.page.locator(f"{GRAPH} .graph-person[data-state=asked]").wait_for()
    # Tied to the dispatch agent when the host says it waits (agent.status input-required, or
    # the approval event naming it); a host that says neither leaves it on the host.
    dispatch_states = states(recorded(page), f"edge {DISPATCH}")
    tied = DISPATCH if "input-required" in dispatch_states else "host"
    assert person.get_attribute("data-agent") == tied, dispatch_states
    # Its link runs from the person to the node it is tied to (a vertical line has no width: it
    # is checked by its ends, not by Playwright's visibility).
    link = page.page.locator(f"{GRAPH} .graph-person-link[data-state=asked]")
    assert link.get_attribute("hidden") is None
    ring = f"{GRAPH} .graph-node[data-agent={DISPATCH}] .graph-ring"
    if tied == "host":
        ring = f"{GRAPH} .graph-host .graph-ring"
    ends = [float(link.get_attribute(name)) for name in ("x2", "y2")]
    centre = [float(page.page.locator(ring).get_attribute(name)) for name in ("cx", "cy")]
    assert ends == pytest.approx(centre, abs=0.1), (ends, centre)
    page.page.locator("#agent-graph-status", has_text="A supervisor is asked").wait_for()
    assert person.get_attribute("aria-label").startswith("A supervisor is asked")
    graph_shot(page, "network-graph-person")

    turn = page.page.locator("#timeline li.turn[data-instance-id]")
    turn.wait_for()
    decided = system.app.http.post(
        f"/api/approvals/{turn.get_attribute('data-instance-id')}",
        json={"approve": True, "note": "Looks fine"},
        headers=system.headers("sam", ("supervisor",)),
    )
    assert decided.status_code in (200, 202), decided.text

    # The decision shows, then the dispatch goes on with it and ends done.
    wait_seen(page, f"person {tied} approved", f"edge {DISPATCH} working", f"edge {DISPATCH} done")
    seen = recorded(page)
    assert states(seen, f"person {tied}") == ["asked", "approved"], seen
    assert person.get_attribute("data-agent") == tied
    page.page.locator("#agent-graph-status", has_text="Supervisor: approved.").wait_for()
    graph_shot(page, "network-graph-person-after")
    page.assert_clean()


def test_the_graph_is_one_tab_stop_and_its_nodes_are_named(system):
    page = signed_in_with_graph(system)
    host = page.page.locator(f"{GRAPH} .graph-host")
    assert host.get_attribute("tabindex") == "0"
    assert page.page.locator(f"{GRAPH} [tabindex='0']").count() == 1

    host.focus()
    page.page.keyboard.press("ArrowRight")
    focused = page.page.evaluate(
        "() => ['data-agent', 'tabindex', 'aria-label']"
        ".map((name) => document.activeElement.getAttribute(name))"
    )
    # The agents in the list view's order: authentication first.
    assert focused == [AUTHENTICATION, "0", "authentication: healthy"]
    assert page.page.locator(f"{GRAPH} [tabindex='0']").count() == 1  # the stop moved with it
    page.page.keyboard.press("End")
    assert page.page.evaluate("() => document.activeElement.dataset.agent") == page.page.locator(
        f"{GRAPH} .graph-node"
    ).last.get_attribute("data-agent")
    page.page.keyboard.press("ArrowRight")  # round to the host
    assert page.page.evaluate("() => document.activeElement.dataset.key") == "host"

    # Chromium's accessibility tree names the graph and every node, and adds no unnamed control.
    cdp = page.context.new_cdp_session(page.page)
    nodes = cdp.send("Accessibility.getFullAXTree")["nodes"]
    cdp.detach()
    shown = [node for node in nodes if not node.get("ignored")]
    names = {str(node.get("name", {}).get("value", "")) for node in shown}
    assert any(name.startswith("Agent network graph") for name in names)
    assert {"outage check: healthy", "authentication: healthy"} <= names
    assert any(name.startswith("Host: No request yet.") for name in names)
    assert all(name for _, name in controls(page))
    page.assert_clean()


def test_at_360_px_the_graph_fits_and_nothing_scrolls_sideways(system):
    page = signed_in_with_graph(system, viewport=NARROW)
    page.ask("Is there an outage in my area?", "CUST-0001", ("no_internet",))
    page.page.locator("#timeline li.turn[data-state=answered]").wait_for()
    page.page.locator("#agent-graph-status", has_text="Request answered").wait_for()

    assert page.page.evaluate(PAGE_WIDTH) <= NARROW[0]
    box = page.page.locator(GRAPH).bounding_box()
    assert box and box["x"] >= 0 and box["x"] + box["width"] <= NARROW[0], box
    # Drawn at the width it is shown at: the labels keep their size instead of shrinking.
    view_width = page.page.evaluate(
        "() => document.getElementById('agent-graph').viewBox.baseVal.width"
    )
    assert abs(view_width - box["width"]) <= 1, (view_width, box)
    for label in page.page.locator(f"{GRAPH} .graph-label").all():
        if label.is_visible():
            inside = label.bounding_box()
            assert inside["x"] >= box["x"] - 1, label.text_content()
            assert inside["x"] + inside["width"] <= box["x"] + box["width"] + 1, (
                label.text_content()
            )
    graph_shot(page, "network-graph-narrow-360")
    page.assert_clean()
