"""The code location on a cluster: the daemon launches runs onto two Celery workers over a
real Redis broker (``deploy/celery/dagster.yaml``, unchanged code).

What must hold whichever worker runs what: the mirror ends equal to the sandbox's ground truth;
an account never has two runs at once; Merge's per-account limit holds across every process
(the sandbox, enforcing it, logs each call's arrival); a webhook is consumed once; a worker
killed mid-run blocks nothing and loses nothing; the advisory lease is honoured across hosts;
and no secret travels on the broker.
"""

import itertools
import re
import time
from collections.abc import Callable

import celery
import dagster as dg
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL

from merge_pipeline.catalog import load_catalog
from merge_pipeline.warehouse.pipeline_tables import sync_runs
from merge_pipeline.warehouse.run_leases import account_run_lease, lease_holder
from merge_pipeline_tests.cluster.celery_stack import (
    BrokerLog,
    Workers,
    stop_schedules,
    worker_logs,
)
from merge_pipeline_tests.cluster.conftest import LIMIT, SANDBOX_WINDOW_S, SENTINEL_DB_PASSWORD
from merge_pipeline_tests.conftest import SENTINEL_API_KEY, SENTINEL_SIGNING_KEY
from merge_pipeline_tests.dagster_stack import FINISHED, DagsterStack
from merge_pipeline_tests.defs.conftest import Accounts
from merge_pipeline_tests.integration.sync.test_rate_limit_across_processes import busiest_window
from merge_pipeline_tests.integration.webhooks.conftest import receiver_settings, running_receiver
from merge_pipeline_tests.oracle import assert_mirror_matches
from merge_sandbox.admin import AccountInfo, SandboxAdmin
from merge_sandbox.testing import RunningSandbox

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SUCCESS = dg.DagsterRunStatus.SUCCESS
FAILURE = dg.DagsterRunStatus.FAILURE


