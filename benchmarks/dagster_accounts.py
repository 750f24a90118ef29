"""Dagster's overhead end to end (issue #14.5): accounts brought up to date through runs vs the
engine alone, and a webhook's way from the receiver to the mirror.

A sandbox process serves ``--accounts`` linked hris accounts of ``--records`` records each;
their tokens are stored in two fresh databases, one per way of syncing them:

* engine alone: ``merge-pipeline sync --all-accounts`` in one process (wall time, its CPU);
* Dagster: ``dagster-daemon run`` on a PostgreSQL instance with the repository's
  ``dagster.yaml`` (queued run coordinator, its run limits); the discovery sensor's first tick
  turns every account into a partition and requests its initial sync, one run per account.
  Wall time from the daemon's start to the last run's end; CPU summed over the daemon's process
  tree (daemon, code server, run workers: live processes' own CPU plus that of the children
  they reaped, from ``psutil``), split at the first run's creation into start-up and runs.

Then, with the same deployment, ``--webhooks`` times (one account each, in turn): Merge syncs
the account (a few records change) and sends its signed webhooks to ``merge-pipeline
receiver``; the webhook sensor reads the inbox and requests a run; the run stores the change.
Latency: from the inbox row's ``received_at`` to the changed row's ``_mirrored_at`` (both the
database's clock). It is mostly the sensor's interval and settle time (set below, printed) plus
a run's start-up. The sandbox's and PostgreSQL's CPU are in neither figure.

Run: ``python -m benchmarks.dagster_accounts [--accounts N] [--records R] [--webhooks W]``.
"""

import argparse
import os
import socket
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import dagster as dg
import psutil
import sqlalchemy as sa
from pydantic import SecretStr

from benchmarks.child import run_cli
from benchmarks.dagster_overhead import median_table, run_phases
from benchmarks.report import publish, ratio
from benchmarks.support import bench_database, store_tokens
from merge_pipeline.catalog import load_catalog
from merge_pipeline.demo import is_receiver_answer
from merge_pipeline.processes import ManagedProcess
from merge_pipeline.warehouse.mirror_tables import MIRRORED_AT, mirror_tables
from merge_pipeline.warehouse.pipeline_tables import sync_runs, webhook_inbox
from merge_pipeline.warehouse.vault import TokenVault, generate_key
from merge_pipeline_tests.dagster_stack import FINISHED, DagsterStack, dagster_stack
from merge_sandbox.admin import AccountInfo
from merge_sandbox.testing import sandbox_process

API_KEY = "bench-api-key"
SIGNING_KEY = "whsec-bench-dagster-accounts-3003"
SEED = 3003
CATEGORY = "hris"
WEBHOOK_SENSOR_INTERVAL_S = 10
WEBHOOK_SENSOR_SETTLE_S = 2


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _dagster_cpu() -> float:
    """CPU seconds of the daemon and its descendants (code server, run workers): each live
    process's own plus that of the children it reaped, which holds exited run workers' CPU."""
    total = 0.0
    for daemon in psutil.Process().children():
        try:
            if "dagster-daemon" not in " ".join(daemon.cmdline()):
                continue
            tree = [daemon, *daemon.children(recursive=True)]
        except psutil.NoSuchProcess:
            continue
        for process in tree:
            try:
                times = process.cpu_times()
            except psutil.NoSuchProcess:
                continue
            total += times.user + times.system + times.children_user + times.children_system
    return total


def _mirrored(engine: sa.Engine) -> int:
    tables = [mirror_tables()[m] for m in load_catalog().category(CATEGORY)]
    with engine.connect() as connection:
        return sum(
            int(connection.execute(sa.select(sa.func.count()).select_from(t)).scalar_one())
            for t in tables
        )


def _environment(database_url: str, key: str, base_url: str) -> dict[str, str]:
    return {
        "MERGE_PIPELINE_API_KEY": API_KEY,
        "MERGE_PIPELINE_BASE_URL": base_url,
        "MERGE_PIPELINE_TOKEN_ENCRYPTION_KEY": key,
        "MERGE_PIPELINE_DATABASE_URL": database_url,
        "MERGE_PIPELINE_RATE_LIMIT_PER_MINUTE": "100000",
    }


