"""Reading Merge's sync news: a webhook from the inbox, or a ``/sync-status`` row, as reports.

Pure functions. Anything malformed raises :class:`MalformedReport` with one line that names the
field, never a value that could be long or private. The event names are settings: only
``LinkedAccount.linked`` is confirmed (CONTRACT §6); ``LinkedAccount.synced`` and
``{Model}.synced`` are the best reading of the reference.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from merge_pipeline.planning.merge_syncs import SyncReport


class MalformedReport(ValueError):
    """A webhook or status row we cannot read (one-line reason)."""


@dataclass(frozen=True, slots=True)
class EventNames:
    """``hook.event`` of each webhook the sync sensors act on."""

    linked: str = "LinkedAccount.linked"
    account_synced: str = "LinkedAccount.synced"
    model_synced: str = "{model}.synced"  # {model} is the Common Model's name, e.g. Employee

    def model_pattern(self) -> re.Pattern[str]:
        before, _, after = self.model_synced.partition("{model}")
        return re.compile(f"^{re.escape(before)}(?P<model>[A-Za-z][A-Za-z0-9]*){re.escape(after)}$")


@dataclass(frozen=True, slots=True)
class InboxEvent:
    """What one inbox event asks of the sync sensors."""

    kind: str  # "linked" | "synced" | "other" (not ours: issues, deletions, ...)
    account_id: str | None = None
    category: str | None = None
    reports: tuple[SyncReport, ...] = ()
    is_relink: bool = False


def read_event(event: str, payload: Mapping[str, Any], names: EventNames) -> InboxEvent:
    """Classify one stored webhook and read its sync reports."""
    matched = names.model_pattern().match(event)
    if event not in (names.linked, names.account_synced) and matched is None:
        return InboxEvent("other")
    account = payload.get("linked_account")
    account_id = account.get("id") if isinstance(account, Mapping) else None
    if not isinstance(account_id, str) or not account_id:
        raise MalformedReport(f"{event} has no linked_account.id")
    category = account.get("category") if isinstance(account, Mapping) else None
    category = category if isinstance(category, str) else None
    data = payload.get("data")
    if not isinstance(data, Mapping):
        raise MalformedReport(f"{event} of {account_id} has no data object")
    if event == names.linked:
        return InboxEvent("linked", account_id, category, is_relink=data.get("is_relink") is True)
    if event == names.account_synced:
        return InboxEvent("synced", account_id, category, _account_synced(event, data))
    assert matched is not None
    return InboxEvent(
        "synced", account_id, category, (_model_synced(event, data, matched["model"], category),)
    )


def _account_synced(event: str, data: Mapping[str, Any]) -> tuple[SyncReport, ...]:
    """``data.sync_status`` keyed by model id: ``{last_sync_finished, last_sync_result}``."""
    statuses = data.get("sync_status")
    if not isinstance(statuses, Mapping):
        raise MalformedReport(f"{event} has no data.sync_status object")
    initial = data.get("is_initial_sync")
    reports = []
    for model_id, entry in statuses.items():
        if not isinstance(entry, Mapping):
            raise MalformedReport(f"{event}: data.sync_status[{model_id!r}] is not an object")
        result = entry.get("last_sync_result") or entry.get("status")
        if not isinstance(result, str):
            raise MalformedReport(f"{event}: data.sync_status[{model_id!r}] has no result")
        reports.append(
            SyncReport(
                model_id=str(model_id),
                status=str(entry.get("status") or result),
                last_sync_finished=_instant(entry, "last_sync_finished"),
                last_sync_result=result,
                is_initial_sync=initial if isinstance(initial, bool) else None,
            )
        )
    return tuple(reports)


def _model_synced(
    event: str, data: Mapping[str, Any], model_name: str, category: str | None
) -> SyncReport:
    status = data.get("sync_status")
    if not isinstance(status, Mapping):
        raise MalformedReport(f"{event} has no data.sync_status object")
    model_id = status.get("model_id")
    if not isinstance(model_id, str):
        if category is None:
            raise MalformedReport(f"{event} names no model id and no category")
        model_id = f"{category}.{model_name}"
    report = report_from_row(status, model_id=model_id)
    fields = data.get("synced_fields")
    if fields is not None and not (
        isinstance(fields, list) and all(isinstance(f, str) for f in fields)
    ):
        raise MalformedReport(f"{event}: data.synced_fields is not a list of names")
    return SyncReport(
        model_id=report.model_id,
        status=report.status,
        last_sync_start=report.last_sync_start,
        last_sync_finished=report.last_sync_finished,
        last_sync_result=report.last_sync_result,
        is_initial_sync=report.is_initial_sync,
        synced_fields=tuple(fields) if fields is not None else None,
    )


def report_from_row(row: Mapping[str, Any], *, model_id: str | None = None) -> SyncReport:
    """One ``SyncStatus`` object (CONTRACT §4); every optional field may be absent."""
    model_id = model_id or row.get("model_id")
    if not isinstance(model_id, str) or "." not in model_id:
        raise MalformedReport("a sync status has no model_id of the form category.Model")
    status = row.get("status") or row.get("last_sync_result")
    if not isinstance(status, str):
        raise MalformedReport(f"the sync status of {model_id} has no status")
    result = row.get("last_sync_result")
    initial = row.get("is_initial_sync")
    return SyncReport(
        model_id=model_id,
        status=status,
        last_sync_start=_instant(row, "last_sync_start"),
        last_sync_finished=_instant(row, "last_sync_finished"),
        last_sync_result=result if isinstance(result, str) else None,
        is_initial_sync=initial if isinstance(initial, bool) else None,
    )


def _instant(row: Mapping[str, Any], name: str) -> datetime | None:
    value = row.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise MalformedReport(f"{name} is not a date-time string")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise MalformedReport(f"{name} is not an ISO 8601 date-time") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
