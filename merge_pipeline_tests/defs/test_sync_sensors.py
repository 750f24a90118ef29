"""The webhook and /sync-status sensors: one run per Merge sync, whichever way the news comes.

The sandbox plays Merge over HTTP and delivers its signed webhooks to the real receiver, which
stores them in the inbox; the sensors are evaluated on a real Dagster instance against the
session's PostgreSQL.
"""

import json
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import dagster as dg
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL

from merge_pipeline.catalog import load_catalog
from merge_pipeline.defs.assets import CATEGORY_ASSETS, asset_key
from merge_pipeline.defs.sync_requests import due_run_requests, observe
from merge_pipeline.defs.sync_status_sensor import merge_sync_status_poll
from merge_pipeline.defs.webhook_sensor import merge_webhook_sync
from merge_pipeline.merge.client import MergeClient
from merge_pipeline.planning.merge_syncs import SyncReport, instant, webhook_verdict
from merge_pipeline.planning.sync_requests import PendingSync
from merge_pipeline.warehouse.inbox import store_event
from merge_pipeline.warehouse.merge_syncs import claim
from merge_pipeline.warehouse.pipeline_tables import linked_accounts, merge_sync_status
from merge_pipeline.warehouse.pipeline_tables import webhook_inbox as inbox
from merge_pipeline_tests.conftest import SENTINEL_SIGNING_KEY
from merge_pipeline_tests.defs.conftest import Accounts
from merge_pipeline_tests.integration.webhooks.conftest import receiver_settings, running_receiver
from merge_sandbox.admin import AccountInfo, SandboxAdmin
from merge_sandbox.testing import RunningSandbox

pytestmark = pytest.mark.integration
EMPLOYEE = dg.AssetKey(["hris", "employee"])
_WAIT_S = 20.0


@pytest.fixture(scope="module")
def receiver(
    sandbox: RunningSandbox, engine: sa.Engine, database_url: URL, encryption_key: str
) -> Iterator[str]:
    """The receiver, with the package's sandbox delivering its webhooks to it."""
    settings = receiver_settings(database_url, encryption_key, sandbox.base_url)
    with running_receiver(settings, engine) as url:
        sandbox.admin.configure_webhooks(
            url=f"{url}/webhooks/merge",
            signing_key=SENTINEL_SIGNING_KEY,
            max_attempts=3,
            backoff_seconds=0.05,
        )
        yield url
        sandbox.admin.configure_webhooks(url=None, delay_probability=0.0)


@pytest.fixture
def world(
    settled: None,
    receiver: str,
    accounts: Accounts,
    admin: SandboxAdmin,
    engine: sa.Engine,
    resources: dict[str, Any],
    instance: dg.DagsterInstance,
) -> "World":
    return World(accounts, admin, engine, resources, instance, _last_inbox_id(engine))


@pytest.fixture
def settled(monkeypatch: pytest.MonkeyPatch) -> None:
    """Inbox rows are read at once, an account may be polled every tick (each tested alone)."""
    monkeypatch.setenv("MERGE_PIPELINE_WEBHOOK_SENSOR_SETTLE_S", "0")
    monkeypatch.setenv("MERGE_PIPELINE_SYNC_STATUS_MIN_ACCOUNT_INTERVAL_S", "0")


def _last_inbox_id(engine: sa.Engine) -> int:
    with engine.connect() as connection:
        return int(
            connection.execute(sa.select(sa.func.coalesce(sa.func.max(inbox.c.id), 0))).scalar_one()
        )


