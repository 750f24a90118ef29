"""``make demo``: embedded PostgreSQL, the Merge sandbox and the Dagster UI, in one command.

Everything it starts, it stops on Ctrl-C (or SIGTERM). Demo secrets are generated once into
``.data/demo.env`` (git-ignored), so tokens stay encrypted with the same key across restarts;
the same file also receives the sandbox and database URLs of the running demo, so that
``env $(cat .data/demo.env) merge-pipeline sync --all-accounts`` works from another terminal.

The sandbox is started as a separate program (``python -m merge_sandbox.cli``): the pipeline
talks to it over HTTP exactly as it would to Merge and never imports it.
"""

import json
import logging
import os
import secrets
import signal
import socket
import sys
import threading
from pathlib import Path
from types import FrameType

import sqlalchemy as sa
from pydantic import SecretStr

from merge_pipeline.processes import ManagedProcess
from merge_pipeline.warehouse.accounts import LinkedAccount, save_account
from merge_pipeline.warehouse.migrate import migrate
from merge_pipeline.warehouse.server import (
    DAGSTER_DATABASE,
    WAREHOUSE_DATABASE,
    EmbeddedPostgres,
    ensure_database,
    normalise_url,
)
from merge_pipeline.warehouse.vault import TokenVault, generate_key

log = logging.getLogger("merge_pipeline.demo")
DAGSTER_PORT = 3000
SANDBOX_PORT = 8765
SANDBOX_CATEGORIES = "hris,ats,crm,accounting,ticketing"
SANDBOX_ACCOUNTS = 5  # one per category above
SANDBOX_RECORDS = 25_000  # in all: the first syncs finish within about a minute
SANDBOX_TRICKLE_PER_MINUTE = 30  # records changed in the background, for incremental syncs
#: the demo compresses a night into minutes: accounts are discovered (and first synced) within
#: half a minute, and the safety-net schedule syncs every account every five minutes
DEMO_AUTOMATION = {
    "MERGE_PIPELINE_DISCOVERY_INTERVAL_S": "30",
    "MERGE_PIPELINE_SAFETY_NET_HOURS": "24",
    "MERGE_PIPELINE_SAFETY_NET_TICK_MINUTES": "5",
    "MERGE_PIPELINE_SAFETY_NET_SLOTS": "1",
}
_SECRET_NAMES = (
    "MERGE_PIPELINE_API_KEY",
    "MERGE_PIPELINE_TOKEN_ENCRYPTION_KEY",
    "MERGE_PIPELINE_WEBHOOK_SIGNING_KEY",
)


def demo_secrets(data_dir: Path) -> dict[str, str]:
    """Load or create the demo's own API key, token encryption key and webhook signing key."""
    path = data_dir / "demo.env"
    values = _read_env(path)
    if not all(name in values for name in _SECRET_NAMES):
        values = {
            "MERGE_PIPELINE_API_KEY": f"demo-{secrets.token_urlsafe(24)}",
            "MERGE_PIPELINE_TOKEN_ENCRYPTION_KEY": generate_key(),
            "MERGE_PIPELINE_WEBHOOK_SIGNING_KEY": secrets.token_urlsafe(32),
        }
        _write_env(path, values)
    return {name: values[name] for name in _SECRET_NAMES}


