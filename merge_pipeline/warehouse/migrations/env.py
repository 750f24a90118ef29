"""Alembic environment: runs on the connection that ``warehouse.migrate.migrate`` opens."""

from alembic import context

from merge_pipeline.warehouse.pipeline_tables import PIPELINE_SCHEMA, metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    version_table_schema=PIPELINE_SCHEMA,
    include_schemas=True,
)
with context.begin_transaction():
    context.run_migrations()
