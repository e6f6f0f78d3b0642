"""voicea2a/schema.py: each field kind parses as declared and emits the JSON Schema that says
the same; the object builds its typed value, refuses unknown fields and names every field."""

from __future__ import annotations

from dataclasses import dataclass

import jsonschema
import pytest

from voicea2a.errors import InvalidRequest
from voicea2a.payloads import check_text
from voicea2a.schema import (
    REF,
    Array,
    Boolean,
    Choice,
    Date,
    Field,
    Integer,
    Obj,
    Text,
    components,
    walk,
)


def refused(kind, value) -> str:
    with pytest.raises(InvalidRequest) as caught:
        kind.read(value, "a.b")
    assert caught.value.status == 400
    return caught.value.message


def agrees(kind, good: list, bad: list) -> None:
    """The kind's JSON Schema accepts the good values and refuses the bad ones, as read does."""
    validator = jsonschema.Draft202012Validator(kind.definition())
    for value in good:
        kind.read(value, "x")
        assert validator.is_valid(value), value
    for value in bad:
        refused(kind, value)
        assert not validator.is_valid(value), value


# ----- the kinds -----


def test_text_checks_type_length_characters_and_pattern_in_that_order():
    kind = Text(max_length=5, pattern=r"[a-z]+", rule="must be lowercase letters")
    assert kind.read("abc", "a.b") == "abc"
    assert refused(kind, 5) == "Field 'a.b' must be a string."
    assert refused(kind, "abcdef") == "Field 'a.b' must be at most 5 characters."
    assert refused(kind, "ABC") == "Field 'a.b' must be lowercase letters."
    assert kind.definition() == {"type": "string", "maxLength": 5, "pattern": "^(?:[a-z]+)$"}
    agrees(kind, ["a", "abcde"], ["", "abcdef", "ab1", "a b"])


def test_a_pattern_is_matched_whole_even_with_an_alternation():
    kind = Text(pattern="ab|cd", rule="must be ab or cd")
    agrees(kind, ["ab", "cd"], ["abd", "acd", "xab", ""])


def test_printable_text_refuses_what_str_isprintable_refuses():
    kind = Text(printable=True)
    assert kind.read("Zoë Ångström-O'Neil", "x")
    for text in ("a\nb", "\u200bzero-width", "\u202eoverride", "no\u00a0break", "\U000e0001"):
        assert refused(kind, text) == "Field 'a.b' must hold only printable characters."


def test_stripped_text_counts_its_length_after_stripping():
    kind = Text(max_length=3, nonempty=True, strip=True)
    assert kind.read("  abc\n", "x") == "abc"
    assert refused(kind, "   ") == "Field 'a.b' must not be empty."
    assert refused(kind, " abcd ") == "Field 'a.b' must be at most 3 characters."
    # JSON Schema counts the raw string: stricter than the code, never looser.
    assert kind.definition() == {"type": "string", "minLength": 1, "maxLength": 3, "pattern": r"\S"}


def test_blank_text_can_count_as_absent():
    kind = Text(pattern="[0-9]+", rule="must be digits", blank_is_absent=True)
    assert kind.read("", "x") is None and kind.read("  ", "x") is None
    assert kind.read(" 42 ", "x") == "42"
    assert refused(kind, "4 2") == "Field 'a.b' must be digits."
    agrees(kind, ["", "  ", "42", " 42 "], ["x", "4 2", "4x"])


def test_text_may_carry_a_format_the_route_checks():
    kind = Text(nonempty=True, max_length=10, format="uri")
    assert kind.definition() == {"type": "string", "minLength": 1, "maxLength": 10, "format": "uri"}


def test_a_date_is_a_real_day_in_ascii_digits():
    kind = Date()
    assert kind.read("2024-02-29", "x") == "2024-02-29"
    for text in ("2023-02-29", "2024-13-01", "24-02-01", "2024-2-1", "٢٠٢٤-٠٢-٠١", "2024-02-01T00"):
        assert refused(kind, text) == "Field 'a.b' must be a date YYYY-MM-DD."
    assert refused(kind, 20240201) == "Field 'a.b' must be a string."
    agrees(kind, ["2024-02-29"], ["", " 2024-02-29", "2024-02-29x"])


def test_a_blank_date_can_count_as_absent():
    kind = Date(blank_is_absent=True)
    assert kind.read(" ", "x") is None and kind.read(" 2024-01-31 ", "x") == "2024-01-31"
    agrees(kind, ["", " 2024-01-31 "], ["2024/01/31", "soon"])


