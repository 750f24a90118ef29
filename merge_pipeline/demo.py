"""``make demo``: embedded PostgreSQL, the Merge sandbox, the webhook receiver and the Dagster
UI, in one command.

Everything it starts, it stops on Ctrl-C (or SIGTERM). Demo secrets are generated once into
``.data/demo.env`` (git-ignored), so tokens stay encrypted with the same key across restarts;
the same file also receives the sandbox and database URLs of the running demo, so that
``MERGE_PIPELINE_ENV_FILE=.data/demo.env merge-pipeline sync --all-accounts`` works from another
terminal without a secret on any command line (``ps`` shows every process's arguments to every
user): the children get their secrets through the environment, never as arguments.

The sandbox is started as a separate program (``python -m merge_sandbox.cli``): the pipeline
talks to it over HTTP exactly as it would to Merge and never imports it. A port that is taken
fails at once in one line (Dagster's, the receiver's) or is swapped for a free one (the
sandbox's), and each service counts as ready only when the answer is its own, not another
program's.

The sandbox plays Merge's syncing guide: it syncs every account on its own schedule and sends
its signed webhooks to the receiver, which is registered with it as one registers a receiver in
Merge's dashboard. Besides the healthy accounts it holds one special account per way Merge
reports trouble (``demo_accounts.py``); the banner says which is which.
"""

import json
import logging
import os
import secrets
import shutil
import signal
import socket
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Any

import httpx
import sqlalchemy as sa
from pydantic import SecretStr
from sqlalchemy.engine import URL

