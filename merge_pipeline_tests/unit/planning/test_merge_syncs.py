"""The poll and webhook rules: one run per Merge sync, whatever order the news arrives in."""

from datetime import UTC, datetime, timedelta

import pytest

from merge_pipeline.planning.merge_syncs import (
    Action,
    Remembered,
    SyncReport,
    instant,
    is_newer_observation,
    outcome,
    poll_verdict,
    sync_identity,
    webhook_verdict,
)

T0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
S1, F1 = T0, T0 + timedelta(minutes=5)  # sync 1 started, finished
S2, F2 = T0 + timedelta(hours=1), T0 + timedelta(hours=1, minutes=5)  # sync 2
ID1, ID2 = instant(F1), instant(F2)
NOTHING_STORED = Remembered()
SYNC1 = Remembered(status="DONE", observed_finished=F1, reported_id=ID1, reported_start=S1,
                   reported_finished=F1)  # fmt: skip
SYNC1_BY_WEBHOOK = Remembered(status="DONE", observed_finished=F1, reported_id=ID1,
                              reported_finished=F1)  # fmt: skip


def row(status: str, start: datetime | None = None, finished: datetime | None = None,
        result: str | None = None) -> SyncReport:  # fmt: skip
    return SyncReport("hris.Employee", status, start, finished, result)


@pytest.mark.parametrize(
    ("remembered", "report", "action", "sync_id"),
    [
        pytest.param(NOTHING_STORED, row("DONE", S1, F1, "DONE"), Action.FETCH, ID1,
                     id="first ping, DONE: fetch and remember"),
        pytest.param(NOTHING_STORED, row("PARTIALLY_SYNCED", S1, F1), Action.FETCH, ID1,
                     id="first ping, PARTIALLY_SYNCED: fetch"),
        pytest.param(NOTHING_STORED, row("SYNCING", S1), Action.WAIT, None,
                     id="first ping, SYNCING: wait"),
        pytest.param(NOTHING_STORED, row("FAILED", S1, F1, "FAILED"), Action.RECORD, None,
                     id="first ping, FAILED: record only"),
        pytest.param(NOTHING_STORED, row("DISABLED"), Action.RECORD, None,
                     id="first ping, DISABLED: record only"),
        pytest.param(NOTHING_STORED, row("PAUSED", S1, F1, "DONE"), Action.RECORD, None,
                     id="first ping, PAUSED (a DONE result before the pause): record only"),
        pytest.param(SYNC1, row("DONE", S1, F1, "DONE"), Action.NOTHING, None,
                     id="next ping, same sync: nothing"),
        pytest.param(SYNC1, row("DONE", S2, F2, "DONE"), Action.FETCH, ID2,
                     id="next ping, newer start and finished: fetch"),
        pytest.param(SYNC1, row("SYNCING", S2, F1, "DONE"), Action.WAIT, None,
                     id="next ping, newer start still syncing: wait"),
        pytest.param(SYNC1, row("FAILED", S2, F2, "FAILED"), Action.RECORD, None,
                     id="next ping, newer sync failed: record"),
        pytest.param(SYNC1, row("DONE", S2, F2, "FAILED"), Action.RECORD, None,
                     id="DONE status but a FAILED result: the result decides"),
        pytest.param(SYNC1_BY_WEBHOOK, row("DONE", S1, F1, "DONE"), Action.REMEMBER_START, ID1,
                     id="the webhook reported it first: only its start is remembered"),
        pytest.param(SYNC1, row("DONE", S2, F1), Action.WAIT, None,
                     id="a start after the last finish: the newest sync has not finished"),
        pytest.param(SYNC1, row("DONE", None, F2), Action.FETCH, ID2,
                     id="no start (older SDK): a newer finish fetches"),
        pytest.param(SYNC1, row("DONE", None, F1), Action.NOTHING, None,
                     id="no start (older SDK): the same finish is the same sync"),
        pytest.param(NOTHING_STORED, row("DONE", S1, None), Action.FETCH, f"started:{instant(S1)}",
                     id="no finish (older SDK): the sync is named by its start"),
        pytest.param(Remembered(status="DONE", reported_id=f"started:{instant(S1)}",
                                reported_start=S1),
                     row("DONE", S2, None), Action.FETCH, f"started:{instant(S2)}",
                     id="no finish (older SDK): a newer start fetches"),
        pytest.param(Remembered(status="SYNCING", reported_id="seen:x"), row("DONE"),
                     Action.FETCH, "seen:now",
                     id="no instants at all: a SYNCING -> DONE transition fetches"),
        pytest.param(Remembered(status="DONE", reported_id="seen:x"), row("DONE"),
                     Action.NOTHING, None,
                     id="no instants at all, DONE again: nothing"),
        pytest.param(NOTHING_STORED, row("EXPLODED", S1, F1), Action.RECORD, None,
                     id="an unknown status: record, never fetch"),
    ],
)  # fmt: skip
def test_poll_verdict(
    remembered: Remembered, report: SyncReport, action: Action, sync_id: str | None
) -> None:
    verdict = poll_verdict(report, remembered, "now")
    assert (verdict.action, verdict.sync_id if action in (Action.FETCH, Action.REMEMBER_START)
            else None) == (action, sync_id)  # fmt: skip


