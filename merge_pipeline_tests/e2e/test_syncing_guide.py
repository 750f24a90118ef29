"""Merge's syncing guide, end to end: sandbox -> signed webhooks -> receiver -> sensors -> runs.

Everything is a real process over real HTTP: the sandbox plays Merge (Link, syncs, signed
webhooks that it repeats, delays and reorders, retrying while the receiver is down), the
receiver is ``merge-pipeline receiver`` in its own process with its secrets in its environment
only, and ``dagster-daemon`` runs the sensors and the runs they request on a PostgreSQL instance.

1. Accounts link through Merge Link (``/link-token``, then the end user completes it, which
   fires ``LinkedAccount.linked`` with the token); Merge then syncs them (each sync is paced by
   the test, so each one can be counted); the mirror equals the sandbox, and each model of each
   Merge sync was fetched by exactly one run, whatever the webhooks did and the poll saw.
   Counted per (account, top-level model), not per account: a sync whose webhooks straddle two
   sensor ticks is fetched by two runs of disjoint models, which is no extra fetch. Each
   account also has exactly one ``initial:`` run (all models) from its linked webhook.
2. An account needing relinking fails its check, gets no run even when Merge's (late) synced
   webhooks arrive, and after ``merge-pipeline accounts relink`` plus the end user's link page
   its check passes and Merge's own scheduled syncs reach the mirror again.
"""

import hashlib
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import dagster as dg
import httpx
import orjson
import pytest
import sqlalchemy as sa
from dagster._core.scheduler.instigation import InstigatorType
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus
from pydantic import SecretStr
from sqlalchemy.engine import URL

from merge_pipeline.catalog import load_catalog
from merge_pipeline.defs.assets import asset_key
from merge_pipeline.defs.checks import RELINK
from merge_pipeline.demo import is_receiver_answer
from merge_pipeline.merge.client import MergeClient
from merge_pipeline.planning.merge_syncs import instant
from merge_pipeline.processes import ManagedProcess
from merge_pipeline.settings import Settings
from merge_pipeline.warehouse.pipeline_tables import (
    linked_accounts,
    merge_sync_status,
    webhook_inbox,
)
from merge_pipeline_tests.conftest import SENTINEL_API_KEY, SENTINEL_SIGNING_KEY
from merge_pipeline_tests.dagster_stack import FINISHED, DagsterStack, dagster_stack
from merge_pipeline_tests.oracle import assert_mirror_matches
from merge_sandbox.admin import SandboxAdmin
from merge_sandbox.testing import RunningSandbox, running_sandbox
from merge_sandbox.webhooks import SIGNATURE_HEADER, sign

pytestmark = [pytest.mark.integration, pytest.mark.slow]

T = TypeVar("T")
RECORDS = 80
#: Merge syncs the test asks of each account of the first scenario, after the initial one
ROUNDS = 2
#: how Merge delivers: every webhook may come twice, late (past the next sync), or overtaken
MISBEHAVING = {
    "duplicate_probability": 0.5,
    "reorder_probability": 0.5,
    "delay_probability": 0.3,
    "delay_seconds": 20.0,
}
#: Merge retries a webhook the receiver did not take (down, 5xx) for a long while
RETRYING = {"max_attempts": 40, "backoff_seconds": 1.0, "backoff_factor": 1.25}
CATEGORY_R = "filestorage"
CREDENTIALS_TEXT = "Invalid login credentials"
WAIT_S = 240.0


#: says where things stand when a wait gives up (set by the fixtures)
_STATE: list[Callable[[], str]] = []


def _wait(check: Callable[[], T | None], what: str, timeout_s: float = WAIT_S) -> T:
    """Poll ``check`` until it returns something truthy; fail naming what was awaited."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            state = "; ".join(describe() for describe in _STATE)
            raise TimeoutError(f"gave up after {timeout_s:.0f}s waiting for {what} ({state})")
        time.sleep(0.5)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _clean_environ() -> dict[str, str]:
    """This process's environment without any MERGE_PIPELINE_* (the session's database...)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("MERGE_PIPELINE_")}


# -- the deployment ------------------------------------------------------------------------------


