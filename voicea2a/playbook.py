"""A playbook: one support workflow as data (playbooks/<name>.json, chosen by PLAYBOOK).

It says which skills a request needs (from its symptoms, keywords and details), that identity
is verified before any other skill, in which order the skills run, when a follow-up step (a
booking) is recommended, the structured fields the voice tool and the page's form ask for, and
the sentences of the answer. The planner (voicea2a/planner.py) and the composer
(voicea2a/compose.py) are generic: they read it. Without a playbook, or for a request it does
not cover, the agents the voice model names or the generic matcher (voicea2a/matcher.py) decide.

The file is declared once (PLAYBOOK_FILE below, with voicea2a/schema.py's kinds): the same
declaration reads it and generates playbooks/playbook.schema.json (scripts/playbook_schema.py).
A file that breaks a rule stops the app at start-up with its name and the JSON path at fault.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from voicea2a.schema import Array, Choice, Field, Integer, InvalidField, Obj, Scalar, Text

PLAYBOOKS = Path(__file__).resolve().parents[1] / "playbooks"
NAME_RE = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")  # a file name under playbooks/, no path
SKILL_ID = r"[A-Za-z0-9_.:-]{1,100}"
FIELD_NAME = r"[a-z][A-Za-z0-9]{0,39}"
IDENTITY_FIELDS = ("firstName", "lastName", "postalCode", "dateOfBirth")
DETAIL_TYPES = ("text", "date", "choice")
MAX_SENTENCE = 600
DEFAULT_DETAIL_CHARS = 200


class PlaybookError(Exception):
    """The playbook cannot be used; the message names the file and the JSON path at fault."""


@dataclass(frozen=True, eq=False)
class Skill:
    """A skill the playbook uses, and how the answer names it."""

    id: str
    label: str


@dataclass(frozen=True)
class Condition:
    """True when a skill's completed result has `field` equal to one of `equals`."""

    skill: str
    field: str
    equals: tuple[str | int | float | bool, ...]

    def holds(self, results: Mapping[str, Mapping[str, Any]]) -> bool:
        """Whether `results` (skill id -> result data) meets it."""
        value = (results.get(self.skill) or {}).get(self.field)
        # `True == 1` in Python; a result's true is not the number one.
        return any(type(value) is type(want) and value == want for want in self.equals)

    def to_json(self) -> dict[str, Any]:
        """The condition as the playbook spells it (it travels in a plan)."""
        return {"skill": self.skill, "field": self.field, "equals": list(self.equals)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Condition:
        """Rebuild from `to_json` output."""
        return cls(data["skill"], data["field"], tuple(data["equals"]))


@dataclass(frozen=True)
class Verification:
    """How the identity skill's result says who the caller is."""

    status_field: str
    verified: str  # the status of a verified caller
    customer_id_field: str
    customer_id_pattern: str  # what its ids look like (matched whole)
    customer_id_example: str

    def to_json(self) -> dict[str, str]:
        """As it travels in a plan."""
        return {
            "statusField": self.status_field,
            "verified": self.verified,
            "customerIdField": self.customer_id_field,
            "customerIdPattern": self.customer_id_pattern,
            "customerIdExample": self.customer_id_example,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Verification:
        """Rebuild from `to_json` output."""
        return cls(
            data["statusField"],
            data["verified"],
            data["customerIdField"],
            data["customerIdPattern"],
            data["customerIdExample"],
        )


@dataclass(frozen=True, eq=False)
class Refusals:
    """How the identity skill's result says why it did not verify the caller."""

    status_field: str
    locked_out: str
    missing_field: str
    missing_fields_field: str
    attempts_remaining_field: str


@dataclass(frozen=True, eq=False)
class IdentityAnswers:
    """What the answer says about verifying the caller."""

    needed: str
    verified: str
    verified_only: str
    mismatch: str
    retry: str
    now_locked: str
    locked_out: str
    still_needed: str  # "{fields}" becomes the missing fields, by label
    unreachable: str
    unavailable: str


@dataclass(frozen=True, eq=False)
class FormField:
    """An identity field the page's form and the voice tool ask for."""

    name: str
    label: str


@dataclass(frozen=True, eq=False)
class Identity:
    """Identity before account work: the skill that verifies, and how to read its answer."""

    skill: str
    fields: tuple[FormField, ...]
    verification: Verification
    refusals: Refusals
    answers: IdentityAnswers


@dataclass(frozen=True, eq=False)
class Symptom:
    """Something the caller reports, and the skills it needs."""

    id: str
    label: str
    skills: tuple[str, ...]


@dataclass(frozen=True, eq=False)
class Keywords:
    """Words in a request (a regular expression, whole words, any case) and the skills they
    need."""

    pattern: str
    skills: tuple[str, ...]

    @functools.cached_property
    def regex(self) -> re.Pattern[str]:
        """The pattern, matched as whole words in any case."""
        return re.compile(rf"\b(?:{self.pattern})\b", re.IGNORECASE)


@dataclass(frozen=True, eq=False)
class Rewrite:
    """A phrase replaced before keywords are matched ("slow down" is not "down")."""

    pattern: str
    replacement: str

    @functools.cached_property
    def regex(self) -> re.Pattern[str]:
        """The pattern, in any case."""
        return re.compile(self.pattern, re.IGNORECASE)


@dataclass(frozen=True, eq=False)
class Detail:
    """A structured field of the request (a top-level field of POST /api/messages and of the
    voice tool): given, it asks for its skill and goes into that skill's data."""

    name: str
    label: str
    type: str  # DETAIL_TYPES
    skill: str
    description: str
    values: tuple[str, ...] = ()  # a choice's values
    max_length: int | None = None  # a text's


@dataclass(frozen=True, eq=False)
class FollowUpStatuses:
    """The follow-up skill's result statuses the answer tells apart."""

    done: str
    declined: str
    needs_approval: str
    no_slot: str


@dataclass(frozen=True, eq=False)
class FollowUpAnswers:
    """What the answer says about the follow-up step."""

    done: str
    approval_pending: str
    approved_pending: str
    rejected: str
    approval_timed_out: str
    no_slot: str
    not_bookable: str


@dataclass(frozen=True, eq=False)
class FollowUp:
    """A step run after the stages: when asked for (its skill needed), or when a result
    recommends it. It may need a person's approval (the agent answers input-required)."""

    skill: str
    request_field: str  # the request text goes into this field of its data
    recommended_after: tuple[str, ...]  # skills whose results may recommend it
    recommended_when: tuple[Condition, ...]
    statuses: FollowUpStatuses
    answers: FollowUpAnswers


@dataclass(frozen=True, eq=False)
class Answers:
    """The playbook's general sentences."""

    nothing_applicable: str
    all_down: str
    try_later: str


@dataclass(frozen=True, eq=False)
class Playbook:
    """One workflow, read from its file (see the module docstring)."""

    name: str
    title: str
    placeholder: str
    instructions: str
    tool_description: str
    skills: tuple[Skill, ...]
    stage: tuple[str, ...]  # the skills that run together, in the answer's order
    answers: Answers
    identity: Identity | None = None
    symptoms: tuple[Symptom, ...] = ()
    keywords: tuple[Keywords, ...] = ()
    rewrites: tuple[Rewrite, ...] = ()
    details: tuple[Detail, ...] = ()
    follow_up: FollowUp | None = None
    schema: str | None = None  # the file's "$schema", for editors

    @functools.cached_property
    def labels(self) -> dict[str, str]:
        """Each skill id -> how the answer names it."""
        return {skill.id: skill.label for skill in self.skills}

    @functools.cached_property
    def symptom_skills(self) -> dict[str, tuple[str, ...]]:
        """Each symptom id -> the skills it needs."""
        return {symptom.id: symptom.skills for symptom in self.symptoms}


def _text(name: str, *, required: bool = True, max_length: int = MAX_SENTENCE) -> Field:
    """A required sentence of the playbook."""
    kind = Text(max_length=max_length, nonempty=True, free_text=True)
    return Field(name=name, kind=kind, required=required)


def _skill_id(name: str) -> Field:
    return Field(name=name, kind=Text(pattern=SKILL_ID, rule="must be a skill id"), required=True)


def _skill_ids(name: str, *, required: bool = True) -> Field:
    kind = Array(items=Text(pattern=SKILL_ID, rule="must be a skill id"), max_items=50, unique=True)
    return Field(name=name, kind=kind, required=required, default=())


def _field_name(name: str) -> Field:
    kind = Text(pattern=FIELD_NAME, rule="must be a camelCase field name")
    return Field(name=name, kind=kind, required=True)


CONDITION = Obj(
    name="Condition",
    build=lambda skill, field, equals: Condition(skill, field, equals),
    description="True when the skill's completed result has `field` equal to one of `equals`.",
    fields=(
        _skill_id("skill"),
        _field_name("field"),
        Field(
            name="equals",
            kind=Array(items=Scalar(), min_items=1, max_items=20),
            required=True,
        ),
    ),
)
IDENTITY = Obj(
    name="Identity",
    build=Identity,
    description="Identity before account work: every other skill needs a verified customer.",
    fields=(
        _skill_id("skill"),
        Field(
            name="fields",
            kind=Array(
                items=Obj(
                    build=FormField,
                    fields=(
                        Field(name="name", kind=Choice(values=IDENTITY_FIELDS), required=True),
                        _text("label", max_length=60),
                    ),
                ),
                min_items=1,
                max_items=len(IDENTITY_FIELDS),
            ),
            required=True,
        ),
        Field(
            name="verification",
            kind=Obj(
                build=Verification,
                fields=(
                    _field_name("statusField"),
                    _text("verified", max_length=60),
                    _field_name("customerIdField"),
                    _text("customerIdPattern", max_length=200),
                    _text("customerIdExample", max_length=64),
                ),
            ),
            required=True,
        ),
        Field(
            name="refusals",
            kind=Obj(
                build=Refusals,
                fields=(
                    _field_name("statusField"),
                    _text("lockedOut", max_length=60),
                    _text("missingField", max_length=60),
                    _field_name("missingFieldsField"),
                    _field_name("attemptsRemainingField"),
                ),
            ),
            required=True,
        ),
        Field(
            name="answers",
            kind=Obj(
                build=IdentityAnswers,
                fields=tuple(
                    _text(name)
                    for name in (
                        "needed",
                        "verified",
                        "verifiedOnly",
                        "mismatch",
                        "retry",
                        "nowLocked",
                        "lockedOut",
                        "stillNeeded",
                        "unreachable",
                        "unavailable",
                    )
                ),
            ),
            required=True,
        ),
    ),
)
DETAIL = Obj(
    name="Detail",
    build=Detail,
    description="A structured field of the request; given, it asks for its skill.",
    fields=(
        _field_name("name"),
        _text("label", max_length=60),
        Field(name="type", kind=Choice(values=DETAIL_TYPES), required=True),
        _skill_id("skill"),
        _text("description", max_length=300),
        Field(
            name="values",
            kind=Array(
                items=Text(max_length=60, pattern=r"[A-Za-z0-9_-]+", rule="must be a word"),
                max_items=50,
                unique=True,
            ),
            default=(),
            description="A choice's values.",
        ),
        Field(
            name="maxLength",
            kind=Integer(minimum=1, maximum=2000),
            description=f"A text's longest length (default {DEFAULT_DETAIL_CHARS}).",
        ),
    ),
)
FOLLOW_UP = Obj(
    name="FollowUp",
    build=FollowUp,
    description="A step after the stages: when asked for, or when a result recommends it.",
    fields=(
        _skill_id("skill"),
        _field_name("requestField"),
        _skill_ids("recommendedAfter"),
        Field(
            name="recommendedWhen",
            kind=Array(items=CONDITION, max_items=20),
            default=(),
        ),
        Field(
            name="statuses",
            kind=Obj(
                build=FollowUpStatuses,
                fields=tuple(
                    _text(name, max_length=60)
                    for name in ("done", "declined", "needsApproval", "noSlot")
                ),
            ),
            required=True,
        ),
        Field(
            name="answers",
            kind=Obj(
                build=FollowUpAnswers,
                fields=tuple(
                    _text(name)
                    for name in (
                        "done",
                        "approvalPending",
                        "approvedPending",
                        "rejected",
                        "approvalTimedOut",
                        "noSlot",
                        "notBookable",
                    )
                ),
            ),
            required=True,
        ),
    ),
)


def _playbook(**fields: Any) -> Playbook:
    """The Playbook of a file's fields (`$schema` is `schema`)."""
    return Playbook(schema=fields.pop("$schema"), **fields)


PLAYBOOK_FILE: Obj[Playbook] = Obj(
    name="Playbook",
    build=_playbook,
    description="One support workflow as data (voicea2a/playbook.py).",
    fields=(
        Field(name="$schema", kind=Text(max_length=200)),
        Field(
            name="name",
            kind=Text(pattern=NAME_RE.pattern, rule="must be lowercase words and hyphens"),
            required=True,
        ),
        _text("title", max_length=80),
        _text("placeholder", max_length=200),
        _text("instructions", max_length=4000),
        _text("toolDescription", max_length=1000),
        Field(
            name="skills",
            kind=Array(
                items=Obj(
                    name="Skill",
                    build=Skill,
                    fields=(_skill_id("id"), _text("label", max_length=80)),
                ),
                min_items=1,
                max_items=50,
            ),
            required=True,
        ),
        _skill_ids("stage"),
        Field(
            name="answers",
            kind=Obj(
                build=Answers,
                fields=tuple(_text(name) for name in ("nothingApplicable", "allDown", "tryLater")),
            ),
            required=True,
        ),
        Field(name="identity", kind=IDENTITY),
        Field(
            name="symptoms",
            kind=Array(
                items=Obj(
                    name="Symptom",
                    build=Symptom,
                    fields=(
                        Field(
                            name="id",
                            kind=Text(pattern=r"[a-z][a-z0-9_]{0,39}", rule="must be a word"),
                            required=True,
                        ),
                        _text("label", max_length=60),
                        _skill_ids("skills"),
                    ),
                ),
                max_items=30,
            ),
            default=(),
        ),
        Field(
            name="keywords",
            kind=Array(
                items=Obj(
                    name="Keywords",
                    build=Keywords,
                    fields=(_text("pattern", max_length=500), _skill_ids("skills")),
                ),
                max_items=50,
            ),
            default=(),
        ),
        Field(
            name="rewrites",
            kind=Array(
                items=Obj(
                    name="Rewrite",
                    build=Rewrite,
                    fields=(
                        _text("pattern", max_length=500),
                        Field(name="replacement", kind=Text(max_length=100), required=True),
                    ),
                ),
                max_items=20,
            ),
            default=(),
        ),
        Field(name="details", kind=Array(items=DETAIL, max_items=20), default=()),
        Field(name="followUp", kind=FOLLOW_UP),
    ),
)


def parse_playbook(document: Any, source: str) -> Playbook:
    """A playbook from its JSON document; PlaybookError naming `source` and the JSON path."""
    if not isinstance(document, dict):
        raise PlaybookError(f"{source}: $ must be a JSON object.")
    try:
        playbook = PLAYBOOK_FILE.parse(document)
    except InvalidField as exc:
        raise PlaybookError(f"{source}: $.{exc.path} {exc.rule}.") from None
    _check_references(playbook, source)
    return playbook


def _check_references(playbook: Playbook, source: str) -> None:
    """Every skill named is declared, every pattern compiles, every name is used once."""

    def fail(path: str, rule: str) -> PlaybookError:
        return PlaybookError(f"{source}: $.{path} {rule}.")

    declared = set(playbook.labels)
    if len(declared) != len(playbook.skills):
        raise fail("skills", "names a skill twice")

    def known(path: str, skills: tuple[str, ...] | list[str]) -> None:
        for index, skill in enumerate(skills):
            if skill not in declared:
                raise fail(f"{path}[{index}]", f"names {skill!r}, which is not in $.skills")

    known("stage", playbook.stage)
    for index, symptom in enumerate(playbook.symptoms):
        known(f"symptoms[{index}].skills", symptom.skills)
    for index, keywords in enumerate(playbook.keywords):
        known(f"keywords[{index}].skills", keywords.skills)
        _compiles(keywords.pattern, lambda rule, i=index: fail(f"keywords[{i}].pattern", rule))
    for index, rewrite in enumerate(playbook.rewrites):
        _compiles(rewrite.pattern, lambda rule, i=index: fail(f"rewrites[{i}].pattern", rule))
    for index, detail in enumerate(playbook.details):
        known(f"details[{index}].skill", [detail.skill])
        if detail.type == "choice" and not detail.values:
            raise fail(f"details[{index}].values", "must list the choice's values")
    if len({detail.name for detail in playbook.details}) != len(playbook.details):
        raise fail("details", "names a field twice")
    if len({symptom.id for symptom in playbook.symptoms}) != len(playbook.symptoms):
        raise fail("symptoms", "names a symptom twice")
    if playbook.identity is not None:
        known("identity.skill", [playbook.identity.skill])
        verification = playbook.identity.verification
        path = "identity.verification"
        _compiles(
            verification.customer_id_pattern, lambda rule: fail(f"{path}.customerIdPattern", rule)
        )
        if not re.fullmatch(verification.customer_id_pattern, verification.customer_id_example):
            raise fail(f"{path}.customerIdExample", "must match customerIdPattern")
        if playbook.identity.skill in playbook.stage:
            raise fail("stage", "must not hold the identity skill: it runs first, alone")
    follow_up = playbook.follow_up
    if follow_up is not None:
        known("followUp.skill", [follow_up.skill])
        known("followUp.recommendedAfter", follow_up.recommended_after)
        for index, condition in enumerate(follow_up.recommended_when):
            known(f"followUp.recommendedWhen[{index}].skill", [condition.skill])
        if follow_up.skill in playbook.stage:
            raise fail("stage", "must not hold the follow-up skill: it runs after the stage")


def _compiles(pattern: str, fail: Any) -> None:
    try:
        re.compile(pattern)
    except re.error as exc:
        raise fail(f"is not a regular expression ({exc.msg})") from None


def load_playbook(name: str) -> Playbook:
    """playbooks/<name>.json, read and checked; PlaybookError naming the file and the path."""
    if not NAME_RE.fullmatch(name):
        raise PlaybookError(f"PLAYBOOK {name!r} must be a file name under playbooks/ (no .json).")
    path = PLAYBOOKS / f"{name}.json"
    source = f"playbooks/{name}.json"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PlaybookError(f"{source} does not exist (PLAYBOOK={name}).") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PlaybookError(
            f"{source} is not JSON: line {exc.lineno} column {exc.colno}: {exc.msg}."
        ) from None
    return parse_playbook(document, source)


@functools.lru_cache(maxsize=4)
def _cached(name: str) -> Playbook:
    return load_playbook(name)


def get_playbook() -> Playbook | None:
    """The playbook PLAYBOOK names (read once), or None when it names none."""
    from voicea2a.config import get_settings

    name = get_settings().playbook
    return _cached(name) if name else None
