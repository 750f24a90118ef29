"""Account discovery: Merge's listing and our tokens become partitions; errors remove nothing."""

from typing import Any

import dagster as dg
import httpx
import pytest
import sqlalchemy as sa
from dagster._core.test_utils import create_run_for_test
from pydantic import SecretStr

from merge_pipeline.defs import discovery
from merge_pipeline.defs.discovery import confirmed_deleted, linked_account_discovery
from merge_pipeline.merge.client import MergeClient
from merge_pipeline.settings import Settings
from merge_pipeline.warehouse.accounts import LinkedAccount, list_accounts, save_account
from merge_pipeline.warehouse.pipeline_tables import linked_accounts
from merge_pipeline.warehouse.vault import TokenVault
from merge_pipeline_tests.conftest import SENTINEL_API_KEY
from merge_pipeline_tests.defs.conftest import Accounts
from merge_sandbox.admin import AccountInfo, SandboxAdmin
from merge_sandbox.testing import RunningSandbox

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def roomy_run_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every stored account of the session's database awaits its first run in a new instance:
    a tick may request them all (the budget's own test sets a small one)."""
    monkeypatch.setenv("MERGE_PIPELINE_RUN_REQUESTS_PER_TICK", "1000")


def _tick(instance: dg.DagsterInstance, resources: dict[str, Any]) -> dg.SensorResult:
    """One evaluation, with its partition requests applied as the daemon would."""
    result = linked_account_discovery(
        dg.build_sensor_context(instance=instance, resources=resources)
    )
    assert isinstance(result, dg.SensorResult)
    for request in result.dynamic_partitions_requests or []:
        if isinstance(request, dg.AddDynamicPartitionsRequest):
            instance.add_dynamic_partitions(request.partitions_def_name, request.partition_keys)
        else:
            for key in request.partition_keys:
                instance.delete_dynamic_partition(request.partitions_def_name, key)
    return result


def _launch(instance: dg.DagsterInstance, requests: list[dg.RunRequest]) -> None:
    """The requested runs, tagged as the daemon tags them, and done."""
    for request in requests:
        tags = {**request.tags, "dagster/partition": request.partition_key or ""}
        create_run_for_test(
            instance, job_name=request.job_name or "", tags=tags, status=dg.DagsterRunStatus.SUCCESS
        )


def _partitions(instance: dg.DagsterInstance, category: str) -> set[str]:
    return set(instance.get_dynamic_partitions(f"{category}_accounts"))


def _delete_in_merge(sandbox: RunningSandbox, info: AccountInfo) -> None:
    headers = {"Authorization": f"Bearer {SENTINEL_API_KEY}", "X-Account-Token": info.account_token}
    url = f"{sandbox.base_url}/{info.category}/v1/delete-account"
    httpx.post(url, headers=headers).raise_for_status()


def test_a_stored_account_becomes_a_partition_and_gets_its_initial_sync(
    accounts: Accounts, resources: dict[str, Any], instance: dg.DagsterInstance
) -> None:
    info = accounts.link("ats", records=20)
    result = _tick(instance, resources)
    initial = [r for r in result.run_requests or [] if r.partition_key == info.id]
    assert info.id in _partitions(instance, "ats")
    assert [(r.job_name, r.run_key, r.tags["merge/account"]) for r in initial] == [
        ("sync_ats", f"initial:{info.id}", info.id)
    ]


def test_an_account_merge_lists_without_a_token_is_a_partition_without_runs(
    admin: SandboxAdmin, resources: dict[str, Any], instance: dg.DagsterInstance
) -> None:
    info = admin.create_account("crm", records=10)
    result = _tick(instance, resources)
    assert info.id in _partitions(instance, "crm")
    assert all(r.partition_key != info.id for r in result.run_requests or [])


def test_a_failed_listing_removes_no_partition(
    admin: SandboxAdmin, resources: dict[str, Any], instance: dg.DagsterInstance
) -> None:
    info = admin.create_account("crm", records=10)  # a partition only because Merge lists it
    _tick(instance, resources)
    admin.error_burst(1_000, status=503, path_contains="/linked-accounts")
    _tick(instance, resources)
    assert info.id in _partitions(instance, "crm")


def test_a_listing_slower_than_its_budget_removes_nothing_and_stored_accounts_still_sync(
    accounts: Accounts,
    admin: SandboxAdmin,
    resources: dict[str, Any],
    instance: dg.DagsterInstance,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    listed_only = admin.create_account("crm", records=10)  # a partition only because listed
    _tick(instance, resources)
    stored = accounts.link("ats", records=10)
    monkeypatch.setattr(discovery, "LISTING_BUDGET_S", 0.1)
    admin.slow_responses(0.2, count=None, path_contains="/linked-accounts")
    admin.reset_request_counts()
    try:
        result = _tick(instance, resources)
    finally:
        admin.clear_faults()
    initial = [r.run_key for r in result.run_requests or [] if r.partition_key == stored.id]
    listings = [r for r in admin.request_counts() if r["path"].endswith("/linked-accounts")]
    assert sum(r["count"] for r in listings) == 1  # the budget was spent on the first page
    assert listed_only.id in _partitions(instance, "crm")
    assert stored.id in _partitions(instance, "ats") and initial == [f"initial:{stored.id}"]


def test_each_category_is_listed_with_its_own_category_filter(
    admin: SandboxAdmin, resources: dict[str, Any], instance: dg.DagsterInstance
) -> None:
    hris, crm = admin.create_account("hris", records=5), admin.create_account("crm", records=5)
    admin.reset_request_counts()
    _tick(instance, resources)
    listings = [r for r in admin.request_counts() if r["path"].endswith("/linked-accounts")]
    assert {hris.id} <= _partitions(instance, "hris") and crm.id not in _partitions(
        instance, "hris"
    )
    assert {crm.id} <= _partitions(instance, "crm") and hris.id not in _partitions(instance, "crm")
    # one page per listing (test and other accounts) per category: nothing pages the whole org
    assert sum(r["count"] for r in listings) == 2 * len(discovery.ACCOUNT_PARTITIONS)


def test_an_account_deleted_in_merge_is_deactivated_and_its_partition_removed(
    accounts: Accounts,
    sandbox: RunningSandbox,
    resources: dict[str, Any],
    instance: dg.DagsterInstance,
    engine: sa.Engine,
) -> None:
    info = accounts.link("ticketing", records=20)
    _tick(instance, resources)
    _delete_in_merge(sandbox, info)
    _tick(instance, resources)  # confirms the deletion and deactivates the account
    _tick(instance, resources)  # no token any more: the partition goes
    with engine.connect() as connection:
        active = {a.id for a in list_accounts(connection, category="ticketing")}
    assert info.id not in active and info.id not in _partitions(instance, "ticketing")


def test_only_accounts_whose_token_merge_refuses_are_confirmed_deleted(
    accounts: Accounts,
    sandbox: RunningSandbox,
    settings: Settings,
    engine: sa.Engine,
    vault: TokenVault,
) -> None:
    """Absence from a listing (which can be short) is never enough to delete an account."""
    alive, deleted = accounts.link("hris", records=5), accounts.link("hris", records=5)
    _delete_in_merge(sandbox, deleted)
    merge_settings = settings.model_copy(update={"base_url": sandbox.base_url})
    with MergeClient(merge_settings) as client, engine.connect() as connection:
        confirmed = list(
            confirmed_deleted(client, connection, vault, "hris", (alive.id, deleted.id))
        )
    assert confirmed == [deleted.id]


def test_a_stored_token_that_cannot_be_sent_is_never_taken_for_a_deleted_account(
    resources: dict[str, Any],
    instance: dg.DagsterInstance,
    engine: sa.Engine,
    vault: TokenVault,
) -> None:
    """Merge does not list it and its token cannot be asked about: it stays, and the tick runs."""
    with engine.begin() as connection:
        save_account(
            connection,
            LinkedAccount(id="acct-stray-newline", category="hris"),
            SecretStr("tok-with-newline\n"),
            vault,
        )
    _tick(instance, resources)
    _tick(instance, resources)
    with engine.connect() as connection:
        active = {a.id for a in list_accounts(connection, category="hris")}
    assert "acct-stray-newline" in active


def test_new_accounts_get_their_initial_syncs_a_budget_per_tick_the_rest_in_the_next_ticks(
    accounts: Accounts,
    resources: dict[str, Any],
    instance: dg.DagsterInstance,
    engine: sa.Engine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A thousand new accounts must not become one tick of a thousand runs (the daemon creates
    them one by one, and the sensor waits): each tick requests its budget, categories in turn;
    what is left, and an account whose hold is lifted, come in later ticks, each exactly once."""
    _launch(instance, list(_tick(instance, resources).run_requests or []))  # the established
    hris = [accounts.link("hris", records=5).id for _ in range(3)]
    ats = [accounts.link("ats", records=5).id for _ in range(2)]
    held = accounts.link("ats", records=5).id

    def hold(status: str) -> None:
        with engine.begin() as connection:
            connection.execute(
                sa.update(linked_accounts).where(linked_accounts.c.id == held).values(status=status)
            )

    hold("RELINK_NEEDED")
    monkeypatch.setenv("MERGE_PIPELINE_RUN_REQUESTS_PER_TICK", "2")
    ticks: list[list[str]] = []
    for _ in range(4):
        requests = list(_tick(instance, resources).run_requests or [])
        _launch(instance, requests)
        ticks.append([r.partition_key or "" for r in requests])
    hold("COMPLETE")
    after_hold = [r.partition_key for r in _tick(instance, resources).run_requests or []]
    requested = [account for tick in ticks for account in tick]
    assert [len(tick) for tick in ticks] == [2, 2, 1, 0]
    assert {ticks[0][0], ticks[0][1]} & set(hris) and {ticks[0][0], ticks[0][1]} & set(ats)
    assert sorted(requested) == sorted(hris + ats) and after_hold == [held]


def test_no_initial_sync_is_requested_while_the_run_queue_is_full(
    accounts: Accounts,
    resources: dict[str, Any],
    instance: dg.DagsterInstance,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _launch(instance, list(_tick(instance, resources).run_requests or []))  # the established
    new = accounts.link("hris", records=5).id
    monkeypatch.setenv("MERGE_PIPELINE_MAX_QUEUED_RUNS", "2")
    waiting = [create_run_for_test(instance, job_name="other") for _ in range(2)]  # not started
    while_full = list(_tick(instance, resources).run_requests or [])
    for run in waiting:  # the queue empties
        instance.report_run_canceled(run)
    with_room = [r.partition_key for r in _tick(instance, resources).run_requests or []]
    assert while_full == [] and with_room == [new]