class World:
    """A sandbox account linked and made a partition; sensors ticked as the daemon would."""

    def __init__(
        self,
        accounts: Accounts,
        admin: SandboxAdmin,
        engine: sa.Engine,
        resources: dict[str, Any],
        instance: dg.DagsterInstance,
        last_id: int,
    ) -> None:
        self.accounts, self.admin, self.engine = accounts, admin, engine
        self.resources, self.instance = resources, instance
        self.webhook_cursor: str | None = f'{{"last_id": {last_id}}}'
        self.poll_cursor: str | None = None

    def link(self, category: str = "hris") -> AccountInfo:
        info = self.accounts.link(category, records=10)
        self.instance.add_dynamic_partitions(f"{category}_accounts", [info.id])
        return info

    def sync(self, info: AccountInfo, models: list[str] | None = None, **how: Any) -> None:
        """A Merge sync, and its webhooks in the inbox (one per model plus the account's)."""
        before = self.inbox_count(info.id)
        self.admin.sync(info.id, models=models, **how)
        expected = before + (len(models) if models else 1) + 1
        self.wait_for_inbox(info.id, expected)

    def inbox_count(self, account_id: str) -> int:
        with self.engine.connect() as connection:
            query = sa.select(sa.func.count()).where(inbox.c.linked_account_id == account_id)
            return int(connection.execute(query).scalar_one())

    def wait_for_inbox(self, account_id: str, count: int) -> None:
        deadline = time.monotonic() + _WAIT_S
        while self.inbox_count(account_id) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the inbox holds fewer than {count} events of {account_id}")
            time.sleep(0.05)

    def webhook_tick(self) -> list[dg.RunRequest]:
        result = merge_webhook_sync(
            dg.build_sensor_context(
                instance=self.instance, resources=self.resources, cursor=self.webhook_cursor
            )
        )
        assert isinstance(result, dg.SensorResult)
        for request in result.dynamic_partitions_requests or []:
            assert isinstance(request, dg.AddDynamicPartitionsRequest)
            self.instance.add_dynamic_partitions(
                request.partitions_def_name, request.partition_keys
            )
        self.webhook_cursor = result.cursor
        self.last_webhook_result = result
        return list(result.run_requests or [])

    def poll_tick(self) -> list[dg.RunRequest]:
        result = merge_sync_status_poll(
            dg.build_sensor_context(
                instance=self.instance, resources=self.resources, cursor=self.poll_cursor
            )
        )
        assert isinstance(result, dg.SensorResult)
        self.poll_cursor = result.cursor
        return list(result.run_requests or [])

    def status(self, account_id: str, model_id: str = "hris.Employee") -> dict[str, Any] | None:
        with self.engine.connect() as connection:
            row = connection.execute(
                sa.select(merge_sync_status).where(
                    merge_sync_status.c.linked_account_id == account_id,
                    merge_sync_status.c.model_id == model_id,
                )
            ).first()
        return dict(row._mapping) if row else None

    def inbox_payloads(self, account_id: str, event: str) -> list[dict[str, Any]]:
        with self.engine.connect() as connection:
            rows = connection.execute(
                sa.select(inbox.c.payload)
                .where(inbox.c.linked_account_id == account_id, inbox.c.event == event)
                .order_by(inbox.c.id)
            )
            return [row.payload for row in rows]

    def redeliver(self, payload: dict[str, Any], event: str = "Employee.synced") -> None:
        """The same event with another body (e.g. from a second webhook configuration)."""
        copy = {**payload, "hook": {**payload["hook"], "id": str(uuid.uuid4())}}
        with self.engine.begin() as connection:
            store_event(
                connection,
                event=event,
                linked_account_id=copy["linked_account"]["id"],
                body_sha256=uuid.uuid4().hex,
                payload=copy,
            )


def _claim_runs(connection: sa.Connection, accounts: dict[str, str]) -> list[dg.RunRequest]:
    """The webhook sensor's claiming step alone, with the default run budget."""
    return due_run_requests(
        connection, accounts, trigger="webhook", source="webhook", wait_for_all=(), limit=25
    )


def _for(runs: list[dg.RunRequest], account_id: str) -> list[dg.RunRequest]:
    return [run for run in runs if run.partition_key == account_id]


def test_a_model_merge_finished_syncing_gets_one_run_of_that_model(world: World) -> None:
    """Employee.synced and LinkedAccount.synced both report the sync: one run, of Employee."""
    info = world.link()
    world.sync(info, ["hris.Employee"])
    [run] = _for(world.webhook_tick(), info.id)
    assert (run.job_name, run.asset_selection, run.tags) == (
        "sync_hris",
        [EMPLOYEE],
        {"merge/account": info.id, "merge/trigger": "webhook"},
    )