from merge_pipeline.demo_accounts import create_special_accounts, special_banner_lines
from merge_pipeline.processes import (
    ManagedProcess,
    PortTaken,
    death_notice,
    port_is_free,
    require_free_port,
)
from merge_pipeline.warehouse.accounts import LinkedAccount, save_account
from merge_pipeline.warehouse.migrate import migrate
from merge_pipeline.warehouse.server import (
    DAGSTER_DATABASE,
    WAREHOUSE_DATABASE,
    DatabaseUrlError,
    EmbeddedPostgres,
    ensure_database,
    libpq_url,
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
#: Merge's own syncs of each account (they end in the synced webhooks the sensors react to)
SANDBOX_SYNC_EVERY_SECONDS = 180
RECEIVER_PORT = 8010  # the default of `merge-pipeline receiver`
WEBHOOK_PATH = "/webhooks/merge"
#: the sandbox plays Merge's Enterprise plan; the pipeline's default is the Launch plan's 100
DEMO_RATE_LIMIT_PER_MINUTE = 600
#: the demo compresses a night into minutes: accounts are discovered (and first synced) within
#: half a minute, and the safety-net schedule syncs every account every fifteen minutes
DEMO_AUTOMATION = {
    "MERGE_PIPELINE_DISCOVERY_INTERVAL_S": "30",
    "MERGE_PIPELINE_SAFETY_NET_HOURS": "24",
    "MERGE_PIPELINE_SAFETY_NET_TICK_MINUTES": "15",
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
    """``preferred`` if nobody listens there, else a port the kernel picks."""
    if port_is_free(preferred):
        return preferred
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def is_dagster_answer(response: httpx.Response) -> bool:
    """Dagster's webserver answers /server_info with its versions; another server does not."""
    return response.status_code == 200 and "dagster_webserver_version" in _json(response)


def is_sandbox_answer(response: httpx.Response) -> bool:
    """The sandbox's health answer: ``{"ok": true, "accounts": N}``."""
    body = _json(response)
    return response.status_code == 200 and body.get("ok") is True and "accounts" in body


def is_receiver_answer(response: httpx.Response) -> bool:
    """The receiver's health answer: ``{"status": "ok"}`` once its database answers."""
    return response.status_code == 200 and _json(response).get("status") == "ok"


def _json(response: httpx.Response) -> dict[str, object]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def sandbox_process(port: int, accounts_file: Path, env: dict[str, str]) -> ManagedProcess:
    """The sandbox as the demo starts it: secrets in its environment, never in its arguments."""
    return ManagedProcess(
        "merge-sandbox",
        [sys.executable, "-m", "merge_sandbox.cli", "serve",
         "--accounts", str(SANDBOX_ACCOUNTS), "--records", str(SANDBOX_RECORDS),
         "--categories", SANDBOX_CATEGORIES,
         "--trickle-per-minute", str(SANDBOX_TRICKLE_PER_MINUTE),
         "--sync-every-seconds", str(SANDBOX_SYNC_EVERY_SECONDS),
         "--port", str(port), "--accounts-file", str(accounts_file)],
        env={
            "MERGE_SANDBOX_API_KEY": env["MERGE_PIPELINE_API_KEY"],
            "MERGE_SANDBOX_WEBHOOK_SIGNING_KEY": env["MERGE_PIPELINE_WEBHOOK_SIGNING_KEY"],
        },
        ready_url=f"http://127.0.0.1:{port}/_sandbox/health",
        ready_check=is_sandbox_answer,
    )  # fmt: skip


def receiver_process(
    port: int, env: dict[str, str], log_file: Path | None = None
) -> ManagedProcess:
    """``merge-pipeline receiver`` as the demo starts it: database URL and keys in its
    environment, its log in ``log_file`` (a line per webhook would drown the demo's terminal)."""
    return ManagedProcess(
        "webhook-receiver",
        [sys.executable, "-m", "merge_pipeline.cli", "receiver",
         "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        ready_url=f"http://127.0.0.1:{port}/health",
        ready_check=is_receiver_answer,
        log_file=log_file,
    )  # fmt: skip


def register_receiver(sandbox_root: str, receiver_url: str, signing_key: str) -> None:
    """Point the sandbox's webhooks at the receiver, as one does in Merge's dashboard
    (Webhooks: the URL, and the signature key the receiver checks)."""
    response = httpx.put(
        f"{sandbox_root}/_sandbox/webhooks",
        json={"url": receiver_url, "signing_key": signing_key},
        timeout=10,
    )
    if response.status_code != 200:
        raise RuntimeError(f"the sandbox refused the webhook settings ({response.status_code})")


def dagster_process(port: int, env: dict[str, str], home: Path | None = None) -> ManagedProcess:
    """``dagster dev`` as the demo starts it: settings and secrets in its environment.

    It runs in its home folder: from the repository, `dagster dev` warns that the dagster.yaml
    there is not the one in DAGSTER_HOME (though it is the same file).
    """
    return ManagedProcess(
        "dagster",
        [sys.executable, "-m", "dagster", "dev", "-w", str(Path("workspace.yaml").resolve()),
         "-h", "127.0.0.1", "-p", str(port)],
        env=env,
        cwd=home,
        ready_url=f"http://127.0.0.1:{port}/server_info",
        ready_check=is_dagster_answer,
    )  # fmt: skip


def dagster_home(data_dir: Path) -> Path:
    """Dagster's home inside the data folder, holding the repository's dagster.yaml.

    Without DAGSTER_HOME, ``dagster dev`` announces a temporary storage folder it does not use
    (storage is PostgreSQL) and other Dagster commands create ``~/.dagster``.
    """
    home = (data_dir / "dagster").resolve()
    home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(Path(__file__).resolve().parent.parent / "dagster.yaml", home / "dagster.yaml")
    return home


def dagster_environment(home: Path) -> dict[str, str]:
    """Switch off what can be switched off: the `dg dev` notice and the first-visit pop-up."""
    return {
        "DAGSTER_HOME": str(home),
        # `dg` (dagster-dg-cli) is not part of the locked dependencies, so `dagster dev` it is
        "PYTHONWARNINGS": "ignore:Function `dev_command` is superseded:FutureWarning",
    }


def banner(
    dagster_url: str,
    sandbox_url: str,
    accounts: int,
    warehouse: URL,
    env_file: Path,
    receiver_url: str = "",
    receiver_log: Path | None = None,
) -> list[str]:
    """What a newcomer needs once everything is up: where to look, how to query, how to sync."""
    merge_cli = Path(sys.executable).parent / "merge-pipeline"
    query = (
        f"psql '{libpq_url(warehouse)}'"
        if not warehouse.password
        else f"MERGE_PIPELINE_ENV_FILE={env_file} {merge_cli} db shell"
    )
    receiver = (
        [
            f"webhook receiver:  {receiver_url}   (registered with the sandbox; log: "
            f"{receiver_log}); Merge syncs every account every {SANDBOX_SYNC_EVERY_SECONDS}s"
        ]
        if receiver_url
        else []
    )
    return [
        f"Dagster UI:        {dagster_url}   (Ctrl-C stops everything)",
        f"Merge sandbox:     {sandbox_url}   ({accounts} linked accounts registered)",
        *receiver,
        f"query the mirror:  {query}",
        f"sync from a shell: MERGE_PIPELINE_ENV_FILE={env_file} {merge_cli} sync --all-accounts",
        f"rate limit:        {DEMO_RATE_LIMIT_PER_MINUTE} calls/min per account (the sandbox "
        "plays Enterprise); the default, 100, is Merge's Launch plan: set "
        "MERGE_PIPELINE_RATE_LIMIT_PER_MINUTE to your plan's (Professional 400, Enterprise 600)",
    ]


def _register_sandbox_accounts(engine: sa.Engine, listed: list[dict[str, Any]], key: str) -> int:
    """Store the sandbox's linked accounts (tokens encrypted), as the link flow would."""
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


def run_demo(
    data_dir: Path = Path(".data"), port: int = DAGSTER_PORT, receiver_port: int = RECEIVER_PORT
) -> int:
    """Start the stack, block until interrupted, then stop every process it started."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        require_free_port(
            port, "Dagster UI", f"choose another: make demo PORT={port + 1} (or --port {port + 1})"
        )
        require_free_port(
            receiver_port,
            "webhook receiver",
            f"choose another: make demo RECEIVER_PORT={receiver_port + 1} "
            f"(or --receiver-port {receiver_port + 1})",
        )
        external = os.environ.get("MERGE_PIPELINE_DATABASE_URL")
        server = normalise_url(external) if external else None
    except PortTaken as error:
        print(f"Error: {error}", file=sys.stderr)
        return 2
    except DatabaseUrlError as error:
        print(f"Error: MERGE_PIPELINE_DATABASE_URL {error}", file=sys.stderr)
        return 2
    stop = threading.Event()

    def _request_stop(signum: int, _frame: FrameType | None) -> None:
        log.info("received %s, stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGINT, _request_stop)
    signal.signal(signal.SIGTERM, _request_stop)

    env = demo_secrets(data_dir)
    env_file = data_dir / "demo.env"
    embedded = None if server is not None else EmbeddedPostgres(data_dir)
    services: list[ManagedProcess] = []
    try:
        server = server or embedded.start()  # type: ignore[union-attr]
        warehouse_url = ensure_database(server, WAREHOUSE_DATABASE)
        dagster_url = ensure_database(server, DAGSTER_DATABASE)
        engine = sa.create_engine(warehouse_url)
        migrate(engine)
        log.info("warehouse ready: %s", warehouse_url.render_as_string(hide_password=True))

        sandbox_port = _free_port(SANDBOX_PORT)
        if sandbox_port != SANDBOX_PORT:
            log.info("port %d is taken; the sandbox listens on %d", SANDBOX_PORT, sandbox_port)
        accounts_file = data_dir / "sandbox-accounts.json"
        accounts_file.unlink(missing_ok=True)
        sandbox = sandbox_process(sandbox_port, accounts_file, env)
        services.append(sandbox)
        sandbox.start()
        sandbox.wait_ready()
        encryption_key = env["MERGE_PIPELINE_TOKEN_ENCRYPTION_KEY"]
        registered = _register_sandbox_accounts(
            engine, json.loads(accounts_file.read_text())["accounts"], encryption_key
        )
        accounts_file.unlink()  # the tokens now live encrypted in the warehouse only
        sandbox_root = f"http://127.0.0.1:{sandbox_port}"
        sandbox_url = f"{sandbox_root}/api"
        log.info("Merge sandbox: %s (%d linked accounts registered)", sandbox_url, registered)

        env |= {
            "MERGE_PIPELINE_BASE_URL": sandbox_url,
            "MERGE_PIPELINE_RATE_LIMIT_PER_MINUTE": str(DEMO_RATE_LIMIT_PER_MINUTE),
            "MERGE_PIPELINE_DATABASE_URL": warehouse_url.render_as_string(hide_password=False),
            "DAGSTER_PG_URL": dagster_url.render_as_string(hide_password=False),
            **DEMO_AUTOMATION,
        }
        _write_env(env_file, env)

        receiver_log = (data_dir / "receiver.log").resolve()
        receiver = receiver_process(receiver_port, env, receiver_log)
        services.append(receiver)
        receiver.start()
        receiver.wait_ready()
        receiver_url = f"http://127.0.0.1:{receiver_port}{WEBHOOK_PATH}"
        register_receiver(sandbox_root, receiver_url, env["MERGE_PIPELINE_WEBHOOK_SIGNING_KEY"])
        log.info("webhook receiver: %s (registered with the sandbox)", receiver_url)
        special = create_special_accounts(sandbox_root)
        registered += _register_sandbox_accounts(
            engine, [summary for _, summary in special], encryption_key
        )
        engine.dispose()
        home = dagster_home(data_dir)
        dagster = dagster_process(port, env | dagster_environment(home), home)
        services.append(dagster)
        dagster.start()
        dagster.wait_ready()
        lines = banner(
            f"http://127.0.0.1:{port}",
            sandbox_url,
            registered,
            warehouse_url,
            env_file.resolve(),
            receiver_url,
            receiver_log,
        )
        lines += ["special accounts (the asset checks flag them):", *special_banner_lines(special)]
        for line in lines:
            log.info("%s", line)
        while not stop.wait(1.0):
            for service in services:
                if not service.running:
                    others = [s.name for s in services if s is not service and s.running]
                    stopping = others + (["PostgreSQL"] if embedded else [])
                    log.error("%s", death_notice(service.name, service.exit_code, stopping))
                    return 1
        return 0
    finally:
        for service in reversed(services):
            service.stop()
        if embedded is not None:
            owned = embedded.owns_server
            embedded.stop()
            if owned:
                log.info("stopped embedded PostgreSQL")
            else:
                log.info("left embedded PostgreSQL running (it was running before the demo)")