@dataclass
class Receiver:
    process: ManagedProcess
    url: str
    log_file: Path

    def log(self) -> str:
        return self.log_file.read_text(errors="replace") if self.log_file.exists() else ""


@pytest.fixture(scope="module")
def sandbox() -> Iterator[RunningSandbox]:
    # a seed of its own: account ids derive from it, and other modules share the session database
    with running_sandbox(accounts=0, records=0, api_key=SENTINEL_API_KEY, seed=71) as running:
        yield running


@pytest.fixture(scope="module")
def secrets_env(database_url: URL, encryption_key: str, sandbox: RunningSandbox) -> dict[str, str]:
    """What every process of the deployment gets, through its environment only."""
    return {
        "MERGE_PIPELINE_API_KEY": SENTINEL_API_KEY,
        "MERGE_PIPELINE_BASE_URL": sandbox.base_url,
        "MERGE_PIPELINE_TOKEN_ENCRYPTION_KEY": encryption_key,
        "MERGE_PIPELINE_DATABASE_URL": database_url.render_as_string(hide_password=False),
        "MERGE_PIPELINE_RATE_LIMIT_PER_MINUTE": "100000",
    }


@pytest.fixture(scope="module")
def receiver(
    sandbox: RunningSandbox, engine: sa.Engine, secrets_env: dict[str, str]
) -> Iterator[Receiver]:
    """``merge-pipeline receiver`` in its own process, registered with the sandbox."""
    port = _free_port()
    workdir = Path(tempfile.mkdtemp(prefix="mp-receiver-"))
    log_file = workdir / "receiver.log"
    process = ManagedProcess(
        "webhook-receiver",
        [sys.executable, "-m", "merge_pipeline.cli", "receiver",
         "--host", "127.0.0.1", "--port", str(port)],
        env={**secrets_env, "MERGE_PIPELINE_WEBHOOK_SIGNING_KEY": SENTINEL_SIGNING_KEY},
        ready_url=f"http://127.0.0.1:{port}/health",
        ready_check=is_receiver_answer,
        cwd=workdir,  # away from any developer's .env
        log_file=log_file,
    )  # fmt: skip
    process.start()
    try:
        process.wait_ready()
        url = f"http://127.0.0.1:{port}/webhooks/merge"
        sandbox.admin.configure_webhooks(
            url=url, signing_key=SENTINEL_SIGNING_KEY, **RETRYING, **MISBEHAVING
        )
        yield Receiver(process, url, log_file)
    finally:
        sandbox.admin.configure_webhooks(url=None)
        process.stop()


@pytest.fixture(scope="module")
def stack(
    postgres_server: URL,
    secrets_env: dict[str, str],
    engine: sa.Engine,
    receiver: Receiver,
) -> Iterator[DagsterStack]:
    far_hour = (datetime.now(UTC).hour + 12) % 24
    environment = {
        **secrets_env,
        "MERGE_PIPELINE_WEBHOOK_SENSOR_INTERVAL_S": "5",
        "MERGE_PIPELINE_SYNC_STATUS_INTERVAL_S": "10",  # their minimum
        "MERGE_PIPELINE_HEALTH_INTERVAL_S": "10",
        # accounts become partitions through the linked-account webhook here; discovery ticks
        # once at start-up, before any account exists (see ``linked``)
        "MERGE_PIPELINE_DISCOVERY_INTERVAL_S": "86400",
        # the nightly safety net would add runs to the counts: its window is half a day away
        "MERGE_PIPELINE_SAFETY_NET_START_HOUR": str(far_hour),
        "MERGE_PIPELINE_SAFETY_NET_HOURS": "1",
        "MERGE_PIPELINE_WATCHDOG_INTERVAL_S": "5",
        "MERGE_PIPELINE_WATCHDOG_GRACE_S": "15",
    }
    with dagster_stack(postgres_server, environment) as running:
        _STATE.append(partial(_where_things_stand, running, engine, receiver))
        yield running
        _STATE.clear()


