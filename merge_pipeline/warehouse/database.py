"""The warehouse engine: resolve the server, make sure the database exists, migrate it."""

from pathlib import Path

import sqlalchemy as sa

from merge_pipeline.settings import Settings, get_settings
from merge_pipeline.warehouse.migrate import migrate
from merge_pipeline.warehouse.server import WAREHOUSE_DATABASE, ensure_database, server_url


def warehouse_engine(settings: Settings | None = None, *, migrate_schema: bool = True) -> sa.Engine:
    """An engine on the warehouse database, created and migrated on first use.

    An external ``database_url`` is used as given (its database must exist); with none, the
    embedded server is started (or reused) and its ``merge_pipeline`` database created.
    """
    settings = settings or get_settings()
    database_url = settings.database_url.get_secret_value() if settings.database_url else None
    return engine_for(
        database_url,
        settings.data_dir,
        migrate_schema=migrate_schema,
        pool_size=pool_size_for(settings.sync_concurrency),
    )


#: SQLAlchemy's default pool size, kept as the floor
DEFAULT_POOL_SIZE = 5


def pool_size_for(sync_concurrency: int) -> int:
    """Connections to keep for ``sync_concurrency`` accounts syncing at once in one process.

    Each running sync holds a connection for its whole length (its advisory lock) and takes a
    second, briefly, for every rate-limit slot; with the default pool (5, plus 10 overflow)
    more than about 7 concurrent syncs waited for connections until the pool timed out
    (measured by ``benchmarks.rate_use`` with 64).
    """
    return max(DEFAULT_POOL_SIZE, 2 * sync_concurrency + 1)


def engine_for(
    database_url: str | None,
    data_dir: Path,
    *,
    migrate_schema: bool = True,
    pool_size: int = DEFAULT_POOL_SIZE,
) -> sa.Engine:
    """:func:`warehouse_engine` from just the two settings that locate the warehouse."""
    if database_url:
        url = server_url(database_url, data_dir)
    else:
        url = ensure_database(server_url(None, data_dir), WAREHOUSE_DATABASE)
    engine = sa.create_engine(url, pool_pre_ping=True, pool_size=pool_size)
    if migrate_schema:
        migrate(engine)
    return engine


def ping(engine: sa.Engine) -> None:
    """One round trip to the database (raises if it is unreachable): for health endpoints."""
    with engine.connect() as connection:
        connection.execute(sa.text("SELECT 1"))
