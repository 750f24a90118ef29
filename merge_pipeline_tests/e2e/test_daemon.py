"""The code location as deployed: a Dagster daemon on PostgreSQL runs the syncs by itself.

Accounts are linked in the sandbox and their tokens stored; from there everything is Dagster's
doing: the discovery sensor adds partitions and requests initial syncs, the queue starts them
(one per account at a time), the runs sync over HTTP, and the mirror ends equal to the sandbox.
"""

import itertools
import os
import re
import signal
import time
from collections.abc import Iterator

import dagster as dg
import pytest
import sqlalchemy as sa
from pydantic import SecretStr
from sqlalchemy.engine import URL

from merge_pipeline.catalog import load_catalog
from merge_pipeline.warehouse.run_leases import lease_holder
from merge_pipeline.warehouse.vault import TokenVault
from merge_pipeline_tests.conftest import SENTINEL_API_KEY, SENTINEL_SIGNING_KEY
from merge_pipeline_tests.dagster_stack import DagsterStack, dagster_stack
from merge_pipeline_tests.defs.conftest import Accounts
from merge_pipeline_tests.integration.webhooks.conftest import receiver_settings, running_receiver
from merge_pipeline_tests.oracle import assert_mirror_matches
from merge_sandbox.admin import SandboxAdmin
from merge_sandbox.testing import RunningSandbox, running_sandbox

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def sandbox() -> Iterator[RunningSandbox]:
    # a seed of its own: account ids derive from it, and other packages share the database
    with running_sandbox(accounts=0, records=0, api_key=SENTINEL_API_KEY, seed=53) as running:
        yield running


@pytest.fixture
def admin(sandbox: RunningSandbox) -> Iterator[SandboxAdmin]:
    yield sandbox.admin
    sandbox.admin.clear_faults()


@pytest.fixture
def accounts(admin: SandboxAdmin, engine: sa.Engine, encryption_key: str) -> Accounts:
    return Accounts(admin, engine, TokenVault(SecretStr(encryption_key)))


@pytest.fixture(scope="module")
def stack(
    postgres_server: URL,
    database_url: URL,
    encryption_key: str,
    sandbox: RunningSandbox,
    engine: sa.Engine,
) -> Iterator[DagsterStack]:
    environment = {
        "MERGE_PIPELINE_API_KEY": SENTINEL_API_KEY,
        "MERGE_PIPELINE_BASE_URL": sandbox.base_url,
        "MERGE_PIPELINE_TOKEN_ENCRYPTION_KEY": encryption_key,
        "MERGE_PIPELINE_DATABASE_URL": database_url.render_as_string(hide_password=False),
        "MERGE_PIPELINE_RATE_LIMIT_PER_MINUTE": "100000",
        "MERGE_PIPELINE_DISCOVERY_INTERVAL_S": "10",
        "MERGE_PIPELINE_WATCHDOG_INTERVAL_S": "5",
        "MERGE_PIPELINE_WATCHDOG_GRACE_S": "15",
        # these tests count each account's runs: the /sync-status poll would add one per account
        # (its first ping fetches); it ticks once at start-up, before any account exists
        "MERGE_PIPELINE_SYNC_STATUS_INTERVAL_S": "86400",
        "MERGE_PIPELINE_WEBHOOK_SENSOR_INTERVAL_S": "5",
    }
    with dagster_stack(postgres_server, environment) as running:
        yield running


def _incremental_calls(admin: SandboxAdmin, account_id: str, category: str) -> dict[str, int]:
    paths = {
        model.list_path.removeprefix("/api"): model.model_id
        for model in load_catalog().category(category)
        if model.supports_modified_after and not model.is_nested
    }
    calls = dict.fromkeys(paths.values(), 0)
    for row in admin.request_counts():
        if row["account_id"] == account_id and row["path"] in paths:
            calls[paths[row["path"]]] += row["count"]
    return calls


def test_linked_accounts_of_two_categories_are_mirrored_by_the_daemon_alone(
    stack: DagsterStack, accounts: Accounts, engine: sa.Engine, admin: SandboxAdmin
) -> None:
    linked = [accounts.link(category, records=150) for category in ("hris", "ats") for _ in (1, 2)]
    runs = [run for info in linked for run in stack.wait_for_runs(info.id, 1)]
    failures = [stack.failure_of(run) for run in runs if run.status.value != "SUCCESS"]
    assert failures == []
    for info in linked:
        for model in load_catalog().category(info.category):
            assert_mirror_matches(engine, admin, info.id, model.model_id)


