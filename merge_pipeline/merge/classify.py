"""Which exception an error response from Merge becomes.

Merge publishes no error body schema (CONTRACT.md §7). We read a DRF-style ``{"detail": "..."}``
(what the sandbox emulator sends) and fall back to the first few hundred characters of the body.
Which 401 ``detail`` texts mean a bad API key and which a bad account token is configuration
(:class:`AuthRules`), so it can follow what production Merge turns out to send.
"""

from collections.abc import Iterable
from dataclasses import dataclass

import orjson

from merge_pipeline.merge.errors import (
    InvalidAccountToken,
    InvalidApiKey,
    MergeAuthError,
    MergeBadRequest,
    MergeError,
    MergeNotFound,
    MergeRateLimited,
    MergeServerError,
    MergeUnexpectedStatus,
)
from merge_pipeline.merge.hygiene import redact

#: Longest ``detail`` quoted in an exception message.
MAX_DETAIL_CHARS = 500


@dataclass(frozen=True, slots=True)
class AuthRules:
    """Case-insensitive substrings of a 401 ``detail`` naming the credential Merge rejected."""

    invalid_api_key: tuple[str, ...] = ("invalid api key",)
    invalid_account_token: tuple[str, ...] = ("invalid account token",)

    def rejected(self, detail: str | None, *, sent_account_token: bool) -> type[MergeAuthError]:
        """The exception for a 401 with this ``detail``."""
        text = (detail or "").lower()
        if any(needle in text for needle in self.invalid_api_key):
            return InvalidApiKey
        if any(needle in text for needle in self.invalid_account_token):
            return InvalidAccountToken if sent_account_token else MergeAuthError
        # Unknown text. With an account token, blame the token: a deleted or relinked account is
        # the common cause, and the cost of being wrong is one account flagged for relinking
        # (a bad API key shows up as the same error on every account at once). Without one, the
        # key is the only credential we sent.
        return InvalidAccountToken if sent_account_token else InvalidApiKey


DEFAULT_AUTH_RULES = AuthRules()

_BY_STATUS: dict[int, type[MergeError]] = {
    400: MergeBadRequest,
    403: MergeAuthError,  # not in Merge's published table (unconfirmed); a permission refusal
    404: MergeNotFound,
}


def error_detail(body: bytes, secrets: Iterable[str]) -> str | None:
    """Merge's explanation from an error body, redacted and bounded."""
    if not body:
        return None
    text: str | None = None
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        parsed = None
    if isinstance(parsed, dict) and isinstance(parsed.get("detail"), str):
        text = parsed["detail"]
    elif parsed is not None:
        text = orjson.dumps(parsed).decode()
    else:
        text = body.decode("utf-8", errors="replace")
    text = redact(" ".join(text.split()), secrets)
    if len(text) > MAX_DETAIL_CHARS:
        text = text[:MAX_DETAIL_CHARS] + "..."
    return text or None


def error_for_response(
    *,
    status: int,
    detail: str | None,
    method: str,
    path: str,
    linked_account_id: str | None,
    attempts: int,
    retry_after: float | None = None,
    rules: AuthRules = DEFAULT_AUTH_RULES,
) -> MergeError:
    """The exception for a non-2xx response; ``linked_account_id`` is set when a token was sent."""
    cls: type[MergeError]
    if status == 401:
        cls = rules.rejected(detail, sent_account_token=linked_account_id is not None)
    elif status == 429:
        cls = MergeRateLimited
    elif status >= 500:
        cls = MergeServerError
    else:
        cls = _BY_STATUS.get(status, MergeUnexpectedStatus)
    error = cls(
        method=method,
        path=path,
        status=status,
        detail=detail,
        attempts=attempts,
        linked_account_id=linked_account_id,
    )
    if isinstance(error, MergeRateLimited):
        error.retry_after = retry_after
    return error