@pytest.fixture(scope="module")
def linked(
    stack: DagsterStack, sandbox: RunningSandbox, secrets_env: dict[str, str]
) -> dict[str, str]:
    """Three accounts linked through Merge Link: "A", "B" and "R" (relinked later), of small
    categories (every run also evaluates the category's checks). Merge finishes each
    account's initial sync right after the link."""
    settings = Settings(
        api_key=SecretStr(SENTINEL_API_KEY),
        token_encryption_key=SecretStr(secrets_env["MERGE_PIPELINE_TOKEN_ENCRYPTION_KEY"]),
        database_url=secrets_env["MERGE_PIPELINE_DATABASE_URL"],
        base_url=sandbox.base_url,
        _env_file=None,
    )
    # discovery would make an account listed by Merge a partition too, racing the linked
    # webhook: it ticks once at start-up (its interval is a day here), before anything links
    _wait(
        partial(_completed_tick_since, stack, "linked_account_discovery", 0.0),
        "the discovery sensor's first tick",
    )
    ids = {}
    with MergeClient(settings) as client:
        for name, category in (("A", "filestorage"), ("B", "knowledgebase"), ("R", CATEGORY_R)):
            origin = f"guide-{name}-{uuid.uuid4().hex[:8]}"
            link = client.create_link_token(
                category, origin, f"Org {name}", f"it@{name.lower()}.example", [category]
            )
            done = sandbox.admin.complete_link(link["link_token"], records=RECORDS)
            ids[name] = str(done["account_id"])
    return ids


def _where_things_stand(stack: DagsterStack, engine: sa.Engine, receiver: Receiver) -> str:
    with engine.connect() as connection:
        inbox = connection.execute(
            sa.select(webhook_inbox.c.event, sa.func.count()).group_by(webhook_inbox.c.event)
        ).all()
        syncs = connection.execute(
            sa.select(
                merge_sync_status.c.linked_account_id,
                merge_sync_status.c.model_id,
                merge_sync_status.c.status,
                merge_sync_status.c.reported_sync_id,
                merge_sync_status.c.handled_sync_id,
            ).order_by(merge_sync_status.c.linked_account_id, merge_sync_status.c.model_id)
        ).all()
    runs = [
        (r.tags.get("merge/account"), r.tags.get("dagster/run_key"), r.status.value)
        for r in (record.dagster_run for record in stack.instance.get_run_records())
    ]
    ticks = []
    for state in stack.instance.all_instigator_state(instigator_type=InstigatorType.SENSOR):
        for tick in stack.instance.get_ticks(
            state.instigator_origin_id, state.selector_id, limit=1
        ):
            ticks.append(f"{state.instigator_name}: {tick.status.value} {tick.error or ''}")
    return (
        f"inbox {[tuple(r) for r in inbox]}; sync status {[tuple(r) for r in syncs][:12]}; "
        f"runs {runs}; "
        f"ticks {ticks}; receiver log tail {receiver.log()[-1500:]!r}"
    )


# -- reading what happened -----------------------------------------------------------------------


def _top_level(category: str) -> list[str]:
    """Models no other model lists (a nested one also rides along with its parent's runs)."""
    return [m.model_id for m in load_catalog().category(category) if not m.is_nested]


def _merge_syncs(admin: SandboxAdmin, account_id: str) -> dict[str, str]:
    """Model id -> the id of Merge's last finished sync of it (its ``last_sync_finished``)."""
    return {
        row["model_id"]: instant(datetime.fromisoformat(row["last_sync_finished"]))
        for row in admin.account(account_id)["sync_status"]
        if row.get("last_sync_finished")
    }


def _handled(engine: sa.Engine, account_id: str) -> dict[str, tuple[str | None, str | None]]:
    """Model id -> (the Merge sync a run was requested for, that run's key)."""
    query = sa.select(
        merge_sync_status.c.model_id,
        merge_sync_status.c.handled_sync_id,
        merge_sync_status.c.handled_run_key,
    ).where(merge_sync_status.c.linked_account_id == account_id)
    with engine.connect() as connection:
        return {
            r.model_id: (r.handled_sync_id, r.handled_run_key) for r in connection.execute(query)
        }


