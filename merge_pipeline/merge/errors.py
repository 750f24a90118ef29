"""What can go wrong talking to Merge, as exceptions the sync engine can act on.

Each message names what happened, the method, the API path, the status and Merge's ``detail``, so
an operator can act on a log line alone. None carries the API key or an account token, and the
client raises them with no ``__cause__``/``__context__``: httpx exceptions keep the request, whose
headers hold both secrets, and a traceback printer would walk into them.

Every exception pickles (Dagster ships op failures between processes).
"""

from typing import Any, ClassVar


def _restore(cls: type["MergeError"], state: dict[str, Any]) -> "MergeError":
    """Rebuild an unpickled error without calling ``__init__`` (its arguments are keywords)."""
    error = cls.__new__(cls)
    error.__dict__.update(state)
    return error


class MergeError(Exception):
    """A call to Merge failed; ``status`` is None when no HTTP response arrived."""

    what: ClassVar[str] = "Merge call failed"

    def __init__(
        self,
        *,
        method: str,
        path: str,
        status: int | None = None,
        detail: str | None = None,
        attempts: int = 1,
        linked_account_id: str | None = None,
    ) -> None:
        super().__init__()
        self.method = method
        self.path = path
        self.status = status
        self.detail = detail
        self.attempts = attempts
        self.linked_account_id = linked_account_id

    def __str__(self) -> str:
        message = f"{self.what}: {self.method} {self.path}"
        if self.status is not None:
            message += f" -> {self.status}"
        if self.detail:
            message += f": {self.detail}"
        if self.linked_account_id is not None:
            message += f" (linked account {self.linked_account_id})"
        if self.attempts > 1:
            message += f" [after {self.attempts} attempts]"
        return message

    def __reduce__(self) -> tuple[Any, ...]:
        return (_restore, (type(self), dict(self.__dict__)))


class MergeAuthError(MergeError):
    """Merge refused our credentials (401/403): retrying cannot help, a human must act."""

    what = "Merge refused the credentials"


class InvalidApiKey(MergeAuthError):
    """The organisation's API key is wrong or revoked: every account's sync will fail."""

    what = "Merge rejected the API key (check MERGE_PIPELINE_API_KEY)"


class InvalidAccountToken(MergeAuthError):
    """The linked account was deleted or its account token is wrong: it needs relinking."""

    what = "Merge rejected the account token (linked account deleted or needs relinking)"


class MergeNotFound(MergeError):
    """404: a bad id, or an endpoint this account's integration does not support."""

    what = "Merge found no such resource"


class MergeBadRequest(MergeError):
    """400: Merge (or the third party behind it) rejected the request as sent."""

    what = "Merge rejected the request"


class MergeRateLimited(MergeError):
    """429 still after every retry (or a Retry-After beyond the total wait cap)."""

    what = "Merge rate limit still exceeded after retrying"

    def __init__(self, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.retry_after = retry_after


class MergeServerError(MergeError):
    """5xx still after every retry: Merge is having trouble; try the sync again later."""

    what = "Merge server error"


class MergeTransportError(MergeError):
    """No usable response: timeout, refused or dropped connection, truncated body."""

    what = "No usable response from Merge"


class MergeUnexpectedStatus(MergeError):
    """A status Merge does not document for reads (3xx, 405, 409, 422, ...)."""

    what = "Merge answered with an unexpected status"


class MergeResponseError(MergeError):
    """A 2xx whose body is not what the contract says (e.g. no ``results`` list)."""

    what = "Merge response did not match the contract"


class MalformedCredential(MergeAuthError):
    """The API key or an account token cannot be sent as a header (e.g. a trailing newline from
    a file); refused before sending, so no HTTP library quotes it in an error."""

    what = "A credential is malformed and was not sent"


class MergeUnreachable(MergeTransportError):
    """Merge's host cannot be reached (refused, name not resolved): no call to it can succeed.

    Raised by the base URL's circuit breaker (``circuit.py``); the sync stops instead of letting
    every account and model retry on its own. The message names the host, not the call.
    """

    what = "Merge is unreachable"

    def __init__(self, *, host: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.host = host

    def __str__(self) -> str:
        message = f"Merge at {self.host} is unreachable"
        if self.detail:
            message += f" ({self.detail})"
        return message + "; check MERGE_PIPELINE_BASE_URL and the network, then sync again"
