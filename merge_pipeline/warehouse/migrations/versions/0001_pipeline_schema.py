"""The pipeline's own tables: linked accounts, cursors, sync history, Merge sync status, inbox.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "0001"
down_revision = None
SCHEMA = "merge_pipeline"
NOW = sa.text("now()")


def _timestamp(name: str, *, nullable: bool = True, now: bool = False) -> sa.Column[object]:
    return sa.Column(
        name, sa.DateTime(timezone=True), nullable=nullable, server_default=NOW if now else None
    )


def upgrade() -> None:
    op.create_table(
        "linked_accounts",
        sa.Column("id", sa.Text(), primary_key=True),
        sa.Column("category", sa.Text(), nullable=False),
        *(
            sa.Column(name, sa.Text())
            for name in (
                "integration",
                "integration_slug",
                "end_user_origin_id",
                "end_user_organization_name",
                "end_user_email_address",
                "status",
                "account_type",
            )
        ),
        sa.Column("token_ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False, server_default=sa.true()),
        _timestamp("created_at", nullable=False, now=True),
        _timestamp("updated_at", nullable=False, now=True),
        schema=SCHEMA,
    )
    op.create_table(
        "sync_cursors",
        sa.Column("linked_account_id", sa.Text(), primary_key=True),
        sa.Column("model_id", sa.Text(), primary_key=True),
        _timestamp("modified_after", nullable=False),
        _timestamp("updated_at", nullable=False, now=True),
        sa.Column("sync_run_id", sa.Text()),
        schema=SCHEMA,
    )
    op.create_table(
        "sync_runs",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("sync_run_id", sa.Text(), nullable=False),
        sa.Column("linked_account_id", sa.Text(), nullable=False),
        sa.Column("model_id", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        _timestamp("started_at", nullable=False, now=True),
        _timestamp("finished_at"),
        _timestamp("cursor_before"),
        _timestamp("cursor_after"),
        sa.Column("stats", pg.JSONB(), nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column("error", sa.Text()),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_sync_runs_account_model",
        "sync_runs",
        ["linked_account_id", "model_id", "started_at"],
        schema=SCHEMA,
    )
    op.create_table(
        "merge_sync_status",
        sa.Column("linked_account_id", sa.Text(), primary_key=True),
        sa.Column("model_id", sa.Text(), primary_key=True),
        sa.Column("status", sa.Text(), nullable=False),
        _timestamp("last_sync_start"),
        _timestamp("last_sync_finished"),
        sa.Column("last_sync_result", sa.Text()),
        sa.Column("is_initial_sync", sa.Boolean()),
        _timestamp("observed_at", nullable=False, now=True),
        schema=SCHEMA,
    )
    op.create_table(
        "webhook_inbox",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        _timestamp("received_at", nullable=False, now=True),
        sa.Column("event", sa.Text(), nullable=False),
        sa.Column("linked_account_id", sa.Text()),
        sa.Column("body_sha256", sa.Text(), nullable=False, unique=True),
        sa.Column("payload", pg.JSONB(), nullable=False),
        _timestamp("processed_at"),
        schema=SCHEMA,
    )


def downgrade() -> None:
    for table in (
        "webhook_inbox",
        "merge_sync_status",
        "sync_runs",
        "sync_cursors",
        "linked_accounts",
    ):
        op.drop_table(table, schema=SCHEMA)
