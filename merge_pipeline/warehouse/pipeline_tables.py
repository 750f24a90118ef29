"""The pipeline's own state, in schema ``merge_pipeline``: accounts, cursors, history, inbox.

State that must survive a crash lives here and is written in the same transaction as the data
it describes (a cursor moves only with the page that completes it).
"""

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg

PIPELINE_SCHEMA = "merge_pipeline"
metadata = sa.MetaData(schema=PIPELINE_SCHEMA)


def _now() -> sa.sql.functions.now:
    return sa.func.now()


linked_accounts = sa.Table(
    "linked_accounts",
    metadata,
    sa.Column("id", sa.Text(), primary_key=True, comment="Merge's linked account id"),
    sa.Column("category", sa.Text(), nullable=False),
    sa.Column("integration", sa.Text()),
    sa.Column("integration_slug", sa.Text()),
    sa.Column("end_user_origin_id", sa.Text()),
    sa.Column("end_user_organization_name", sa.Text()),
    sa.Column("end_user_email_address", sa.Text()),
    sa.Column("status", sa.Text(), comment="COMPLETE | INCOMPLETE | RELINK_NEEDED | IDLE"),
    sa.Column("account_type", sa.Text()),
    sa.Column("token_ciphertext", sa.LargeBinary(), nullable=False, comment="Fernet-encrypted"),
    sa.Column("is_active", sa.Boolean(), nullable=False, server_default=sa.true()),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
    sa.Column(
        "health_checked_at",
        sa.DateTime(timezone=True),
        comment="when the account-health sensor last read Merge's account details",
    ),
    sa.Column("health_detail", sa.Text(), comment="why the account is in its status (issues)"),
)

sync_cursors = sa.Table(
    "sync_cursors",
    metadata,
    sa.Column("linked_account_id", sa.Text(), primary_key=True),
    sa.Column("model_id", sa.Text(), primary_key=True, comment="e.g. hris.Employee"),
    sa.Column(
        "modified_after",
        sa.DateTime(timezone=True),
        nullable=False,
        comment="next fetch asks for records modified after this (the previous fetch's start)",
    ),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
    sa.Column("sync_run_id", sa.Text()),
)

sync_runs = sa.Table(
    "sync_runs",
    metadata,
    sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
    sa.Column(
        "sync_run_id", sa.Text(), nullable=False, comment="the run that did it (Dagster run id)"
    ),
    sa.Column("linked_account_id", sa.Text(), nullable=False),
    sa.Column("model_id", sa.Text(), nullable=False),
    sa.Column("status", sa.Text(), nullable=False, comment="running | succeeded | failed"),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
    sa.Column("finished_at", sa.DateTime(timezone=True)),
    sa.Column("cursor_before", sa.DateTime(timezone=True)),
    sa.Column("cursor_after", sa.DateTime(timezone=True)),
    sa.Column("stats", pg.JSONB(), nullable=False, server_default=sa.text("'{}'::jsonb")),
    sa.Column("error", sa.Text()),
    sa.Index("ix_sync_runs_account_model", "linked_account_id", "model_id", "started_at"),
)

