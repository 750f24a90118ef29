"""Syncs that are killed, run side by side, or fail: the mirror stays right, secrets stay secret."""

import dataclasses
import logging
import os
import signal
import subprocess
import sys
import time
import traceback

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL

from merge_pipeline.catalog import CommonModel, load_catalog
from merge_pipeline.merge.client import MergeClient
from merge_pipeline.merge.errors import InvalidAccountToken, InvalidApiKey
from merge_pipeline.merge.ratelimit import RateLimiterRegistry
from merge_pipeline.settings import Settings
from merge_pipeline.sync.engine import SyncOptions
from merge_pipeline.sync.runner import sync_accounts
from merge_pipeline.warehouse.cursors import read_cursor
from merge_pipeline.warehouse.mirror_tables import mirror_tables
from merge_pipeline.warehouse.pipeline_tables import sync_runs
from merge_pipeline_tests.conftest import SENTINEL_API_KEY
from merge_pipeline_tests.integration.sync.conftest import FAST_RETRIES, Harness

EMPLOYEE = "hris.Employee"


def _mirrored_count(engine: sa.Engine, account_id: str) -> int:
    table = mirror_tables()[EMPLOYEE]
    with engine.connect() as connection:
        return connection.execute(
            sa.select(sa.func.count()).where(table.c.linked_account_id == account_id)
        ).scalar_one()


@pytest.mark.slow
def test_sync_killed_mid_fetch_and_rerun_leaves_a_correct_mirror(
    harness: Harness, engine: sa.Engine, database_url: URL, encryption_key: str
) -> None:
    account = harness.account(records=40_000)  # ~2,000 employees: 20 slow pages
    harness.admin.slow_responses(0.25, count=None, account_id=account.id)
    environment = {
        **os.environ,
        "MERGE_PIPELINE_API_KEY": SENTINEL_API_KEY,
        "MERGE_PIPELINE_TOKEN_ENCRYPTION_KEY": encryption_key,
        "MERGE_PIPELINE_BASE_URL": str(harness.settings.base_url),
        "MERGE_PIPELINE_DATABASE_URL": database_url.render_as_string(hide_password=False),
        "MERGE_PIPELINE_RATE_LIMIT_PER_MINUTE": "100000",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "merge_pipeline.cli", "sync", "--account", account.id,
         "--model", EMPLOYEE, "--no-progress"],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while _mirrored_count(engine, account.id) < 200:
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        assert time.monotonic() < deadline, "the sync never got going"
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait(10)
    assert process.returncode == -signal.SIGKILL
    with engine.connect() as connection:
        assert read_cursor(connection, account.id, EMPLOYEE) is None
    harness.admin.clear_faults()
    harness.admin.mutate(account.id, EMPLOYEE, updates=10, deletes=3)
    result = harness.sync(account, EMPLOYEE)
    assert result.full_fetch
    harness.assert_mirror_matches(account.id, EMPLOYEE)
    with engine.connect() as connection:
        statuses = connection.execute(
            sa.select(sync_runs.c.status)
            .where(sync_runs.c.linked_account_id == account.id)
            .order_by(sync_runs.c.id)
        ).scalars()
        assert list(statuses) == ["abandoned", "succeeded"]


def test_many_accounts_sync_concurrently(harness: Harness) -> None:
    accounts = [harness.account(category, records=300) for category in ("hris", "hris", "crm")]
    plan = {account.id: _models(account.category) for account in accounts}
    outcomes = sync_accounts(
        harness.engine,
        harness.settings.model_copy(update={"sync_concurrency": 3}),
        harness.vault,
        plan,
        options=SyncOptions(),
        client_factory=lambda settings: MergeClient(settings, retry_policy=FAST_RETRIES),
    )
    assert all(outcome.ok for outcome in outcomes), [o.error for o in outcomes if not o.ok]
    assert len(outcomes) == sum(len(models) for models in plan.values())
    for account in accounts:
        for model in plan[account.id]:
            harness.assert_mirror_matches(account.id, model.model_id)


def _models(category: str) -> list[CommonModel]:
    wanted = {"hris": ("Employee", "Company", "Group"), "crm": ("Account", "Contact")}[category]
    return [load_catalog().category(category).model(name) for name in wanted]


def test_no_secret_reaches_logs_errors_or_history(
    harness: Harness, engine: sa.Engine, caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    caplog.set_level(logging.DEBUG)
    account = harness.account(records=200)
    result = harness.sync(account, EMPLOYEE)
    harness.admin.error_burst(2, status=503, account_id=account.id)
    harness.sync(account, EMPLOYEE, full=True)
    bad_token = "tok-SENTINEL-not-a-real-token"
    with pytest.raises(InvalidAccountToken) as bad_token_error:
        harness.sync(dataclasses.replace(account, account_token=bad_token), EMPLOYEE)
    harness.admin.bad_api_key(True)
    try:
        with pytest.raises(InvalidApiKey) as bad_key_error:
            harness.sync(account, EMPLOYEE)
    finally:
        harness.admin.bad_api_key(False)
    with engine.connect() as connection:
        history = [
            f"{row.error} {row.stats}"
            for row in connection.execute(
                sa.select(sync_runs.c.error, sync_runs.c.stats).where(
                    sync_runs.c.linked_account_id == account.id
                )
            )
        ]
    captured = capsys.readouterr()
    rendered = "\n".join(
        [
            caplog.text,
            captured.out,
            captured.err,
            *history,
            repr(result),
            str(result.as_dict()),
            *traceback.format_exception(bad_token_error.value),
            *traceback.format_exception(bad_key_error.value),
        ]
    )
    assert "relinking" in str(bad_token_error.value)
    for secret in (SENTINEL_API_KEY, account.account_token, bad_token):
        assert secret not in rendered
    assert "hris/v1/employees" in caplog.text  # the logs did see the traffic


def test_settings_object_never_renders_the_api_key(sync_settings: Settings) -> None:
    assert SENTINEL_API_KEY not in repr(sync_settings)


def test_rate_limiter_keeps_a_sync_under_merges_limit_instead_of_bouncing(
    harness: Harness,
) -> None:
    """Merge limits calls per linked account per minute; the client spaces its calls so a
    sync that needs more calls than the limit waits instead of collecting 429s. The window is
    shortened to a second (ours: two, as 61 s against Merge's 60) so the test takes seconds."""
    account = harness.account(records=1_500)  # ~150 employees: 16 pages of 10
    harness.admin.rate_limit(per_minute=10, account_id=account.id, window_seconds=1.0)
    limited = harness.settings.model_copy(update={"rate_limit_per_minute": 10})
    client = MergeClient(
        limited, retry_policy=FAST_RETRIES, rate_limiters=RateLimiterRegistry(window_s=2.0)
    )
    result = harness.sync(account, EMPLOYEE, client=client, page_size=10)
    assert result.api_calls > 10
    assert result.rate_limited == 0
    assert result.rate_limit_wait_s > 0
    harness.assert_mirror_matches(account.id, EMPLOYEE)
