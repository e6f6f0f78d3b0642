"""Accessible basics: readable at 360 px, keyboard operable with a visible focus, every control
named."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.azurite

NARROW = (360, 740)
PAGE_WIDTH = "document.documentElement.scrollWidth"  # wider than the viewport: scrolls sideways
# The focused element draws an outline or a shadow (`:focus-visible` in web/styles.css).
FOCUS_SHOWN = """() => {
  const style = getComputedStyle(document.activeElement);
  const outline = style.outlineStyle !== "none" && parseFloat(style.outlineWidth) > 0;
  return outline || style.boxShadow !== "none";
}"""
# Chromium's accessibility tree: roles of what a person operates.
CONTROL_ROLES = {
    "button",
    "checkbox",
    "combobox",
    "Date",
    "DisclosureTriangle",
    "link",
    "listbox",
    "radio",
    "searchbox",
    "spinbutton",
    "textbox",
}


def test_at_360_px_nothing_scrolls_sideways_and_the_controls_are_on_screen(system):
    page = system.new_page(viewport=NARROW)
    page.goto()
    page.page.locator("#dev-signin").wait_for(state="visible")
    assert page.page.evaluate(PAGE_WIDTH) <= NARROW[0]

    page.sign_in()
    page.page.locator("#agents li.agent").nth(5).wait_for()
    page.ask("Is there an outage in my area?", "CUST-0001", ("no_internet",))
    page.page.locator("#timeline li.turn[data-state=answered]").wait_for()
    page.page.locator("#timeline .turn-agents li .agent-result").first.wait_for()

    assert page.page.evaluate(PAGE_WIDTH) <= NARROW[0]
    for control in ("#ask-request", "#ask-submit", "#new-conversation", "#sign-out", "#agents"):
        box = page.page.locator(control).bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= NARROW[0], (control, box)
    page.screenshot("narrow-360")


def tab_to(page, selector: str, limit: int = 40) -> None:
    """Press Tab until the focus is on `selector`, checking that every stop shows the focus."""
    for _ in range(limit):
        page.page.keyboard.press("Tab")
        stop = page.page.evaluate("document.activeElement.outerHTML.slice(0, 80)")
        assert page.page.evaluate(FOCUS_SHOWN) or stop.startswith("<body"), stop
        if page.page.evaluate("(selector) => document.activeElement.matches(selector)", selector):
            return
    raise AssertionError(f"{selector} cannot be reached with Tab")


def test_sign_in_and_a_question_with_the_keyboard_alone(system):
    page = system.new_page()
    page.goto()
    page.page.locator("#dev-signin").wait_for(state="visible")
    keyboard = page.page.keyboard

    assert page.page.evaluate("document.activeElement.id") == "dev-user"  # the page's doing
    keyboard.press("Control+A")
    keyboard.type("ada")
    tab_to(page, "input[name=role]:checked")
    tab_to(page, "#dev-signin-submit")
    keyboard.press("Enter")
    page.page.locator("#app").wait_for(state="visible")
    page.wait_events_connected()

    tab_to(page, "#ask-request")
    keyboard.type("Is there an outage in my area?")
    tab_to(page, "#ask-details summary")
    keyboard.press("Space")  # opens the identity and symptoms
    assert page.page.locator("#ask-details").get_attribute("open") is not None
    tab_to(page, "#ask-first-name")
    keyboard.type("Jane")
    tab_to(page, "#ask-symptoms input")
    keyboard.press("Space")
    assert page.page.locator("#ask-symptoms input:checked").count() == 1
    tab_to(page, "#ask-submit")
    keyboard.press("Enter")

    answered = page.page.locator("#timeline li.turn[data-state=answered] .answer-text")
    answered.wait_for()
    assert answered.inner_text().strip()
    page.assert_clean()


def controls(page) -> list[tuple[str, str]]:
    """Role and name of each control in Chromium's accessibility tree: what a screen reader says."""
    cdp = page.context.new_cdp_session(page.page)
    nodes = cdp.send("Accessibility.getFullAXTree")["nodes"]
    cdp.detach()
    found = []
    for node in nodes:
        role = node.get("role", {}).get("value")
        if not node.get("ignored") and role in CONTROL_ROLES:
            found.append((role, str(node.get("name", {}).get("value", "")).strip()))
    return found


@pytest.mark.parametrize("overrides", [{"VOICE_SYNC_WAIT_SECONDS": "0.5"}])
def test_every_control_has_an_accessible_name(system):
    page = system.new_page()
    page.goto()
    page.page.locator("#dev-signin").wait_for(state="visible")
    named = controls(page)
    assert all(name for _, name in named), named
    assert {("textbox", "User name"), ("radio", "Supervisor")} <= set(named), named

    # The supervisor's view with everything open: details, symptoms, a pending approval.
    page.sign_in("sam", "supervisor")
    page.ask("I need a technician to come and look at my line.", "CUST-0010", ("technician_visit",))
    page.page.locator("#approvals li.approval[data-state=pending]").wait_for()
    named = controls(page)
    assert all(name for _, name in named), named
    expected = {
        ("textbox", "What does the customer need?"),
        ("checkbox", "Technician visit"),
        ("Date", "Date of birth"),
        ("textbox", "Note with a decision (optional)"),
        ("textbox", "Or reply in words (up to 2000 characters)"),
        ("button", "Approve"),
        ("button", "Send reply"),
        ("button", "Sign out"),
    }
    assert expected <= set(named), named
