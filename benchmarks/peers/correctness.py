"""A destination's rows against the sandbox's ground truth: missing, stale, wrongly deleted.

Every peer is reduced to the same shape, ``{key: Row(modified_at, deleted)}`` per model, so one
pure comparison judges them all. What counts as wrong (a record Merge holds, by its key):

* missing: live at Merge, no row in the destination;
* stale: a row whose ``modified_at`` is older than Merge's, or a live row for a record Merge
  has deleted (a deletion not applied);
* wrongly deleted: live at Merge, but the destination's row says deleted.

A record Merge deleted and the destination never held (or dropped) is right. A destination row
for a key Merge never had is counted as ``extra``.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Row:
    """A record as one side holds it: when it last changed, and whether it is deleted."""

    modified_at: datetime | None
    deleted: bool


@dataclass(frozen=True)
class Verdict:
    """The counts of one comparison (sums over models when added)."""

    checked: int = 0
    missing: int = 0
    stale: int = 0
    wrongly_deleted: int = 0
    extra: int = 0

    @property
    def wrong(self) -> int:
        return self.missing + self.stale + self.wrongly_deleted + self.extra

    def __add__(self, other: "Verdict") -> "Verdict":
        return Verdict(
            self.checked + other.checked,
            self.missing + other.missing,
            self.stale + other.stale,
            self.wrongly_deleted + other.wrongly_deleted,
            self.extra + other.extra,
        )


def instant(value: Any) -> datetime | None:
    """A timestamp from JSON text (``Z`` or an offset) or a driver's datetime; None stays None."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def compare(truth: Mapping[str, Row], held: Mapping[str, Row]) -> Verdict:
    """Judge the rows ``held`` by a destination against Merge's ``truth`` for one model."""
    missing = stale = wrongly_deleted = 0
    for key, merge in truth.items():
        row = held.get(key)
        if merge.deleted:
            stale += row is not None and not row.deleted
            continue
        if row is None:
            missing += 1
        elif row.deleted:
            wrongly_deleted += 1
        elif merge.modified_at is not None and (
            row.modified_at is None or row.modified_at < merge.modified_at
        ):
            stale += 1
    extra = sum(1 for key in held if key not in truth)
    return Verdict(len(truth), missing, stale, wrongly_deleted, extra)
