"""``make demo``: embedded PostgreSQL, the warehouse schema and the Dagster UI, in one command.

Everything it starts, it stops on Ctrl-C (or SIGTERM). Demo secrets are generated once into
``.data/demo.env`` (git-ignored), so tokens stay encrypted with the same key across restarts.
"""

import logging
import os
import secrets
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

import sqlalchemy as sa

from merge_pipeline.processes import ManagedProcess
from merge_pipeline.warehouse.migrate import migrate
from merge_pipeline.warehouse.server import (
    DAGSTER_DATABASE,
    WAREHOUSE_DATABASE,
    EmbeddedPostgres,
    ensure_database,
    normalise_url,
)
from merge_pipeline.warehouse.vault import generate_key

log = logging.getLogger("merge_pipeline.demo")
DAGSTER_PORT = 3000


def demo_secrets(data_dir: Path) -> dict[str, str]:
    """Load or create the demo's own API key, token encryption key and webhook signing key."""
    path = data_dir / "demo.env"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(
            f"MERGE_PIPELINE_API_KEY=demo-{secrets.token_urlsafe(24)}\n"
            f"MERGE_PIPELINE_TOKEN_ENCRYPTION_KEY={generate_key()}\n"
            f"MERGE_PIPELINE_WEBHOOK_SIGNING_KEY={secrets.token_urlsafe(32)}\n"
        )
        path.chmod(0o600)
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {key: value for key, value in pairs}


def run_demo(data_dir: Path = Path(".data"), port: int = DAGSTER_PORT) -> int:
    """Start the stack, block until interrupted, then stop every process it started."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
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
        engine.dispose()
        log.info("warehouse ready: %s", warehouse_url.render_as_string(hide_password=True))
        env |= {
            "MERGE_PIPELINE_DATABASE_URL": warehouse_url.render_as_string(hide_password=False),
            "DAGSTER_PG_URL": dagster_url.render_as_string(hide_password=False),
        }
        dagster = ManagedProcess(
            "dagster",
            [
                sys.executable,
                "-m",
                "dagster",
                "dev",
                "-w",
                "workspace.yaml",
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
            ],
            env=env,
            ready_url=f"http://127.0.0.1:{port}/server_info",
        )
        services.append(dagster)
        dagster.start()
        dagster.wait_ready()
        log.info("Dagster UI: http://127.0.0.1:%d  (Ctrl-C stops everything)", port)
        while not stop.wait(1.0):
            if not dagster.running:
                log.error("dagster dev exited unexpectedly")
                return 1
        return 0
    finally:
        for service in reversed(services):
            service.stop()
        if embedded is not None:
            embedded.stop()
            log.info("stopped embedded PostgreSQL")