def _reported(engine: sa.Engine, account_id: str) -> dict[str, str | None]:
    query = sa.select(merge_sync_status.c.model_id, merge_sync_status.c.reported_sync_id).where(
        merge_sync_status.c.linked_account_id == account_id
    )
    with engine.connect() as connection:
        return {r.model_id: r.reported_sync_id for r in connection.execute(query)}


def _run_with_key(stack: DagsterStack, run_key: str) -> dg.DagsterRun | None:
    records = stack.instance.get_run_records(
        filters=dg.RunsFilter(tags={"dagster/run_key": run_key}), limit=1
    )
    return records[0].dagster_run if records else None


def _fetched(
    stack: DagsterStack, engine: sa.Engine, account_id: str, syncs: dict[str, str]
) -> list[dg.RunRecord] | None:
    """The finished runs that fetched ``syncs`` (every top-level model's), once all have."""
    handled = _handled(engine, account_id)
    keys = set()
    for model_id, sync_id in syncs.items():
        got, run_key = handled.get(model_id, (None, None))
        if got != sync_id or run_key is None:
            return None
        keys.add(run_key)
    records = []
    for key in sorted(keys):
        found = stack.instance.get_run_records(
            filters=dg.RunsFilter(tags={"dagster/run_key": key}), limit=1
        )
        if not found or found[0].dagster_run.status not in FINISHED:
            return None
        records.append(found[0])
    return records


def _sensor_state(stack: DagsterStack, name: str) -> Any:
    states = stack.instance.all_instigator_state(instigator_type=InstigatorType.SENSOR)
    return next((s for s in states if s.instigator_name == name), None)


def _completed_tick_since(stack: DagsterStack, name: str, moment: float) -> bool:
    state = _sensor_state(stack, name)
    if state is None:
        return False
    ticks = stack.instance.get_ticks(state.instigator_origin_id, state.selector_id, limit=3)
    for tick in ticks:
        if tick.is_failure:
            raise AssertionError(f"sensor {name} failed a tick: {tick.error}")
    return any(t.timestamp > moment and t.is_completed for t in ticks)


def _webhook_cursor(stack: DagsterStack) -> int:
    state = _sensor_state(stack, "merge_webhook_sync")
    cursor = state.instigator_data.cursor if state and state.instigator_data else None
    return int(orjson.loads(cursor or "{}").get("last_id", 0))


def _last_inbox_id(engine: sa.Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(sa.select(sa.func.max(webhook_inbox.c.id))).scalar() or 0)


def _settle(
    stack: DagsterStack, admin: SandboxAdmin, engine: sa.Engine, accounts: list[str]
) -> None:
    """Until nothing more can happen: every webhook delivered and read, a poll and a webhook
    tick since, and no run of the accounts queued or running."""
    _wait(partial(_delivered_all, admin), "the sandbox to deliver every webhook")
    last = _last_inbox_id(engine)
    _wait(partial(_read_up_to, stack, last), f"the webhook sensor to read inbox row {last}")
    mark = time.time()
    _wait_for_ticks(stack, mark)
    for account_id in accounts:
        _wait(partial(_all_finished, stack, account_id), f"every run of {account_id} to finish")


def _delivered_all(admin: SandboxAdmin) -> bool:
    return bool(admin.deliveries()["pending"] == 0)


def _read_up_to(stack: DagsterStack, inbox_id: int) -> bool:
    return _webhook_cursor(stack) >= inbox_id


def _all_finished(stack: DagsterStack, account_id: str) -> bool:
    return all(r.status in FINISHED for r in stack.runs_of(account_id))


def _wait_for_ticks(stack: DagsterStack, mark: float) -> None:
    """Until the webhook sensor and the poll have each completed a tick begun after ``mark``."""
    for sensor in ("merge_webhook_sync", "merge_sync_status_poll"):
        _wait(partial(_completed_tick_since, stack, sensor, mark), f"a tick of {sensor}")


def _failures(stack: DagsterStack, runs: list[dg.DagsterRun]) -> list[str]:
    return [stack.failure_of(r) for r in runs if r.status != dg.DagsterRunStatus.SUCCESS]


