"""Dagster's PostgreSQL storage, holding a connection per storage instead of one per query.

dagster-postgres opens a new connection for every statement outside the webserver (NullPool):
a sync run writes ~250 event-log rows (each row one or more statements), and the daemon's
queue, monitoring and sensor loops query every few seconds, so each process spends its time
connecting (a PostgreSQL backend forked per statement). ``dagster.yaml`` names this class
instead; it is the same storage with the pooled engine Dagster gives its webserver
(``optimize_for_webserver``): one kept connection per storage and process, more while threads
overlap (closed when returned), none shared across processes (runs are spawned, not forked).
"""

from collections.abc import Mapping
from typing import Any

from dagster._serdes import ConfigurableClassData
from dagster_postgres import DagsterPostgresStorage
from dagster_postgres.utils import get_token_provider_from_config, pg_url_from_config

#: no statement time limit (as with dagster-postgres's own engines); the webserver sets its own
STATEMENT_TIMEOUT_MS = 0
#: connections are replaced after an hour, so a server-side idle limit never meets a stale one
POOL_RECYCLE_S = 3600
#: connections beyond the kept one while threads overlap (the daemon's sensor workers)
MAX_OVERFLOW = 10


class PooledPostgresStorage(DagsterPostgresStorage):
    """``DagsterPostgresStorage`` whose run, event-log and schedule storages pool connections."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for storage in (self._run_storage, self._event_log_storage, self._schedule_storage):
            storage.optimize_for_webserver(
                statement_timeout=STATEMENT_TIMEOUT_MS,
                pool_recycle=POOL_RECYCLE_S,
                max_overflow=MAX_OVERFLOW,
            )

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
