"""The instance storage of the repository's ``dagster.yaml``: Dagster's PostgreSQL storage that
keeps its connections (dagster-postgres opens one per statement outside the webserver)."""

import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa
from dagster._core.test_utils import create_run_for_test
from sqlalchemy.engine import URL

from merge_pipeline.instance_storage import MAX_OVERFLOW, POOL_SIZE, PooledPostgresStorage
from merge_pipeline.warehouse.server import ensure_database
from merge_pipeline_tests.dagster_stack import drop_database

pytestmark = pytest.mark.integration
REPOSITORY_YAML = Path(__file__).resolve().parents[3] / "dagster.yaml"


@pytest.fixture
def instance(postgres_server: URL, monkeypatch: pytest.MonkeyPatch) -> Iterator[dg.DagsterInstance]:
    """An instance in a home of its own holding the repository's dagster.yaml, on a fresh
    database (the daemon's, the code server's and every run worker's way of loading it)."""
    name = f"mp_instance_{os.getpid()}_{secrets.token_hex(3)}"
    url = ensure_database(postgres_server, name).set(drivername="postgresql+psycopg2")
    home = Path(tempfile.mkdtemp(prefix="mp-home-"))
    shutil.copy(REPOSITORY_YAML, home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_PG_URL", url.render_as_string(hide_password=False))
    with dg.DagsterInstance.from_config(str(home)) as loaded:
        yield loaded
    shutil.rmtree(home, ignore_errors=True)
    drop_database(postgres_server, name)


def _messages(instance: dg.DagsterInstance, run: dg.DagsterRun) -> list[str]:
    return [
        e.dagster_event.message or ""
        for e in instance.all_logs(run.run_id)
        if e.dagster_event is not None
    ]


def _connects(engine: sa.Engine) -> list[int]:
    opened: list[int] = []
    sa.event.listen(engine, "connect", lambda *_: opened.append(1))
    return opened


def test_the_repositorys_instance_writes_many_events_over_a_few_kept_connections(
    instance: dg.DagsterInstance,
) -> None:
    storage = instance.get_ref().storage_data
    assert storage is not None and storage.class_name == PooledPostgresStorage.__name__
    run = create_run_for_test(instance, job_name="probe")
    opened = _connects(instance.event_log_storage._engine)  # type: ignore[attr-defined]
    for number in range(100):
        instance.report_engine_event(f"event {number}", run)
    assert len([m for m in _messages(instance, run) if m.startswith("event ")]) == 100
    assert len(opened) <= POOL_SIZE + MAX_OVERFLOW  # not one or more per event


def test_a_kept_connection_the_server_closed_is_replaced_without_an_error(
    instance: dg.DagsterInstance, postgres_server: URL
) -> None:
    run = create_run_for_test(instance, job_name="probe")
    instance.report_engine_event("before", run)
    database = instance.event_log_storage._engine.url.database  # type: ignore[attr-defined]
    admin = sa.create_engine(postgres_server.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        cut = connection.execute(
            sa.text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = :name AND pid <> pg_backend_pid()"
            ),
            {"name": database},
        ).scalar_one()
    admin.dispose()
    instance.report_engine_event("after", run)
    messages = _messages(instance, run)
    assert cut >= 1 and "before" in messages and "after" in messages
