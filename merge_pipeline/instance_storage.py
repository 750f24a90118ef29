"""Dagster's PostgreSQL storage, holding a connection per storage instead of one per statement.

dagster-postgres opens a new connection for every statement outside its webserver (NullPool):
a sync run writes ~250 event-log rows (each one to three statements), and the daemon's queue,
monitoring and sensor loops query every few seconds, so each process spent much of its time
connecting (PostgreSQL forks a backend per connection). ``dagster.yaml`` names this class
instead: the same storage, each of its three engines pooled as the webserver's are (one kept
connection per storage and process, more while threads overlap, closed when returned) and
pinged before use, so a restarted server costs a reconnect, not a failed event write. No
connection is shared across processes: runs are spawned, not forked.
"""

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from dagster._serdes import ConfigurableClassData
from dagster_postgres import DagsterPostgresStorage
from dagster_postgres.auth import PgTokenProvider
from dagster_postgres.utils import (
    create_pg_engine,
    get_token_provider_from_config,
    pg_url_from_config,
)

#: connections are replaced after an hour, so a server-side idle limit never meets a stale one
POOL_RECYCLE_S = 3600
#: connections beyond the kept one while threads overlap (the daemon's sensor workers); the
#: webserver's default
MAX_OVERFLOW = 20


def pooled_engine(postgres_url: str, token_provider: PgTokenProvider | None) -> sa.Engine:
    """An engine like dagster-postgres's own (autocommit, its token hook) that keeps one
    connection."""
    return create_pg_engine(
        postgres_url,
        token_provider,
        isolation_level="AUTOCOMMIT",
        pool_size=1,
        max_overflow=MAX_OVERFLOW,
        pool_recycle=POOL_RECYCLE_S,
        pool_pre_ping=True,
    )


class PooledPostgresStorage(DagsterPostgresStorage):
    """``DagsterPostgresStorage`` whose run, event-log and schedule storages pool connections."""

    def __init__(
        self,
        postgres_url: str,
        should_autocreate_tables: bool = True,
        inst_data: ConfigurableClassData | None = None,
        token_provider: PgTokenProvider | None = None,
    ) -> None:
        super().__init__(postgres_url, should_autocreate_tables, inst_data, token_provider)
        for storage in (self._run_storage, self._event_log_storage, self._schedule_storage):
            # what dagster-postgres's optimize_for_webserver does, without its statement timeout
            storage._engine.dispose()
            storage._engine = pooled_engine(postgres_url, token_provider)
        # an instance disposes its run and event-log storages, never its schedule storage
        _close_on_dispose(self._run_storage, [self._run_storage, self._schedule_storage])
        _close_on_dispose(self._event_log_storage, [self._event_log_storage])

    @classmethod
    def from_config_value(
        cls, inst_data: ConfigurableClassData | None, config_value: Mapping[str, Any]
    ) -> "PooledPostgresStorage":
        return cls(
            inst_data=inst_data,
            postgres_url=pg_url_from_config(config_value),
            should_autocreate_tables=config_value.get("should_autocreate_tables", True),
            token_provider=get_token_provider_from_config(config_value),
        )


def _close_on_dispose(storage: Any, owners: list[Any]) -> None:
    """A disposed instance must close its kept connections: dagster-postgres's storages dispose
    no engine (without a pool there was nothing to close), and Dagster builds an instance for
    every sensor evaluation and every run, so each would keep its connections until collected
    (an end-to-end test ran the embedded server out of its 100 connection slots)."""
    dispose = storage.dispose

    def dispose_and_close() -> None:
        dispose()
        for owner in owners:
            owner._engine.dispose()

    storage.dispose = dispose_and_close
