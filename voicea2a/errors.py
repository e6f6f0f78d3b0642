"""The one API error hierarchy and the one error body every response uses."""

from __future__ import annotations

from typing import Any, ClassVar


class ApiError(Exception):
    """An error that maps to an HTTP status and the standard error body."""

    code: ClassVar[str] = "internal"
    status: int = 500
    retryable: ClassVar[bool] = False
    default_message: ClassVar[str] = "An internal error occurred."
    # Statuses a caller may pick with `status=`; the class status is always allowed.
    allowed_statuses: ClassVar[frozenset[int]] = frozenset()

    def __init__(
        self,
        message: str | None = None,
        *,
        retry_after: int | None = None,
        status: int | None = None,
    ) -> None:
        self.message = message or self.default_message
        if retry_after is not None and (
            isinstance(retry_after, bool) or not isinstance(retry_after, int) or retry_after < 0
        ):
            raise ValueError("retry_after must be a non-negative integer of seconds")
        self.retry_after = retry_after
        if status is not None:
            if status != type(self).status and status not in self.allowed_statuses:
                raise ValueError(f"{type(self).__name__} cannot use status {status}")
            self.status = status
        super().__init__(self.message)


class Unauthenticated(ApiError):
    """The request has no valid credentials (401)."""

    code = "unauthenticated"
    status = 401
    default_message = "Authentication is required."


class Forbidden(ApiError):
    """The caller is authenticated but not allowed to do this (403)."""

    code = "forbidden"
    status = 403
    default_message = "You are not allowed to do this."


class NotFound(ApiError):
    """The resource does not exist, or the caller may not know it exists (404)."""

    code = "not_found"
    status = 404
    default_message = "Not found."


class Conflict(ApiError):
    """The request conflicts with the resource's state, e.g. a name someone else owns (409)."""

    code = "conflict"
    status = 409
    default_message = "The request conflicts with the current state."


class InvalidRequest(ApiError):
    """The request is malformed or fails validation (400)."""

    code = "invalid_request"
    status = 400
    default_message = "The request is invalid."


class PayloadTooLarge(InvalidRequest):
    """The request body exceeds the configured limit (413)."""

    status = 413
    default_message = "The request body is too large."


class UnsupportedMediaType(InvalidRequest):
    """The request body is not in a supported media type (415)."""

    status = 415
    default_message = "The request body must be application/json."


class MethodNotAllowed(InvalidRequest):
    """The HTTP method is not supported on this route (405).

    Not in the DESIGN.md code table: it reuses `invalid_request` with status 405.
    """

    status = 405
    default_message = "This method is not allowed on this resource."


class RateLimited(ApiError):
    """Too many requests; the caller may retry after `retry_after` seconds (429)."""

    code = "rate_limited"
    status = 429
    retryable = True
    default_message = "Too many requests."

    def __init__(self, message: str | None = None, *, retry_after: int) -> None:
        if retry_after is None:
            raise ValueError("RateLimited requires retry_after")
        super().__init__(message, retry_after=retry_after)


class UpstreamUnavailable(ApiError):
    """A dependency failed or is unreachable (503, or 502 via `status=502`)."""

    code = "upstream_unavailable"
    status = 503
    retryable = True
    default_message = "A service this request depends on is unavailable."
    allowed_statuses = frozenset({502, 503})


class NotConfigured(ApiError):
    """A required setting or secret is missing (503)."""

    code = "not_configured"
    status = 503
    default_message = "The service is not configured for this request."


class InternalError(ApiError):
    """An unexpected failure; the message never carries the cause (500)."""

    code = "internal"
    status = 500
    default_message = "An internal error occurred."


def as_api_error(exc: BaseException) -> ApiError:
    """Return `exc` if it is an ApiError, else a generic InternalError that hides its text."""
    if isinstance(exc, ApiError):
        return exc
    return InternalError()


def error_body(err: BaseException) -> dict[str, Any]:
    """Build the standard error body; unexpected exceptions become a generic `internal` body."""
    api_err = as_api_error(err)
    body: dict[str, Any] = {
        "code": api_err.code,
        "message": api_err.message,
        "retryable": api_err.retryable,
    }
    if api_err.retry_after is not None:
        body["retryAfter"] = api_err.retry_after
    return {"error": body}