def _finished_runs(stack: DagsterStack) -> list[dg.RunRecord]:
    return list(stack.instance.get_run_records(filters=dg.RunsFilter(statuses=list(FINISHED))))


def _sync_seconds(engine: sa.Engine, run_id: str) -> float:
    with engine.connect() as connection:
        return sum(
            float(stats.get("duration_s", 0.0))
            for (stats,) in connection.execute(
                sa.select(sync_runs.c.stats).where(sync_runs.c.sync_run_id == run_id)
            )
        )


def dagster_runs(
    stack: DagsterStack, engine: sa.Engine, accounts: int, started: float, timeout_s: float
) -> dict[str, Any]:
    """Wait for one finished run per account; wall time, CPU and per-run figures."""
    startup_cpu = None
    first_run_s = 0.0
    deadline = time.monotonic() + timeout_s
    while True:
        finished = _finished_runs(stack)
        if startup_cpu is None and stack.instance.get_runs_count() > 0:
            startup_cpu = _dagster_cpu()
            first_run_s = time.perf_counter() - started
        if len(finished) >= accounts:
            break
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(finished)} of {accounts} runs finished in {timeout_s} s")
        time.sleep(0.5)
    wall = time.perf_counter() - started
    cpu = _dagster_cpu()
    failed = [r.dagster_run.run_id for r in finished if r.dagster_run.status.value != "SUCCESS"]
    if failed:
        failure = stack.failure_of(stack.instance.get_run_by_id(failed[0]))  # type: ignore[arg-type]
        raise RuntimeError(f"{len(failed)} runs failed, e.g. {failure}")
    overheads, queued, syncs, phases = [], [], [], []
    for record in finished:
        start, end = record.start_time or 0.0, record.end_time or 0.0
        sync_s = _sync_seconds(engine, record.dagster_run.run_id)
        phases.append(run_phases(stack.instance.all_logs(record.dagster_run.run_id), sync_s))
        syncs.append(sync_s)
        overheads.append(end - start - sync_s)
        queued.append(start - record.create_timestamp.timestamp())
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        "startup_cpu_s": startup_cpu or 0.0,
        "first_run_s": first_run_s,
        "run_overhead_s": statistics.median(overheads),
        "queued_s": statistics.median(queued),
        "sync_s": statistics.median(syncs),
        "runs": len(finished),
        "phases": median_table(phases),
    }


def _latest_inbox_id(engine: sa.Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(sa.select(sa.func.max(webhook_inbox.c.id))).scalar() or 0)


