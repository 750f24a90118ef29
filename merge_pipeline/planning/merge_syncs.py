"""When Merge's word about its own sync of a model means "fetch now": the poll and webhook rules.

Merge's guide: fetch when Merge says a Common Model finished syncing (a ``{Model}.synced`` or
``LinkedAccount.synced`` webhook with DONE or PARTIALLY_SYNCED), and, as a safety net, poll
``/sync-status`` and fetch when a sync with a new ``last_sync_start`` has finished.

**One Merge sync** is identified by its ``last_sync_finished`` (UTC, microseconds): the poll sees
both ``last_sync_start`` and ``last_sync_finished``, a webhook only the latter (CONTRACT §6), so
``last_sync_finished`` is the only instant both can name. A poll row without it (older SDKs) is
named ``started:<last_sync_start>``; a report with neither gets a name from where it was seen
(``seen:<inbox id>`` or ``seen:<observed at>``): such a sync cannot be matched across sources,
so it can cause one extra run at most once, never a loop. "Remembered" below is the last sync
we *reported* as finished (``reported_sync_id`` / ``_start`` / ``_finished``).

The poll (``poll_verdict``):

| Remembered | Merge says | Verdict |
|---|---|---|
| nothing (first ping) | DONE / PARTIALLY_SYNCED | FETCH, remember this sync |
| nothing | SYNCING | WAIT (remember nothing) |
| anything | FAILED / DISABLED / PAUSED / unknown status | RECORD (status only, no fetch) |
| a sync | same identity | NOTHING (or REMEMBER_START when it now brings a start) |
| a sync | newer ``last_sync_start``, finished | FETCH, remember it |
| a sync | newer ``last_sync_start``, SYNCING | WAIT |
| a sync | same or older ``last_sync_start`` | NOTHING |
| a sync | no start on either side: newer ``last_sync_finished`` | FETCH |
| anything | DONE, ``last_sync_start`` after ``last_sync_finished`` | WAIT (newest unfinished) |
| a sync | neither start nor finish | FETCH only after a non-finished status (SYNCING -> DONE) |

Absent fields: ``last_sync_result``, when present and the status is not SYNCING / DISABLED /
PAUSED, says how the last sync ended (a DONE status with a FAILED result fetches nothing);
absent, the status alone decides.

A webhook (``webhook_verdict``):

| Remembered | Webhook says | Verdict |
|---|---|---|
| anything | FAILED / DISABLED / PAUSED | RECORD |
| anything | SYNCING | WAIT |
| the same sync | DONE / PARTIALLY_SYNCED | NOTHING (a repeat, or the poll saw it first) |
| a later sync | DONE / PARTIALLY_SYNCED, older ``last_sync_finished`` | STALE (late, reordered) |
| nothing, or an earlier sync | DONE / PARTIALLY_SYNCED | FETCH, remember it |

A status is written over the stored one only if it is not older (``is_newer_observation``), so
a late webhook never hides what a later poll saw.
"""

import enum
from dataclasses import dataclass
from datetime import UTC, datetime

FINISHED = frozenset({"DONE", "PARTIALLY_SYNCED"})
NOT_FETCHED = frozenset({"FAILED", "DISABLED", "PAUSED"})
HOLDS = frozenset({"SYNCING", "DISABLED", "PAUSED"})  # the status says more than the result
KNOWN_STATUSES = FINISHED | NOT_FETCHED | {"SYNCING"}


class Action(enum.StrEnum):
    FETCH = "fetch"  # a finished sync we have not fetched: sync the model
    WAIT = "wait"  # Merge is still syncing: remember nothing
    RECORD = "record"  # keep Merge's status, fetch nothing
    REMEMBER_START = "remember-start"  # the known sync, now with its last_sync_start
    NOTHING = "nothing"  # the known sync again
    STALE = "stale"  # an older sync than the one remembered (late or reordered delivery)


@dataclass(frozen=True, slots=True)
class SyncReport:
    """What Merge said about one model's sync, from ``/sync-status`` or a webhook."""

    model_id: str
    status: str
    last_sync_start: datetime | None = None
    last_sync_finished: datetime | None = None
    last_sync_result: str | None = None
    is_initial_sync: bool | None = None
    synced_fields: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class Remembered:
    """What is stored for one (account, model): the last status seen, the last sync reported."""

    status: str | None = None
    observed_finished: datetime | None = None
    reported_id: str | None = None
    reported_start: datetime | None = None
    reported_finished: datetime | None = None

    @property
    def first_ping(self) -> bool:
        return self.reported_id is None


