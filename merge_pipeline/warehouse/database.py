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
    return engine_for(database_url, settings.data_dir, migrate_schema=migrate_schema)


def engine_for(
    database_url: str | None, data_dir: Path, *, migrate_schema: bool = True
) -> sa.Engine:
    """:func:`warehouse_engine` from just the two settings that locate the warehouse."""
    if database_url:
        url = server_url(database_url, data_dir)
    else:
        url = ensure_database(server_url(None, data_dir), WAREHOUSE_DATABASE)
    engine = sa.create_engine(url, pool_pre_ping=True)
    if migrate_schema:
        migrate(engine)
    return engine


def ping(engine: sa.Engine) -> None:
    """One round trip to the database (raises if it is unreachable): for health endpoints."""
    with engine.connect() as connection:
        connection.execute(sa.text("SELECT 1"))