def _latest_check(
    stack: DagsterStack, key: dg.AssetCheckKey
) -> tuple[AssetCheckExecutionRecordStatus, str] | None:
    record = stack.instance.event_log_storage.get_latest_asset_check_execution_by_key([key]).get(
        key
    )
    if record is None or record.status == AssetCheckExecutionRecordStatus.PLANNED:
        return None  # a run is evaluating it: its result comes with the run
    if record.evaluation is None:
        return None
    return record.status, str(record.evaluation.metadata.get("accounts", ""))


def _held(engine: sa.Engine, account_id: str) -> bool:
    query = sa.select(linked_accounts.c.status).where(linked_accounts.c.id == account_id)
    with engine.connect() as connection:
        return connection.execute(query).scalar() == "RELINK_NEEDED"


def _synced_events(admin: SandboxAdmin, account_id: str) -> int:
    """How many syncs of the account Merge finished (one LinkedAccount.synced each)."""
    events = {
        d["event_id"]
        for d in admin.deliveries()["deliveries"]
        if d.get("event") == "LinkedAccount.synced" and account_id in d.get("body", "")
    }
    return len(events)


def _syncs_of(answer: dict[str, Any], models: list[str]) -> dict[str, str]:
    """Model id -> sync id, from the sync statuses the sandbox answered a sync with."""
    return {
        row["model_id"]: instant(datetime.fromisoformat(row["last_sync_finished"]))
        for row in answer["sync_status"]
        if row["model_id"] in models and row.get("last_sync_finished")
    }


def _describe(run: dg.DagsterRun) -> str:
    models = (
        "all" if run.asset_selection is None else sorted(k.path[-1] for k in run.asset_selection)
    )
    return f"{run.tags.get('dagster/run_key')} {models} {run.status.value}"


def _runs_per_model(runs: list[dg.DagsterRun], category: str) -> dict[str, int]:
    """Top-level model -> how many runs fetched it (a run without a selection fetches all)."""
    catalog = load_catalog()
    return {
        model_id: sum(
            1
            for run in runs
            if run.asset_selection is None
            or asset_key(catalog.model(model_id)) in run.asset_selection
        )
        for model_id in _top_level(category)
    }


# -- 1. webhooks and the poll: the mirror, one run per Merge sync --------------------------------


def test_each_merge_sync_reaches_the_mirror_through_exactly_one_run(
    stack: DagsterStack,
    linked: dict[str, str],
    sandbox: RunningSandbox,
    engine: sa.Engine,
    receiver: Receiver,
) -> None:
    admin = sandbox.admin
    accounts = {linked["A"]: "filestorage", linked["B"]: "knowledgebase"}
    latencies: list[tuple[float, str]] = []
    for account_id, category in accounts.items():  # the initial sync Merge ran at the link
        syncs = _syncs_of(admin.account(account_id), _top_level(category))
        _wait(partial(_fetched, stack, engine, account_id, syncs), f"{account_id}'s initial sync")
    for _ in range(ROUNDS):
        for account_id, category in accounts.items():
            answer = admin.sync(account_id, creates=4, updates=6, deletes=2)
            finished = time.time()
            fetching = _wait(
                partial(
                    _fetched, stack, engine, account_id, _syncs_of(answer, _top_level(category))
                ),
                f"the runs fetching Merge's sync of {account_id}",
            )
            committed = max(record.end_time or 0.0 for record in fetching)
            how = "+".join(sorted({r.dagster_run.tags["merge/trigger"] for r in fetching}))
            latencies.append((committed - finished, how))
    _assert_a_bad_signature_leaves_no_trace(receiver, engine, linked["A"])
    _settle(stack, admin, engine, list(accounts))

    for account_id, category in accounts.items():
        merge_syncs = _synced_events(admin, account_id)
        assert merge_syncs == 1 + ROUNDS, f"Merge synced {account_id} {merge_syncs} times"
        runs = stack.runs_of(account_id)
        assert _failures(stack, runs) == []
        triggers = Counter(r.tags.get("merge/trigger") for r in runs)
        print(f"{category} account {account_id}: {len(runs)} runs, by trigger {dict(triggers)}")
        # one initial run (all models), and each model of each Merge sync fetched by one run
        initial = [r for r in runs if str(r.tags.get("dagster/run_key")).startswith("initial:")]
        assert len(initial) == 1, [_describe(r) for r in runs]
        assert _runs_per_model(runs, category) == dict.fromkeys(
            _top_level(category), 1 + merge_syncs
        ), [_describe(r) for r in runs]
        for model in load_catalog().category(category):
            assert_mirror_matches(engine, admin, account_id, model.model_id)

    log = admin.deliveries()["deliveries"]
    misbehaviour = Counter(note for d in log for note in d["notes"])
    misbehaviour.update("repeated" for d in log if d["copy"])
    assert set(misbehaviour) == {"delayed", "reordered", "repeated"}, misbehaviour
    delivered = {hashlib.sha256(d["body"].encode()).hexdigest() for d in log if d["delivered"]}
    with engine.connect() as connection:
        stored = connection.execute(
            sa.select(sa.func.count()).where(webhook_inbox.c.body_sha256.in_(sorted(delivered)))
        ).scalar()
    assert stored == len(delivered)  # each event once, however often it came
    seconds = [s for s, _ in latencies]
    print(
        f"webhook-to-mirror latency over {len(seconds)} Merge syncs (sync finished -> the run "
        f"that fetched it finished): median {statistics.median(seconds):.1f}s, "
        f"min {min(seconds):.1f}s, max {max(seconds):.1f}s; fetched by "
        f"{dict(Counter(t for _, t in latencies))}; webhooks {dict(misbehaviour)}"
    )


