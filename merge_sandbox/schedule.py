"""Merge syncs every linked account on its own schedule: the sandbox's background sync loop.

Off unless ``every_seconds`` > 0 (``serve --sync-every-seconds``, or ``PUT /_sandbox/syncs``).
When an account is due, its sync starts (its models go SYNCING), runs for ``duration_seconds``
of real time, changes a few records and finishes with the account's scheduled result (DONE
unless an admin set FAILED or PARTIALLY_SYNCED), firing the synced webhooks (``sync.py``).
As on Merge, an account that needs relinking or is idle (its models PAUSED) is not synced;
once relinked it is overdue, so it syncs at the next tick. Accounts are staggered over the
interval so that not every account syncs at the same moment.

``tick`` takes the (monotonic) time as an argument, so tests drive it without waiting.
"""

from dataclasses import dataclass, field
from typing import Any

from merge_sandbox.accounts import LinkedAccount
from merge_sandbox.hashing import hash64
from merge_sandbox.state import Sandbox
from merge_sandbox.sync import apply_changes, finish_sync, start_sync
from merge_sandbox.timefmt import US_PER_SECOND

#: What a scheduled sync may end with (the other statuses are holds or "still running").
SCHEDULED_RESULTS = ("DONE", "PARTIALLY_SYNCED", "FAILED")
#: Account statuses under which Merge does not sync (CONTRACT §5: RELINK_NEEDED, IDLE).
NOT_SYNCED = ("RELINK_NEEDED", "IDLE")
_STAGGER_STEPS = 1000


@dataclass
class SyncSchedule:
    """Settings of the loop (admin-changeable) and where each account stands in it."""

    every_seconds: float = 0.0
    duration_seconds: float = 5.0
    creates: int = 2
    updates: int = 5
    deletes: int = 1
    #: account id -> the result its scheduled syncs end with (absent: DONE)
    results: dict[str, str] = field(default_factory=dict)
    _due: dict[str, float] = field(default_factory=dict)
    _running: dict[str, float] = field(default_factory=dict)

    @property
    def enabled(self) -> bool:
        return self.every_seconds > 0

    def set_result(self, account_id: str, result: str | None) -> None:
        """FAILED / PARTIALLY_SYNCED for every later scheduled sync; None or DONE: back to DONE."""
        if result is None or result == "DONE":
            self.results.pop(account_id, None)
            return
        if result not in SCHEDULED_RESULTS:
            raise ValueError(f"result must be one of {', '.join(SCHEDULED_RESULTS)}")
        self.results[account_id] = result

    def update(self, body: dict[str, Any]) -> None:
        for name in ("every_seconds", "duration_seconds"):
            if name in body:
                setattr(self, name, max(0.0, float(body[name])))
        for name in ("creates", "updates", "deletes"):
            if name in body:
                setattr(self, name, max(0, int(body[name])))
        if "every_seconds" in body:
            self._due.clear()  # a new interval: stagger every account over it again

    def describe(self) -> dict[str, Any]:
        return {
            "every_seconds": self.every_seconds,
            "duration_seconds": self.duration_seconds,
            "creates": self.creates,
            "updates": self.updates,
            "deletes": self.deletes,
            "results": dict(self.results),
            "running": sorted(self._running),
        }


def first_due(account_id: str, now: float, every_seconds: float) -> float:
    """When an account newly seen by the loop first syncs: somewhere in the next interval,
    always the same place for the same account."""
    step = hash64("sync-schedule", account_id) % _STAGGER_STEPS
    return now + every_seconds * (step + 1) / _STAGGER_STEPS


def tick(sandbox: Sandbox, schedule: SyncSchedule, now: float) -> list[tuple[str, str]]:
    """Finish the scheduled syncs that have run long enough, start the due ones.

    Returns what happened, as ``(account id, "started" | <result>)`` pairs.
    """
    done: list[tuple[str, str]] = []
    for account_id, started in list(schedule._running.items()):
        account = sandbox.accounts.get(account_id)
        if account is None:
            schedule._running.pop(account_id)
        elif now - started >= schedule.duration_seconds:
            schedule._running.pop(account_id)
            done.append((account_id, _finish(sandbox, schedule, account)))
    if not schedule.enabled:
        return done
    for account in list(sandbox.accounts.values()):
        due = schedule._due.setdefault(
            account.id, first_due(account.id, now, schedule.every_seconds)
        )
        if now < due or account.id in schedule._running:
            continue
        if account.status in NOT_SYNCED or account.sync_running:
            continue  # stays due: syncs the moment it can again
        schedule._due[account.id] = now + schedule.every_seconds
        if start_sync(sandbox, account):
            schedule._running[account.id] = now
            done.append((account.id, "started"))
    return done


def _finish(sandbox: Sandbox, schedule: SyncSchedule, account: LinkedAccount) -> str:
    result = schedule.results.get(account.id, "DONE")
    if not account.sync_running:
        return "already finished"  # finished by someone else (an admin call, a relink)
    if result != "FAILED" and account.status not in NOT_SYNCED:
        syncing = [m for m, row in account.sync.items() if row.status == "SYNCING"]
        apply_changes(
            sandbox, account, schedule.creates, schedule.updates, schedule.deletes, syncing
        )
    finish_sync(sandbox, account, result)
    if schedule.enabled:  # /sync-status tells when the next sync starts: the loop's interval
        next_start = sandbox.clock.now_us() + int(schedule.every_seconds * US_PER_SECOND)
        for row in account.sync.values():
            if row.hold is None:
                row.next_sync_start = next_start
    return result