merge_sync_status = sa.Table(
    "merge_sync_status",
    metadata,
    sa.Column("linked_account_id", sa.Text(), primary_key=True),
    sa.Column("model_id", sa.Text(), primary_key=True),
    sa.Column("status", sa.Text(), nullable=False),
    sa.Column("last_sync_start", sa.DateTime(timezone=True)),
    sa.Column("last_sync_finished", sa.DateTime(timezone=True)),
    sa.Column("last_sync_result", sa.Text()),
    sa.Column("is_initial_sync", sa.Boolean()),
    sa.Column("observed_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
    sa.Column("observed_by", sa.Text(), comment="webhook | poll: where the status came from"),
    sa.Column(
        "synced_fields",
        pg.JSONB(),
        comment="fields Merge synced (the last reported sync's webhook)",
    ),
    sa.Column(
        "reported_sync_id",
        sa.Text(),
        comment="the last finished Merge sync seen: its last_sync_finished (see planning/"
        "merge_syncs.py)",
    ),
    sa.Column("reported_sync_start", sa.DateTime(timezone=True)),
    sa.Column("reported_sync_finished", sa.DateTime(timezone=True)),
    sa.Column("reported_at", sa.DateTime(timezone=True)),
    sa.Column("reported_by", sa.Text(), comment="webhook | poll"),
    sa.Column(
        "handled_sync_id",
        sa.Text(),
        comment="the sync a run was requested for (set by compare-and-set: one run per sync)",
    ),
    sa.Column("handled_at", sa.DateTime(timezone=True)),
    sa.Column("handled_by", sa.Text(), comment="webhook | poll"),
    sa.Column("handled_run_key", sa.Text()),
    sa.Index(
        "ix_merge_sync_status_pending",
        "linked_account_id",
        postgresql_where=sa.text("reported_sync_id IS DISTINCT FROM handled_sync_id"),
    ),
    comment="What Merge last said about its own sync of each model (from /sync-status or webhooks)",
)

webhook_inbox = sa.Table(
    "webhook_inbox",
    metadata,
    sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
    sa.Column("event", sa.Text(), nullable=False),
    sa.Column("linked_account_id", sa.Text()),
    sa.Column(
        "body_sha256", sa.Text(), nullable=False, unique=True, comment="dedupes redeliveries"
    ),
    sa.Column(
        "payload", pg.JSONB(), nullable=False, comment="verified body, account token removed"
    ),
    sa.Column("processed_at", sa.DateTime(timezone=True)),
)

quarantined_records = sa.Table(
    "quarantined_records",
    metadata,
    sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
    sa.Column("linked_account_id", sa.Text(), nullable=False),
    sa.Column("model_id", sa.Text(), nullable=False),
    sa.Column("record_id", sa.Text(), comment="Merge's id (NULL when the record had none)"),
    sa.Column(
        "record_key",
        sa.Text(),
        nullable=False,
        comment="record_id, or 'sha256:<digest of raw>' for a record without one",
    ),
    sa.Column("reason", sa.Text(), nullable=False, comment="names the field, never a value"),
    sa.Column(
        "raw", pg.JSON(), nullable=False, comment="the record exactly as received (json keeps NULs)"
    ),
    sa.Column("modified_at", sa.DateTime(timezone=True)),
    sa.Column("sync_run_id", sa.Text(), nullable=False, comment="the run that last saw it"),
    sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
    sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
    sa.Column("attempts", sa.Integer(), nullable=False, server_default=sa.text("1")),
    sa.Column("resolved_at", sa.DateTime(timezone=True), comment="NULL while pending"),
    sa.Column("resolution", sa.Text(), comment="stored | gone"),
    sa.UniqueConstraint("linked_account_id", "model_id", "record_key"),
    sa.Index(
        "ix_quarantined_records_pending",
        "linked_account_id",
        "model_id",
        postgresql_where=sa.text("resolved_at IS NULL"),
    ),
    comment="Records Merge sent that could not be mirrored, kept whole until a sync stores them",
)

nested_parent_listings = sa.Table(
    "nested_parent_listings",
    metadata,
    sa.Column("linked_account_id", sa.Text(), primary_key=True),
    sa.Column(
        "model_id",
        sa.Text(),
        primary_key=True,
        comment="the nested model, e.g. ats.ScreeningQuestion",
    ),
    sa.Column("parent_id", sa.Text(), primary_key=True),
    sa.Column(
        "listed_at",
        sa.DateTime(timezone=True),
        nullable=False,
        comment="start (Merge's clock) of the sync that last listed this parent's children "
        "completely; the parent's own modified_after window for incremental nested models",
    ),
    sa.Column(
        "parent_modified_at",
        sa.DateTime(timezone=True),
        comment="the parent's modified_at in the mirror when its children were listed",
    ),
    sa.Column("parent_deleted", sa.Boolean(), nullable=False),
    sa.Column("sync_run_id", sa.Text()),
    comment="Per parent of a nested model: when its children were last listed (for the policy)",
)

nested_full_relists = sa.Table(
    "nested_full_relists",
    metadata,
    sa.Column("linked_account_id", sa.Text(), primary_key=True),
    sa.Column("model_id", sa.Text(), primary_key=True),
    sa.Column(
        "relisted_at",
        sa.DateTime(timezone=True),
        nullable=False,
        comment="when (our clock) the last sync that listed every parent planned it",
    ),
    sa.Column("sync_run_id", sa.Text()),
    comment="Per nested model: the last full re-list, from which the next one falls due",
)

rate_limit_windows = sa.Table(
    "rate_limit_windows",
    metadata,
    sa.Column("linked_account_id", sa.Text(), primary_key=True),
    sa.Column(
        "granted_at",
        pg.ARRAY(sa.DateTime(timezone=True)),
        nullable=False,
        server_default=sa.text("'{}'"),
        comment="when each call of the current window was let through (older ones are pruned)",
    ),
    sa.Column(
        "paused_until",
        sa.DateTime(timezone=True),
        comment="Merge answered 429: no call for this account before then",
    ),
    comment="Merge's per-account rate limit, shared by every process (no tokens here)",
    prefixes=["UNLOGGED"],  # worthless after a crash; spares each Merge call a WAL flush
)

account_issues = sa.Table(
    "account_issues",
    metadata,
    sa.Column("id", sa.Text(), primary_key=True, comment="Merge's Issue id"),
    sa.Column("linked_account_id", sa.Text(), nullable=False),
    sa.Column("status", sa.Text(), nullable=False, comment="ONGOING | RESOLVED"),
    sa.Column("error_description", sa.Text(), nullable=False),
    sa.Column("first_incident_time", sa.DateTime(timezone=True)),
    sa.Column("last_incident_time", sa.DateTime(timezone=True)),
    sa.Column("is_muted", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Column("observed_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
    sa.Index(
        "ix_account_issues_open",
        "linked_account_id",
        postgresql_where=sa.text("status = 'ONGOING'"),
    ),
    comment="Merge's Issues per linked account (from /issues and the Issue.* webhooks)",
)