def _assert_a_bad_signature_leaves_no_trace(
    receiver: Receiver, engine: sa.Engine, account_id: str
) -> None:
    marker = f"forged-{uuid.uuid4().hex}"
    body = orjson.dumps(
        {
            "hook": {"id": marker, "event": "File.synced", "target": receiver.url},
            "linked_account": {"id": account_id, "status": "COMPLETE"},
            "data": {"synced_fields": [marker], "sync_status": {"status": "DONE"}},
        }
    )
    forged = sign(body, "not-" + SENTINEL_SIGNING_KEY)
    answers = [
        httpx.post(receiver.url, content=body, headers={SIGNATURE_HEADER: forged}, timeout=10),
        httpx.post(receiver.url, content=body, timeout=10),
    ]
    assert [a.status_code for a in answers] == [401, 401]
    _wait(partial(_refusals, receiver, 2), "the receiver's two refusal lines")
    digest = hashlib.sha256(body).hexdigest()
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(sa.func.count()).where(
                sa.or_(
                    webhook_inbox.c.body_sha256 == digest,
                    sa.cast(webhook_inbox.c.payload, sa.Text).contains(marker),
                )
            )
        ).scalar()
    log = receiver.log()
    assert (rows, marker in log, forged in log) == (0, False, False)


def _refusals(receiver: Receiver, count: int) -> bool:
    return receiver.log().count("refused a webhook") >= count


# -- 2. relinking ----------------------------------------------------------------------------


def _check_is(
    stack: DagsterStack, key: dg.AssetCheckKey, status: AssetCheckExecutionRecordStatus
) -> str | None:
    """The accounts the check's latest evaluation names, once that evaluation has ``status``."""
    latest = _latest_check(stack, key)
    return latest[1] or "none" if latest is not None and latest[0] == status else None


def _reported_all(engine: sa.Engine, account_id: str, syncs: dict[str, str]) -> bool:
    reported = _reported(engine, account_id)
    return all(reported.get(m) == s for m, s in syncs.items())


def _synced_since(admin: SandboxAdmin, account_id: str, moment: datetime) -> dict[str, str]:
    """The account's last Merge syncs, once every top-level model's finished after ``moment``."""
    syncs = _syncs_of(admin.account(account_id), _top_level(CATEGORY_R))
    if len(syncs) == len(_top_level(CATEGORY_R)) and all(
        datetime.fromisoformat(s) > moment for s in syncs.values()
    ):
        return syncs
    return {}


def _no_sync_running(admin: SandboxAdmin) -> bool:
    return not admin.sync_schedule()["running"]