def test_a_choice_is_one_of_its_values():
    kind = Choice(values=("red", "off"))
    assert kind.read("off", "x") == "off"
    for value in ("green", "", " red", 3, None):
        assert refused(kind, value) == "Field 'a.b' must be one of red, off."
    agrees(kind, ["red", "off"], ["green", "", 3])


def test_a_choice_whose_blank_counts_as_absent_is_text_first():
    kind = Choice(values=("red", "off"), blank_is_absent=True)
    assert kind.read("", "x") is None and kind.read(" red ", "x") == "red"
    assert refused(kind, True) == "Field 'a.b' must be a string."
    assert kind.schema() == {"oneOf": [{"type": "string", "enum": ["red", "off"]}, {"const": ""}]}
    named = Choice(name="Light", values=("red",), blank_is_absent=True)
    assert named.schema() == {"oneOf": [{"$ref": REF + "Light"}, {"const": ""}]}


def test_an_integer_is_a_whole_number_in_range_never_a_boolean():
    kind = Integer(minimum=-2, maximum=2)
    assert kind.read(-2, "x") == -2 and kind.read(2, "x") == 2
    for value in (3, -3, True, 1.0, "1", None):
        assert refused(kind, value) == "Field 'a.b' must be an integer from -2 to 2."
    assert kind.definition() == {"type": "integer", "minimum": -2, "maximum": 2}


def test_a_boolean_is_true_or_false():
    kind = Boolean()
    assert kind.read(False, "x") is False
    for value in (0, 1, "true", None):
        assert refused(kind, value) == "Field 'a.b' must be true or false."
    agrees(kind, [True, False], [0, "true"])


def test_an_array_bounds_its_items_and_names_each_one():
    kind = Array(items=Choice(values=("a", "b")), min_items=1, max_items=3, unique=True)
    assert kind.read(["b", "a", "b"], "x") == ("b", "a")  # repeats dropped, first kept
    assert refused(kind, "a") == "Field 'a.b' must be a list."
    assert refused(kind, []) == "Field 'a.b' must have at least 1 item(s)."
    assert refused(kind, ["a"] * 4) == "Field 'a.b' must have at most 3 items."
    assert refused(kind, ["a", "c"]) == "Field 'a.b[1]' must be one of a, b."
    agrees(kind, [["a"], ["a", "a", "b"]], [[], ["a"] * 4, ["c"], "a"])


# ----- fields and objects -----


@dataclass(frozen=True)
class Inner:
    level: int | None


@dataclass(frozen=True)
class Outer:
    title: str
    inner_thing: Inner | None
    tags: tuple[str, ...]
    note: str


INNER = Obj(
    name="Inner", build=Inner, fields=(Field(name="level", kind=Integer(minimum=0, maximum=9)),)
)
OUTER = Obj(
    name="Outer",
    build=Outer,
    description="An example.",
    fields=(
        Field(name="title", kind=Text(max_length=20), required=True, description="The title."),
        Field(name="innerThing", kind=INNER, nullable=True),
        Field(
            name="tags",
            kind=Array(items=Text(max_length=9, free_text=True), max_items=2),
            default=(),
        ),
        Field(name="note", kind=Text(max_length=50, free_text=True), default="", examples=("hi",)),
    ),
)


def parse_error(body) -> str:
    with pytest.raises(InvalidRequest) as caught:
        OUTER.parse(body)
    return caught.value.message


def test_an_object_builds_its_value_with_snake_case_names_and_defaults():
    assert OUTER.parse({"title": "t"}) == Outer("t", None, (), "")
    full = {"title": "t", "innerThing": {"level": 3}, "tags": ["x"], "note": "n"}
    assert OUTER.parse(full) == Outer("t", Inner(3), ("x",), "n")
    assert OUTER.parse({"title": "t", "innerThing": {}}).inner_thing == Inner(None)


def test_null_counts_as_absent_only_where_declared():
    assert OUTER.parse({"title": "t", "innerThing": None}).inner_thing is None
    assert parse_error({"title": "t", "note": None}) == "Field 'note' must be a string."
    assert parse_error({"title": None}) == "Field 'title' is required."
    assert parse_error({}) == "Field 'title' is required."


