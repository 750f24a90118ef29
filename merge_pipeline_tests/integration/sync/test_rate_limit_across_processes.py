"""Two `merge-pipeline sync` processes syncing one account stay under its limit together.

Merge counts an account's calls whoever makes them. The sandbox enforces a short window here
(LIMIT calls per second instead of per minute) and logs when each call arrived; the pipeline's
window is that second plus one, as it is 61 s against Merge's minute. The processes sync
different models of the same account (one model's syncs would queue behind each other's lock)
and are released at the same moment by holding the account's rate-limit row until both wait.
"""

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.engine import URL

from merge_pipeline.warehouse.pipeline_tables import rate_limit_windows, sync_runs
from merge_pipeline.warehouse.rate_limit import SharedRateLimits
from merge_pipeline_tests.conftest import SENTINEL_API_KEY
from merge_pipeline_tests.integration.sync.conftest import Harness

LIMIT = 5
SANDBOX_WINDOW_S = 1.0
PIPELINE_WINDOW_S = SANDBOX_WINDOW_S + 1.0
MODELS = ("hris.Employee", "hris.Employment")
#: how long to wait for the processes to reach the gate (start-up, not behaviour under test)
_START_TIMEOUT_S = 120.0


def busiest_window(arrivals: Sequence[float], window_s: float) -> int:
    """The most arrivals in any window of ``window_s`` (as the sandbox counts them)."""
    ordered = sorted(arrivals)
    start = 0
    most = 0
    for end, moment in enumerate(ordered):
        while ordered[start] <= moment - window_s:
            start += 1
        most = max(most, end - start + 1)
    return most


def test_busiest_window_counts_arrivals_closer_than_the_window() -> None:
    assert busiest_window([0.0, 0.5, 0.9, 1.0, 2.5], 1.0) == 3


def _sync_process(account_id: str, model_id: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "merge_pipeline.cli", "sync", "--account", account_id,
         "--model", model_id, "--no-progress"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        cwd=tempfile.gettempdir(),  # away from any developer's .env
    )  # fmt: skip


def _wait_for_lock_waiters(
    engine: sa.Engine, count: int, processes: Sequence[subprocess.Popen[str]]
) -> None:
    """Until ``count`` sessions wait for a row lock on the rate-limit table (a starting gate)."""
    query = sa.text(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND wait_event_type = 'Lock' AND query LIKE '%rate_limit_windows%'"
    )
    deadline = time.monotonic() + _START_TIMEOUT_S
    while True:
        with engine.connect() as connection:
            if connection.execute(query).scalar_one() >= count:
                return
        exited = [p for p in processes if p.poll() is not None]
        assert not exited, exited[0].communicate()[1]
        assert time.monotonic() < deadline, "the sync processes never reached the rate limiter"
        time.sleep(0.05)


def test_two_processes_syncing_one_account_never_exceed_its_limit_together(
    harness: Harness, database_url: URL, encryption_key: str
) -> None:
    account = harness.account(records=700)  # ~72 records per model: 8 pages of 10 each
    harness.admin.rate_limit(
        per_minute=LIMIT, account_id=account.id, window_seconds=SANDBOX_WINDOW_S
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MERGE_PIPELINE_")}
    env = clean | {
        "MERGE_PIPELINE_API_KEY": SENTINEL_API_KEY,
        "MERGE_PIPELINE_TOKEN_ENCRYPTION_KEY": encryption_key,
        "MERGE_PIPELINE_BASE_URL": str(harness.settings.base_url),
        "MERGE_PIPELINE_DATABASE_URL": database_url.render_as_string(hide_password=False),
        "MERGE_PIPELINE_RATE_LIMIT_PER_MINUTE": str(LIMIT),
        "MERGE_PIPELINE_RATE_LIMIT_WINDOW_S": str(PIPELINE_WINDOW_S),
        "MERGE_PIPELINE_PAGE_SIZE": "10",
    }
    SharedRateLimits(harness.engine).for_account(account.id, LIMIT).pause_for(0)  # creates the row
    row = rate_limit_windows.c.linked_account_id == account.id
    with harness.engine.begin() as gate:
        gate.execute(sa.select(rate_limit_windows).where(row).with_for_update())
        processes = [_sync_process(account.id, model_id, env) for model_id in MODELS]
        _wait_for_lock_waiters(harness.engine, len(processes), processes)
    outputs = [process.communicate(timeout=300) for process in processes]
    for process, (_, stderr) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, stderr

    arrivals = harness.admin.arrivals(account.id)
    paths = {path for _, path in arrivals}
    assert paths == {"/hris/v1/employees", "/hris/v1/employments"}
    assert len(arrivals) >= 3 * LIMIT  # the limit really bound: calls spanned several windows
    assert busiest_window([moment for moment, _ in arrivals], SANDBOX_WINDOW_S) <= LIMIT
    with harness.engine.connect() as connection:
        rate_limited = connection.execute(
            sa.select(sync_runs.c.stats["rate_limited"].as_integer()).where(
                sync_runs.c.linked_account_id == account.id
            )
        ).scalars()
        assert list(rate_limited) == [0, 0]  # neither process ever drew a 429
    for model_id in MODELS:
        harness.assert_mirror_matches(account.id, model_id)