def _read_env(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {key: value for key, value in pairs}


def _write_env(path: Path, values: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{key}={value}\n" for key, value in values.items()))
    path.chmod(0o600)


def _free_port(preferred: int) -> int:
    """``preferred`` if nobody listens there, else any free port."""
    for candidate in (preferred, 0):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", candidate))
            except OSError:
                continue
            return int(probe.getsockname()[1])
    raise RuntimeError("no free port")


def _register_sandbox_accounts(engine: sa.Engine, accounts_file: Path, key: str) -> int:
    """Store the sandbox's linked accounts (tokens encrypted), as the link flow would."""
    listed = json.loads(accounts_file.read_text())["accounts"]
    vault = TokenVault(SecretStr(key))
    with engine.begin() as connection:
        for account in listed:
            save_account(
                connection,
                LinkedAccount(
                    id=account["id"],
                    category=account["category"],
                    integration=account.get("integration"),
                    end_user_origin_id=account.get("end_user_origin_id"),
                    end_user_organization_name=account.get("end_user_organization_name"),
                    status=account.get("status"),
                ),
                SecretStr(account["account_token"]),
                vault,
            )
    return len(listed)


def run_demo(data_dir: Path = Path(".data"), port: int = DAGSTER_PORT) -> int:
    """Start the stack, block until interrupted, then stop every process it started."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    stop = threading.Event()

    def _request_stop(signum: int, _frame: FrameType | None) -> None:
        log.info("received %s, stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGINT, _request_stop)
    signal.signal(signal.SIGTERM, _request_stop)

    env = demo_secrets(data_dir)
    external = os.environ.get("MERGE_PIPELINE_DATABASE_URL")
    embedded = None if external else EmbeddedPostgres(data_dir)
    services: list[ManagedProcess] = []
    try:
        server = normalise_url(external) if external else embedded.start()  # type: ignore[union-attr]
        warehouse_url = ensure_database(server, WAREHOUSE_DATABASE)
        dagster_url = ensure_database(server, DAGSTER_DATABASE)
        engine = sa.create_engine(warehouse_url)
        migrate(engine)
        log.info("warehouse ready: %s", warehouse_url.render_as_string(hide_password=True))

        sandbox_port = _free_port(SANDBOX_PORT)
        accounts_file = data_dir / "sandbox-accounts.json"
        accounts_file.unlink(missing_ok=True)
        sandbox = ManagedProcess(
            "merge-sandbox",
            [sys.executable, "-m", "merge_sandbox.cli", "serve",
             "--accounts", str(SANDBOX_ACCOUNTS), "--records", str(SANDBOX_RECORDS),
             "--categories", SANDBOX_CATEGORIES,
             "--trickle-per-minute", str(SANDBOX_TRICKLE_PER_MINUTE),
             "--port", str(sandbox_port), "--api-key", env["MERGE_PIPELINE_API_KEY"],
             "--webhook-signing-key", env["MERGE_PIPELINE_WEBHOOK_SIGNING_KEY"],
             "--accounts-file", str(accounts_file)],
            ready_url=f"http://127.0.0.1:{sandbox_port}/_sandbox/health",
        )  # fmt: skip
        services.append(sandbox)
        sandbox.start()
        sandbox.wait_ready()
        registered = _register_sandbox_accounts(
            engine, accounts_file, env["MERGE_PIPELINE_TOKEN_ENCRYPTION_KEY"]
        )
        accounts_file.unlink()  # the tokens now live encrypted in the warehouse only
        engine.dispose()
        sandbox_url = f"http://127.0.0.1:{sandbox_port}/api"
        log.info("Merge sandbox: %s (%d linked accounts registered)", sandbox_url, registered)

        env |= {
            "MERGE_PIPELINE_BASE_URL": sandbox_url,
            # the demo's linked accounts are on Merge's Enterprise plan (600 calls a minute)
            "MERGE_PIPELINE_RATE_LIMIT_PER_MINUTE": "600",
            "MERGE_PIPELINE_DATABASE_URL": warehouse_url.render_as_string(hide_password=False),
            "DAGSTER_PG_URL": dagster_url.render_as_string(hide_password=False),
            **DEMO_AUTOMATION,
        }
        _write_env(data_dir / "demo.env", env)
        dagster = ManagedProcess(
            "dagster",
            [sys.executable, "-m", "dagster", "dev", "-w", "workspace.yaml",
             "-h", "127.0.0.1", "-p", str(port)],
            env=env,
            ready_url=f"http://127.0.0.1:{port}/server_info",
        )  # fmt: skip
        services.append(dagster)
        dagster.start()
        dagster.wait_ready()
        log.info("Dagster UI: http://127.0.0.1:%d  (Ctrl-C stops everything)", port)
        log.info(
            "sync from a terminal: env $(cat %s) %s/merge-pipeline sync --all-accounts",
            data_dir / "demo.env",
            Path(sys.executable).parent,
        )
        while not stop.wait(1.0):
            for service in services:
                if not service.running:
                    log.error("%s exited unexpectedly", service.name)
                    return 1
        return 0
    finally:
        for service in reversed(services):
            service.stop()
        if embedded is not None:
            embedded.stop()
            log.info("stopped embedded PostgreSQL")
