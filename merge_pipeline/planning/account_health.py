"""How healthy a linked account is, from what Merge says about it (pure).

Inputs are Merge's ``/account-details`` answer (``None`` when the read failed) and the account's
open Issues. A failed read is *unknown*, never an empty answer: it changes nothing stored.
Statuses and Issue fields are CONTRACT §5.
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any


class Health(StrEnum):
    HEALTHY = "healthy"
    RELINK_NEEDED = "relink-needed"
    IDLE = "idle"
    INCOMPLETE = "incomplete"
    UNKNOWN = "unknown"


#: Merge's linked-account statuses (AccountDetailsAndActionsStatusEnum) and what each means here
_BY_STATUS = {
    "COMPLETE": Health.HEALTHY,
    "RELINK_NEEDED": Health.RELINK_NEEDED,
    "IDLE": Health.IDLE,
    "INCOMPLETE": Health.INCOMPLETE,
}
ONGOING, RESOLVED = "ONGOING", "RESOLVED"


@dataclass(frozen=True, slots=True)
class OpenIssue:
    """An Issue Merge reports for an account (only what decisions and messages need)."""

    id: str
    error_description: str
    is_muted: bool = False


@dataclass(frozen=True, slots=True)
class AccountHealth:
    """The verdict: ``status`` is what to store (``None`` = leave the stored one alone)."""

    health: Health
    status: str | None
    reason: str


def assess(details: Mapping[str, Any] | None, issues: Sequence[OpenIssue]) -> AccountHealth:
    """Health of one account from its ``/account-details`` answer and its open Issues."""
    if details is None:
        return AccountHealth(Health.UNKNOWN, None, "Merge's account details could not be read")
    status = details.get("status")
    health = _BY_STATUS.get(status) if isinstance(status, str) else None
    if health is None:
        return AccountHealth(Health.UNKNOWN, None, f"Merge reported an unknown status {status!r}")
    described = issue_text(issues)
    if health is Health.RELINK_NEEDED:
        reason = described or "Merge says its credentials need relinking"
    elif health is Health.IDLE:
        reason = "no inbound request or webhook for two weeks; syncs wake it"
    elif health is Health.INCOMPLETE:
        reason = "the end user never finished Merge Link"
    else:
        reason = f"open issue: {described}" if described else "complete"
    return AccountHealth(health, status, reason)


def issue_text(issues: Iterable[OpenIssue]) -> str:
    """The unmuted open Issues' descriptions, once each, in a stable order."""
    texts = sorted({i.error_description for i in issues if not i.is_muted and i.error_description})
    return "; ".join(texts)


@dataclass(frozen=True, slots=True)
class IssueRow:
    """An Issue as stored: Merge's fields plus the account it belongs to."""

    id: str
    linked_account_id: str
    status: str
    error_description: str
    first_incident_time: datetime | None
    last_incident_time: datetime | None
    is_muted: bool


#: ``hook.event`` role of each Issue webhook (CONTRACT §6) -> the status the event implies
ISSUE_EVENT_STATUS = {"new": ONGOING, "reopened": ONGOING, "muted": None, "resolved": RESOLVED}


def issue_event_role(event: str) -> str:
    """What an Issue webhook says happened: the part after the dot (``Issue.created``, the older
    Help Center name, is ``new``)."""
    role = event.rsplit(".", 1)[-1].lower()
    return "new" if role == "created" else role


def issue_from_event(role: str, linked_account_id: str, data: Mapping[str, Any]) -> IssueRow | None:
    """The Issue an ``Issue.*`` webhook carries, or ``None`` when it has no usable id.

    The payload's own ``status`` wins; the event name fills it in when missing, and ``muted``
    marks the Issue muted whatever the payload says.
    """
    row = parse_issue(data, linked_account_id)
    if row is None:
        return None
    implied = ISSUE_EVENT_STATUS.get(role)
    status = row.status if "status" in data and row.status in (ONGOING, RESOLVED) else implied
    return IssueRow(
        id=row.id,
        linked_account_id=linked_account_id,
        status=status or row.status,
        error_description=row.error_description,
        first_incident_time=row.first_incident_time,
        last_incident_time=row.last_incident_time,
        is_muted=True if role == "muted" else row.is_muted,
    )


def parse_issue(raw: Mapping[str, Any], linked_account_id: str) -> IssueRow | None:
    """An ``/issues`` record as a row, or ``None`` without an id (nothing to key it by)."""
    issue_id = raw.get("id")
    if not isinstance(issue_id, str) or not issue_id:
        return None
    status = raw.get("status")
    return IssueRow(
        id=issue_id,
        linked_account_id=linked_account_id,
        status=status if status in (ONGOING, RESOLVED) else ONGOING,
        error_description=str(raw.get("error_description") or ""),
        first_incident_time=_timestamp(raw.get("first_incident_time")),
        last_incident_time=_timestamp(raw.get("last_incident_time")),
        is_muted=raw.get("is_muted") is True,
    )


def owner_of(raw: Mapping[str, Any], by_origin_id: Mapping[str, str]) -> str | None:
    """Which stored account an ``/issues`` record is about.

    Merge's Issue carries no linked-account id, only ``end_user`` (CONTRACT §5); an
    ``end_user_origin_id`` is unique per linked account, so it names the account.
    """
    end_user = raw.get("end_user")
    if not isinstance(end_user, Mapping):
        return None
    origin = end_user.get("end_user_origin_id")
    return by_origin_id.get(origin) if isinstance(origin, str) else None


def resolved_by_absence(stored_open: Iterable[str], listed_open: Iterable[str]) -> set[str]:
    """Issues we hold as open that a *complete* listing of open Issues no longer shows."""
    return set(stored_open) - set(listed_open)


def _timestamp(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def next_batch(ids: Sequence[str], after: str | None, size: int) -> tuple[list[str], str | None]:
    """Round robin over sorted ``ids``: the next ``size`` after ``after``, wrapping around.

    The cursor is an id, not an offset, so accounts added or removed between ticks never make
    the walk skip or repeat the others. Returns the batch and the new cursor.
    """
    if not ids or size <= 0:
        return [], after
    ordered = sorted(ids)
    start = 0 if after is None else next((i for i, x in enumerate(ordered) if x > after), 0)
    batch = (ordered[start:] + ordered[:start])[: min(size, len(ordered))]
    return batch, batch[-1]