def test_an_object_refuses_unknown_fields_first_naming_the_first_of_them():
    assert parse_error({"zeta": 1, "alpha": 2, "title": 5}) == "Unknown field 'alpha'."
    message = parse_error({"title": "t", "innerThing": {"depth": 1}})
    assert message == "Unknown field 'innerThing.depth'."
    assert len(parse_error({"title": "t", "x" * 5000: 1})) < 150  # a name is never echoed whole


def test_errors_name_nested_fields_and_items():
    assert parse_error({"title": "t", "innerThing": 3}) == "Field 'innerThing' must be an object."
    message = parse_error({"title": "t", "innerThing": {"level": 10}})
    assert message == "Field 'innerThing.level' must be an integer from 0 to 9."
    assert parse_error({"title": "t", "tags": ["ok", 5]}) == "Field 'tags[1]' must be a string."
    assert parse_error(["title"]) == "The request body must be a JSON object."


def test_an_object_emits_its_schema_with_named_kinds_by_reference():
    assert OUTER.definition() == {
        "type": "object",
        "additionalProperties": False,
        "required": ["title"],
        "description": "An example.",
        "properties": {
            "title": {"type": "string", "maxLength": 20, "description": "The title."},
            "innerThing": {"oneOf": [{"$ref": REF + "Inner"}, {"type": "null"}]},
            "tags": {
                "type": "array",
                "maxItems": 2,
                "items": {"type": "string", "maxLength": 9},
            },  # an empty list is no default worth showing (and would break minItems)
            "note": {"type": "string", "maxLength": 50, "default": "", "examples": ["hi"]},
        },
    }
    assert OUTER.schema() == {"$ref": REF + "Outer"}


def test_nullable_schemas():
    def nullable(kind) -> dict:
        return Field(name="x", kind=kind, nullable=True).schema()

    assert nullable(Text(max_length=2)) == {"type": ["string", "null"], "maxLength": 2}
    assert nullable(Choice(name="C", values=("a",))) == {
        "oneOf": [{"$ref": REF + "C"}, {"type": "null"}]
    }
    assert nullable(Choice(values=("a",), blank_is_absent=True))["oneOf"][1:] == [
        {"const": ""},
        {"type": "null"},
    ]
    # A required field is never null, whatever `nullable` says.
    assert Field(name="x", kind=Boolean(), required=True, nullable=True).schema() == {
        "type": "boolean"
    }


def test_the_schema_says_what_the_parser_does():
    document = {"$ref": REF + "Outer", "components": {"schemas": components(OUTER)}}
    validator = jsonschema.Draft202012Validator(document)
    good = [{"title": "t"}, {"title": "t", "innerThing": None, "tags": ["a", "b"], "note": ""}]
    bad = [{}, {"title": 1}, {"title": "t", "extra": 1}, {"title": "t", "tags": ["a"] * 3},
           {"title": "t", "innerThing": {"level": -1}}, {"title": "t", "note": None}]  # fmt: skip
    for body in good:
        OUTER.parse(body)
        assert validator.is_valid(body), body
    for body in bad:
        parse_error(body)
        assert not validator.is_valid(body), body


def test_dump_is_the_body_that_parses_into_the_value():
    value = OUTER.parse({"title": "t", "innerThing": {"level": 0}, "tags": ["x", "y"]})
    assert OUTER.dump(value) == {"title": "t", "innerThing": {"level": 0}, "tags": ["x", "y"]}
    assert OUTER.parse(OUTER.dump(value)) == value
    assert OUTER.dump(OUTER.parse({"title": "t", "note": "", "tags": []})) == {"title": "t"}


def test_free_text_paths_name_every_item_of_a_list():
    assert OUTER.free_text == {"note", "tags[]"}
    check_text({"note": "a\nb", "tags": ["c\td", "e\nf"]}, OUTER.free_text)
    with pytest.raises(InvalidRequest, match="'title'"):
        check_text({"title": "a\nb"}, OUTER.free_text)


def test_components_are_the_named_kinds_each_once():
    assert list(components(OUTER, INNER)) == ["Outer", "Inner"]
    assert components(OUTER)["Inner"] == INNER.definition()
    assert [path for path, _ in walk(OUTER)] == ["", "title", "innerThing", "innerThing.level",
                                                 "tags", "tags[]", "note"]  # fmt: skip
    clash = Obj(name="Inner", build=Inner, fields=())
    with pytest.raises(ValueError, match="'Inner'"):
        components(OUTER, clash)
