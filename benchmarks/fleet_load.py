"""A fleet of linked accounts (default 1,000) through the deployed stack, then the UI.

Unlike ``sensor_ticks`` (one sensor function called in this process), everything here is the
deployment: a ``dagster-daemon`` on a PostgreSQL instance runs the code location's sensors by
itself. The sandbox holds the accounts (a few records each, over two categories) and the
warehouse their tokens, as the "linked" webhooks would have left them. Then:

* discovery adds every account as a partition and queues its initial sync (the queue starts
  them, so the sensors tick under the load of running syncs, as they would in production);
* every account's Merge sync sends its webhooks through the real receiver into the inbox, for
  the webhook sensor; the ``/sync-status`` poll and the account-health sensor do their rounds;
* after the observation window, each sensor's ticks (from the instance's tick records) give
  their count, median and maximum duration against Dagster's 60 s limit;
* a ``dagster-webserver`` on the same instance serves the UI: the GraphQL queries behind the
  asset catalog and an asset's page (partition health over every account, checks, latest
  materializations) are timed, and with ``--browser-python`` (an interpreter with Playwright
  and a Chromium) the pages themselves, until their content shows.

Run: ``python -m benchmarks.fleet_load [--accounts N] [--observe-s S]``; set
``MERGE_PIPELINE_DATABASE_URL`` to use a running PostgreSQL instead of an embedded one.
"""

import argparse
import json
import os
import secrets
import statistics
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dagster as dg
import httpx
import sqlalchemy as sa
from pydantic import SecretStr
from sqlalchemy.engine import URL

from benchmarks.report import publish, ratio
from benchmarks.support import postgres_server, store_tokens
from merge_pipeline.processes import ManagedProcess
from merge_pipeline.settings import Settings
from merge_pipeline.warehouse.migrate import migrate
from merge_pipeline.warehouse.pipeline_tables import webhook_inbox
from merge_pipeline.warehouse.server import ensure_database
from merge_pipeline.warehouse.vault import TokenVault, generate_key
from merge_pipeline_tests.dagster_stack import BIN, DagsterStack, dagster_stack, drop_database
from merge_pipeline_tests.integration.webhooks.conftest import running_receiver
from merge_sandbox.testing import RunningSandbox, running_sandbox

API_KEY = "bench-fleet-api-key"
SIGNING_KEY = "bench-fleet-signing-key"
CATEGORIES = ("hris", "ats")
TICK_LIMIT_S = 60.0
BROWSER_SCRIPT = Path(__file__).with_name("ui_page_load.py")

#: the queries the UI's asset catalog and asset page issue for what grows with the fleet
QUERIES: dict[str, str] = {
    "catalog: every asset's partition counts": """
        { assetNodes { assetKey { path } partitionStats {
            numMaterialized numPartitions numFailed numMaterializing } } }""",
    "asset page: partition health of every account": """
        query ($key: AssetKeyInput!) { assetNodeOrError(assetKey: $key) { ... on AssetNode {
            partitionKeys
            assetPartitionStatuses { ... on DefaultPartitionStatuses {
                materializedPartitions failedPartitions materializingPartitions } } } } }""",
    "asset page: checks and their latest results": """
        query ($key: AssetKeyInput!) { assetNodeOrError(assetKey: $key) { ... on AssetNode {
            assetChecksOrError { ... on AssetChecks { checks { name
                executionForLatestMaterialization { status evaluation { severity } } } } } } } }""",
    "asset page: latest materializations": """
        query ($key: AssetKeyInput!) { assetOrError(assetKey: $key) { ... on Asset {
            assetMaterializations(limit: 100) { partition runId timestamp } } } }""",
    "runs page: the latest 50 runs": """
        { runsOrError(limit: 50) { ... on Runs {
            results { runId status tags { key value } } } } }""",
}


@contextmanager
def _warehouse(server: URL) -> Iterator[URL]:
    name = f"mpb_fleet_{os.getpid()}_{secrets.token_hex(3)}"
    url = ensure_database(server, name)
    engine = sa.create_engine(url)
    migrate(engine)
    engine.dispose()
    try:
        yield url
    finally:
        drop_database(server, name)


def _wait_for_partitions(stack: DagsterStack, expected: int, timeout_s: float) -> float:
    """Seconds until discovery made a partition of every account."""
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        made = sum(
            len(stack.instance.get_dynamic_partitions(f"{category}_accounts"))
            for category in CATEGORIES
        )
        if made >= expected:
            return time.monotonic() - started
        time.sleep(1.0)
    raise TimeoutError(f"discovery made {made} of {expected} partitions in {timeout_s:.0f} s")