def test_a_second_run_with_nothing_changed_costs_one_call_per_incremental_model(
    stack: DagsterStack, accounts: Accounts, admin: SandboxAdmin
) -> None:
    info = accounts.link("hris", records=150)
    stack.wait_for_runs(info.id, 1)
    admin.reset_request_counts()
    stack.launch("sync_hris", info.id)
    [*_, second] = stack.wait_for_runs(info.id, 2)
    calls = _incremental_calls(admin, info.id, "hris")
    assert second.status.value == "SUCCESS" and set(calls.values()) == {1}


def test_runs_for_one_account_never_overlap(
    stack: DagsterStack, accounts: Accounts, admin: SandboxAdmin
) -> None:
    info = accounts.link("ats", records=100)
    stack.wait_for_runs(info.id, 1)
    admin.slow_responses(0.05, count=None, account_id=info.id)
    tags = {"dagster/partition": info.id, "merge/account": info.id}
    launches = [stack.launch_async("sync_ats", tags) for _ in range(3)]
    for launch in launches:
        launch.communicate(timeout=600)
    stack.wait_for_runs(info.id, 4, timeout_s=300)
    records = stack.instance.get_run_records(filters=dg.RunsFilter(tags={"merge/account": info.id}))
    spans = sorted((r.start_time or 0.0, r.end_time or 0.0) for r in records)
    overlaps = [(a, b) for a, b in itertools.pairwise(spans) if b[0] < a[1]]
    assert len(spans) == 4 and overlaps == []


def test_a_killed_run_does_not_block_its_account(
    stack: DagsterStack, accounts: Accounts, admin: SandboxAdmin, engine: sa.Engine
) -> None:
    info = accounts.link("hris", records=150)
    stack.wait_for_runs(info.id, 1)
    admin.slow_responses(0.5, count=None, account_id=info.id)
    stack.launch("sync_hris", info.id)
    _kill_run_worker_once_leased(engine, info.id)
    admin.clear_faults()
    [*_, killed] = stack.wait_for_runs(info.id, 2, timeout_s=180)
    stack.launch("sync_hris", info.id)
    [*_, after] = stack.wait_for_runs(info.id, 3, timeout_s=180)
    assert (killed.status.value, after.status.value) == ("FAILURE", "SUCCESS")


def _kill_run_worker_once_leased(engine: sa.Engine, account_id: str) -> None:
    """SIGKILL the process holding the account's lease (the run worker), like an OOM kill."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with engine.connect() as connection:
            holder = lease_holder(connection, account_id)
        if holder is not None:
            [pid] = re.findall(r"pid=(\d+)", holder)
            os.kill(int(pid), signal.SIGKILL)
            return
        time.sleep(0.2)
    raise TimeoutError("the run never took its account lease")


def test_a_model_merge_finished_syncing_is_synced_by_the_daemon_once(
    stack: DagsterStack,
    accounts: Accounts,
    admin: SandboxAdmin,
    engine: sa.Engine,
    sandbox: RunningSandbox,
    database_url: URL,
    encryption_key: str,
) -> None:
    """Sandbox -> receiver -> inbox -> webhook sensor -> queue -> a run of Employee alone."""
    info = accounts.link("hris", records=150)
    stack.wait_for_runs(info.id, 1)
    settings = receiver_settings(database_url, encryption_key, sandbox.base_url)
    with running_receiver(settings, engine) as url:
        admin.configure_webhooks(url=f"{url}/webhooks/merge", signing_key=SENTINEL_SIGNING_KEY)
        try:
            admin.sync(info.id, creates=5, models=["hris.Employee"])
            [_, run] = stack.wait_for_runs(info.id, 2, timeout_s=180)
        finally:
            admin.configure_webhooks(url=None)
    time.sleep(15)  # three more webhook-sensor ticks: the same sync must request nothing more
    assert (run.status.value, run.tags["merge/trigger"]) == ("SUCCESS", "webhook")
    assert run.asset_selection == {dg.AssetKey(["hris", "employee"])}
    assert len(stack.runs_of(info.id)) == 2
    assert_mirror_matches(engine, admin, info.id, "hris.Employee")