def _not_held(engine: sa.Engine, account_id: str) -> bool:
    return not _held(engine, account_id)


def test_an_account_needing_relink_is_held_flagged_and_resumes_after_relinking(
    stack: DagsterStack,
    linked: dict[str, str],
    sandbox: RunningSandbox,
    engine: sa.Engine,
    receiver: Receiver,
    secrets_env: dict[str, str],
) -> None:
    admin = sandbox.admin
    account_id = linked["R"]
    top = _top_level(CATEGORY_R)
    check = dg.AssetCheckKey(asset_key(next(iter(load_catalog().category(CATEGORY_R)))), RELINK)
    initial = _syncs_of(admin.account(account_id), top)
    _wait(partial(_fetched, stack, engine, account_id, initial), f"{account_id}'s initial sync")
    _settle(stack, admin, engine, [account_id])
    before = stack.runs_of(account_id)
    admin.configure_webhooks(delay_probability=0.0)

    # Merge finishes a sync, then the credentials break. The receiver is down meanwhile, so the
    # synced webhooks reach it only through Merge's retries, after the account is held; and
    # Merge's /sync-status fails for the account, so the poll does not fetch the sync first.
    receiver.process.stop()
    admin.error_burst(10_000, status=503, account_id=account_id, path_contains="sync-status")
    late = _syncs_of(admin.sync(account_id, creates=3, updates=3), top)
    admin.make_relink_needed(account_id, error_description=CREDENTIALS_TEXT)
    _wait(partial(_held, engine, account_id), f"the health sensor to hold {account_id}")
    named = _wait(
        partial(_check_is, stack, check, AssetCheckExecutionRecordStatus.FAILED),
        "no_relink_needed to fail",
    )
    assert account_id in named and f"merge-pipeline accounts relink {account_id}" in named
    admin.clear_faults()

    receiver.process.start()
    receiver.process.wait_ready()
    _wait(
        partial(_reported_all, engine, account_id, late),
        "the webhook sensor to read Merge's late synced webhooks",
    )
    _wait_for_ticks(stack, time.time())
    held_runs = stack.runs_of(account_id)
    assert len(held_runs) == len(before), [r.tags for r in held_runs[len(before) :]]
    assert _held(engine, account_id)

    # the operator asks for a link; the end user opens it and reconnects
    relink = subprocess.run(
        [sys.executable, "-m", "merge_pipeline.cli", "accounts", "relink", account_id],
        env={**_clean_environ(), **secrets_env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tempfile.gettempdir(),
    )
    assert relink.returncode == 0, relink.stderr
    magic_link = relink.stdout.strip().splitlines()[-1]
    page = httpx.post(magic_link, timeout=10)
    assert page.status_code == 200 and "relinked" in page.text, page.text
    relinked_at = datetime.fromisoformat(admin.clock()["now"])  # on Merge's clock

    _wait(
        partial(_check_is, stack, check, AssetCheckExecutionRecordStatus.SUCCEEDED),
        "no_relink_needed to pass after the relink",
    )
    _wait(partial(_not_held, engine, account_id), f"the hold of {account_id} to lift")
    # Merge syncs again on its own schedule; those syncs reach the mirror by themselves
    admin.sync_schedule(every_seconds=20, duration_seconds=1, creates=2, updates=3, deletes=1)
    try:
        resumed = _wait(
            partial(_synced_since, admin, account_id, relinked_at),
            f"Merge's first scheduled sync of {account_id} after the relink",
        )
        _wait(partial(_fetched, stack, engine, account_id, resumed), "the run fetching it")
    finally:
        admin.sync_schedule(every_seconds=0)
    _wait(partial(_no_sync_running, admin), "Merge's running syncs to finish")
    _settle(stack, admin, engine, list(linked.values()))
    after = stack.runs_of(account_id)[len(before) :]
    print(f"after the relink: {dict(Counter(r.tags.get('merge/trigger') for r in after))}")
    assert _failures(stack, after) == []
    for model in load_catalog().category(CATEGORY_R):
        assert_mirror_matches(engine, admin, account_id, model.model_id)
