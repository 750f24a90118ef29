"""Which Merge sync of each model was reported finished, and which one a run was requested for.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "0005"
down_revision = "0004"
SCHEMA = "merge_pipeline"
TABLE = "merge_sync_status"
_TS = sa.DateTime(timezone=True)

COLUMNS = (
    ("observed_by", sa.Text()),
    ("synced_fields", pg.JSONB()),
    ("reported_sync_id", sa.Text()),
    ("reported_sync_start", _TS),
    ("reported_sync_finished", _TS),
    ("reported_at", _TS),
    ("reported_by", sa.Text()),
    ("handled_sync_id", sa.Text()),
    ("handled_at", _TS),
    ("handled_by", sa.Text()),
    ("handled_run_key", sa.Text()),
)


def upgrade() -> None:
    for name, type_ in COLUMNS:
        op.add_column(TABLE, sa.Column(name, type_), schema=SCHEMA)
    op.create_index(
        "ix_merge_sync_status_pending",
        TABLE,
        ["linked_account_id"],
        schema=SCHEMA,
        postgresql_where=sa.text("reported_sync_id IS DISTINCT FROM handled_sync_id"),
    )


def downgrade() -> None:
    op.drop_index("ix_merge_sync_status_pending", table_name=TABLE, schema=SCHEMA)
    for name, _ in reversed(COLUMNS):
        op.drop_column(TABLE, name, schema=SCHEMA)
