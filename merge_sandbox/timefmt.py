"""Timestamps as integer microseconds since the Unix epoch, and their wire formats.

Integers keep ordering, arithmetic and binary search exact; text is produced only at the edge.
"""

from datetime import UTC, datetime, timedelta
from email.utils import formatdate
from functools import lru_cache

US_PER_SECOND = 1_000_000
US_PER_DAY = 86_400 * US_PER_SECOND
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NAIVE_EPOCH = datetime(1970, 1, 1)


def to_iso(us: int) -> str:
    """ISO-8601 in UTC with a ``Z`` suffix and microseconds, as Merge writes ``modified_at``."""
    days, rest = divmod(us, US_PER_DAY)
    seconds, micros = divmod(rest, US_PER_SECOND)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    return f"{_day_text(days)}T{hours:02d}:{minutes:02d}:{seconds:02d}.{micros:06d}Z"


@lru_cache(maxsize=8192)
def _day_text(days: int) -> str:
    return (_NAIVE_EPOCH + timedelta(days=days)).date().isoformat()


def to_date(us: int) -> str:
    return _day_text(us // US_PER_DAY)


def to_http_date(us: int) -> str:
    """RFC 9110 ``Date`` header value (whole seconds, truncated)."""
    return formatdate(us // US_PER_SECOND, usegmt=True)


def from_datetime(moment: datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * US_PER_SECOND + delta.microseconds


def parse_iso(text: str) -> int:
    """Parse an ISO-8601 date or date-time (naive means UTC); raises ``ValueError``."""
    cleaned = text.strip().replace(" ", "+") if "T" in text else text.strip()
    return from_datetime(datetime.fromisoformat(cleaned))
