"""Opaque pagination cursors, in the style of Django REST framework's ``CursorPagination``.

A cursor is base64 of a query string: ``p`` is the keyset position's ``modified_at``, ``k`` the
record key that breaks ties, ``r=1`` marks a ``previous`` cursor, ``d=1`` the ``next`` cursor of
a listing served newest first (adversity ``list_order``), ``f`` a digest of the filters it was
issued for (a cursor is only valid with the same filters).
"""

import base64
import binascii
from dataclasses import dataclass
from urllib.parse import parse_qs, urlencode

from merge_sandbox.errors import bad_request
from merge_sandbox.timefmt import parse_iso, to_iso


@dataclass(frozen=True, slots=True)
class Cursor:
    modified_us: int
    key: str
    reverse: bool
    digest: str
    descending: bool = False

    def encode(self) -> str:
        fields = {"p": to_iso(self.modified_us), "k": self.key, "f": self.digest}
        if self.reverse:
            fields["r"] = "1"
        if self.descending:
            fields["d"] = "1"
        return base64.b64encode(urlencode(fields).encode()).decode()


def decode(text: str, digest: str) -> Cursor:
    """Parse a cursor issued for the same filters (``digest``); 400 otherwise."""
    try:
        padded = text.strip().replace("-", "+").replace("_", "/").replace(" ", "+")
        padded += "=" * (-len(padded) % 4)
        raw = base64.b64decode(padded, validate=True).decode()
        fields = {k: v[-1] for k, v in parse_qs(raw, keep_blank_values=True).items()}
        cursor = Cursor(
            modified_us=parse_iso(fields["p"]),
            key=fields["k"],
            reverse=fields.get("r") == "1",
            digest=fields["f"],
            descending=fields.get("d") == "1",
        )
    except (binascii.Error, UnicodeDecodeError, KeyError, ValueError):
        raise bad_request("invalid_cursor") from None
    if cursor.digest != digest:
        raise bad_request("invalid_cursor")
    return cursor


def offset_cursor(offset: int) -> str:
    """Cursors for the short platform lists (sync status, issues, linked accounts)."""
    return base64.b64encode(urlencode({"o": offset}).encode()).decode()


def decode_offset(text: str) -> int:
    try:
        padded = text.strip().replace(" ", "+")
        padded += "=" * (-len(padded) % 4)
        raw = base64.b64decode(padded, validate=True).decode()
        offset = int(parse_qs(raw)["o"][-1])
    except (binascii.Error, UnicodeDecodeError, KeyError, ValueError):
        raise bad_request("invalid_cursor") from None
    if offset < 0:
        raise bad_request("invalid_cursor")
    return offset
