import pytest

from voicea2a.errors import (
    ApiError,
    Forbidden,
    InternalError,
    InvalidRequest,
    MethodNotAllowed,
    NotConfigured,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    Unauthenticated,
    UnsupportedMediaType,
    UpstreamUnavailable,
    as_api_error,
    error_body,
)


@pytest.mark.parametrize(
    ("cls", "code", "status", "retryable"),
    [
        (Unauthenticated, "unauthenticated", 401, False),
        (Forbidden, "forbidden", 403, False),
        (NotFound, "not_found", 404, False),
        (InvalidRequest, "invalid_request", 400, False),
        (PayloadTooLarge, "invalid_request", 413, False),
        (UnsupportedMediaType, "invalid_request", 415, False),
        (MethodNotAllowed, "invalid_request", 405, False),
        (UpstreamUnavailable, "upstream_unavailable", 503, True),
        (NotConfigured, "not_configured", 503, False),
        (InternalError, "internal", 500, False),
    ],
)
def test_codes_and_statuses(cls, code, status, retryable):
    err = cls("Something specific.")
    assert isinstance(err, ApiError)
    assert (err.code, err.status, err.retryable) == (code, status, retryable)
    assert error_body(err) == {
        "error": {"code": code, "message": "Something specific.", "retryable": retryable}
    }


def test_default_message():
    assert error_body(NotFound())["error"]["message"] == "Not found."


def test_rate_limited_requires_retry_after_and_reports_it():
    with pytest.raises(TypeError):
        RateLimited()  # type: ignore[call-arg]
    err = RateLimited(retry_after=12)
    assert (err.code, err.status, err.retryable) == ("rate_limited", 429, True)
    assert error_body(err) == {
        "error": {
            "code": "rate_limited",
            "message": "Too many requests.",
            "retryable": True,
            "retryAfter": 12,
        }
    }


def test_retry_after_only_when_set():
    assert "retryAfter" not in error_body(UpstreamUnavailable())["error"]
    assert error_body(UpstreamUnavailable(retry_after=5))["error"]["retryAfter"] == 5


@pytest.mark.parametrize("bad", [-1, 1.5, "3", True])
def test_retry_after_must_be_a_non_negative_int(bad):
    with pytest.raises(ValueError):
        UpstreamUnavailable(retry_after=bad)


def test_upstream_unavailable_allows_502():
    err = UpstreamUnavailable(status=502)
    assert err.status == 502
    assert UpstreamUnavailable.status == 503
    with pytest.raises(ValueError):
        UpstreamUnavailable(status=500)
    with pytest.raises(ValueError):
        NotFound(status=410)


def test_unexpected_exception_text_never_reaches_the_body():
    body = error_body(RuntimeError("password=hunter2 at /secret/path"))
    assert body == {
        "error": {"code": "internal", "message": "An internal error occurred.", "retryable": False}
    }
    assert isinstance(as_api_error(KeyError("x")), InternalError)
    err = NotFound()
    assert as_api_error(err) is err
