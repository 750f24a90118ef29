"""Per-parent listing state of nested models, and each nested model's last full re-list.

Revision ID: 0003
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
SCHEMA = "merge_pipeline"


def upgrade() -> None:
    op.create_table(
        "nested_parent_listings",
        sa.Column("linked_account_id", sa.Text(), primary_key=True),
        sa.Column("model_id", sa.Text(), primary_key=True),
        sa.Column("parent_id", sa.Text(), primary_key=True),
        sa.Column("listed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("parent_modified_at", sa.DateTime(timezone=True)),
        sa.Column("parent_deleted", sa.Boolean(), nullable=False),
        sa.Column("sync_run_id", sa.Text()),
        schema=SCHEMA,
    )
    op.create_table(
        "nested_full_relists",
        sa.Column("linked_account_id", sa.Text(), primary_key=True),
        sa.Column("model_id", sa.Text(), primary_key=True),
        sa.Column("relisted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sync_run_id", sa.Text()),
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_table("nested_full_relists", schema=SCHEMA)
    op.drop_table("nested_parent_listings", schema=SCHEMA)