def _send_webhooks(sandbox: RunningSandbox, engine: sa.Engine, settings: Settings) -> int:
    """Every account's Merge sync of one model: its webhooks go through the receiver."""
    with running_receiver(settings, engine) as receiver:
        sandbox.admin.configure_webhooks(url=f"{receiver}/webhooks/merge")
        for info in sandbox.accounts:
            model = "hris.Employee" if info.category == "hris" else "ats.Candidate"
            sandbox.admin.sync(info.id, models=[model])
        expected = 2 * len(sandbox.accounts)
        deadline = time.monotonic() + 300
        while _inbox_size(engine) < expected and time.monotonic() < deadline:
            time.sleep(0.5)
    return _inbox_size(engine)


def _inbox_size(engine: sa.Engine) -> int:
    with engine.connect() as connection:
        query = sa.select(sa.func.count()).select_from(webhook_inbox)
        return int(connection.execute(query).scalar_one())


SENSOR_TICKS = """
    { sensorsOrError(repositorySelector: {repositoryLocationName: "merge_pipeline",
                                          repositoryName: "__repository__"}) {
        ... on Sensors { results { name sensorState {
            ticks(limit: 5000) { timestamp endTimestamp status runIds } } } } } }"""


def _tick_rows(url: str, since: float) -> list[dict[str, Any]]:
    """Per sensor: its ticks since ``since`` and their durations, as the UI's Sensors page has
    them (the daemon's tick records)."""
    answer = httpx.post(f"{url}/graphql", json={"query": SENSOR_TICKS}, timeout=300)
    answer.raise_for_status()
    sensors = answer.json()["data"]["sensorsOrError"]["results"]
    now = time.time()
    rows = []
    for sensor in sensors:
        ticks = [tick for tick in sensor["sensorState"]["ticks"] if tick["timestamp"] >= since]
        if not ticks:
            continue
        # a tick still submitting its runs counts with the time it has taken so far
        seconds = [(tick["endTimestamp"] or now) - tick["timestamp"] for tick in ticks]
        rows.append(
            {
                "sensor": sensor["name"],
                "ticks": len(ticks),
                "in progress": sum(1 for tick in ticks if tick["endTimestamp"] is None),
                "failed": sum(1 for tick in ticks if tick["status"] == "FAILURE"),
                "runs requested": sum(len(tick["runIds"]) for tick in ticks),
                "median tick s": round(statistics.median(seconds), 2),
                "max tick s": round(max(seconds), 2),
                "max / 60 s limit": ratio(max(seconds), TICK_LIMIT_S),
            }
        )
    return sorted(rows, key=lambda row: str(row["sensor"]))


