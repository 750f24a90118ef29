"""How long a tick of each sync sensor takes with many linked accounts (default 1,000).

A sandbox holds the accounts (hris, a few records each), the warehouse stores their tokens and
a Dagster instance has them as partitions. Then:

* ``/sync-status`` poll: ticks until every account was read once (the first ping, so each
  account's models are all due: the heaviest case), then a full round again (nothing new);
* webhooks: every account's sandbox sync sends ``Employee.synced`` and ``LinkedAccount.synced``
  through the real receiver into the inbox; ticks until the inbox is drained.

Printed: per tick, accounts or events handled, runs requested, and seconds (the limit is 60).
Run: ``python -m benchmarks.sensor_ticks [--accounts N]``; set ``MERGE_PIPELINE_DATABASE_URL``
to use a running PostgreSQL instead of an embedded one.
"""

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import dagster as dg
import sqlalchemy as sa
from pydantic import SecretStr

from benchmarks.report import publish, ratio
from benchmarks.support import embedded_database
from merge_pipeline.defs.resources import MergeApiResource, TokenVaultResource, WarehouseResource
from merge_pipeline.defs.sync_status_sensor import merge_sync_status_poll
from merge_pipeline.defs.webhook_sensor import merge_webhook_sync
from merge_pipeline.settings import Settings
from merge_pipeline.warehouse.accounts import LinkedAccount, save_account
from merge_pipeline.warehouse.migrate import migrate
from merge_pipeline.warehouse.pipeline_tables import webhook_inbox
from merge_pipeline.warehouse.server import ensure_database, with_database
from merge_pipeline.warehouse.vault import TokenVault, generate_key
from merge_pipeline_tests.integration.webhooks.conftest import running_receiver
from merge_sandbox.testing import running_sandbox

API_KEY = "bench-api-key"
SIGNING_KEY = "bench-signing-key"


@contextmanager
def _database(name: str) -> Iterator[sa.Engine]:
    url = os.environ.get("MERGE_PIPELINE_DATABASE_URL")
    if not url:
        with embedded_database(name) as engine:
            yield engine
        return
    name = f"{name}_{os.getpid()}"  # a fresh database: the inbox must start empty
    engine = sa.create_engine(ensure_database(url, name))
    migrate(engine)
    try:
        yield engine
    finally:
        engine.dispose()
        admin = sa.create_engine(with_database(url, "postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _ticks(
    tick: Callable[[str | None], dg.SensorResult], done: Callable[[int], bool]
) -> list[tuple[float, int]]:
    """(seconds, runs requested) per tick, until ``done(ticks so far)``."""
    cursor: str | None = None
    figures: list[tuple[float, int]] = []
    while not done(len(figures)):
        started = time.perf_counter()
        result = tick(cursor)
        figures.append((time.perf_counter() - started, len(result.run_requests or [])))
        cursor = result.cursor
    return figures


def _report(what: str, figures: list[tuple[float, int]]) -> dict[str, object]:
    seconds = [s for s, _ in figures]
    return {
        "phase": what,
        "ticks": len(figures),
        "runs requested": sum(r for _, r in figures),
        "median tick s": statistics.median(seconds),
        "max tick s": max(seconds),
        "max / 60 s limit": ratio(max(seconds), 60.0),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="sync sensors' tick duration")
    parser.add_argument("--accounts", type=int, default=1000)
    args = parser.parse_args(argv)
    os.environ.setdefault("MERGE_PIPELINE_WEBHOOK_SENSOR_SETTLE_S", "0")  # all stored already
    key = generate_key()
    per_tick = int(os.environ.get("MERGE_PIPELINE_SYNC_STATUS_ACCOUNTS_PER_TICK", "100"))
    batch = int(os.environ.get("MERGE_PIPELINE_WEBHOOK_SENSOR_BATCH", "500"))
    with (
        running_sandbox(
            accounts=args.accounts,
            records=args.accounts * 3,
            api_key=API_KEY,
            categories=["hris"],
            signing_key=SIGNING_KEY,
            seed=909,
        ) as sandbox,
        _database("bench_sensor_ticks") as engine,
        dg.instance_for_test() as instance,
    ):
        url = engine.url.render_as_string(hide_password=False)
        vault = TokenVault(SecretStr(key))
        with engine.begin() as connection:
            for info in sandbox.accounts:
                save_account(
                    connection,
                    LinkedAccount(id=info.id, category="hris"),
                    SecretStr(info.account_token),
                    vault,
                )
        instance.add_dynamic_partitions("hris_accounts", [a.id for a in sandbox.accounts])
        resources = {
            "merge": MergeApiResource(api_key=API_KEY, base_url=sandbox.base_url),
            "warehouse": WarehouseResource(database_url=url),
            "token_vault": TokenVaultResource(encryption_key=key),
        }

        def poll(cursor: str | None) -> dg.SensorResult:
            context = dg.build_sensor_context(instance=instance, resources=resources, cursor=cursor)
            result = merge_sync_status_poll(context)
            assert isinstance(result, dg.SensorResult)
            return result

        rounds = -(-args.accounts // per_tick)
        rows = [
            _report("poll, first round (every model due)", _ticks(poll, lambda n: n >= rounds)),
            _report("poll, second round (nothing new)", _ticks(poll, lambda n: n >= rounds)),
        ]

        settings = Settings(
            api_key=SecretStr(API_KEY),
            token_encryption_key=SecretStr(key),
            webhook_signing_key=SecretStr(SIGNING_KEY),
            database_url=url,
            base_url=sandbox.base_url,
            _env_file=None,
        )
        with running_receiver(settings, engine) as receiver:
            sandbox.admin.configure_webhooks(url=f"{receiver}/webhooks/merge")
            for info in sandbox.accounts:
                sandbox.admin.sync(info.id, models=["hris.Employee"])
            expected = 2 * args.accounts
            deadline = time.monotonic() + 300
            while _inbox_size(engine) < expected and time.monotonic() < deadline:
                time.sleep(0.2)
        events = _inbox_size(engine)

        def webhooks(cursor: str | None) -> dg.SensorResult:
            context = dg.build_sensor_context(instance=instance, resources=resources, cursor=cursor)
            result = merge_webhook_sync(context)
            assert isinstance(result, dg.SensorResult)
            return result

        state = {"cursor": 0}

        def drained(_: int) -> bool:
            return state["cursor"] >= _last_id(engine)

        def tracked(cursor: str | None) -> dg.SensorResult:
            result = webhooks(cursor)
            state["cursor"] = json.loads(result.cursor or "{}").get("last_id", 0)
            return result

        rows.append(_report(f"webhooks ({events} events)", _ticks(tracked, drained)))
    publish(
        "sensor_ticks",
        f"Sensor tick duration with {args.accounts} hris accounts (poll: {per_tick} accounts a "
        f"tick; webhooks: {batch} events a tick)",
        rows,
        ["phase", "ticks", "runs requested", "median tick s", "max tick s", "max / 60 s limit"],
        parameters=vars(args),
        plot={"x": "phase", "y": ["median tick s", "max tick s"], "ylabel": "seconds per tick"},
    )


def _inbox_size(engine: sa.Engine) -> int:
    with engine.connect() as connection:
        return int(
            connection.execute(sa.select(sa.func.count()).select_from(webhook_inbox)).scalar_one()
        )


def _last_id(engine: sa.Engine) -> int:
    with engine.connect() as connection:
        query = sa.select(sa.func.coalesce(sa.func.max(webhook_inbox.c.id), 0))
        return int(connection.execute(query).scalar_one())


if __name__ == "__main__":
    main()