def test_a_repeated_webhook_and_a_reread_inbox_request_no_second_run(world: World) -> None:
    info = world.link()
    world.sync(info, ["hris.Employee"])
    first = world.webhook_tick()
    cursor_after_first = world.webhook_cursor
    [payload] = world.inbox_payloads(info.id, "Employee.synced")
    world.redeliver(payload)
    repeated = world.webhook_tick()
    world.webhook_cursor = None  # the cursor lost: the whole inbox is read again
    reread = world.webhook_tick()
    assert (len(_for(first, info.id)), _for(repeated, info.id), _for(reread, info.id)) == (
        1,
        [],
        [],
    )
    assert world.webhook_cursor != cursor_after_first


def test_a_late_webhook_of_an_older_sync_requests_nothing(world: World) -> None:
    info = world.link()
    world.sync(info, ["hris.Employee"])
    world.sync(info, ["hris.Employee"])
    older, newer = world.inbox_payloads(info.id, "Employee.synced")
    assert len(_for(world.webhook_tick(), info.id)) == 1  # both syncs, read in one tick
    world.redeliver(older)
    assert _for(world.webhook_tick(), info.id) == []
    status = world.status(info.id)
    newest = datetime.fromisoformat(newer["data"]["sync_status"]["last_sync_finished"])
    assert status is not None and status["handled_sync_id"] == instant(newest)


def test_webhooks_delivered_out_of_order_request_one_run_for_the_newest_sync(
    world: World, admin: SandboxAdmin
) -> None:
    """The sandbox delays the first sync's webhooks past the second's."""
    info = world.link()
    admin.configure_webhooks(delay_probability=1.0, delay_seconds=1.5)
    admin.sync(info.id, models=["hris.Employee"])
    admin.configure_webhooks(delay_probability=0.0)
    world.sync(info, ["hris.Employee"])  # arrives first
    newest = world.webhook_tick()
    world.wait_for_inbox(info.id, 4)  # the delayed first sync arrives
    late = world.webhook_tick()
    first, second = world.inbox_payloads(info.id, "Employee.synced")
    assert (
        first["data"]["sync_status"]["last_sync_finished"]
        > (second["data"]["sync_status"]["last_sync_finished"])
    ), "precondition: the newer sync's webhook was stored first"
    assert (len(_for(newest, info.id)), _for(late, info.id)) == (1, [])


def test_a_sync_the_poll_saw_first_gets_no_run_from_its_webhook(world: World) -> None:
    info = world.link()
    first_ping = _for(world.poll_tick(), info.id)  # every model of the account, once
    world.sync(info, ["hris.Employee"])
    polled = _for(world.poll_tick(), info.id)
    assert _for(world.webhook_tick(), info.id) == []
    assert len(first_ping) == 1 and [r.asset_selection for r in polled] == [[EMPLOYEE]]


def test_a_sync_a_webhook_reported_first_gets_no_run_from_the_poll(world: World) -> None:
    info = world.link()
    world.poll_tick()
    world.sync(info, ["hris.Employee"])
    assert len(_for(world.webhook_tick(), info.id)) == 1
    assert _for(world.poll_tick(), info.id) == []
    status = world.status(info.id)
    assert status is not None and status["reported_sync_start"] is not None  # remembered


def test_the_first_ping_fetches_each_finished_model_once_in_one_run(world: World) -> None:
    info = world.link()
    [run] = _for(world.poll_tick(), info.id)
    again = _for(world.poll_tick(), info.id)
    every_model = {asset_key(model) for model in load_catalog().category("hris")}
    assert (set(run.asset_selection or []), again) == (every_model, [])
    assert run.tags["merge/trigger"] == "sync-status"


def test_a_partial_sync_keeps_the_fields_that_synced(world: World) -> None:
    info = world.link()
    world.sync(info, ["hris.Employee"], status="PARTIALLY_SYNCED")
    runs = _for(world.webhook_tick(), info.id)
    [payload] = world.inbox_payloads(info.id, "Employee.synced")
    status = world.status(info.id)
    assert status is not None
    every_field = set(load_catalog().model("hris.Employee").field_names)
    assert len(runs) == 1 and status["status"] == "PARTIALLY_SYNCED"
    assert status["synced_fields"] == payload["data"]["synced_fields"]
    assert set(status["synced_fields"]) < every_field