@contextmanager
def _webserver(stack: DagsterStack) -> Iterator[str]:
    port = _free_port()
    process = ManagedProcess(
        "dagster-webserver",
        [
            str(BIN / "dagster-webserver"),
            "-w",
            str(stack.home / "workspace.yaml"),
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
        ],
        env=stack.env,
    )
    process.start()
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                if httpx.get(f"{url}/server_info", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError("dagster-webserver did not answer in 180 s")
            time.sleep(1.0)
        yield url
    finally:
        process.stop()


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _query_rows(url: str, asset: list[str], repeats: int) -> list[dict[str, Any]]:
    """Each UI query ``repeats`` times: median and max seconds, and the answer's size."""
    rows = []
    with httpx.Client(base_url=url, timeout=300) as client:
        client.post("/graphql", json={"query": "{ version }"})  # the location is loaded
        for what, query in QUERIES.items():
            seconds, size = [], 0
            for _ in range(repeats):
                started = time.perf_counter()
                answer = client.post(
                    "/graphql", json={"query": query, "variables": {"key": {"path": asset}}}
                )
                seconds.append(time.perf_counter() - started)
                answer.raise_for_status()
                body = answer.json()
                if body.get("errors"):
                    raise RuntimeError(f"{what}: {body['errors'][0].get('message')}")
                size = len(answer.content)
            rows.append(
                {
                    "view": what,
                    "median s": round(statistics.median(seconds), 3),
                    "max s": round(max(seconds), 3),
                    "answer KiB": round(size / 1024, 1),
                }
            )
    return rows


def _browser_rows(python: str, url: str, asset: list[str]) -> list[dict[str, Any]]:
    """Page load times in a headless Chromium (``ui_page_load.py`` in the given interpreter)."""
    pages = {
        "asset catalog": f"{url}/assets",
        "asset page": f"{url}/assets/{'/'.join(asset)}",
        "asset partitions tab": f"{url}/assets/{'/'.join(asset)}?view=partitions",
        "asset checks tab": f"{url}/assets/{'/'.join(asset)}?view=checks",
    }
    done = subprocess.run(
        [python, str(BROWSER_SCRIPT), json.dumps(pages)],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if done.returncode:
        raise RuntimeError(f"the browser measurement failed: {done.stderr.strip()[-500:]}")
    return list(json.loads(done.stdout))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="a fleet of accounts through the daemon; the UI")
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument("--observe-s", type=float, default=240.0, help="sensor ticks watched")
    parser.add_argument("--repeats", type=int, default=3, help="each UI query this many times")
    parser.add_argument("--browser-python", help="a Python with Playwright: time real pages")
    args = parser.parse_args(argv)
    key = generate_key()
    vault = TokenVault(SecretStr(key))
    with (
        running_sandbox(
            accounts=args.accounts,
            records=args.accounts * 3,
            api_key=API_KEY,
            categories=list(CATEGORIES),
            signing_key=SIGNING_KEY,
            seed=1601,
        ) as sandbox,
        postgres_server() as server,
        _warehouse(server) as warehouse_url,
    ):
        engine = sa.create_engine(warehouse_url)
        store_tokens(engine, sandbox.accounts, vault)
        database_url = warehouse_url.render_as_string(hide_password=False)
        environment = {
            "MERGE_PIPELINE_API_KEY": API_KEY,
            "MERGE_PIPELINE_BASE_URL": sandbox.base_url,
            "MERGE_PIPELINE_TOKEN_ENCRYPTION_KEY": key,
            "MERGE_PIPELINE_WEBHOOK_SIGNING_KEY": SIGNING_KEY,
            "MERGE_PIPELINE_DATABASE_URL": database_url,
            "MERGE_PIPELINE_DISCOVERY_INTERVAL_S": "30",
            "MERGE_PIPELINE_WEBHOOK_SENSOR_INTERVAL_S": "10",
            "MERGE_PIPELINE_SYNC_STATUS_INTERVAL_S": "30",
            "MERGE_PIPELINE_HEALTH_INTERVAL_S": "30",
        }
        settings = Settings(
            api_key=SecretStr(API_KEY),
            token_encryption_key=SecretStr(key),
            webhook_signing_key=SecretStr(SIGNING_KEY),
            database_url=database_url,
            base_url=sandbox.base_url,
            _env_file=None,
        )
        with dagster_stack(server, environment) as stack:
            since = time.time()
            discovery_s = _wait_for_partitions(stack, len(sandbox.accounts), timeout_s=600)
            events = _send_webhooks(sandbox, engine, settings)
            time.sleep(max(0.0, args.observe_s - (time.time() - since)))
            runs = _run_counts(stack.instance)
            load = os.getloadavg()[1]  # the machine is shared by the runs the queue starts
            with _webserver(stack) as url:
                ticks = _tick_rows(url, since)
                asset = ["hris", "employee"]
                views = _query_rows(url, asset, args.repeats)
                pages = (
                    _browser_rows(args.browser_python, url, asset) if args.browser_python else []
                )
        engine.dispose()
    summary = (
        f"{args.accounts} accounts ({' + '.join(CATEGORIES)}); discovery made every partition in "
        f"{discovery_s:.0f} s; {events} webhooks stored; runs after {args.observe_s:.0f} s: "
        f"{runs}; load average {load:.1f} on {os.cpu_count()} cores"
    )
    print(summary)
    publish(
        "fleet_load_sensors",
        f"Sensor ticks in the daemon with {args.accounts} linked accounts ({summary})",
        ticks,
        [
            "sensor",
            "ticks",
            "in progress",
            "failed",
            "runs requested",
            "median tick s",
            "max tick s",
            "max / 60 s limit",
        ],
        parameters={**vars(args), "discovery_s": round(discovery_s, 1), "webhooks": events},
        plot={"x": "sensor", "y": ["median tick s", "max tick s"], "ylabel": "seconds per tick"},
    )
    publish(
        "fleet_load_ui",
        f"The UI with {args.accounts} linked accounts: GraphQL behind the asset pages",
        views + pages,
        ["view", "median s", "max s", "answer KiB"],
        parameters=vars(args),
        plot={"x": "view", "y": ["median s", "max s"], "ylabel": "seconds"},
    )


def _run_counts(instance: dg.DagsterInstance) -> dict[str, int]:
    counts: dict[str, int] = {}
    for record in instance.get_run_records():
        status = record.dagster_run.status.value
        counts[status] = counts.get(status, 0) + 1
    return counts


if __name__ == "__main__":
    main()
