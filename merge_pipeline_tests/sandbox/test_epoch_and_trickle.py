"""Demo data: a fixed epoch makes restarts serve the same records; a trickle keeps them changing.

Base records are laid out before a fixed instant instead of before the start, so two sandboxes
with one seed serve identical pages whenever they start; the virtual clock never runs before
that layout. The trickle creates, updates and soft-deletes records in the background, so an
incremental sync always finds something.
"""

import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import httpx
from click.testing import CliRunner

from merge_sandbox.admin import SandboxAdmin
from merge_sandbox.cli import main
from merge_sandbox.clock import VirtualClock, real_now_us
from merge_sandbox.config import SandboxConfig
from merge_sandbox.testing import RunningSandbox, running_sandbox, sandbox_process
from merge_sandbox.timefmt import US_PER_DAY, to_iso

#: for waiting on background work only; nothing asserts how long it took
_PATIENCE_S = 60.0
PAGES = (("hris", "/hris/v1/employees"), ("ats", "/ats/v1/candidates"))


def _first_pages(sandbox: RunningSandbox) -> dict[str, list[dict[str, Any]]]:
    pages = {}
    for account in sandbox.accounts:
        path = dict(PAGES)[account.category]
        response = httpx.get(
            sandbox.base_url + path,
            headers={
                "Authorization": f"Bearer {sandbox.api_key}",
                "X-Account-Token": account.account_token,
            },
            params={"page_size": 10},
        )
        response.raise_for_status()
        pages[account.id] = response.json()["results"]
    return pages


def _serve(
    clock: VirtualClock, config: SandboxConfig | None = None
) -> AbstractContextManager[RunningSandbox]:
    return running_sandbox(
        accounts=2, records=400, seed=3, categories=["hris", "ats"], clock=clock, config=config
    )


def test_sandboxes_started_days_apart_with_one_seed_serve_identical_first_pages() -> None:
    with _serve(VirtualClock()) as today:
        first = _first_pages(today)
    with _serve(VirtualClock(offset_us=3 * US_PER_DAY)) as later:
        second = _first_pages(later)
    assert first == second
    assert all(len(page) >= 10 for page in first.values())


def test_the_clock_starts_at_the_epoch_when_the_epoch_lies_ahead() -> None:
    ahead = real_now_us() + 30 * US_PER_DAY
    config = SandboxConfig(seed=3, data_epoch_us=ahead)
    with _serve(VirtualClock(), config) as sandbox:
        now = sandbox.admin.clock()["now"]
        newest = max(r["modified_at"] for page in _first_pages(sandbox).values() for r in page)
    assert now >= to_iso(ahead)
    assert newest < now  # no record is modified in the future


def _wait_for(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + _PATIENCE_S
    while not condition():
        assert time.monotonic() < deadline, "the trickle changed nothing"
        time.sleep(0.2)


def _changes_since(admin: SandboxAdmin, account_id: str, model: str, start: str) -> set[str]:
    """Which kinds of change (created, updated, deleted) ``model`` saw after ``start``."""
    truth = admin.records(account_id, model)
    kinds = set()
    for key, record in truth.by_key().items():
        if record["modified_at"] <= start:
            continue
        if key in truth.deleted:
            kinds.add("deleted")
        elif record["created_at"] > start:
            kinds.add("created")
        else:
            kinds.add("updated")
    return kinds


def test_trickle_creates_updates_and_deletes_records_of_every_account() -> None:
    with sandbox_process(
        accounts=2,
        records=400,
        seed=3,
        extra_args=["--categories", "hris,ats", "--trickle-per-minute", "12000"],
    ) as sandbox:
        start = sandbox.admin.clock()["now"]
        hris, ats = sorted(sandbox.accounts, key=lambda a: a.category != "hris")

        def every_kind_seen() -> bool:
            kinds = _changes_since(sandbox.admin, hris.id, "Employee", start)
            return kinds == {"created", "updated", "deleted"}

        _wait_for(every_kind_seen)
        _wait_for(lambda: bool(_changes_since(sandbox.admin, ats.id, "Candidate", start)))


def test_an_epoch_that_is_not_a_date_is_one_clear_line() -> None:
    result = CliRunner().invoke(main, ["serve", "--epoch", "last tuesday", "--accounts", "1"])
    assert result.exit_code == 2
    assert "'last tuesday' is not an ISO 8601 date-time" in result.output
