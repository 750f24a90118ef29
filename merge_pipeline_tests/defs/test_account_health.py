"""The account-health sensor, the checks and relinking, against the sandbox over HTTP.

An account goes RELINK_NEEDED in the sandbox -> the sensor marks it -> the check fails naming
it -> no schedule or discovery run -> the relink command gives a link -> the end user completes
Link in the sandbox -> the account is healthy, the check passes and syncs resume.
"""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import dagster as dg
import httpx
import pytest
import sqlalchemy as sa
from dagster._core.storage.asset_check_execution_record import (
    AssetCheckExecutionRecordStatus,
)
from pydantic import SecretStr
from sqlalchemy.engine import URL

from merge_pipeline.catalog import load_catalog
from merge_pipeline.defs import jobs
from merge_pipeline.defs.account_health import account_health
from merge_pipeline.defs.checks import ACCOUNT_HEALTH_CHECKS, FRESH, QUARANTINE, RELINK, SYNC_STATUS
from merge_pipeline.defs.discovery import linked_account_discovery
from merge_pipeline.defs.relink import relink_account
from merge_pipeline.defs.schedules import SAFETY_NET_SCHEDULES, safety_net_window
from merge_pipeline.merge.client import MergeClient
from merge_pipeline.merge.credentials import AccountCredentials
from merge_pipeline.settings import Settings
from merge_pipeline.sync.engine import SyncOptions
from merge_pipeline.sync.runner import iter_account_syncs
from merge_pipeline.warehouse.accounts import LinkedAccount, save_account
from merge_pipeline.warehouse.inbox import store_event
from merge_pipeline.warehouse.pipeline_tables import (
    account_issues,
    linked_accounts,
    merge_sync_status,
)
from merge_pipeline.warehouse.quarantine import Quarantined, quarantine
from merge_pipeline.warehouse.vault import TokenVault
from merge_pipeline_tests.cli_process import run_cli
from merge_pipeline_tests.conftest import SENTINEL_API_KEY
from merge_sandbox.admin import AccountInfo, SandboxAdmin
from merge_sandbox.testing import RunningSandbox

pytestmark = pytest.mark.integration

CREDENTIALS_TEXT = "Invalid login credentials"