def test_failed_disabled_and_paused_models_are_recorded_and_request_nothing(
    world: World, admin: SandboxAdmin
) -> None:
    info = world.link()
    world.poll_tick()  # the first ping's run, out of the way
    world.sync(info, ["hris.Employee"], status="FAILED")
    by_webhook = _for(world.webhook_tick(), info.id)
    admin.set_model_status(info.id, "hris.Team", "DISABLED")
    admin.set_model_status(info.id, "hris.Location", "PAUSED")
    by_poll = _for(world.poll_tick(), info.id)
    statuses = [
        (s or {}).get("status")
        for s in (world.status(info.id, m) for m in ("hris.Employee", "hris.Team", "hris.Location"))
    ]
    assert (by_webhook, by_poll, statuses) == ([], [], ["FAILED", "DISABLED", "PAUSED"])


def test_a_held_account_gets_no_runs_and_is_not_polled(
    world: World, admin: SandboxAdmin, engine: sa.Engine
) -> None:
    info = world.link()
    with engine.begin() as connection:
        connection.execute(
            sa.update(linked_accounts)
            .where(linked_accounts.c.id == info.id)
            .values(status="RELINK_NEEDED")
        )
    world.sync(info, ["hris.Employee"])
    admin.reset_request_counts()
    runs = world.webhook_tick() + world.poll_tick()
    assert _for(runs, info.id) == []
    assert admin.count_requests(account_id=info.id, path_contains="/sync-status") == 0


def test_a_failed_sync_status_read_records_nothing(world: World, admin: SandboxAdmin) -> None:
    info = world.link()
    admin.error_burst(100, status=503, account_id=info.id, path_contains="/sync-status")
    failed = _for(world.poll_tick(), info.id)
    recorded = world.status(info.id)
    admin.clear_faults()
    world.poll_cursor = None
    assert (failed, recorded) == ([], None)
    assert len(_for(world.poll_tick(), info.id)) == 1  # read next time, and acted on


