"""Keeping secrets out of text we log or raise.

The API key and account tokens travel only in headers, which we never log. Two leaks remain that
this module closes: text that Merge (or a proxy) sends back, which we quote in errors, and the
public token that ``GET /{category}/v1/account-token/{public_token}`` carries in its path, which
httpx logs at INFO as part of the URL.
"""

import logging
import re
from collections.abc import Iterable

MASK = "***"

_PUBLIC_TOKEN_IN_PATH = re.compile(r"(/account-token/)(?!regenerate(?:[/?#]|$))[^/?#\s\"]+")


def redact(text: str, secrets: Iterable[str]) -> str:
    """Replace every occurrence of each (non-empty) secret in ``text``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, MASK)
    return text


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
