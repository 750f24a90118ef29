"""Views of the live rows of every mirror table, for analysts: ``hris_current.employee``.

Mirror tables keep every row Merge ever returned, deleted ones included (``remote_was_deleted``,
and ``_absent_since`` where a full re-list stopped returning a row).
Most questions are about what exists now, so each category gets a second schema,
``<category>_current``, with one view per mirror table, of the same name, that hides those rows.

The views are derived from the mirror tables as the tables are from the catalog, and (re)made by
:func:`merge_pipeline.warehouse.migrate.migrate` under its lock. Each carries its definition's
fingerprint in its comment, so an unchanged view is left alone: a routine start takes no lock on
a view someone is reading. ``SELECT *`` keeps the view in step with the table's columns (added
columns come last, which ``CREATE OR REPLACE VIEW`` accepts); a new column changes the
fingerprint, so the view is remade to include it.
"""

import hashlib
from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from merge_pipeline.warehouse.mirror_tables import ABSENT_SINCE

DELETED = "remote_was_deleted"
CURRENT_SUFFIX = "_current"
_DIALECT = postgresql.dialect()


def current_schema(schema: str) -> str:
    """``hris`` -> ``hris_current``."""
    return f"{schema}{CURRENT_SUFFIX}"


def live_rows(table: sa.Table) -> sa.ColumnElement[bool]:
    """What "current" means: not deleted in Merge, and still listed by the last full re-list."""
    return sa.and_(sa.not_(table.c[DELETED]), table.c[ABSENT_SINCE].is_(None))


def view_query(table: sa.Table) -> str:
    """The view's ``SELECT``, as PostgreSQL will receive it."""
    query = sa.select(sa.text("*")).select_from(table).where(live_rows(table))
    return str(query.compile(dialect=_DIALECT, compile_kwargs={"literal_binds": True}))


def view_comment(table: sa.Table) -> str:
    """Says what the view is, and fingerprints what it was made from."""
    source = "\n".join([view_query(table), *sorted(table.c.keys())])
    digest = hashlib.sha256(source.encode()).hexdigest()[:16]
    return (
        f"Rows of {table.schema}.{table.name} not deleted in Merge or absent from the last "
        "full re-list. "
        f"Made by merge-pipeline (definition {digest}); do not edit."
    )


def _quoted(schema: str, name: str | None = None) -> str:
    preparer = _DIALECT.identifier_preparer
    quoted = preparer.quote_schema(schema)
    return quoted if name is None else f"{quoted}.{preparer.quote(name)}"


def _literal(text: str) -> str:
    return str(
        sa.literal(text, sa.Text()).compile(
            dialect=_DIALECT, compile_kwargs={"literal_binds": True}
        )
    )


def _existing_comments(connection: sa.Connection, schemas: list[str]) -> dict[tuple[str, str], str]:
    rows = connection.execute(
        sa.text(
            "SELECT n.nspname, c.relname, obj_description(c.oid, 'pg_class') "
            "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relkind = 'v' AND n.nspname = ANY(:schemas)"
        ),
        {"schemas": schemas},
    )
    return {(schema, name): comment or "" for schema, name, comment in rows}


def reconcile_views(connection: sa.Connection, tables: Iterable[sa.Table]) -> list[str]:
    """Create or update the live-rows view of each table; returns the views it (re)made."""
    tables = [table for table in tables if table.schema and DELETED in table.c]
    schemas = sorted({current_schema(str(table.schema)) for table in tables})
    for schema in schemas:
        connection.exec_driver_sql(f"CREATE SCHEMA IF NOT EXISTS {_quoted(schema)}")
    existing = _existing_comments(connection, schemas)
    made = []
    for table in tables:
        schema = current_schema(str(table.schema))
        comment = view_comment(table)
        if existing.get((schema, table.name)) == comment:
            continue
        view = _quoted(schema, table.name)
        connection.exec_driver_sql(f"CREATE OR REPLACE VIEW {view} AS {view_query(table)}")
        connection.exec_driver_sql(f"COMMENT ON VIEW {view} IS {_literal(comment)}")
        made.append(f"{schema}.{table.name}")
    return made
