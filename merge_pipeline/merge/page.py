"""One page of a paginated Merge list, as handed to the sync engine."""

from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class Page:
    """The records of one response plus what the engine needs to checkpoint and report.

    ``server_date`` is Merge's clock (the ``Date`` header, UTC): the first page's value is the
    safe start of the next incremental window. ``cursor`` is the cursor that fetched this page
    (None for the first); ``next_cursor`` fetches the next one (None on the last page).
    """

    results: list[dict[str, Any]]
    number: int
    cursor: str | None
    next_cursor: str | None
    bytes: int
    server_date: datetime | None
    elapsed: float  # seconds, request sent to body read

    @property
    def is_last(self) -> bool:
        return self.next_cursor is None


def parse_http_date(value: str | None) -> datetime | None:
    """An HTTP ``Date`` header as an aware UTC datetime; None when absent or unparseable."""
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if parsed.tzinfo is None:  # "-0000" means UTC with unknown origin zone
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)
