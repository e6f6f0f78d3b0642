import pytest

from voicea2a.errors import InvalidRequest, PayloadTooLarge, UnsupportedMediaType
from voicea2a.payloads import is_json_content_type, parse_json_body

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
