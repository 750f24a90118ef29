"""Merge's per-account rate-limit window, shared by every process that calls Merge.

UNLOGGED: the window is worth nothing after a crash (PostgreSQL empties such a table on crash
recovery, and the limiter recreates rows on first use), and skipping the WAL spares every Merge
call a disk flush at commit (measured: ~13 ms per acquisition with it, ~2 ms without).

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "0002"
down_revision = "0001"
SCHEMA = "merge_pipeline"


def upgrade() -> None:
    op.create_table(
        "rate_limit_windows",
        sa.Column("linked_account_id", sa.Text(), primary_key=True),
        sa.Column(
            "granted_at",
            pg.ARRAY(sa.DateTime(timezone=True)),
            nullable=False,
            server_default=sa.text("'{}'"),
        ),
        sa.Column("paused_until", sa.DateTime(timezone=True)),
        schema=SCHEMA,
        prefixes=["UNLOGGED"],
        comment="Merge's per-account rate limit, shared by every process (no tokens here)",
    )


def downgrade() -> None:
    op.drop_table("rate_limit_windows", schema=SCHEMA)
