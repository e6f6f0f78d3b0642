"""The text form comes from the playbook of GET /api/config: title, placeholder, identity fields,
symptoms and detail fields; with no playbook (PLAYBOOK="") the page names no domain at all."""

from __future__ import annotations

import json

import pytest

from tests.agents.identities import IDENTITIES

pytestmark = pytest.mark.azurite

# What the page shows of each field: the control's name, its label, its kind, its limits.
FORM = """() => {
  const labelOf = (control) =>
    document.querySelector(`label[for="${control.id}"]`)?.textContent.trim() ?? null;
  const hintOf = (control) => {
    const id = control.getAttribute("aria-describedby");
    return id ? document.getElementById(id).textContent : null;
  };
  const field = (control) => ({
    name: control.name,
    label: labelOf(control),
    type: control.tagName === "SELECT" ? "select" : control.type,
    maxLength: control.tagName === "INPUT" && control.maxLength > 0 ? control.maxLength : null,
    hint: hintOf(control),
    values: control.tagName === "SELECT"
      ? [...control.options].map((o) => o.value).filter(Boolean) : [],
  });
  const controls = (id) => [...document.querySelectorAll(`#${id} input, #${id} select`)];
  return {
    identity: controls("ask-identity").map(field),
    symptoms: [...document.querySelectorAll("#ask-symptoms input")].map((c) => ({
      id: c.value, label: c.closest("label").textContent.trim(), type: c.type,
    })),
    details: controls("ask-more").map(field),
    shown: ["ask-details", "ask-identity", "ask-symptoms", "ask-more"].filter(
      (id) => !document.getElementById(id).hidden),
  };
}"""


def client_config(system) -> dict:
    response = system.app.http.get("/api/config")
    assert response.status_code == 200, response.text
    return response.json()


def expected_form(playbook: dict) -> dict:
    """What the page should show for the playbook, as FORM reads it."""

    def field(spec: dict, hint: bool) -> dict:
        values = spec.get("values") or []
        kind = "select" if values else ("date" if spec["type"] == "date" else "text")
        return {
            "name": spec["name"],
            "label": spec["label"],
            "type": kind,
            "maxLength": spec["maxLength"] if kind == "text" else None,
            "hint": (spec.get("description") or None) if hint else None,
            "values": values,
        }

    return {
        "identity": [field(spec, hint=False) for spec in playbook["identity"]],
        "symptoms": [
            {"id": s["id"], "label": s["label"], "type": "checkbox"} for s in playbook["symptoms"]
        ],
        "details": [field(spec, hint=True) for spec in playbook["details"]],
    }


def posted(page) -> list[dict]:
    """The POST /api/messages bodies the page sent, in order."""
    return [
        json.loads(data)
        for method, url, data in page.requests
        if method == "POST" and url.endswith("/api/messages") and data
    ]


def test_the_form_shows_the_playbooks_fields_and_sends_its_details(system):
    playbook = client_config(system)["playbook"]
    assert playbook and playbook["identity"] and playbook["symptoms"] and playbook["details"]
    page = system.new_page()
    page.sign_in()

    assert page.page.title() == playbook["title"]
    assert page.page.inner_text("#app-title") == playbook["title"]
    assert page.page.get_attribute("#ask-request", "placeholder") == playbook["placeholder"]
    page.page.click("#ask-details summary")
    form = page.page.evaluate(FORM)
    assert form.pop("shown") == ["ask-details", "ask-identity", "ask-symptoms", "ask-more"]
    assert form == expected_form(playbook)

    # A detail given reaches the body as a field of its own, beside the identity and a symptom.
    detail = playbook["details"][0]
    control = f"#ask-more [name={detail['name']}]"
    if detail.get("values"):
        value = detail["values"][0]
        page.page.select_option(control, value)
    else:
        value = "2027-01-15" if detail["type"] == "date" else "as the customer said"
        page.page.fill(control, value)
    symptom = playbook["symptoms"][0]["id"]
    page.ask("The lights on my modem look wrong.", "CUST-0002", (symptom,))
    turn = page.page.locator("#timeline li.turn:is([data-state=answered], [data-state=failed])")
    turn.wait_for()
    assert turn.get_attribute("data-state") == "answered", page.page.inner_text("#error")
    [body] = posted(page)
    first, last, postal, born = IDENTITIES["CUST-0002"]
    assert body["customer"] == {
        "firstName": first,
        "lastName": last,
        "postalCode": postal,
        "dateOfBirth": born,
    }
    assert body["symptoms"] == [symptom]
    details = {spec["name"] for spec in playbook["details"]}
    assert {key: body[key] for key in details & body.keys()} == {detail["name"]: value}

    # No detail given: no `details` in the body.
    if detail.get("values"):
        page.page.select_option(control, "")
    else:
        page.page.fill(control, "")
    page.ask("Is there an outage in my area?")
    page.page.locator("#timeline li.turn[data-state=answered]").nth(1).wait_for()
    assert not {spec["name"] for spec in playbook["details"]} & posted(page)[1].keys()
    page.screenshot("playbook-form")
    page.assert_clean()


@pytest.mark.parametrize("overrides", [{"PLAYBOOK": ""}], ids=["no-playbook"])
def test_without_a_playbook_the_page_names_no_domain(system):
    assert client_config(system)["playbook"] is None
    page = system.new_page()
    page.sign_in()

    assert page.page.title() == "Support Assistant"
    assert page.page.inner_text("#app-title") == "Support Assistant"
    form = page.page.evaluate(FORM)
    assert form == {"identity": [], "symptoms": [], "details": [], "shown": []}
    assert page.page.locator("#ask-details").is_hidden()
    # No Contoso word or field in the page's own markup (title, header, the form with its
    # placeholder, the empty timeline), nor a domain word in what it shows. The agent list is
    # the registry's, whatever its agents are called.
    own = page.page.evaluate(
        """() => [document.title, document.querySelector("header").outerHTML,
                  document.getElementById("ask-form").outerHTML,
                  document.getElementById("timeline").outerHTML].join(" ")"""
    )
    assert "contoso" not in own.lower()
    shown = page.page.evaluate(
        """() => [document.title, document.querySelector("header").innerText,
                  document.getElementById("ask-form").innerText,
                  document.getElementById("ask-request").placeholder].join(" ")"""
    )
    for word in ("contoso", "internet", "modem", "symptom", "postal", "birth", "technician"):
        assert word not in shown.lower(), word

    page.page.fill("#ask-request", "Is there an outage in my area?")
    page.page.click("#ask-submit")
    page.page.locator("#timeline li.turn[data-state=answered]").wait_for()
    [body] = posted(page)
    assert set(body) == {"request", "conversationId", "callId"}
    page.assert_clean()
