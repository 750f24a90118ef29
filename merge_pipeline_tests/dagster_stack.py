"""A real Dagster deployment for tests and benchmarks: PostgreSQL storage, daemon, run queue.

It uses the repository's own ``dagster.yaml`` (queue limits, run monitoring) in a throwaway
DAGSTER_HOME, a database of its own for Dagster's storage, and ``dagster-daemon run`` in its
own process group. Secrets reach the daemon (and the code server and runs it starts) only
through the environment, as in production.
"""

import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import sqlalchemy as sa
from dagster._core.instance.ref import InstanceRef
from sqlalchemy.engine import URL

from merge_pipeline.processes import ManagedProcess
from merge_pipeline.warehouse.server import ensure_database, with_database

REPOSITORY = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
FINISHED = {
    dg.DagsterRunStatus.SUCCESS,
    dg.DagsterRunStatus.FAILURE,
    dg.DagsterRunStatus.CANCELED,
}


@dataclass
class DagsterStack:
    """A running daemon over a PostgreSQL-backed instance; launch runs and watch them."""

    home: Path
    env: dict[str, str]
    instance: dg.DagsterInstance
    #: ``dagster-daemon run`` (its group holds the code server and the runs it launched)
    daemon: ManagedProcess | None = None

    def launch(self, job: str, account_id: str, *, tags: Mapping[str, str] | None = None) -> None:
        """Submit a run of ``job`` for one account through the queue, as an operator would."""
        all_tags = {"dagster/partition": account_id, "merge/account": account_id, **(tags or {})}
        launch = self.launch_async(job, all_tags)
        _, errors = launch.communicate(timeout=600)
        if launch.returncode:
            raise RuntimeError(f"dagster job launch failed: {errors.decode()[-2000:]}")

    def launch_async(self, job: str, tags: Mapping[str, str]) -> "subprocess.Popen[bytes]":
        command = [
            str(BIN / "dagster"), "job", "launch", "-w", str(self.home / "workspace.yaml"),
            "-j", job, "--tags", json.dumps(dict(tags)),
        ]  # fmt: skip
        return subprocess.Popen(command, env=self.env, cwd=self.home, stdout=subprocess.DEVNULL)

    def failure_of(self, run: dg.DagsterRun) -> str:
        """Why a run failed, as its failure events say (for assertion messages)."""
        messages = [
            entry.message
            for entry in self.instance.all_logs(run.run_id)
            if entry.dagster_event is not None and entry.dagster_event.is_failure
        ]
        return f"{run.job_name} {run.tags.get('merge/account')}: {' | '.join(messages)}"

    def runs_of(self, account_id: str) -> list[dg.DagsterRun]:
        """The account's runs, oldest first."""
        records = self.instance.get_run_records(
            filters=dg.RunsFilter(tags={"merge/account": account_id})
        )
        return [r.dagster_run for r in sorted(records, key=lambda r: r.create_timestamp)]

    def wait_for_runs(
        self, account_id: str, count: int, *, timeout_s: float = 240.0
    ) -> list[dg.DagsterRun]:
        """Wait until ``count`` runs of the account have finished; returns them."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            finished = [r for r in self.runs_of(account_id) if r.status in FINISHED]
            if len(finished) >= count:
                return finished
            time.sleep(1.0)
        statuses = [r.status.value for r in self.runs_of(account_id)]
        raise TimeoutError(f"{count} runs of {account_id} did not finish: {statuses}")


@contextmanager
def dagster_stack(
    postgres_server: URL,
    environment: Mapping[str, str],
    module: str = "merge_pipeline.definitions",
    instance_yaml: Path = REPOSITORY / "dagster.yaml",
    storage_password: str | None = None,
) -> Iterator[DagsterStack]:
    """Start ``dagster-daemon run`` on a fresh instance; ``environment`` is MERGE_PIPELINE_*.

    ``instance_yaml`` picks the profile (the cluster's is ``deploy/celery/dagster.yaml``);
    ``storage_password`` is put in Dagster's storage URL (a trust server ignores it), so a test
    can look for it where it must never be.
    """
    database = f"mp_dagster_{os.getpid()}_{secrets.token_hex(3)}"
    storage_url = with_database(ensure_database(postgres_server, database), database)
    home = Path(tempfile_dir()) / f"dagster-{secrets.token_hex(3)}"
    home.mkdir(parents=True)
    shutil.copy(instance_yaml, home / "dagster.yaml")
    if storage_password is not None:
        storage_url = storage_url.set(password=storage_password)
    (home / "workspace.yaml").write_text(
        f"load_from:\n  - python_module:\n      module_name: {module}\n"
        "      location_name: merge_pipeline\n"
    )
    env = {
        **os.environ,
        **environment,
        "DAGSTER_HOME": str(home),
        "PYTHONPATH": os.pathsep.join(
            filter(None, [str(REPOSITORY), os.environ.get("PYTHONPATH")])
        ),
        "DAGSTER_PG_URL": storage_url.set(drivername="postgresql+psycopg2").render_as_string(
            hide_password=False
        ),
    }
    daemon = ManagedProcess(
        "dagster-daemon",
        [str(BIN / "dagster-daemon"), "run", "-w", str(home / "workspace.yaml")],
        env=env,
    )
    saved = {name: os.environ.get(name) for name in ("DAGSTER_HOME", "DAGSTER_PG_URL")}
    os.environ.update({name: env[name] for name in saved})
    instance = dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home)))
    daemon.start()
    try:
        yield DagsterStack(home, env, instance, daemon)
    finally:
        daemon.stop()
        instance.dispose()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        drop_database(postgres_server, database)
        shutil.rmtree(home, ignore_errors=True)


def tempfile_dir() -> str:
    """Short paths: Dagster writes gRPC sockets under the home and TMPDIR."""
    return "/tmp"


def drop_database(server: URL, database: str) -> None:
    """Drop a throwaway database, closing whatever still uses it."""
    admin = sa.create_engine(with_database(server, "postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
    admin.dispose()