@pytest.mark.parametrize(
    ("remembered", "report", "action"),
    [
        pytest.param(NOTHING_STORED, row("DONE", None, F1, "DONE"), Action.FETCH,
                     id="first news of a finished sync: fetch"),
        pytest.param(NOTHING_STORED, row("PARTIALLY_SYNCED", None, F1), Action.FETCH,
                     id="partially synced: fetch"),
        pytest.param(SYNC1_BY_WEBHOOK, row("DONE", None, F1, "DONE"), Action.NOTHING,
                     id="the same webhook again: nothing"),
        pytest.param(SYNC1, row("DONE", None, F1, "DONE"), Action.NOTHING,
                     id="the poll saw this sync first: nothing"),
        pytest.param(Remembered(reported_id=ID2, reported_finished=F2), row("DONE", None, F1),
                     Action.STALE, id="an older sync arriving late: stale"),
        pytest.param(SYNC1, row("DONE", None, F2, "DONE"), Action.FETCH,
                     id="a newer sync: fetch"),
        pytest.param(NOTHING_STORED, row("FAILED", None, F1, "FAILED"), Action.RECORD,
                     id="failed: record only"),
        pytest.param(NOTHING_STORED, row("DISABLED"), Action.RECORD, id="disabled: record only"),
        pytest.param(NOTHING_STORED, row("PAUSED"), Action.RECORD, id="paused: record only"),
        pytest.param(NOTHING_STORED, row("SYNCING"), Action.WAIT, id="syncing: wait"),
        pytest.param(SYNC1, row("DONE"), Action.FETCH,
                     id="no last_sync_finished: cannot be matched, fetched once"),
    ],
)  # fmt: skip
def test_webhook_verdict(remembered: Remembered, report: SyncReport, action: Action) -> None:
    assert webhook_verdict(report, remembered, "inbox:7").action is action


def test_webhook_and_poll_name_the_same_sync_alike() -> None:
    """The identity both can compute: the webhook lacks last_sync_start, the poll has both."""
    from_poll = sync_identity(row("DONE", S1, F1), "poll:x")
    from_webhook = sync_identity(row("DONE", None, F1.astimezone(UTC)), "inbox:1")
    assert from_poll == from_webhook == ID1


def test_an_offset_instant_names_the_same_sync_as_its_utc_form() -> None:
    other_zone = F1.astimezone(datetime.fromisoformat("2026-01-01T00:00:00+02:00").tzinfo)
    assert instant(other_zone) == instant(F1)


@pytest.mark.parametrize(
    ("status", "result", "expected"),
    [
        ("DONE", None, "DONE"),
        ("DONE", "PARTIALLY_SYNCED", "PARTIALLY_SYNCED"),
        ("SYNCING", "DONE", "SYNCING"),
        ("PAUSED", "DONE", "PAUSED"),
        ("DONE", "NEW_ENUM", "DONE"),
    ],
)
def test_outcome(status: str, result: str | None, expected: str) -> None:
    assert outcome(row(status, result=result)) == expected


@pytest.mark.parametrize(
    ("report", "stored", "newer"),
    [
        (row("DONE", None, F1), Remembered(observed_finished=F2), False),
        (row("DONE", None, F2), Remembered(observed_finished=F1), True),
        (row("SYNCING", S2, F1), Remembered(observed_finished=F1), True),
        (row("DISABLED"), Remembered(observed_finished=F1), True),
        (row("DONE", None, F1), Remembered(), True),
    ],
)
def test_a_late_webhook_never_replaces_a_newer_status(
    report: SyncReport, stored: Remembered, newer: bool
) -> None:
    assert is_newer_observation(report, stored) is newer
