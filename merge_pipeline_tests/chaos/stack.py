"""The running parts a chaos run shares across scenarios, and the faults done to them.

One sandbox (in this process, on its own socket), one PostgreSQL (a harness-owned embedded
server, or the external one of ``MERGE_PIPELINE_DATABASE_URL``) with a database of its own,
and one ``merge-pipeline receiver`` process. Each scenario brings accounts of its own, so
nothing has to be reset between scenarios but the sandbox's switches.
"""

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa
from pydantic import SecretStr
from sqlalchemy.engine import URL

from merge_pipeline.demo import WEBHOOK_PATH, receiver_process
from merge_pipeline.processes import ManagedProcess
from merge_pipeline.warehouse.migrate import migrate
from merge_pipeline.warehouse.server import (
    EmbeddedPostgres,
    ensure_database,
    normalise_url,
    with_database,
)
from merge_pipeline.warehouse.vault import TokenVault, generate_key
from merge_sandbox.admin import SandboxAdmin
from merge_sandbox.testing import running_sandbox

REPOSITORY = Path(__file__).resolve().parents[2]
#: secrets of the run: sentinels, so a leak would be recognisable in any output
API_KEY = "sk-chaos-SENTINEL-5c1d"
SIGNING_KEY = "whsec-chaos-SENTINEL-8e2f"
#: the sandbox's seed (account ids derive from it): inside this harness's range 2001-2999
SANDBOX_SEED = 2001
#: a sync that has not ended by then is hung: the scenario fails
SYNC_TIMEOUT_S = 180.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Postgres:
    """The server: embedded (owned, so it can be restarted) or external (it cannot)."""

    external_url: str | None
    workdir: Path
    server_url: URL | None = None
    _embedded: EmbeddedPostgres | None = None

    def start(self) -> URL:
        if self.external_url:
            self.server_url = normalise_url(self.external_url)
        else:
            self._embedded = EmbeddedPostgres(self.workdir / "pg")
            self.server_url = self._embedded.start()
        return self.server_url

    @property
    def restartable(self) -> bool:
        return self._embedded is not None

    def restart(self, database: str, down_s: float) -> None:
        """The embedded server stops and starts again; an external one (not ours to stop)
        refuses the database's connections for ``down_s`` and drops every one it had."""
        assert self.server_url is not None
        if self._embedded is not None:
            self._embedded.stop()
            time.sleep(down_s)
            self._embedded.start()
            return
        with _admin(self.server_url) as connection:
            connection.execute(sa.text(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS false'))
            terminate(connection, database)
        time.sleep(down_s)
        with _admin(self.server_url) as connection:
            connection.execute(sa.text(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true'))

    def stop(self) -> None:
        if self._embedded is not None:
            self._embedded.stop()


@contextlib.contextmanager
def _admin(server: URL) -> Iterator[sa.Connection]:
    engine = sa.create_engine(with_database(server, "postgres"), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            yield connection
    finally:
        engine.dispose()


def terminate(connection: sa.Connection, database: str) -> int:
    """pg_terminate_backend every other session on ``database``; how many there were."""
    rows = connection.execute(
        sa.text(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = :db AND pid <> pg_backend_pid()"
        ),
        {"db": database},
    ).all()
    return len(rows)


@dataclass
class ChaosStack:
    """Everything a scenario drives; built by :func:`chaos_stack`."""

    postgres: Postgres
    database: str
    database_url: URL
    engine: sa.Engine
    vault: TokenVault
    encryption_key: str
    admin: SandboxAdmin
    base_url: str
    receiver: ManagedProcess
    receiver_url: str
    logs: Path
    syncs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def environment(self, **overrides: str) -> dict[str, str]:
        """The MERGE_PIPELINE_* settings of the pipeline's processes (secrets only here)."""
        clean = {k: v for k, v in os.environ.items() if not k.startswith("MERGE_PIPELINE_")}
        return {
            **clean,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPOSITORY), clean.get("PYTHONPATH")])),
            "MERGE_PIPELINE_API_KEY": API_KEY,
            "MERGE_PIPELINE_BASE_URL": self.base_url,
            "MERGE_PIPELINE_TOKEN_ENCRYPTION_KEY": self.encryption_key,
            "MERGE_PIPELINE_WEBHOOK_SIGNING_KEY": SIGNING_KEY,
            "MERGE_PIPELINE_DATABASE_URL": self.database_url.render_as_string(hide_password=False),
            "MERGE_PIPELINE_RATE_LIMIT_PER_MINUTE": "100000",
            "MERGE_PIPELINE_REQUEST_TIMEOUT_S": "10",
            **overrides,
        }

    def start_sync(self, account_id: str, **overrides: str) -> subprocess.Popen[bytes]:
        """``merge-pipeline sync --account A`` in its own process group, output to the log."""
        log = (self.logs / "syncs.log").open("ab")
        process = subprocess.Popen(
            [sys.executable, "-m", "merge_pipeline.cli", "sync", "--account", account_id,
             "--no-progress"],
            env=self.environment(**overrides),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=tempfile.gettempdir(),
        )  # fmt: skip
        log.close()
        return process

    @staticmethod
    def kill(process: subprocess.Popen[bytes]) -> bool:
        """SIGKILL the process group if it still runs; whether it did."""
        if process.poll() is not None:
            return False
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        return True

    def restart_receiver(self, kill: bool = True) -> None:
        if kill:
            self.receiver.kill()
        self.receiver.start()
        self.receiver.wait_ready(60)

    def cut_connections(self) -> int:
        assert self.postgres.server_url is not None
        with _admin(self.postgres.server_url) as connection:
            return terminate(connection, self.database)

    def restart_postgres(self, down_s: float = 0.5) -> None:
        self.postgres.restart(self.database, down_s)


@contextlib.contextmanager
def chaos_stack(external_url: str | None = None) -> Iterator[ChaosStack]:
    """Start the shared parts; ``external_url`` (else MERGE_PIPELINE_DATABASE_URL) picks PG."""
    external = external_url or os.environ.get("MERGE_PIPELINE_DATABASE_URL")
    workdir = Path(tempfile.mkdtemp(prefix="chaos-", dir="/tmp"))  # short: unix socket paths
    postgres = Postgres(external, workdir)
    server = postgres.start()
    database = f"mp_chaos_{os.getpid()}_{secrets.token_hex(3)}"
    url = ensure_database(server, database)
    engine = sa.create_engine(url, pool_pre_ping=True)
    migrate(engine)
    key = generate_key()
    port = free_port()
    receiver_url = f"http://127.0.0.1:{port}{WEBHOOK_PATH}"
    try:
        with running_sandbox(
            accounts=0,
            records=0,
            seed=SANDBOX_SEED,
            api_key=API_KEY,
            webhook_url=receiver_url,
            signing_key=SIGNING_KEY,
        ) as sandbox:
            stack = ChaosStack(
                postgres=postgres,
                database=database,
                database_url=url,
                engine=engine,
                vault=TokenVault(SecretStr(key)),
                encryption_key=key,
                admin=sandbox.admin,
                base_url=sandbox.base_url,
                receiver=None,  # type: ignore[arg-type]  # set just below
                receiver_url=receiver_url,
                logs=workdir,
            )
            stack.receiver = receiver_process(port, stack.environment(), workdir / "receiver.log")
            stack.receiver.start()
            stack.receiver.wait_ready(60)
            try:
                yield stack
            finally:
                stack.receiver.stop()
    finally:
        engine.dispose()
        if postgres.server_url is not None:
            with contextlib.suppress(sa.exc.SQLAlchemyError), _admin(server) as connection:
                connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        postgres.stop()
        shutil.rmtree(workdir, ignore_errors=True)
