"""Playbooks (voicea2a/playbook.py): the Contoso one loads and matches its JSON Schema; a broken
one is refused naming the file and the JSON path; no Contoso constant is left in the code."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from scripts import playbook_schema
from tests.contoso import CONTOSO, LED_STATES, SKILL_IDS, SYMPTOM_IDS
from voicea2a import planner
from voicea2a.compose import compose
from voicea2a.messages import MessageRequest, request_body
from voicea2a.playbook import PLAYBOOKS, PlaybookError, load_playbook, parse_playbook

ROOT = Path(__file__).resolve().parents[2]
SOURCE = json.loads((PLAYBOOKS / "contoso.json").read_text())
SCHEMA = json.loads((PLAYBOOKS / "playbook.schema.json").read_text())
# What the app's generic packages must not know: the playbook knows it.
GENERIC_PACKAGES = ("voicea2a", "orchestrations", "activities", "api", "jobs")
CONTOSO_WORDS = (
    *SKILL_IDS,
    *SYMPTOM_IDS,
    *(state for state in LED_STATES if "-" in state),
    "Contoso",
    "ledState",
    "preferredDate",
    "technicianRecommended",
    "attemptsRemaining",
    "missingFields",
    "AUTHENTICATED",
    "LOCKED_OUT",
    "MISSING_FIELD",
    "BOOKED",
    "DECLINED",
    "APPROVAL_REQUIRED",
    "NO_SLOT_AVAILABLE",
    "HARDWARE_FAULT",
    "SIGNAL_ISSUE",
    "CUST-",
)


def test_the_contoso_playbook_loads_and_meets_its_schema():
    assert load_playbook("contoso").labels == CONTOSO.labels
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    jsonschema.Draft202012Validator(SCHEMA).validate(SOURCE)


def test_the_schema_file_is_what_the_declaration_generates(capsys):
    assert playbook_schema.render() == (PLAYBOOKS / "playbook.schema.json").read_text()
    assert playbook_schema.main(["--check"]) == 0


def mutated(change) -> dict[str, Any]:
    document = copy.deepcopy(SOURCE)
    change(document)
    return document


def put(path: str, value: Any):
    """A change setting the member at a dotted path (list indexes as numbers)."""

    def change(document: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = document
        for key in parents:
            target = target[int(key)] if isinstance(target, list) else target[key]
        if isinstance(target, list):
            target[int(last)] = value
        else:
            target[last] = value

    return change


# (change, the error after "playbooks/bad.json: ", whether JSON Schema refuses it too)
BROKEN = {
    "a label of the wrong type": (
        put("skills.1.label", 7),
        "$.skills[1].label must be a string.",
        True,
    ),
    "an unknown member": (put("followUp.oops", 1), "$.followUp.oops is not known.", True),
    "a required member missing": (
        lambda d: d["identity"]["answers"].pop("needed"),
        "$.identity.answers.needed is required.",
        True,
    ),
    "an unknown detail type": (
        put("details.1.type", "number"),
        "$.details[1].type must be one of text, date, choice.",
        True,
    ),
    "an undeclared skill": (
        lambda d: d["keywords"][0]["skills"].append("tide_tables"),
        "$.keywords[0].skills[3] names 'tide_tables', which is not in $.skills.",
        False,
    ),
    "a pattern that does not compile": (
        put("keywords.2.pattern", "drop(s"),
        "$.keywords[2].pattern is not a regular expression (missing ), unterminated subpattern).",
        False,
    ),
    "a choice without values": (
        put("details.0.values", []),
        "$.details[0].values must list the choice's values.",
        False,
    ),
    "the identity skill in the stage": (
        lambda d: d["stage"].append("customer_authentication"),
        "$.stage must not hold the identity skill: it runs first, alone.",
        False,
    ),
    "an example id its pattern refuses": (
        put("identity.verification.customerIdExample", "C-1"),
        "$.identity.verification.customerIdExample must match customerIdPattern.",
        False,
    ),
}


@pytest.mark.parametrize(("change", "error", "schema_refuses"), BROKEN.values(), ids=list(BROKEN))
def test_a_broken_playbook_is_refused_naming_the_file_and_the_json_path(
    change, error, schema_refuses
):
    document = mutated(change)
    with pytest.raises(PlaybookError) as refused:
        parse_playbook(document, "playbooks/bad.json")
    assert str(refused.value) == f"playbooks/bad.json: {error}"
    # The schema editors use refuses the same file wherever JSON Schema can say the rule.
    assert jsonschema.Draft202012Validator(SCHEMA).is_valid(document) is not schema_refuses


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ('{"name": "x",\n "title": }', "playbooks/bad.json is not JSON: line 2 column 11"),
        ("[]", "playbooks/bad.json: $ must be a JSON object"),
    ],
)
def test_a_file_that_is_not_a_playbook_is_refused(tmp_path, monkeypatch, text, error):
    monkeypatch.setattr("voicea2a.playbook.PLAYBOOKS", tmp_path)
    (tmp_path / "bad.json").write_text(text)
    with pytest.raises(PlaybookError, match=re.escape(error)):
        load_playbook("bad")


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("missing", "playbooks/missing.json does not exist (PLAYBOOK=missing)."),
        ("../etc/passwd", "PLAYBOOK '../etc/passwd' must be a file name under playbooks/"),
    ],
)
def test_a_playbook_that_cannot_be_read_is_named(name, error):
    with pytest.raises(PlaybookError, match=re.escape(error)):
        load_playbook(name)


def test_no_contoso_constant_is_left_in_the_generic_packages():
    found = []
    words = re.compile(
        r"(?<![A-Za-z0-9_-])(?:" + "|".join(map(re.escape, CONTOSO_WORDS)) + r")(?![A-Za-z0-9_])"
    )
    for package in GENERIC_PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            for number, line in enumerate(path.read_text().splitlines(), 1):
                found += [f"{path.relative_to(ROOT)}:{number}: {m}" for m in words.findall(line)]
    assert found == []


# A second workflow, written here: the planner and composer follow any playbook.
LIBRARY = {
    "name": "library-desk",
    "title": "Library Help Desk",
    "placeholder": "Is my book overdue?",
    "instructions": "You help library members.",
    "toolDescription": "Ask the library's agents.",
    "skills": [
        {"id": "loans", "label": "loan check"},
        {"id": "holds", "label": "holds check"},
        {"id": "fines", "label": "fines check"},
    ],
    "stage": ["holds", "loans"],
    "keywords": [{"pattern": "overdue|due|renew(?:al)?", "skills": ["loans"]}],
    "details": [
        {
            "name": "cardNumber",
            "label": "Library card",
            "type": "text",
            "skill": "loans",
            "maxLength": 14,
            "description": "The member's card number.",
        }
    ],
    "followUp": {
        "skill": "fines",
        "requestField": "reason",
        "recommendedAfter": ["loans"],
        "recommendedWhen": [{"skill": "loans", "field": "overdue", "equals": [True]}],
        "statuses": {"done": "PAID", "declined": "NO", "needsApproval": "ASK", "noSlot": "NONE"},
        "answers": {
            "done": "Paid.",
            "approvalPending": "A librarian will confirm.",
            "approvedPending": "Confirmed.",
            "rejected": "Not waived.",
            "approvalTimedOut": "Still waiting.",
            "noSlot": "Nothing to pay.",
            "notBookable": "Fines cannot be checked now.",
        },
    },
    "answers": {
        "nothingApplicable": "I can check loans. What would you like?",
        "allDown": "The library systems are down.",
        "tryLater": "Try again later.",
    },
}


def test_any_playbook_drives_the_planner_the_body_and_the_answer():
    library = parse_playbook(LIBRARY, "playbooks/library-desk.json")
    body = request_body(library)
    request = body.parse({"request": "Is my book overdue?", "cardNumber": "2901"})
    assert request.details == {"cardNumber": "2901"}
    with pytest.raises(Exception, match="Unknown field 'customer'"):
        body.parse({"request": "hi", "customer": {}})  # no identity in this workflow

    routes = {"loans": "loans-agent", "fines": "fines-agent"}
    plan = planner.plan(library, request, None, routes)
    [[loans]] = [[step for step in stage] for stage in plan.stages]
    assert (loans.agent, loans.data) == ("loans-agent", {"cardNumber": "2901"})
    assert plan.dispatch is not None and plan.dispatch.data == {"reason": "Is my book overdue?"}
    assert plan.recommends_follow_up({"loans": {"overdue": True}})
    assert not plan.recommends_follow_up({"loans": {"overdue": 1}})  # true is not one

    from voicea2a.compose import AgentOutcome

    done = AgentOutcome("loans-agent", "loans", "completed", "One book is overdue.", {})
    assert compose(plan, [done], playbook=library).text == "One book is overdue."
    nothing = planner.plan(library, MessageRequest("hello"), None, routes)
    assert not planner.covers(nothing)
    assert compose(nothing, [], playbook=library).text == LIBRARY["answers"]["nothingApplicable"]


def test_the_page_form_limits_each_identity_field_as_the_api_does():
    from api.config import page_form
    from voicea2a.messages import MAX_NAME_CHARS, MAX_POSTAL_CODE_CHARS

    form = page_form(CONTOSO)
    limits = {field["name"]: (field["type"], field["maxLength"]) for field in form["identity"]}
    assert limits == {
        "firstName": ("text", MAX_NAME_CHARS),
        "lastName": ("text", MAX_NAME_CHARS),
        "postalCode": ("text", MAX_POSTAL_CODE_CHARS),
        "dateOfBirth": ("date", None),
    }
    assert [symptom["id"] for symptom in form["symptoms"]] == list(SYMPTOM_IDS)
    assert [detail["name"] for detail in form["details"]] == ["ledState", "preferredDate"]
