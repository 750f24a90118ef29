"""A simulated day of triggers: calls per account per hour from the poll and from webhooks.

Two linked accounts (hris, ats) in a sandbox that sends signed webhooks to the real receiver,
each webhook delivered twice (``duplicate_probability=1``). Each simulated hour:

1. Merge syncs each account once (a few records change) and its webhooks, duplicates included,
   reach the inbox;
2. the webhook sensor ticks (its function, on a test Dagster instance) and each run it requests
   is carried out by the engine (the models the run request selects), calls counted;
3. the ``/sync-status`` poll sensor ticks ``3600 / interval`` times an hour (the interval: the
   larger of the tick interval, 60 s, and an account's minimum re-poll interval, 300 s), and any
   run it requests is carried out the same way.

The sandbox counts every call per account and path. Printed per account: calls per hour from the
poll, from the runs the webhooks asked for, from runs asked for by duplicates (runs beyond one
per Merge sync; expected 0) and from runs the poll asked for after the webhooks (expected 0).

Run: ``python -m benchmarks.triggers [--hours H]``.
"""

import argparse
import logging
import os
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

import dagster as dg
import sqlalchemy as sa
from pydantic import SecretStr

from benchmarks.report import publish, ratio
from benchmarks.support import bench_database
from merge_pipeline.catalog import CommonModel, load_catalog
from merge_pipeline.defs.assets import asset_key
from merge_pipeline.defs.partitions import partitions_name
from merge_pipeline.defs.resources import MergeApiResource, TokenVaultResource, WarehouseResource
from merge_pipeline.defs.sync_status_sensor import merge_sync_status_poll
from merge_pipeline.defs.webhook_sensor import merge_webhook_sync
from merge_pipeline.settings import Settings, load_automation_settings
from merge_pipeline.sync.engine import SyncOptions
from merge_pipeline.sync.runner import sync_account_models
from merge_pipeline.warehouse.accounts import LinkedAccount, save_account
from merge_pipeline.warehouse.pipeline_tables import webhook_inbox
from merge_pipeline.warehouse.vault import TokenVault, generate_key
from merge_pipeline_tests.integration.webhooks.conftest import running_receiver
from merge_sandbox.admin import SandboxAdmin
from merge_sandbox.testing import running_sandbox

API_KEY = "bench-api-key"
SIGNING_KEY = "bench-signing-key"
CATEGORIES = ("hris", "ats")


@contextmanager
def _environment(**values: str) -> Iterator[None]:
    """Settings the sensors read from ``MERGE_PIPELINE_*`` for the length of the benchmark."""
    before = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _more_than(count: int, log: list[dict[str, Any]]) -> bool:
    return len(log) > count


def _wait_until_settled(admin: SandboxAdmin, engine: sa.Engine, timeout: float = 30.0) -> None:
    """Until neither the delivery log nor the inbox has grown for half a second."""
    deadline = time.monotonic() + timeout
    last = (-1, -1)
    while time.monotonic() < deadline:
        now = (len(admin.deliveries()["deliveries"]), _inbox_size(engine))
        if now == last:
            return
        last = now
        time.sleep(0.5)


def _inbox_size(engine: sa.Engine) -> int:
    with engine.connect() as connection:
        query = sa.select(sa.func.count()).select_from(webhook_inbox)
        return int(connection.execute(query).scalar_one())


