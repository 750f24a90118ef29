"""Account health: Merge's Issues per account, and when each account's health was last read.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
SCHEMA = "merge_pipeline"
NOW = sa.text("now()")


def upgrade() -> None:
    op.create_table(
        "account_issues",
        sa.Column("id", sa.Text(), primary_key=True),
        sa.Column("linked_account_id", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("error_description", sa.Text(), nullable=False),
        sa.Column("first_incident_time", sa.DateTime(timezone=True)),
        sa.Column("last_incident_time", sa.DateTime(timezone=True)),
        sa.Column("is_muted", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("observed_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_account_issues_open",
        "account_issues",
        ["linked_account_id"],
        schema=SCHEMA,
        postgresql_where=sa.text("status = 'ONGOING'"),
    )
    op.add_column(
        "linked_accounts",
        sa.Column("health_checked_at", sa.DateTime(timezone=True)),
        schema=SCHEMA,
    )
    op.add_column("linked_accounts", sa.Column("health_detail", sa.Text()), schema=SCHEMA)


def downgrade() -> None:
    op.drop_column("linked_accounts", "health_detail", schema=SCHEMA)
    op.drop_column("linked_accounts", "health_checked_at", schema=SCHEMA)
    op.drop_table("account_issues", schema=SCHEMA)