def _wait(what: str, probe: Any, timeout_s: float = 180.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = probe()
        if value is not None:
            return value
        time.sleep(0.2)
    raise TimeoutError(f"gave up waiting for {what}")


def _arrival(engine: sa.Engine, account_id: str, after: int) -> datetime | None:
    """When the first inbox row about the account after ``after`` arrived (None: not yet)."""
    query = sa.select(sa.func.min(webhook_inbox.c.received_at)).where(
        webhook_inbox.c.id > after, webhook_inbox.c.linked_account_id == account_id
    )
    with engine.connect() as connection:
        return connection.execute(query).scalar()


def _stored(
    engine: sa.Engine, table: sa.Table, account_id: str, record: str, since: datetime
) -> datetime | None:
    """When the record's row was mirrored, if that was after ``since`` (None: not yet)."""
    # the sandbox names a changed record by its id, or by its remote id in some tables
    named = table.c.id == record
    if "remote_id" in table.c:
        named = sa.or_(named, table.c.remote_id == record)
    query = sa.select(sa.func.max(table.c[MIRRORED_AT])).where(
        table.c.linked_account_id == account_id, named, table.c[MIRRORED_AT] > since
    )
    with engine.connect() as connection:
        return connection.execute(query).scalar()


def webhook_latency(
    stack: DagsterStack,
    sandbox_admin: Any,
    engine: sa.Engine,
    infos: list[AccountInfo],
    count: int,
) -> list[float]:
    """Seconds from a webhook's arrival in the inbox to the change in the mirror, ``count``
    times (accounts in turn; each run finishes before the next webhook)."""
    latencies = []
    for n in range(count):
        account = infos[n % len(infos)]
        runs_before = len(stack.runs_of(account.id))
        last_id = _latest_inbox_id(engine)
        summary = sandbox_admin.sync(account.id, updates=3)
        model_id, keys = next(iter(summary["changes"]["updated"].items()))
        table = mirror_tables()[model_id]
        arrival: datetime = _wait(
            "the webhook in the inbox", partial(_arrival, engine, account.id, last_id)
        )
        mirrored: datetime = _wait(
            "the change in the mirror",
            partial(_stored, engine, table, account.id, keys[0], arrival),
        )
        latencies.append((mirrored - arrival).total_seconds())
        stack.wait_for_runs(account.id, runs_before + 1, timeout_s=600)
    return latencies


def _receiver(environment: dict[str, str], folder: Path) -> tuple[ManagedProcess, str]:
    port = _free_port()
    process = ManagedProcess(
        "webhook-receiver",
        [sys.executable, "-m", "merge_pipeline.cli", "receiver",
         "--host", "127.0.0.1", "--port", str(port)],
        env={**environment, "MERGE_PIPELINE_WEBHOOK_SIGNING_KEY": SIGNING_KEY},
        ready_url=f"http://127.0.0.1:{port}/health",
        ready_check=is_receiver_answer,
        cwd=folder,
        log_file=folder / "receiver.log",
    )  # fmt: skip
    return process, f"http://127.0.0.1:{port}/webhooks/merge"


def run(accounts: int, records: int, webhooks: int) -> tuple[list[dict[str, Any]], list[str]]:
    key = generate_key()
    far_hour = (datetime.now(UTC).hour + 12) % 24
    with (
        sandbox_process(accounts=0, records=0, seed=SEED, api_key=API_KEY) as sandbox,
        bench_database("bench_dg_engine") as engine_db,
        bench_database("bench_dg_dagster") as dagster_db,
        tempfile.TemporaryDirectory(prefix="mpb-receiver-") as folder,
    ):
        infos = [sandbox.admin.create_account(CATEGORY, records=records) for _ in range(accounts)]
        for database in (engine_db, dagster_db):
            store_tokens(database, infos, TokenVault(SecretStr(key)))
        # the engine alone: one process, every account
        engine_env = {
            **os.environ,
            **_environment(
                engine_db.url.render_as_string(hide_password=False), key, sandbox.base_url
            ),
        }
        engine_s, engine_rss, engine_cpu = run_cli(
            engine_env, "sync", "--all-accounts", "--no-progress"
        )
        expected = _mirrored(engine_db)
        # Dagster: receiver + daemon on the other database
        environment = _environment(
            dagster_db.url.render_as_string(hide_password=False), key, sandbox.base_url
        )
        receiver, receiver_url = _receiver(
            {k: v for k, v in os.environ.items() if not k.startswith("MERGE_PIPELINE_")}
            | environment,
            Path(folder),
        )
        receiver.start()
        receiver.wait_ready()
        sandbox.admin.configure_webhooks(url=receiver_url, signing_key=SIGNING_KEY)
        stack_environment = {
            **environment,
            "MERGE_PIPELINE_DISCOVERY_INTERVAL_S": "86400",  # one tick, at start-up
            # which requests every initial sync: the run budget a deployment of this size
            # would set (the default, 25 a tick, would leave the rest to later ticks)
            "MERGE_PIPELINE_RUN_REQUESTS_PER_TICK": str(max(accounts, 1)),
            "MERGE_PIPELINE_MAX_QUEUED_RUNS": "0",
            "MERGE_PIPELINE_WEBHOOK_SENSOR_INTERVAL_S": str(WEBHOOK_SENSOR_INTERVAL_S),
            "MERGE_PIPELINE_WEBHOOK_SENSOR_SETTLE_S": str(WEBHOOK_SENSOR_SETTLE_S),
            "MERGE_PIPELINE_SYNC_STATUS_INTERVAL_S": "86400",
            "MERGE_PIPELINE_HEALTH_INTERVAL_S": "86400",
            "MERGE_PIPELINE_SAFETY_NET_START_HOUR": str(far_hour),
            "MERGE_PIPELINE_SAFETY_NET_HOURS": "1",
        }
        try:
            started = time.perf_counter()
            with dagster_stack(dagster_db.url, stack_environment) as stack:
                figures = dagster_runs(stack, dagster_db, accounts, started, 120.0 + 40 * accounts)
                mirrored = _mirrored(dagster_db)
                latencies = webhook_latency(stack, sandbox.admin, dagster_db, infos, webhooks)
        finally:
            sandbox.admin.configure_webhooks(url=None)
            receiver.stop()
    assert mirrored == expected, f"Dagster mirrored {mirrored} rows, the engine {expected}"
    rows = [
        {
            "way": "engine alone, one process",
            "accounts": accounts,
            "wall s": engine_s,
            "CPU s": engine_cpu,
            "CPU s/account": engine_cpu / accounts,
            "x engine wall": 1.0,
            "x engine CPU": 1.0,
        },
        {
            "way": "Dagster: daemon, queue, a run per account",
            "accounts": accounts,
            "wall s": figures["wall_s"],
            "CPU s": figures["cpu_s"],
            "CPU s/account": figures["cpu_s"] / accounts,
            "x engine wall": ratio(figures["wall_s"], engine_s),
            "x engine CPU": ratio(figures["cpu_s"], engine_cpu),
        },
        {
            "way": "Dagster, runs only (after the first run's creation)",
            "accounts": accounts,
            "wall s": figures["wall_s"] - figures["first_run_s"],
            "CPU s": figures["cpu_s"] - figures["startup_cpu_s"],
            "CPU s/account": (figures["cpu_s"] - figures["startup_cpu_s"]) / accounts,
            "x engine wall": ratio(figures["wall_s"] - figures["first_run_s"], engine_s),
            "x engine CPU": ratio(figures["cpu_s"] - figures["startup_cpu_s"], engine_cpu),
        },
    ]
    latencies.sort()
    p90 = latencies[min(len(latencies) - 1, round(0.9 * (len(latencies) - 1)))]
    notes = [
        f"{expected} rows mirrored both ways; engine peak RSS {engine_rss:.0f} MiB",
        f"per run (median): start->end minus the sync {figures['run_overhead_s']:.1f} s, the "
        f"sync itself {figures['sync_s']:.1f} s (overhead / sync "
        f"{ratio(figures['run_overhead_s'], figures['sync_s'])}), queued "
        f"{figures['queued_s']:.1f} s; daemon start-up to first run {figures['first_run_s']:.1f} s",
        "per run phase (median s): "
        + ", ".join(f"{phase} {seconds:.1f}" for phase, seconds in figures["phases"].items()),
        f"webhook received -> row in the mirror, {len(latencies)} webhooks: median "
        f"{statistics.median(latencies):.1f} s, p90 {p90:.1f} s (webhook sensor every "
        f"{WEBHOOK_SENSOR_INTERVAL_S} s, settle {WEBHOOK_SENSOR_SETTLE_S} s)",
    ]
    rows.append(
        {
            "way": "webhook received -> mirror, median s",
            "wall s": statistics.median(latencies),
        }
    )
    rows.append({"way": "webhook received -> mirror, p90 s", "wall s": p90})
    return rows, notes


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description="Dagster runs vs the engine alone, end to end.")
    parser.add_argument("--accounts", type=int, default=100)
    parser.add_argument("--records", type=int, default=200, help="records per account")
    parser.add_argument("--webhooks", type=int, default=5, help="webhook latency samples")
    args = parser.parse_args(argv)
    rows, notes = run(args.accounts, args.records, args.webhooks)
    publish(
        "dagster_accounts",
        f"{args.accounts} {CATEGORY} accounts of {args.records} records brought up to date: "
        "Dagster runs vs the engine alone",
        rows,
        ["way", "accounts", "wall s", "CPU s", "CPU s/account", "x engine wall", "x engine CPU"],
        parameters=vars(args),
        plot={"x": "way", "y": ["wall s", "CPU s"], "ylabel": "seconds"},
        notes=notes,
    )
    return rows


if __name__ == "__main__":
    main()