@pytest.fixture(autouse=True)
def _whole_accounts_per_tick(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every stored account is read each tick here (the session's database is shared)."""
    monkeypatch.setenv("MERGE_PIPELINE_HEALTH_ACCOUNTS_PER_TICK", "500")
    yield


class Sensor:
    """The health sensor ticking as the daemon would: its cursor carried between ticks."""

    def __init__(self, instance: dg.DagsterInstance, resources: dict[str, Any]) -> None:
        self.instance, self.resources = instance, resources
        self.cursor: str | None = None

    def tick(self) -> dg.SensorResult:
        context = dg.build_sensor_context(
            instance=self.instance, resources=self.resources, cursor=self.cursor
        )
        result = account_health(context)
        assert isinstance(result, dg.SensorResult)
        self.cursor = result.cursor
        return result


@pytest.fixture
def sensor(instance: dg.DagsterInstance, resources: dict[str, Any]) -> Sensor:
    return Sensor(instance, resources)


def _link(admin: SandboxAdmin, engine: sa.Engine, vault: TokenVault, category: str) -> AccountInfo:
    """A sandbox account stored as the link flow stores it (end user included)."""
    info = admin.create_account(category, records=10)
    with engine.begin() as connection:
        save_account(
            connection,
            LinkedAccount(
                id=info.id,
                category=info.category,
                integration=info.integration,
                end_user_origin_id=info.end_user_origin_id,
                end_user_organization_name=info.end_user_organization_name,
                status=info.status,
            ),
            SecretStr(info.account_token),
            vault,
        )
    return info


def _status(engine: sa.Engine, account_id: str) -> str | None:
    with engine.connect() as connection:
        return connection.execute(
            sa.select(linked_accounts.c.status).where(linked_accounts.c.id == account_id)
        ).scalar()


def _issues(engine: sa.Engine, account_id: str) -> list[tuple[str, str, bool]]:
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(
                account_issues.c.status,
                account_issues.c.error_description,
                account_issues.c.is_muted,
            ).where(account_issues.c.linked_account_id == account_id)
        )
        return sorted((r.status, r.error_description, r.is_muted) for r in rows)


def _evaluation(
    result: dg.SensorResult, asset: list[str], check: str
) -> dg.AssetCheckEvaluation | None:
    for event in result.asset_events or []:
        if (
            isinstance(event, dg.AssetCheckEvaluation)
            and event.asset_key == dg.AssetKey(asset)
            and event.check_name == check
        ):
            return event
    return None


def _safety_net_requests(
    instance: dg.DagsterInstance, resources: dict[str, Any], category: str
) -> set[str]:
    """Accounts one whole night of the category's safety-net schedule requests."""
    [schedule] = [s for s in SAFETY_NET_SCHEDULES if s.name == f"safety_net_{category}"]
    window = safety_net_window()
    start = datetime(2026, 12, 2, window.start_hour, tzinfo=UTC)
    requested: set[str] = set()
    for tick in range(window.ticks):
        # entered and left, so the context's resources leave no Dagster state behind
        with dg.build_schedule_context(
            instance=instance,
            scheduled_execution_time=start + timedelta(minutes=window.tick_minutes * tick),
            resources={"warehouse": resources["warehouse"]},
        ) as context:
            outcome = schedule(context)
        requested |= {r.partition_key for r in outcome} if isinstance(outcome, list) else set()
    return {key for key in requested if key}


def _cli_environment(
    sandbox: RunningSandbox, database_url: URL, encryption_key: str
) -> dict[str, str]:
    return {
        "MERGE_PIPELINE_API_KEY": SENTINEL_API_KEY,
        "MERGE_PIPELINE_BASE_URL": sandbox.base_url,
        "MERGE_PIPELINE_DATABASE_URL": database_url.render_as_string(hide_password=False),
        "MERGE_PIPELINE_TOKEN_ENCRYPTION_KEY": encryption_key,
    }


def test_relink_end_to_end_holds_the_account_then_resumes_its_syncs(
    admin: SandboxAdmin,
    sandbox: RunningSandbox,
    engine: sa.Engine,
    vault: TokenVault,
    sensor: Sensor,
    instance: dg.DagsterInstance,
    resources: dict[str, Any],
    database_url: URL,
    encryption_key: str,
) -> None:
    info = _link(admin, engine, vault, "hris")
    first = sensor.tick()
    assert _status(engine, info.id) == "COMPLETE"
    assert _evaluation(first, ["hris", "employee"], RELINK) is not None  # first tick reports all

    admin.make_relink_needed(info.id, CREDENTIALS_TEXT)
    broken = sensor.tick()
    assert _status(engine, info.id) == "RELINK_NEEDED"
    assert _issues(engine, info.id) == [("ONGOING", CREDENTIALS_TEXT, False)]
    check = _evaluation(broken, ["hris", "employee"], RELINK)
    assert check is not None and not check.passed
    assert check.severity == dg.AssetCheckSeverity.ERROR
    listed = check.metadata["accounts"].value
    assert info.id in str(listed) and CREDENTIALS_TEXT in str(listed)
    assert f"merge-pipeline accounts relink {info.id}" in str(listed)
    for event in broken.asset_events or []:  # stored as the daemon stores a sensor's events
        instance.report_runless_asset_event(event)
    key = dg.AssetCheckKey(dg.AssetKey(["hris", "employee"]), RELINK)
    latest = instance.event_log_storage.get_latest_asset_check_execution_by_key([key])[key]
    assert latest.status == AssetCheckExecutionRecordStatus.FAILED

    # no run for it: neither the safety net nor discovery's initial sync
    assert info.id not in _safety_net_requests(instance, resources, "hris")
    discovered = linked_account_discovery(
        dg.build_sensor_context(instance=instance, resources=resources)
    )
    assert isinstance(discovered, dg.SensorResult)
    assert all(r.partition_key != info.id for r in discovered.run_requests or [])
    assert any(
        info.id in (getattr(request, "partition_keys", None) or [])
        for request in discovered.dynamic_partitions_requests or []
    ), "the held account stays a partition: its data stays readable"

    relinked = run_cli(
        "accounts", "relink", info.id, **_cli_environment(sandbox, database_url, encryption_key)
    )
    assert relinked.returncode == 0, relinked.stderr
    link_url = relinked.stdout.strip().splitlines()[-1]
    assert link_url.startswith(("https://", "http://")) and CREDENTIALS_TEXT in relinked.stdout
    assert SENTINEL_API_KEY not in relinked.stdout + relinked.stderr
    # the end user opens the Magic Link and completes Merge Link (the sandbox's link page)
    assert httpx.post(link_url, timeout=10).status_code == 200

    healed = sensor.tick()
    assert _status(engine, info.id) == "COMPLETE"
    assert _issues(engine, info.id) == [("RESOLVED", CREDENTIALS_TEXT, False)]
    green = _evaluation(healed, ["hris", "employee"], RELINK)
    assert green is not None and info.id not in str(green.metadata["accounts"].value)
    assert [
        r.tags["merge/trigger"] for r in healed.run_requests or [] if r.partition_key == info.id
    ] == ["relinked"]
    assert info.id in _safety_net_requests(instance, resources, "hris")


def test_a_failed_read_changes_nothing(
    admin: SandboxAdmin, engine: sa.Engine, vault: TokenVault, sensor: Sensor
) -> None:
    info = _link(admin, engine, vault, "ats")
    admin.make_relink_needed(info.id, CREDENTIALS_TEXT)
    sensor.tick()
    admin.set_account_status(info.id, "COMPLETE")  # Merge would say so; we cannot hear it now
    admin.error_burst(1_000, status=503, path_contains="/account-details")
    admin.error_burst(1_000, status=503, path_contains="/issues")
    sensor.tick()
    assert _status(engine, info.id) == "RELINK_NEEDED"
    assert _issues(engine, info.id) == [("ONGOING", CREDENTIALS_TEXT, False)]


def test_issue_webhooks_in_the_inbox_hold_an_account_while_merge_cannot_be_read(
    admin: SandboxAdmin, engine: sa.Engine, vault: TokenVault, sensor: Sensor
) -> None:
    """The Issue webhook alone (Merge's API down) holds the account and stores the Issue."""
    info = _link(admin, engine, vault, "crm")
    sensor.tick()
    issue = admin.make_relink_needed(info.id, "Expired multi-factor authentication")
    admin.error_burst(1_000, status=503, path_contains="/account-details")
    admin.error_burst(1_000, status=503, path_contains="/issues")

    def deliver(event: str, data: dict[str, Any]) -> None:
        payload = {
            "hook": {"id": "h", "event": event, "target": "https://example.invalid/hook"},
            "linked_account": {"id": info.id, "category": "crm", "status": "RELINK_NEEDED"},
            "data": data,
        }
        with engine.begin() as connection:
            store_event(
                connection,
                event=event,
                linked_account_id=info.id,
                body_sha256=f"{info.id}:{event}",
                payload=payload,
            )

    deliver("Issue.new", issue)
    deliver("Employee.synced", {})  # not the health sensor's: skipped, never an error
    sensor.tick()
    assert _status(engine, info.id) == "RELINK_NEEDED"
    assert _issues(engine, info.id) == [("ONGOING", "Expired multi-factor authentication", False)]

    deliver("Issue.muted", issue)
    sensor.tick()
    assert _issues(engine, info.id) == [("ONGOING", "Expired multi-factor authentication", True)]


def test_an_account_deleted_webhook_retires_the_account_once_merge_confirms(
    admin: SandboxAdmin,
    sandbox: RunningSandbox,
    engine: sa.Engine,
    vault: TokenVault,
    sensor: Sensor,
) -> None:
    import httpx

    kept, deleted = (
        _link(admin, engine, vault, "ticketing"),
        _link(admin, engine, vault, "ticketing"),
    )
    headers = {
        "Authorization": f"Bearer {SENTINEL_API_KEY}",
        "X-Account-Token": deleted.account_token,
    }
    httpx.post(
        f"{sandbox.base_url}/ticketing/v1/delete-account", headers=headers
    ).raise_for_status()
    with engine.begin() as connection:
        for info in (kept, deleted):  # the one still alive in Merge must survive its event
            store_event(
                connection,
                event="LinkedAccount.deleted",
                linked_account_id=info.id,
                body_sha256=f"deleted:{info.id}",
                payload={
                    "hook": {"event": "LinkedAccount.deleted"},
                    "linked_account": {"id": info.id},
                    "data": {},
                },
            )
    sensor.tick()
    with engine.connect() as connection:
        active = dict(
            connection.execute(
                sa.select(linked_accounts.c.id, linked_accounts.c.is_active).where(
                    linked_accounts.c.id.in_([kept.id, deleted.id])
                )
            ).all()
        )
    assert active == {kept.id: True, deleted.id: False}


def _run_checks(
    category: str, resources: dict[str, Any], instance: dg.DagsterInstance
) -> dict[tuple[str, str], dg.AssetCheckEvaluation]:
    """The category's multi-asset check run as from the UI ("Execute checks")."""
    [checks] = [c for c in ACCOUNT_HEALTH_CHECKS if c.node_def.name == f"{category}_account_health"]
    result = dg.materialize(
        [checks],
        resources={"warehouse": resources["warehouse"]},
        selection=dg.AssetSelection.all_asset_checks(),
        instance=instance,
    )
    return {
        (e.asset_key.to_user_string(), e.check_name): e
        for e in result.get_asset_check_evaluations()
    }


def test_checks_name_merges_failed_disabled_partial_paused_stale_and_quarantined_syncs(
    admin: SandboxAdmin,
    sandbox: RunningSandbox,
    engine: sa.Engine,
    vault: TokenVault,
    settings: Settings,
    resources: dict[str, Any],
    instance: dg.DagsterInstance,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    category = "accounting"
    info = _link(admin, engine, vault, category)
    merge_settings = settings.model_copy(update={"base_url": sandbox.base_url})
    models = list(load_catalog().category(category))
    outcomes = list(
        iter_account_syncs(
            engine, merge_settings, vault, info.id, models, options=SyncOptions(), sync_run_id="r1"
        )
    )
    assert all(o.result is not None for o in outcomes)
    states = {
        "accounting.Invoice": "FAILED",
        "accounting.Account": "DISABLED",
        "accounting.Contact": "PARTIALLY_SYNCED",
        "accounting.Item": "PAUSED",
    }
    for model_id, state in states.items():
        admin.set_model_status(info.id, model_id, state)
    # stored as the sync-status sensor stores what Merge's /sync-status says
    with MergeClient(merge_settings) as client:
        reported = client.sync_status(
            AccountCredentials(info.id, SecretStr(info.account_token)), category
        )
    with engine.begin() as connection:
        for row in reported:
            connection.execute(
                merge_sync_status.insert().values(
                    linked_account_id=info.id,
                    model_id=row["model_id"],
                    status=row["status"],
                    last_sync_result=row.get("last_sync_result"),
                )
            )
        quarantine(
            connection,
            info.id,
            [Quarantined("accounting.Payment", "p-1", "amount: not a number", "{}", None)],
            "r1",
        )
        # an older account with the same history, whose last sync is now a day old
        connection.execute(
            sa.update(linked_accounts)
            .where(linked_accounts.c.id == info.id)
            .values(created_at=sa.func.now() - sa.text("interval '3 days'"))
        )
    monkeypatch.setenv("MERGE_PIPELINE_STALE_SYNC_HOURS", "48")
    fresh = _run_checks(category, resources, instance)
    for model_id, state in states.items():
        table = load_catalog().model(model_id)
        evaluation = fresh[(f"{category}/{_table(model_id)}", SYNC_STATUS)]
        assert not evaluation.passed and state in str(evaluation.metadata["accounts"].value), table
        expected = (
            dg.AssetCheckSeverity.ERROR
            if state in ("FAILED", "DISABLED")
            else dg.AssetCheckSeverity.WARN
        )
        assert evaluation.severity == expected
    assert info.id not in str(
        fresh[(f"{category}/tax_rate", SYNC_STATUS)].metadata["accounts"].value
    )
    quarantined = fresh[(f"{category}/payment", QUARANTINE)]
    assert not quarantined.passed and info.id in str(quarantined.metadata["accounts"].value)
    assert info.id not in str(fresh[(f"{category}/invoice", FRESH)].metadata["accounts"].value)

    monkeypatch.setenv("MERGE_PIPELINE_STALE_SYNC_HOURS", "0.0001")  # every sync is now old
    stale = _run_checks(category, resources, instance)[(f"{category}/invoice", FRESH)]
    assert not stale.passed and info.id in str(stale.metadata["accounts"].value)


def _table(model_id: str) -> str:
    from merge_pipeline.warehouse.mirror_tables import table_name

    return table_name(load_catalog().model(model_id))


def test_the_relink_job_shows_the_link_without_any_secret(
    admin: SandboxAdmin, engine: sa.Engine, vault: TokenVault, resources: dict[str, Any]
) -> None:
    info = _link(admin, engine, vault, "hris")
    admin.make_relink_needed(info.id, CREDENTIALS_TEXT)
    result = relink_account.execute_in_process(
        run_config={"ops": {"request_relink_link": {"config": {"account_id": info.id}}}},
        resources=resources,
    )
    [output] = [e for e in result.all_events if e.event_type_value == "STEP_OUTPUT"]
    metadata = output.event_specific_data.metadata  # type: ignore[union-attr]
    assert str(metadata["link_to_send"].value).startswith(("https://", "http://"))
    shown = repr(metadata) + repr(result.dagster_run.run_config)
    assert SENTINEL_API_KEY not in shown and info.account_token not in shown
    complete = admin.complete_link(str(metadata["link_to_send"].value).rsplit("/", 1)[-1])
    assert complete["is_relink"]


def test_relinking_an_unknown_account_is_one_clear_line(
    sandbox: RunningSandbox, database_url: URL, encryption_key: str
) -> None:
    answer = run_cli(
        "accounts",
        "relink",
        "no-such-account",
        **_cli_environment(sandbox, database_url, encryption_key),
    )
    assert answer.returncode == 1
    assert (
        answer.stderr.strip()
        == "Error: relink not requested: no linked account 'no-such-account' is stored"
    )


def test_each_tick_reads_a_bounded_number_of_accounts_and_walks_them_all_in_turn(
    admin: SandboxAdmin,
    engine: sa.Engine,
    vault: TokenVault,
    sensor: Sensor,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Thousands of accounts never make one tick long: each reads at most its share."""
    mine = [_link(admin, engine, vault, "hris").id for _ in range(4)]
    with engine.connect() as connection:
        stored = connection.execute(
            sa.select(sa.func.count()).where(linked_accounts.c.is_active)
        ).scalar_one()
    sensor.tick()  # drains the webhook inbox (a deletion event costs a call of its own)
    with engine.begin() as connection:
        connection.execute(
            sa.update(linked_accounts)
            .where(linked_accounts.c.id.in_(mine))
            .values(health_checked_at=None)
        )
    monkeypatch.setenv("MERGE_PIPELINE_HEALTH_ACCOUNTS_PER_TICK", "3")
    admin.reset_request_counts()
    ticks = -(-stored // 3) + 1
    for _ in range(ticks):
        sensor.tick()
        assert admin.count_requests(path_contains="/account-details") <= 3
        admin.reset_request_counts()
    with engine.connect() as connection:
        unread = connection.execute(
            sa.select(sa.func.count()).where(
                linked_accounts.c.id.in_(mine), linked_accounts.c.health_checked_at.is_(None)
            )
        ).scalar_one()
    assert unread == 0


@pytest.mark.parametrize("checks_in_sync_runs", [True, False])
def test_check_reports_name_the_latest_materialization_and_follow_new_ones_when_runs_do_not(
    sensor: Sensor,
    instance: dg.DagsterInstance,
    monkeypatch: pytest.MonkeyPatch,
    checks_in_sync_runs: bool,
) -> None:
    """Dagster's UI shows a check on a whole asset only while it targets the asset's latest
    materialization (of any partition). Sync runs evaluate their models' checks by default;
    when they do not, the sensor reports an asset's checks again after each new
    materialization, naming it, and otherwise stays quiet."""
    monkeypatch.setattr(jobs, "CHECKS_IN_SYNC_RUNS", checks_in_sync_runs)
    employee = dg.AssetKey(["hris", "employee"])
    instance.report_runless_asset_event(dg.AssetMaterialization(employee, partition="acct-x"))
    sensor.tick()
    assert _evaluation(sensor.tick(), ["hris", "employee"], RELINK) is None  # nothing new
    instance.report_runless_asset_event(dg.AssetMaterialization(employee, partition="acct-y"))
    [latest] = instance.get_asset_records([employee])
    record = latest.asset_entry.last_materialization_record
    assert record is not None
    after_sync = sensor.tick()
    for check in (RELINK, SYNC_STATUS, FRESH, QUARANTINE):
        evaluation = _evaluation(after_sync, ["hris", "employee"], check)
        if checks_in_sync_runs:
            assert evaluation is None  # the sync run reported them itself
            continue
        assert evaluation is not None and evaluation.target_materialization_data is not None
        assert evaluation.target_materialization_data.storage_id == record.storage_id
    assert _evaluation(after_sync, ["hris", "department"], RELINK) is None  # not materialized
    assert _evaluation(sensor.tick(), ["hris", "employee"], RELINK) is None
