"""Every error the sandbox returns: status codes and ``{"detail": ...}`` texts in one place.

Merge publishes no schema for error bodies (CONTRACT §7), so the Django-REST-framework shape is
used and the texts are configurable. The pipeline's client matches on some of them: change them
only together with it.
"""

from dataclasses import dataclass, field, fields, replace
from typing import Any


@dataclass(frozen=True)
class ErrorTexts:
    """The ``detail`` texts; ``{name}`` placeholders are filled per error."""

    invalid_api_key: str = "Invalid API key."
    invalid_account_token: str = "Invalid account token."  # noqa: S105 - a message, not a secret
    not_found: str = "Not found."
    throttled: str = "Request was throttled. Expected available in {seconds} seconds."
    server_error: str = "A server error occurred."
    bad_gateway: str = "Bad gateway."
    service_unavailable: str = "Service temporarily unavailable."
    invalid_cursor: str = "Invalid cursor"  # DRF's text, with its 404
    invalid_datetime: str = "{param}: Enter a valid date/time."
    invalid_integer: str = "{param}: A valid integer is required."
    invalid_boolean: str = "{param}: Must be a valid boolean."
    page_size_out_of_range: str = "page_size: Ensure this value is between 1 and {maximum}."
    unknown_expand: str = "expand: Invalid value {value!r}. Allowed values: {allowed}."
    invalid_enum: str = (
        "{param}: Select a valid choice. {value!r} is not one of the available choices."
    )
    missing_field: str = "{param}: This field is required."
    invalid_body: str = "JSON parse error."
    method_not_allowed: str = 'Method "{method}" not allowed.'
    unknown_public_token: str = "Not found."  # noqa: S105 - a message, not a secret

    def updated(self, changes: dict[str, str]) -> "ErrorTexts":
        known = {f.name for f in fields(self)}
        unknown = set(changes) - known
        if unknown:
            raise ValueError(f"unknown error texts: {sorted(unknown)}")
        return replace(self, **changes)


_SERVER_ERRORS = {500: "server_error", 502: "bad_gateway", 503: "service_unavailable"}


@dataclass
class ApiError(Exception):
    """Raised anywhere in request handling; rendered as ``status`` + ``{"detail": text}``."""

    status: int
    text_name: str
    params: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)

    def detail(self, texts: ErrorTexts) -> str:
        template: str = getattr(texts, self.text_name)
        return template.format(**self.params)


def invalid_api_key() -> ApiError:
    return ApiError(401, "invalid_api_key")


def invalid_account_token() -> ApiError:
    return ApiError(401, "invalid_account_token")


def not_found() -> ApiError:
    return ApiError(404, "not_found")


def bad_request(text_name: str, **params: Any) -> ApiError:
    return ApiError(400, text_name, params)


def throttled(seconds: int) -> ApiError:
    return ApiError(429, "throttled", {"seconds": seconds}, {"Retry-After": str(seconds)})


def server_error(status: int) -> ApiError:
    return ApiError(status, _SERVER_ERRORS.get(status, "server_error"))


def injected(status: int, retry_after: int = 1) -> ApiError:
    """An error burst's response: 429 looks like a real throttle, anything else like a 5xx."""
    return throttled(retry_after) if status == 429 else server_error(status)


def method_not_allowed(method: str) -> ApiError:
    return ApiError(405, "method_not_allowed", {"method": method})