class Day:
    """The simulated day's state: sensors' cursors and the calls counted so far."""

    def __init__(
        self,
        engine: sa.Engine,
        settings: Settings,
        admin: SandboxAdmin,
        instance: dg.DagsterInstance,
        resources: dict[str, Any],
        accounts: dict[str, str],
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.admin = admin
        self.instance = instance
        self.resources = resources
        self.accounts = accounts  # id -> category
        self.cursors: dict[str, str | None] = {"poll": None, "webhooks": None}
        self.calls: Counter[tuple[str, str]] = Counter()  # (account, source) -> calls
        self.runs: Counter[tuple[str, str]] = Counter()
        catalog = load_catalog()
        self.models: dict[dg.AssetKey, CommonModel] = {
            asset_key(m): m for c in CATEGORIES for m in catalog.category(c)
        }
        self.vault = TokenVault(settings.token_encryption_key)

    def _counted(self) -> Counter[str]:
        counts: Counter[str] = Counter()
        for row in self.admin.request_counts():
            counts[str(row["account_id"])] += int(row["count"])
        return counts

    def tick(self, sensor: str) -> list[dg.RunRequest]:
        """One tick of a sensor; its own Merge calls are counted as ``sensor``."""
        function = merge_sync_status_poll if sensor == "poll" else merge_webhook_sync
        before = self._counted()
        context = dg.build_sensor_context(
            instance=self.instance, resources=self.resources, cursor=self.cursors[sensor]
        )
        result = function(context)
        assert isinstance(result, dg.SensorResult)
        self.cursors[sensor] = result.cursor
        after = self._counted()
        for account in self.accounts:
            self.calls[(account, f"{sensor} sensor")] += after[account] - before[account]
        return list(result.run_requests or [])

    def carry_out(self, requests: list[dg.RunRequest], source: str) -> None:
        """What the runs requested would sync, done by the engine; calls counted as ``source``."""
        options = SyncOptions.from_settings(self.settings)
        for request in requests:
            account = str(request.partition_key)
            category = self.accounts[account]
            selection = request.asset_selection
            models = (
                [self.models[k] for k in selection]
                if selection
                else list(load_catalog().category(category))
            )
            before = self._counted()[account]
            sync_account_models(
                self.engine, self.settings, self.vault, account, models, options=options
            )
            self.calls[(account, source)] += self._counted()[account] - before
            self.runs[(account, source)] += 1


def run(
    hours: int, records: int, poll_ticks: int | None = None
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """``poll_ticks`` per simulated hour (default: ``3600 / interval``, the real number); fewer
    keep a quick run short, and the poll's calls per hour are then scaled up from them."""
    automation = load_automation_settings()
    # an account is read at most once per tick and once per minimum interval: simulated ticks
    # come faster than real ones, so the interval is applied here, not by the sensor
    interval = max(automation.sync_status_interval_s, automation.sync_status_min_account_interval_s)
    polls_per_hour = 3600 // interval
    ticks = poll_ticks or polls_per_hour
    key = generate_key()
    with (
        _environment(
            MERGE_PIPELINE_RATE_LIMIT_PER_MINUTE="1000000",
            MERGE_PIPELINE_WEBHOOK_SENSOR_SETTLE_S="0",
            MERGE_PIPELINE_SYNC_STATUS_MIN_ACCOUNT_INTERVAL_S="0",
        ),
        running_sandbox(
            accounts=0,
            records=0,
            api_key=API_KEY,
            signing_key=SIGNING_KEY,
            seed=1415,
        ) as sandbox,
        bench_database("bench_triggers") as engine,
        dg.instance_for_test() as instance,
    ):
        url = engine.url.render_as_string(hide_password=False)
        settings = Settings(
            api_key=SecretStr(API_KEY),
            token_encryption_key=SecretStr(key),
            webhook_signing_key=SecretStr(SIGNING_KEY),
            database_url=url,
            base_url=sandbox.base_url,
            rate_limit_per_minute=1_000_000,
            _env_file=None,
        )
        vault = TokenVault(SecretStr(key))
        accounts: dict[str, str] = {}
        for category in CATEGORIES:
            info = sandbox.admin.create_account(category, records=records)
            accounts[info.id] = category
            with engine.begin() as connection:
                save_account(
                    connection,
                    LinkedAccount(id=info.id, category=category),
                    SecretStr(info.account_token),
                    vault,
                )
            instance.add_dynamic_partitions(partitions_name(category), [info.id])
        resources = {
            "merge": MergeApiResource(api_key=API_KEY, base_url=sandbox.base_url),
            "warehouse": WarehouseResource(database_url=url),
            "token_vault": TokenVaultResource(encryption_key=key),
        }
        day = Day(engine, settings, sandbox.admin, instance, resources, accounts)
        # the initial sync and a first round of polls (every model due once) are not counted
        day.carry_out([dg.RunRequest(partition_key=a, run_key=None) for a in accounts], "initial")
        day.carry_out(day.tick("poll"), "initial")
        day.calls.clear()
        day.runs.clear()
        merge_syncs = 0
        started = time.perf_counter()
        with running_receiver(settings, engine) as receiver:
            sandbox.admin.configure_webhooks(
                url=f"{receiver}/webhooks/merge", duplicate_probability=1.0
            )
            for _ in range(hours):
                for account in accounts:
                    sent = len(sandbox.admin.deliveries()["deliveries"])
                    sandbox.admin.sync(account, updates=5)
                    merge_syncs += 1
                    sandbox.admin.wait_for_deliveries(partial(_more_than, sent), timeout=30)
                # the receiver stores each event once and answers its duplicate 200 unstored:
                # wait until the deliveries (logged after each answer) stop coming
                _wait_until_settled(sandbox.admin, engine)
                day.carry_out(day.tick("webhooks"), "webhook runs")
                for _ in range(ticks):
                    day.carry_out(day.tick("poll"), "poll runs")
        elapsed = time.perf_counter() - started
        inbox = _inbox_size(engine)
        deliveries = len(sandbox.admin.deliveries()["deliveries"])
    rows = []
    for account, category in accounts.items():
        runs = day.runs[(account, "webhook runs")]
        syncs = merge_syncs // len(accounts)
        duplicate_runs = max(0, runs - syncs)
        per_run = day.calls[(account, "webhook runs")] / runs if runs else 0.0
        poll_per_hour = day.calls[(account, "poll sensor")] / (hours * ticks) * polls_per_hour
        rows.append(
            {
                "account": category,
                "merge syncs": syncs,
                "webhook runs": runs,
                "poll calls/h": poll_per_hour,
                "poll minimum/h": polls_per_hour,
                "poll/min": ratio(poll_per_hour, polls_per_hour),
                "run calls/h": day.calls[(account, "webhook runs")] / hours,
                "calls/run": per_run,
                "duplicate runs": duplicate_runs,
                "duplicate calls/h": duplicate_runs * per_run / hours,
                "poll runs": day.runs[(account, "poll runs")],
                "poll-run calls/h": day.calls[(account, "poll runs")] / hours,
                "webhook sensor calls": day.calls[(account, "webhooks sensor")],
            }
        )
    extra = {
        "deliveries": deliveries,
        "hours": hours,
        "interval_s": interval,
        "poll_ticks_per_hour": ticks,
        "inbox_events": inbox,
        "merge_syncs": merge_syncs,
        "seconds": round(elapsed, 1),
    }
    return rows, extra


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description="a simulated day of sync triggers")
    parser.add_argument("--hours", type=int, default=24)
    parser.add_argument("--records", type=int, default=1_000)
    parser.add_argument(
        "--poll-ticks", type=int, default=None, help="poll ticks per simulated hour (default: all)"
    )
    args = parser.parse_args(argv)
    logging.getLogger("dagster").setLevel(logging.WARNING)  # a line per tick otherwise
    rows, extra = run(args.hours, args.records, args.poll_ticks)
    publish(
        "triggers",
        f"A simulated day ({args.hours} h): calls per account per hour by trigger "
        f"(poll every {extra['interval_s']} s; every webhook delivered twice)",
        rows,
        [
            "account",
            "merge syncs",
            "webhook runs",
            "poll calls/h",
            "poll minimum/h",
            "poll/min",
            "run calls/h",
            "calls/run",
            "duplicate runs",
            "duplicate calls/h",
            "poll runs",
            "poll-run calls/h",
        ],
        parameters={**vars(args), **extra},
        plot={
            "x": "account",
            "y": ["poll calls/h", "run calls/h", "duplicate calls/h", "poll-run calls/h"],
            "kind": "bar",
            "ylabel": "calls per hour",
        },
        notes=[
            f"{extra['deliveries']} webhook deliveries (each event twice), "
            f"{extra['inbox_events']} stored in the inbox for {extra['merge_syncs']} Merge syncs; "
            f"{extra['seconds']} s of wall time for the simulated day",
            f"poll: {extra['poll_ticks_per_hour']} ticks per simulated hour, calls scaled to the "
            f"{3600 // extra['interval_s']} ticks of a real hour",
        ],
    )
    return rows


if __name__ == "__main__":
    main()
