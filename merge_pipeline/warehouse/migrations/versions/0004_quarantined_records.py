"""Quarantine: records Merge sent that could not be mirrored, kept whole with the reason.

Revision ID: 0004
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "0004"
down_revision = "0003"
SCHEMA = "merge_pipeline"
NOW = sa.text("now()")


def upgrade() -> None:
    op.create_table(
        "quarantined_records",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("linked_account_id", sa.Text(), nullable=False),
        sa.Column("model_id", sa.Text(), nullable=False),
        sa.Column("record_id", sa.Text()),
        sa.Column("record_key", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("raw", pg.JSON(), nullable=False),
        sa.Column("modified_at", sa.DateTime(timezone=True)),
        sa.Column("sync_run_id", sa.Text(), nullable=False),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default=sa.text("1")),
        sa.Column("resolved_at", sa.DateTime(timezone=True)),
        sa.Column("resolution", sa.Text()),
        sa.UniqueConstraint("linked_account_id", "model_id", "record_key"),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_quarantined_records_pending",
        "quarantined_records",
        ["linked_account_id", "model_id"],
        schema=SCHEMA,
        postgresql_where=sa.text("resolved_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_table("quarantined_records", schema=SCHEMA)
