"""The instance storage of the repository's dagster.yaml keeps its connections (a run writes
hundreds of event-log rows; dagster-postgres alone would connect for each statement)."""

import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa
from dagster._core.instance.ref import InstanceRef
from sqlalchemy.engine import URL

from merge_pipeline.instance_storage import PooledPostgresStorage
from merge_pipeline.warehouse.server import ensure_database, with_database
from merge_pipeline_tests.dagster_stack import REPOSITORY, drop_database


@pytest.fixture
def instance(
    postgres_server: URL, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dg.DagsterInstance]:
    """A Dagster instance as the daemon, code server and runs load it: from dagster.yaml."""
    database = f"mp_instance_{secrets.token_hex(3)}"
    url = with_database(ensure_database(postgres_server, database), database)
    shutil.copy(REPOSITORY / "dagster.yaml", tmp_path / "dagster.yaml")
    monkeypatch.setenv(
        "DAGSTER_PG_URL",
        url.set(drivername="postgresql+psycopg2").render_as_string(hide_password=False),
    )
    instance = dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(tmp_path)))
    try:
        yield instance
    finally:
        instance.dispose()
        drop_database(postgres_server, database)


def test_event_writes_reuse_one_connection(instance: dg.DagsterInstance) -> None:
    storage = instance.event_log_storage
    connects: list[object] = []
    engine: sa.Engine = storage._engine  # type: ignore[attr-defined]
    sa.event.listen(engine, "connect", lambda connection, _: connects.append(connection))
    key = dg.AssetKey(["hris", "employee"])
    for account in range(20):
        instance.report_runless_asset_event(dg.AssetMaterialization(key, partition=f"a{account}"))
    [record] = instance.get_asset_records([key])
    last = record.asset_entry.last_materialization
    assert last is not None and last.asset_materialization is not None
    # the kept connection, and at most one more the first time a write nests a second one;
    # dagster-postgres alone connects at least once per event
    assert len(connects) <= 2
    assert last.asset_materialization.partition == "a19"


def test_a_kept_connection_the_server_dropped_is_replaced(
    instance: dg.DagsterInstance, postgres_server: URL
) -> None:
    """A restarted server (or an idle limit) must cost a reconnect, not a failed event write."""
    key = dg.AssetKey(["hris", "employee"])
    instance.report_runless_asset_event(dg.AssetMaterialization(key, partition="before"))
    engine: sa.Engine = instance.event_log_storage._engine  # type: ignore[attr-defined]
    database = engine.url.database
    admin = sa.create_engine(with_database(postgres_server, "postgres"))
    with admin.connect() as connection:
        dropped = connection.execute(
            sa.text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = :database"
            ),
            {"database": database},
        ).scalar_one()
    admin.dispose()
    instance.report_runless_asset_event(dg.AssetMaterialization(key, partition="after"))
    [record] = instance.get_asset_records([key])
    last = record.asset_entry.last_materialization
    assert dropped >= 1
    assert last is not None and last.asset_materialization is not None
    assert last.asset_materialization.partition == "after"


def test_instances_made_from_a_reference_pool_too(instance: dg.DagsterInstance) -> None:
    """Runs and code servers get the instance as a reference: the same class is rebuilt."""
    ref = instance.get_ref()
    assert ref.storage_data is not None
    assert ref.storage_data.class_name == PooledPostgresStorage.__name__
    with dg.DagsterInstance.from_ref(ref) as rebuilt:
        engines = [
            rebuilt.run_storage._engine,  # type: ignore[attr-defined]
            rebuilt.event_log_storage._engine,  # type: ignore[attr-defined]
            rebuilt.schedule_storage._engine,  # type: ignore[union-attr]
        ]
        assert {type(engine.pool) for engine in engines} == {sa.pool.QueuePool}
        assert rebuilt.get_runs_count() == 0


def _connections(server: URL, database: str) -> int:
    admin = sa.create_engine(with_database(server, "postgres"))
    try:
        with admin.connect() as connection:
            query = "SELECT count(*) FROM pg_stat_activity WHERE datname = :database"
            return int(connection.execute(sa.text(query), {"database": database}).scalar_one())
    finally:
        admin.dispose()


def test_disposed_instances_leave_no_connection_open(
    instance: dg.DagsterInstance, postgres_server: URL
) -> None:
    """Dagster builds an instance from its reference for every sensor evaluation and every run,
    and disposes it after: the kept connections must go with it, or the server runs out."""
    database = instance.event_log_storage._engine.url.database  # type: ignore[attr-defined]
    assert database is not None
    ref = instance.get_ref()
    before = _connections(postgres_server, database)
    for _ in range(30):
        with dg.DagsterInstance.from_ref(ref) as evaluation:
            evaluation.get_runs_count()
            evaluation.get_dynamic_partitions("hris_accounts")  # the schedule storage too
            evaluation.report_runless_asset_event(
                dg.AssetMaterialization(dg.AssetKey(["hris", "employee"]), partition="a")
            )
    assert _connections(postgres_server, database) <= before