def _wait(condition: Callable[[], bool], what: str, timeout_s: float = 180.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(1.0)


def _run(stack: DagsterStack, run_id: str) -> dg.DagsterRun:
    run = stack.instance.get_run_by_id(run_id)
    assert run is not None
    return run


def _worker_of(stack: DagsterStack, run: dg.DagsterRun) -> str:
    """The Celery worker that ran ``run``, as the result backend recorded it."""
    app = celery.Celery(backend=stack.env["DAGSTER_CELERY_BACKEND_URL"])
    try:
        return str(app.AsyncResult(run.tags["dagster-celery/task_id"]).worker)
    finally:
        app.close()


def _overlapping_runs(stack: DagsterStack, account_id: str) -> list[tuple[float, float]]:
    records = stack.instance.get_run_records(
        filters=dg.RunsFilter(tags={"merge/account": account_id})
    )
    spans = sorted((r.start_time, r.end_time) for r in records if r.start_time and r.end_time)
    return [a for a, b in itertools.pairwise(spans) if b[0] < a[1]]


def _unfinished(stack: DagsterStack, linked: list[AccountInfo]) -> list[dg.DagsterRun]:
    return [r for info in linked for r in stack.runs_of(info.id) if r.status not in FINISHED]


def _mirrored(engine: sa.Engine, admin: SandboxAdmin, info: AccountInfo) -> None:
    for model in load_catalog().category(info.category):
        assert_mirror_matches(engine, admin, info.id, model.model_id)


def _succeeded_after(stack: DagsterStack, account_id: str, created: float) -> bool:
    """Whether a run of the account created after ``created`` (epoch s) has succeeded."""
    records = stack.instance.get_run_records(
        filters=dg.RunsFilter(tags={"merge/account": account_id})
    )
    return any(
        r.dagster_run.status == SUCCESS and r.create_timestamp.timestamp() > created
        for r in records
    )


def test_accounts_of_two_categories_are_mirrored_by_runs_spread_over_the_workers(
    stack: DagsterStack,
    cluster: Workers,
    accounts: Accounts,
    admin: SandboxAdmin,
    engine: sa.Engine,
    sandbox: RunningSandbox,
    database_url: URL,
    encryption_key: str,
) -> None:
    """Discovery, a webhook and the safety-net schedule drive runs; two workers share them."""
    linked = [accounts.link(category, records=80) for category in ("hris", "ats") for _ in (1, 2)]
    for info in linked:  # the discovery sensor's initial syncs
        stack.wait_for_runs(info.id, 1, timeout_s=180)

    # Merge finishes a sync of one model: its signed webhook reaches the receiver, the inbox,
    # the webhook sensor, the queue, and a worker, once
    target = linked[0]
    settings = receiver_settings(database_url, encryption_key, sandbox.base_url)
    with running_receiver(settings, engine) as url:
        admin.configure_webhooks(url=f"{url}/webhooks/merge", signing_key=SENTINEL_SIGNING_KEY)
        try:
            admin.sync(target.id, creates=5, models=["hris.Employee"])
            _wait(
                lambda: any(
                    r.tags.get("merge/trigger") == "webhook" and r.status in FINISHED
                    for r in stack.runs_of(target.id)
                ),
                "no webhook-triggered run finished",
            )
        finally:
            admin.configure_webhooks(url=None)

    # the safety-net schedule (every minute here) syncs every account too
    def every_account_had_a_safety_net_run() -> bool:
        return all(
            any(
                r.tags.get("merge/trigger") == "safety-net" and r.status in FINISHED
                for r in stack.runs_of(info.id)
            )
            for info in linked
        )

    _wait(every_account_had_a_safety_net_run, "the safety-net schedule ran no sync", 180)
    stop_schedules(stack, ["safety_net_hris", "safety_net_ats"])  # the other tests count runs
    _wait(lambda: not _unfinished(stack, linked), "runs still queued or running", 180)

    runs = [run for info in linked for run in stack.runs_of(info.id) if run.status in FINISHED]
    failures = [stack.failure_of(run) for run in runs if run.status != SUCCESS]
    assert failures == [], worker_logs(stack)
    for info in linked:
        _mirrored(engine, admin, info)
    assert len({_worker_of(stack, run) for run in runs}) >= 2  # both workers ran syncs
    assert [a for info in linked for a in _overlapping_runs(stack, info.id)] == []
    webhook_runs = [r for r in stack.runs_of(target.id) if r.tags.get("merge/trigger") == "webhook"]
    assert len(webhook_runs) == 1  # the inbox row was consumed once, however many ticks since
    for info in linked:  # Merge's limit held across workers and sensors: it never had to say 429
        arrivals = [moment for moment, _ in admin.arrivals(info.id)]
        assert len(arrivals) > LIMIT and busiest_window(arrivals, SANDBOX_WINDOW_S) <= LIMIT
    with engine.connect() as connection:
        throttled = connection.execute(
            sa.select(
                sa.func.coalesce(sa.func.sum(sync_runs.c.stats["rate_limited"].as_integer()), 0)
            )
        ).scalar_one()
    assert throttled == 0


def _lease_holder_pid(engine: sa.Engine, account_id: str) -> int:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with engine.connect() as connection:
            holder = lease_holder(connection, account_id)
        if holder is not None:
            [pid] = re.findall(r"pid=(\d+)", holder)
            return int(pid)
        time.sleep(0.2)
    raise TimeoutError("no run took the account's lease")


def _committed_cursors(engine: sa.Engine, run_id: str, column: str) -> dict[str, object]:
    """Per model, the run's ``cursor_after`` of its finished syncs or ``cursor_before`` of all."""
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(sync_runs.c.model_id, sync_runs.c[column]).where(
                sync_runs.c.sync_run_id == run_id,
                sync_runs.c.status == "succeeded" if column == "cursor_after" else sa.true(),
            )
        )
        return {model: cursor for model, cursor in rows}


