"""Dagster's PostgreSQL storage, holding its connections instead of opening one per statement.

``dagster-postgres`` gives the daemon, the code server and every run worker an engine without
a pool (only ``dagster-webserver`` swaps in a pooled one), so each event written opens a new
PostgreSQL connection, several per event. Creating one sync run writes a planned event per
model and per check (85 for an ats run) and took 1.6 s of the daemon's time, 0.6 s with pooled
connections (measured on this machine, 1,000 partitions); the daemon creates a sensor tick's
runs one by one, and every run worker writes its events the same way. This storage is
``DagsterPostgresStorage`` with a small pool per storage: one connection kept, a few more for
concurrent threads, checked before use (a restarted server costs a reconnect, not an error).

Set in ``dagster.yaml`` as ``storage: custom:`` with the same config as ``storage: postgres:``;
every Dagster process of the deployment must be able to import this package (true for the
demo, the tests and the Celery profile; the Kubernetes chart's own images keep ``postgres``).
"""

from typing import Any

from dagster._core.storage.config import PostgresStorageConfig
from dagster._serdes import ConfigurableClassData
from dagster_postgres import DagsterPostgresStorage
from dagster_postgres.utils import (
    create_pg_engine,
    get_token_provider_from_config,
    pg_url_from_config,
)

#: connections a storage keeps open per process, and how many more concurrent threads may add
POOL_SIZE = 1
MAX_OVERFLOW = 4
#: reconnect before PostgreSQL's or a proxy's idle timeouts could close a kept connection
POOL_RECYCLE_S = 3600


class PooledPostgresStorage(DagsterPostgresStorage):
    """``storage: postgres:`` with pooled connections for the daemon, code server and runs."""

    def __init__(self, postgres_url: str, *args: Any, **kwargs: Any) -> None:
        super().__init__(postgres_url, *args, **kwargs)
        token_provider = kwargs.get("token_provider")
        for storage in (self._run_storage, self._event_log_storage, self._schedule_storage):
            storage._engine.dispose()
            storage._engine = create_pg_engine(
                postgres_url,
                token_provider,
                isolation_level="AUTOCOMMIT",
                pool_size=POOL_SIZE,
                max_overflow=MAX_OVERFLOW,
                pool_recycle=POOL_RECYCLE_S,
                pool_pre_ping=True,
            )

    @classmethod
    def from_config_value(  # type: ignore[override]
        cls, inst_data: ConfigurableClassData | None, config_value: PostgresStorageConfig
    ) -> "PooledPostgresStorage":
        return cls(
            pg_url_from_config(config_value),
            inst_data=inst_data,
            should_autocreate_tables=config_value.get("should_autocreate_tables", True),
            token_provider=get_token_provider_from_config(config_value),
        )
