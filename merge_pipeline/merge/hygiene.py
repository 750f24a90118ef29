"""Keeping secrets out of text we log or raise.

The API key and account tokens travel only in headers, which we never log. Three leaks remain
that this module closes: text that Merge (or a proxy) sends back, which we quote in errors; an
HTTP library that refuses a malformed header and quotes it, escaped, in its error; and the public
token that ``GET /{category}/v1/account-token/{public_token}`` carries in its path, which httpx
logs at INFO as part of the URL.

Redaction does not trust the secret to appear verbatim: it also masks the forms an error message
may give it (``repr``-escaped, bytes ``repr``, JSON-escaped, percent-encoded, stripped of stray
whitespace) and any fragment of :data:`PARTIAL_MIN` or more characters of it (a quote cut short).
"""

import logging
import re
from collections.abc import Iterable
from functools import lru_cache
from urllib.parse import quote, quote_plus

import orjson

MASK = "***"
#: a run of this many characters of a secret is masked wherever it appears (with its surroundings)
PARTIAL_MIN = 10
#: characters that may belong to a token around a partial match (masked with it)
_TOKEN_CHARS = r"[A-Za-z0-9_\-.~+%]*"  # noqa: S105 - a character class


def _forms(secret: str) -> set[str]:
    """The texts under which ``secret`` may show up in a message."""
    forms = {secret, secret.strip()}
    for text in list(forms):
        forms |= {
            repr(text)[1:-1],
            repr(text.encode())[2:-1],
            orjson.dumps(text).decode()[1:-1],
            quote(text, safe=""),
            quote_plus(text, safe=""),
        }
    return {form for form in forms if form}


@lru_cache(maxsize=64)
def _pattern(secret: str) -> re.Pattern[str]:
    forms = sorted(_forms(secret), key=len, reverse=True)
    alternatives = [re.escape(form) for form in forms]
    core = secret.strip()
    if len(core) >= PARTIAL_MIN:
        windows = {core[i : i + PARTIAL_MIN] for i in range(len(core) - PARTIAL_MIN + 1)}
        alternatives += [_TOKEN_CHARS + re.escape(w) + _TOKEN_CHARS for w in sorted(windows)]
    return re.compile("|".join(alternatives))


_PUBLIC_TOKEN_IN_PATH = re.compile(r"(/account-token/)(?!regenerate(?:[/?#]|$))[^/?#\s\"]+")


def redact(text: str, secrets: Iterable[str]) -> str:
    """Mask every (non-empty) secret in ``text``, in any escaping, whole or in long fragments."""
    for secret in secrets:
        if secret and secret.strip():
            text = _pattern(secret).sub(MASK, text)
    return text


def header_value_problem(value: str) -> str | None:
    """Why ``value`` is not a legal HTTP header value (None if it is), without quoting it.

    Legal means visible ASCII with inner spaces only (RFC 9110 field values, minus obsolete
    text): anything else makes the HTTP library refuse the request and quote the value.
    """
    if value != value.strip():
        return "has whitespace at either end (often a newline from a file or a Secret)"
    if not all(" " <= char <= "~" for char in value):
        return "has control or non-ASCII characters"
    return None


def mask_path(path: str) -> str:
    """The path with an account-token exchange's public token masked (safe to log)."""
    return _PUBLIC_TOKEN_IN_PATH.sub(r"\1" + MASK, path)


class _MaskPublicTokens(logging.Filter):
    """Rewrites httpx's ``HTTP Request: GET <url> ...`` line when the URL holds a public token."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(
            "/account-token/" in str(arg) for arg in record.args
        ):
            record.args = tuple(
                mask_path(str(arg)) if "/account-token/" in str(arg) else arg for arg in record.args
            )
        return True


_HTTPX_FILTER = _MaskPublicTokens()


def mask_public_tokens_in_httpx_logs() -> None:
    """Install the filter on the ``httpx`` logger (idempotent)."""
    logger = logging.getLogger("httpx")
    if _HTTPX_FILTER not in logger.filters:
        logger.addFilter(_HTTPX_FILTER)
