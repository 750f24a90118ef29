"""Opaque pagination cursors, read the way Django REST framework's ``CursorPagination`` reads them.

Merge's cursors are DRF's: the documents' example ``cD0yMDIxLTAxLTA2KzAz...`` is base64 of
``p=2021-01-06 03:24:53.434326+00:00``. A DRF cursor is base64 of a query string: ``p`` the
position (here the ``modified_at`` of the last record served), ``o`` how many records *at* that
position to skip, ``r=1`` a ``previous`` cursor. The sandbox adds ``k``, the record key that
breaks ties, so its own cursors never need ``o``.

What a cursor the sandbox did not issue does (decided from DRF, which signs nothing and binds a
cursor to no filter): any cursor that decodes is a position, applied to the request it comes
with, so Merge's example cursor, a cursor from an older sandbox, or one reused with other filters
all answer 200 with the records after that position. Only a cursor that does not decode is
refused, as DRF refuses it: 404 ``Invalid cursor`` (``errors.invalid_cursor``).

The sandbox's own ``next`` cursor of a listing served newest first (adversity ``list_order``)
carries ``d=1``.
"""

import base64
import binascii
from dataclasses import dataclass
from urllib.parse import parse_qs, urlencode

from merge_sandbox.errors import ApiError
from merge_sandbox.timefmt import parse_iso, to_iso


def invalid_cursor() -> ApiError:
    return ApiError(404, "invalid_cursor")


@dataclass(frozen=True, slots=True)
class Cursor:
    modified_us: int
    key: str  # "" for a foreign cursor: every record at the position comes after it
    reverse: bool
    offset: int = 0  # records at the position to skip (DRF's ``o``)
    descending: bool = False  # the next cursor of a newest-first listing (``d=1``)

    def encode(self) -> str:
        fields = {"p": to_iso(self.modified_us), "k": self.key}
        if self.reverse:
            fields["r"] = "1"
        if self.descending:
            fields["d"] = "1"
        return base64.b64encode(urlencode(fields).encode()).decode()


def _fields(text: str) -> dict[str, str]:
    """The query string inside a cursor; ``invalid_cursor`` when it is not one."""
    try:
        padded = text.strip().replace("-", "+").replace("_", "/").replace(" ", "+")
        padded += "=" * (-len(padded) % 4)
        raw = base64.b64decode(padded, validate=True).decode()
        parsed = parse_qs(raw, keep_blank_values=True, strict_parsing=True)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise invalid_cursor() from None
    return {k: v[-1] for k, v in parsed.items()}


def _offset(fields: dict[str, str]) -> int:
    try:
        offset = int(fields.get("o", "0"))
    except ValueError:
        raise invalid_cursor() from None
    if offset < 0:
        raise invalid_cursor()
    return offset


def decode(text: str) -> Cursor | None:
    """The position a cursor names; None for a positionless DRF cursor (the first page)."""
    fields = _fields(text)
    offset = _offset(fields)
    if not fields.get("p"):
        return None if not offset else Cursor(0, "", reverse=False, offset=offset)
    try:
        modified_us = parse_iso(fields["p"])
    except ValueError:
        raise invalid_cursor() from None
    return Cursor(
        modified_us,
        fields.get("k", ""),
        fields.get("r") == "1",
        offset,
        descending=fields.get("d") == "1",
    )


def offset_cursor(offset: int) -> str:
    """Cursors for the short platform lists (sync status, issues, linked accounts)."""
    return base64.b64encode(urlencode({"o": offset}).encode()).decode()


def decode_offset(text: str) -> int:
    """Where a platform list cursor starts; a cursor without ``o`` starts at the beginning."""
    return _offset(_fields(text))
