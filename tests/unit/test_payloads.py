import pytest

from voicea2a.errors import InvalidRequest, PayloadTooLarge, UnsupportedMediaType
from voicea2a.payloads import (
    check_text,
    is_json_content_type,
    is_text,
    parse_count,
    parse_json_body,
)

JSON = "application/json"


def test_parses_an_object():
    assert parse_json_body(b'{"a": [1, "\xc3\xa9"]}', JSON, 100) == {"a": [1, "é"]}


def test_size_limit_exact_boundary():
    body = b'{"a":"' + b"x" * 10 + b'"}'
    assert parse_json_body(body, JSON, len(body)) == {"a": "x" * 10}
    with pytest.raises(PayloadTooLarge) as info:
        parse_json_body(body, JSON, len(body) - 1)
    assert info.value.status == 413
    assert info.value.code == "invalid_request"


def test_size_is_checked_before_media_type():
    with pytest.raises(PayloadTooLarge):
        parse_json_body(b"x" * 11, "text/plain", 10)


@pytest.mark.parametrize(
    "content_type",
    [None, "", "text/plain", "application/x-www-form-urlencoded", "application/jsonx",
     "application/json; charset=latin-1", "multipart/form-data; boundary=x"],
)  # fmt: skip
def test_wrong_media_type_is_415(content_type):
    with pytest.raises(UnsupportedMediaType) as info:
        parse_json_body(b"{}", content_type, 100)
    assert info.value.status == 415


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "Application/JSON",
        "application/json; charset=utf-8",
        "application/json;charset=UTF-8",
        'application/json; charset="utf-8"',
        "application/json; v=1",
    ],
)
def test_json_media_types_with_charset_are_accepted(content_type):
    assert is_json_content_type(content_type)
    assert parse_json_body(b"{}", content_type, 100) == {}


@pytest.mark.parametrize(
    "body", [b"", b"{", b'{"a": }', b"\xff\xfe{}", b'{"a": NaN}', b'{"a": Infinity}', b"[" * 5000]
)
def test_malformed_json_is_400(body):
    with pytest.raises(InvalidRequest) as info:
        parse_json_body(body, JSON, 100_000)
    assert info.value.status == 400
    assert type(info.value) is InvalidRequest


@pytest.mark.parametrize("body", [b"[]", b"[1, 2]", b'"text"', b"42", b"null", b"true"])
def test_non_object_json_is_400(body):
    with pytest.raises(InvalidRequest, match="must be a JSON object"):
        parse_json_body(body, JSON, 100)


def test_error_message_does_not_echo_the_body():
    with pytest.raises(InvalidRequest) as info:
        parse_json_body(b'{"password": "hunter2"', JSON, 100)
    assert "hunter2" not in info.value.message


@pytest.mark.parametrize(
    "text",
    ["\ud800", "a\udfffb", "\x00", "\x07", "\x1b[31m", "\x7f", "\x85", "\x9f", "\u2028\x0b"],
)
def test_lone_surrogates_and_control_characters_are_not_text(text):
    assert not is_text(text)
    assert not is_text(text, free_text=True)


def test_tabs_and_line_breaks_are_free_text_only():
    for text in ("a\tb", "a\nb", "a\r\nb"):
        assert not is_text(text)
        assert is_text(text, free_text=True)
    assert is_text("Zoë 😀 \u00a0 \u2028 ok")  # not control characters (Cc) nor surrogates


def message_of(body: bytes, free_text=()) -> str:
    with pytest.raises(InvalidRequest) as info:
        parse_json_body(body, JSON, 10_000, free_text)
    assert info.value.status == 400
    return info.value.message


def test_a_body_with_a_lone_surrogate_is_refused_naming_the_field():
    assert "'request'" in message_of(b'{"request": "\\ud800 hello"}')
    # A valid pair is one character, not two surrogates.
    assert parse_json_body(b'{"a": "\\ud83d\\ude00"}', JSON, 100) == {"a": "\U0001f600"}
    assert "'customer.lastName'" in message_of(b'{"customer": {"lastName": "D\\udfffe"}}')
    assert "'symptoms[1]'" in message_of(b'{"symptoms": ["ok", "\\u0000"], "z": "\\u0007"}')


def test_free_text_fields_take_line_breaks_and_nothing_else_does():
    body = b'{"request": "one\\n\\ttwo", "note": "x\\ny"}'
    assert "'note'" in message_of(body, free_text=("request",))
    assert parse_json_body(body, JSON, 100, ("request", "note"))["note"] == "x\ny"
    assert "other than tab" in message_of(b'{"request": "a\\u0000"}', ("request",))


def test_a_free_text_path_with_brackets_names_every_item():
    notes = b'{"notes": ["a\\nb", "c\\td"]}'
    assert parse_json_body(notes, JSON, 100, ("notes[]",))["notes"] == ["a\nb", "c\td"]
    body = b'{"notes": ["a\\nb", "c\\td"], "tags": ["e\\nf"]}'
    assert "'tags[0]'" in message_of(body, free_text=("notes[]",))
    assert "'notes[0]'" in message_of(body, free_text=("notes[0]",))  # indices are not names


def test_field_names_are_checked_and_never_echoed():
    message = message_of(b'{"customer": {"\\ud800x": 1}}')
    assert "'customer'" in message and "\ud800" not in message
    assert "top level" in message_of(b'{"a\\u001bb": 1}')
    long_name = "n" * 500
    message = message_of(f'{{"{long_name}": "\\u0000"}}'.encode())
    assert len(message) < 200


def test_deeply_nested_bodies_are_walked_without_recursion():
    deep: object = "\x00"
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(InvalidRequest):
        check_text({"a": deep})


@pytest.mark.parametrize("raw", ["1", "20", "100", "007"])
def test_counts_parse_ascii_digits_in_range(raw):
    assert parse_count(raw, "limit", 5, 1, 100) == int(raw)


@pytest.mark.parametrize(
    "raw",
    ["", "0", "101", "-1", "+5", " 5", "5 ", "5\n", "1e2", "0x10", "1_0", "²", "٣", "５",
     "1" * 10, "1" * 5000],
)  # fmt: skip
def test_counts_refuse_anything_else_naming_the_parameter(raw):
    with pytest.raises(InvalidRequest) as info:
        parse_count(raw, "limit", 5, 1, 100)
    assert info.value.message == "Field 'limit' must be a whole number from 1 to 100."


def test_an_absent_count_is_the_default():
    assert parse_count(None, "limit", 20, 1, 100) == 20