@dataclass(frozen=True, slots=True)
class Verdict:
    action: Action
    reason: str
    sync_id: str | None = None  # set for FETCH (and REMEMBER_START): the sync to remember


def instant(value: datetime) -> str:
    """An instant as one canonical text (UTC, microseconds), whatever offset Merge wrote."""
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def sync_identity(report: SyncReport, seen: str) -> str:
    """The name of the sync a report is about (see the module docstring); ``seen`` names where
    it was observed, for a report with no instant at all."""
    if report.last_sync_finished is not None:
        return instant(report.last_sync_finished)
    if report.last_sync_start is not None:
        return f"started:{instant(report.last_sync_start)}"
    return f"seen:{seen}"


def outcome(report: SyncReport) -> str:
    """How the model's last sync stands: SYNCING/DISABLED/PAUSED from the status, otherwise
    ``last_sync_result`` when Merge sent a known one, else the status."""
    if report.status in HOLDS or report.last_sync_result not in KNOWN_STATUSES:
        return report.status
    return str(report.last_sync_result)


def is_newer_observation(report: SyncReport, remembered: Remembered) -> bool:
    """Whether the report may replace the stored status (a late webhook may not).

    ``warehouse.merge_syncs`` applies the same rule inside its upsert, so that a status written
    meanwhile by the other sensor is respected too; this is the rule's statement and test."""
    if report.last_sync_finished is None or remembered.observed_finished is None:
        return True
    return report.last_sync_finished >= remembered.observed_finished


def _not_fetchable(state: str) -> Verdict | None:
    if state == "SYNCING":
        return Verdict(Action.WAIT, "Merge is still syncing")
    if state in NOT_FETCHED:
        return Verdict(Action.RECORD, f"Merge's sync is {state}: nothing to fetch")
    if state not in FINISHED:
        return Verdict(Action.RECORD, f"unknown status {state!r}: nothing to fetch")
    return None


def poll_verdict(report: SyncReport, remembered: Remembered, seen: str) -> Verdict:
    """What one ``/sync-status`` row means (the poll table of the module docstring)."""
    state = outcome(report)
    if (early := _not_fetchable(state)) is not None:
        return early
    start, finished = report.last_sync_start, report.last_sync_finished
    if start is not None and finished is not None and start > finished:
        return Verdict(Action.WAIT, "the newest sync started after the last finish")
    sync_id = sync_identity(report, seen)
    fetch = Verdict(Action.FETCH, f"a {state} sync we have not fetched", sync_id)
    if remembered.first_ping:
        return fetch
    if sync_id == remembered.reported_id:
        if start is not None and start != remembered.reported_start:
            return Verdict(Action.REMEMBER_START, "the known sync, with its start", sync_id)
        return Verdict(Action.NOTHING, "the sync already fetched")
    if start is not None and remembered.reported_start is not None:
        if start > remembered.reported_start:
            return fetch
        return Verdict(Action.NOTHING, "no sync started since the one fetched")
    if finished is not None and remembered.reported_finished is not None:
        if finished > remembered.reported_finished:
            return fetch
        return Verdict(Action.NOTHING, "no sync finished since the one fetched")
    if start is None and finished is None:
        if remembered.status in FINISHED:
            return Verdict(Action.NOTHING, "no instants, and no SYNCING seen in between")
        return fetch
    return fetch  # instants we cannot compare with the remembered ones: a different sync


def webhook_verdict(report: SyncReport, remembered: Remembered, seen: str) -> Verdict:
    """What one model's entry of a synced webhook means (the webhook table)."""
    state = outcome(report)
    if (early := _not_fetchable(state)) is not None:
        return early
    sync_id = sync_identity(report, seen)
    if sync_id == remembered.reported_id:
        return Verdict(Action.NOTHING, "this sync was already reported")
    finished = report.last_sync_finished
    if (
        finished is not None
        and remembered.reported_finished is not None
        and finished <= remembered.reported_finished
    ):
        return Verdict(Action.STALE, "an older sync than the one already reported")
    return Verdict(Action.FETCH, f"Merge finished a {state} sync", sync_id)