def test_a_poll_tick_reads_at_most_its_share_of_accounts(
    world: World, admin: SandboxAdmin, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MERGE_PIPELINE_SYNC_STATUS_ACCOUNTS_PER_TICK", "2")
    linked = [world.link() for _ in range(3)]
    admin.reset_request_counts()
    world.poll_tick()
    first = admin.count_requests(path_contains="/sync-status")
    world.poll_tick()
    polled = [world.status(a.id) is not None for a in linked]
    assert (first, world.poll_cursor, polled) == (2, '{"offset": 1}', [True, True, True])


def test_an_account_polled_recently_is_not_polled_again_yet(
    world: World, admin: SandboxAdmin, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MERGE_PIPELINE_SYNC_STATUS_MIN_ACCOUNT_INTERVAL_S", "3600")
    info = world.link()
    admin.reset_request_counts()
    world.poll_tick()
    world.poll_cursor = None
    world.poll_tick()
    assert admin.count_requests(account_id=info.id, path_contains="/sync-status") == 1
    monkeypatch.setenv("MERGE_PIPELINE_SYNC_STATUS_MIN_ACCOUNT_INTERVAL_S", "0")
    world.poll_tick()
    assert admin.count_requests(account_id=info.id, path_contains="/sync-status") == 2


def test_a_webhook_tick_reads_at_most_its_batch(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MERGE_PIPELINE_WEBHOOK_SENSOR_BATCH", "1")
    info = world.link()
    start = json.loads(world.webhook_cursor or "{}")["last_id"]
    world.sync(info, ["hris.Employee"])  # two events
    world.webhook_tick()
    end = json.loads(world.webhook_cursor or "{}")["last_id"]
    with world.engine.connect() as connection:
        read = connection.execute(
            sa.select(sa.func.count()).where(inbox.c.id > start, inbox.c.id <= end)
        ).scalar_one()
    assert read == 1 and world.inbox_count(info.id) == 2


def test_unknown_accounts_unknown_models_and_malformed_events_are_skipped(
    world: World,
) -> None:
    info = world.link()
    account = {"id": info.id, "category": "hris"}
    status = {"status": "DONE", "last_sync_finished": "2026-12-01T10:00:00Z"}
    events: list[tuple[str, dict[str, Any]]] = [
        ("Employee.synced", {"linked_account": {"id": "acct-never-linked", "category": "hris"},
                             "data": {"sync_status": {**status, "model_id": "hris.Employee"}}}),
        ("Spaceship.synced", {"linked_account": account,
                              "data": {"sync_status": {**status, "model_id": "hris.Spaceship"}}}),
        ("Employee.synced", {"linked_account": account, "data": "not an object"}),
        ("Employee.synced", {"linked_account": account,
                             "data": {"sync_status": {**status, "model_id": "hris.Employee"}}}),
    ]  # fmt: skip
    for event, payload in events:
        world.redeliver({**payload, "hook": {"id": "x"}}, event=event)
    runs = world.webhook_tick()
    assert world.webhook_cursor == f'{{"last_id": {_last_inbox_id(world.engine)}}}'
    assert [r.asset_selection for r in _for(runs, info.id)] == [[EMPLOYEE]]  # the good one


def test_a_linked_account_becomes_a_partition_with_its_initial_sync_and_a_relink_syncs(
    world: World, sandbox: RunningSandbox, settings: Any, engine: sa.Engine
) -> None:
    origin = f"origin-{uuid.uuid4().hex[:10]}"
    merge_settings = settings.model_copy(update={"base_url": sandbox.base_url})

    def link() -> str:
        with MergeClient(merge_settings) as client:
            token = client.create_link_token("hris", origin, "Acme", "it@acme.example", ["hris"])
        done = world.admin.complete_link(token["link_token"], records=5, finish_initial_sync=False)
        account_id = str(done["account_id"])
        world.wait_for_inbox(account_id, world.inbox_count(account_id) + 1)
        return account_id

    account_id = link()
    initial = _for(world.webhook_tick(), account_id)
    relinked = link()
    relink = _for(world.webhook_tick(), account_id)
    assert account_id in world.instance.get_dynamic_partitions("hris_accounts")
    assert [r.run_key for r in initial] == [f"initial:{account_id}"] and relinked == account_id
    assert [r.run_key.split(":")[0] for r in relink if r.run_key] == ["relink"]


def test_an_account_discovery_added_before_its_token_came_gets_its_initial_sync_from_the_link(
    world: World, sandbox: RunningSandbox, settings: Any
) -> None:
    """Merge lists a new account at once; its linked webhook (the token) may come later. The
    discovery sensor then made it a partition without a sync: the webhook must not assume one."""
    merge_settings = settings.model_copy(update={"base_url": sandbox.base_url})
    with MergeClient(merge_settings) as client:
        token = client.create_link_token(
            "hris", f"origin-{uuid.uuid4().hex[:10]}", "Acme", "it@acme.example", ["hris"]
        )
    done = world.admin.complete_link(token["link_token"], records=5, finish_initial_sync=False)
    account_id = str(done["account_id"])
    world.instance.add_dynamic_partitions("hris_accounts", [account_id])  # discovery, no token
    world.wait_for_inbox(account_id, 1)
    initial = _for(world.webhook_tick(), account_id)
    assert [r.run_key for r in initial] == [f"initial:{account_id}"]


def test_an_account_waiting_for_every_model_gets_one_run_once_all_reported(
    world: World, admin: SandboxAdmin, monkeypatch: pytest.MonkeyPatch
) -> None:
    info = world.link()
    monkeypatch.setenv("MERGE_PIPELINE_SYNC_WAIT_FOR_ALL_MODELS", f"other,{info.id}")
    admin.set_model_status(info.id, "hris.Team", "DISABLED")
    world.poll_tick()  # first ping: every model reported at once
    world.sync(info, ["hris.Employee"])
    waiting = _for(world.webhook_tick(), info.id)
    rest = [m.model_id for m in load_catalog().category("hris") if m.model_id != "hris.Team"]
    world.sync(info, [m for m in rest if m != "hris.Employee"])
    [run] = _for(world.webhook_tick(), info.id)
    assert waiting == [] and len(run.asset_selection or []) == len(rest)


def test_two_sensors_racing_for_one_sync_request_one_run(world: World, engine: sa.Engine) -> None:
    """The compare-and-set claim: whoever loses the race gets no run request."""
    info = world.link()
    report = SyncReport("hris.Employee", "DONE", last_sync_finished=datetime.now(UTC))
    with engine.begin() as connection:
        observe(connection, info.id, report, webhook_verdict, seen="t", source="webhook")
    barrier = threading.Barrier(8)
    requested: list[int] = []

    def race() -> None:
        with engine.connect() as connection:
            barrier.wait()
            runs = _claim_runs(connection, {info.id: "hris"})
            requested.append(len(runs))

    threads = [threading.Thread(target=race) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(requested) == [0] * 7 + [1]


def test_the_run_shows_the_merge_sync_and_its_synced_fields(
    world: World, resources: dict[str, Any], instance: dg.DagsterInstance
) -> None:
    info = world.link()
    world.sync(info, ["hris.Employee"], status="PARTIALLY_SYNCED")
    [run] = _for(world.webhook_tick(), info.id)
    [assets] = [a for a in CATEGORY_ASSETS if a.node_def.name == "hris_mirror"]
    result = dg.materialize(
        [assets],
        partition_key=info.id,
        resources=resources,
        instance=instance,
        selection=run.asset_selection,
    )
    [materialization] = result.asset_materializations_for_node("hris_mirror")
    status = world.status(info.id)
    assert status is not None
    metadata = materialization.metadata
    assert metadata["merge_sync_id"].value == status["handled_sync_id"]
    assert metadata["merge_synced_fields"].value == status["synced_fields"]
    assert metadata["merge_sync_status"].value == "PARTIALLY_SYNCED"


def test_inbox_rows_younger_than_the_settle_time_wait_for_the_next_tick(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A row committed late under a lower id must not be passed by the cursor."""
    info = world.link()
    world.sync(info, ["hris.Employee"])
    start = world.webhook_cursor
    monkeypatch.setenv("MERGE_PIPELINE_WEBHOOK_SENSOR_SETTLE_S", "3600")
    unsettled = _for(world.webhook_tick(), info.id)
    cursor_then = world.webhook_cursor
    monkeypatch.setenv("MERGE_PIPELINE_WEBHOOK_SENSOR_SETTLE_S", "0")
    assert (unsettled, cursor_then) == ([], start)
    assert len(_for(world.webhook_tick(), info.id)) == 1


def test_the_poll_works_with_an_older_sdks_sync_status_without_result_or_finish(
    world: World, admin: SandboxAdmin
) -> None:
    """Without last_sync_finished a sync is named by its last_sync_start: once per start."""
    admin.update_config(sync_status_omits=["last_sync_result", "last_sync_finished"])
    try:
        info = world.link()
        first_ping = _for(world.poll_tick(), info.id)
        again = _for(world.poll_tick(), info.id)
        world.sync(info, ["hris.Employee"])
        after_sync = _for(world.poll_tick(), info.id)
    finally:
        admin.update_config(sync_status_omits=[])
    status = world.status(info.id)
    assert (len(first_ping), again, [r.asset_selection for r in after_sync]) == (
        1,
        [],
        [[EMPLOYEE]],
    )
    assert status is not None and str(status["handled_sync_id"]).startswith("started:")


def test_when_merge_fails_the_poll_tick_stops_and_the_rest_wait(
    world: World, admin: SandboxAdmin
) -> None:
    """A 5xx for everyone: one account's retries, not every account's, spend the tick."""
    linked = [world.link() for _ in range(3)]
    admin.error_burst(1_000, status=503, path_contains="/sync-status")
    admin.reset_request_counts()
    runs = world.poll_tick()
    asked = {a.id for a in linked if admin.count_requests(a.id, "/sync-status")}
    assert (runs, len(asked), world.poll_cursor) == ([], 1, '{"offset": 1}')


def test_the_webhook_of_a_partial_sync_the_poll_saw_first_still_brings_its_fields(
    world: World,
) -> None:
    info = world.link()
    world.poll_tick()
    world.sync(info, ["hris.Employee"], status="PARTIALLY_SYNCED")
    polled = _for(world.poll_tick(), info.id)
    from_webhook = _for(world.webhook_tick(), info.id)
    [payload] = world.inbox_payloads(info.id, "Employee.synced")
    status = world.status(info.id)
    assert (len(polled), from_webhook) == (1, [])
    assert status is not None and status["synced_fields"] == payload["data"]["synced_fields"]


def test_syncs_the_other_sensor_claimed_are_left_out_of_the_run(
    world: World, engine: sa.Engine
) -> None:
    info = world.link()
    finished = datetime.now(UTC)
    with engine.begin() as connection:
        for model in ("hris.Employee", "hris.Team"):
            report = SyncReport(model, "DONE", last_sync_finished=finished)
            observe(connection, info.id, report, webhook_verdict, seen="t", source="webhook")
        taken = claim(
            connection, [PendingSync(info.id, "hris", "hris.Team", instant(finished))], "poll", "k"
        )
    with engine.connect() as connection:
        [run] = _claim_runs(connection, {info.id: "hris"})
    status = world.status(info.id)
    assert len(taken) == 1 and run.asset_selection == [EMPLOYEE]
    assert status is not None and status["handled_run_key"] == run.run_key


def test_finished_syncs_past_a_ticks_budget_run_in_later_ticks_of_either_sensor_oldest_first(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A tick requests at most its budget of runs; the other reported syncs stay pending and
    the next ticks (no new webhook needed, the poll's as well) take them, the oldest first."""
    first, second, third = world.link(), world.link(), world.link()
    world.poll_tick()  # the first ping: every model Merge synced so far, run at once
    monkeypatch.setenv("MERGE_PIPELINE_RUN_REQUESTS_PER_TICK", "1")
    for info in (first, second, third):
        world.sync(info, ["hris.Employee"])
    ticks = [world.webhook_tick(), world.webhook_tick(), world.poll_tick(), world.webhook_tick()]
    assert [[r.partition_key for r in tick] for tick in ticks] == [
        [first.id], [second.id], [third.id], []
    ]  # fmt: skip
    assert all(r.asset_selection == [EMPLOYEE] for tick in ticks for r in tick)


def test_a_sync_held_back_by_a_relink_runs_once_the_account_is_healthy_again(
    world: World, engine: sa.Engine
) -> None:
    info = world.link()

    def status(value: str) -> None:
        with engine.begin() as connection:
            connection.execute(
                sa.update(linked_accounts)
                .where(linked_accounts.c.id == info.id)
                .values(status=value)
            )

    status("RELINK_NEEDED")
    world.sync(info, ["hris.Employee"])
    held = _for(world.webhook_tick(), info.id)
    status("COMPLETE")
    released = _for(world.webhook_tick(), info.id)
    assert held == [] and [r.asset_selection for r in released] == [[EMPLOYEE]]


def test_a_sync_reported_before_its_account_is_a_partition_runs_once_it_is_one(
    world: World,
) -> None:
    """A run for a key that is not a partition yet would fail the daemon's tick."""
    info = world.accounts.link("hris", records=10)  # stored; discovery has not added it yet
    world.sync(info, ["hris.Employee"])
    early = _for(world.webhook_tick(), info.id)
    world.instance.add_dynamic_partitions("hris_accounts", [info.id])
    later = _for(world.webhook_tick(), info.id)
    assert early == [] and [r.asset_selection for r in later] == [[EMPLOYEE]]


def test_each_accounts_claim_is_committed_before_the_next_account_is_claimed(
    world: World, engine: sa.Engine
) -> None:
    """The two sync sensors take accounts in their own orders: a tick holding one account's
    claimed rows while it waits for another's would deadlock with the other sensor."""
    first, second = world.link(), world.link()
    for info in (first, second):  # reported in turn (its own transaction: its own time)
        with engine.begin() as connection:  # the first reported, the first claimed
            report = SyncReport("hris.Employee", "DONE", last_sync_finished=datetime.now(UTC))
            observe(connection, info.id, report, webhook_verdict, seen="t", source="webhook")
    requested: list[dg.RunRequest] = []

    def tick() -> None:
        with engine.connect() as connection:
            requested.extend(_claim_runs(connection, {first.id: "hris", second.id: "hris"}))

    with engine.connect() as other_sensor:
        other_sensor.execute(  # holds the second account's row, as a racing tick would
            sa.select(merge_sync_status.c.model_id)
            .where(merge_sync_status.c.linked_account_id == second.id)
            .with_for_update()
        ).all()
        claiming = threading.Thread(target=tick)
        claiming.start()
        deadline = time.monotonic() + _WAIT_S
        while (world.status(first.id) or {}).get("handled_sync_id") is None:
            assert time.monotonic() < deadline, "the first account's claim was not committed"
            time.sleep(0.05)
        other_sensor.rollback()
    claiming.join(timeout=_WAIT_S)
    assert sorted(r.partition_key or "" for r in requested) == sorted([first.id, second.id])
