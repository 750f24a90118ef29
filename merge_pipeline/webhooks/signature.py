"""Merge's webhook signature: Base64url(HMAC-SHA256(signature key, raw body)) (CONTRACT §6).

Pure functions, no I/O. Whether Merge keeps the ``=`` padding is unconfirmed, so both forms are
accepted: the padding is stripped on both sides before the constant-time comparison.
"""

import base64
import hashlib
import hmac

from pydantic import SecretStr

SIGNATURE_HEADER = "X-Merge-Webhook-Signature"


def compute_signature(body: bytes, key: SecretStr) -> str:
    """The signature Merge sends for ``body``, without ``=`` padding."""
    digest = hmac.new(key.get_secret_value().encode(), body, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def signature_matches(body: bytes, key: SecretStr, header: str | None) -> bool:
    """Whether ``header`` signs ``body``; compared in constant time, padding or not."""
    if not header:
        return False
    presented = header.strip().rstrip("=").encode()
    expected = compute_signature(body, key).encode()
    # compare_digest on bytes: a non-ASCII header is simply a mismatch, never an error.
    return hmac.compare_digest(expected, presented)
