"""Bring a database to the current schema, idempotently and safely from many processes at once.

Two parts, under one PostgreSQL advisory lock:

* the pipeline's own tables are versioned with Alembic (``warehouse/migrations``);
* the mirror tables are *derived* from the catalog, so they are reconciled instead: missing
  schemas, tables and columns are created, nothing is ever dropped. Regenerating the catalog
  with a new Merge field adds a column on the next start; no hand-written migration is needed;
* the analysts' views of live rows (``hris_current.employee``, see ``views.py``) are derived
  from the mirror tables and remade when their definition changes.
"""

import logging
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.schema import CreateColumn

from merge_pipeline.warehouse.mirror_tables import MirrorTables, mirror_tables
from merge_pipeline.warehouse.pipeline_tables import PIPELINE_SCHEMA
from merge_pipeline.warehouse.views import reconcile_views

log = logging.getLogger(__name__)
MIGRATIONS_DIR = Path(__file__).with_name("migrations")
#: arbitrary, fixed key of the advisory lock that serialises schema changes
_MIGRATION_LOCK_KEY = 0x4D455247


@dataclass
class MigrationReport:
    """What :func:`migrate` changed (empty lists on an up-to-date database)."""

    created_tables: list[str] = field(default_factory=list)
    added_columns: list[str] = field(default_factory=list)
    made_views: list[str] = field(default_factory=list)


def _alembic_config(connection: sa.Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


def _existing_columns(
    connection: sa.Connection, schemas: list[str]
) -> dict[tuple[str, str], set[str]]:
    rows = connection.execute(
        sa.text(
            "SELECT table_schema, table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = ANY(:schemas)"
        ),
        {"schemas": schemas},
    )
    found: dict[tuple[str, str], set[str]] = {}
    for schema, table, column in rows:
        found.setdefault((schema, table), set()).add(column)
    return found


def reconcile_mirror_tables(connection: sa.Connection, tables: MirrorTables) -> MigrationReport:
    """Create missing mirror schemas, tables and columns (additive only)."""
    report = MigrationReport()
    for schema in tables.schemas:
        connection.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
    existing = _existing_columns(connection, tables.schemas)
    for table in tables.metadata.sorted_tables:
        have = existing.get((str(table.schema), table.name))
        if have is None:
            table.create(connection)
            report.created_tables.append(f"{table.schema}.{table.name}")
            continue
        for column in table.columns:
            if column.name not in have:
                ddl = CreateColumn(column).compile(dialect=connection.dialect)
                connection.execute(
                    sa.text(f'ALTER TABLE "{table.schema}"."{table.name}" ADD COLUMN {ddl}')
                )
                report.added_columns.append(f"{table.schema}.{table.name}.{column.name}")
    return report


def migrate(engine: sa.Engine, tables: MirrorTables | None = None) -> MigrationReport:
    """Upgrade the pipeline schema to head and reconcile every mirror table, in one transaction."""
    with engine.begin() as connection:
        connection.execute(sa.select(sa.func.pg_advisory_xact_lock(_MIGRATION_LOCK_KEY)))
        connection.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{PIPELINE_SCHEMA}"'))
        command.upgrade(_alembic_config(connection), "head")
        tables = tables or mirror_tables()
        report = reconcile_mirror_tables(connection, tables)
        report.made_views = reconcile_views(connection, tables.metadata.sorted_tables)
    if report.created_tables or report.added_columns or report.made_views:
        log.info(
            "schema reconciled: %d tables created, %d columns added, %d views made",
            len(report.created_tables),
            len(report.added_columns),
            len(report.made_views),
        )
    return report