def test_a_worker_killed_mid_run_blocks_nothing_and_the_next_run_resumes(
    stack: DagsterStack,
    cluster: Workers,
    accounts: Accounts,
    admin: SandboxAdmin,
    engine: sa.Engine,
) -> None:
    """The account's initial sync dies with its worker after some models committed; the run is
    failed, the account's next run starts and carries on from the committed cursors."""
    admin.slow_responses(0.3, count=None)  # the account's initial run, slowed from its first call
    info = accounts.link("hris", records=150)
    worker = cluster.owner_of(_lease_holder_pid(engine, info.id))
    [killed] = [r for r in stack.runs_of(info.id) if r.status == dg.DagsterRunStatus.STARTED]
    _wait(lambda: bool(_committed_cursors(engine, killed.run_id, "cursor_after")), "no commit")
    worker.kill()  # the whole worker, master and pool, as a lost host
    committed = _committed_cursors(engine, killed.run_id, "cursor_after")
    admin.clear_faults()
    admin.rate_limit(per_minute=LIMIT, window_seconds=SANDBOX_WINDOW_S)
    _wait(lambda: _run(stack, killed.run_id).status in FINISHED, "the killed run stayed STARTED")
    assert _run(stack, killed.run_id).status == FAILURE

    cluster.start("worker3")  # its replacement
    stack.launch("sync_hris", info.id)
    [*_, after] = stack.wait_for_runs(info.id, 2, timeout_s=180)
    assert after.status == SUCCESS
    resumed_from = _committed_cursors(engine, after.run_id, "cursor_before")
    assert {model: resumed_from[model] for model in committed} == committed
    _mirrored(engine, admin, info)  # what the killed run had not committed was fetched again


def test_a_run_on_a_worker_waits_for_the_account_lease_held_by_another_host(
    stack: DagsterStack,
    cluster: Workers,
    accounts: Accounts,
    admin: SandboxAdmin,
    engine: sa.Engine,
) -> None:
    """The advisory lease is PostgreSQL's: a run on any worker waits while any process holds it."""
    info = accounts.link("ats", records=100)
    with account_run_lease(engine, info.id, holder="another host"):
        # the discovery sensor's initial sync of the account starts on a worker, and waits
        _wait(
            lambda: any(r.status == dg.DagsterRunStatus.STARTED for r in stack.runs_of(info.id)),
            "the run never started",
        )
        [waiting] = stack.runs_of(info.id)
        time.sleep(3)  # time to sync, were the lease not holding it back
        with engine.connect() as connection:
            released_at = connection.execute(sa.select(sa.func.clock_timestamp())).scalar_one()
    _wait(lambda: _run(stack, waiting.run_id).status in FINISHED, "the waiting run never ended")
    with engine.connect() as connection:
        first_sync = connection.execute(
            sa.select(sa.func.min(sync_runs.c.started_at)).where(
                sync_runs.c.sync_run_id == waiting.run_id
            )
        ).scalar_one()
    assert _run(stack, waiting.run_id).status == SUCCESS
    assert first_sync is not None and first_sync >= released_at
    _mirrored(engine, admin, info)


def test_no_secret_travels_on_the_broker(
    stack: DagsterStack,
    cluster: Workers,
    accounts: Accounts,
    admin: SandboxAdmin,
    broker: BrokerLog,
    encryption_key: str,
) -> None:
    """Run config and task payloads carry the instance's settings by variable name only."""
    info = accounts.link("hris", records=30)
    stack.wait_for_runs(info.id, 1, timeout_s=180)
    carried = broker.text()
    queue = stack.env["DAGSTER_CELERY_QUEUE"]
    # the log is of real tasks: runs went through this session's queue, with the instance ref
    assert queue in carried and "execute_job_args_packed" in carried
    assert "DAGSTER_PG_URL" in carried  # the storage URL travels as a reference, not a value
    tokens = [account.account_token for account in admin.accounts()]
    secrets = [SENTINEL_API_KEY, SENTINEL_SIGNING_KEY, SENTINEL_DB_PASSWORD, encryption_key]
    assert [s for s in [*secrets, *tokens] if s in carried] == []
