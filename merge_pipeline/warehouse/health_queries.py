"""The grouped reads behind the account-health asset checks: one SQL per check kind per category.

Each returns only the problem rows, keyed by model id, so a check over thousands of accounts
costs one indexed query, never a query per account.
"""

from collections import defaultdict
from datetime import datetime

import sqlalchemy as sa

from merge_pipeline.planning.account_checks import SYNC_STATUS_SEVERITY
from merge_pipeline.planning.account_health import ONGOING
from merge_pipeline.warehouse.account_holds import HOLDING_STATUSES
from merge_pipeline.warehouse.history import SUCCEEDED
from merge_pipeline.warehouse.pipeline_tables import (
    account_issues,
    linked_accounts,
    merge_sync_status,
    quarantined_records,
    sync_runs,
)


def _category_accounts(category: str) -> sa.Select[tuple[str]]:
    return sa.select(linked_accounts.c.id).where(
        linked_accounts.c.category == category, linked_accounts.c.is_active
    )


def sync_status_problems(
    connection: sa.Connection, category: str
) -> dict[str, list[tuple[str, str | None, str | None]]]:
    """model id -> (account, status, last_sync_result) where Merge reports a problem."""
    problems = sorted(SYNC_STATUS_SEVERITY)
    query = sa.select(
        merge_sync_status.c.model_id,
        merge_sync_status.c.linked_account_id,
        merge_sync_status.c.status,
        merge_sync_status.c.last_sync_result,
    ).where(
        merge_sync_status.c.linked_account_id.in_(_category_accounts(category)),
        sa.or_(
            merge_sync_status.c.status.in_(problems),
            merge_sync_status.c.last_sync_result.in_(problems),
        ),
    )
    found: dict[str, list[tuple[str, str | None, str | None]]] = defaultdict(list)
    for row in connection.execute(query.order_by(merge_sync_status.c.linked_account_id)):
        found[row.model_id].append((row.linked_account_id, row.status, row.last_sync_result))
    return dict(found)


def relink_needed(connection: sa.Connection, category: str) -> list[tuple[str, str | None]]:
    """(account, its open unmuted Issues' text) for held accounts of the category."""
    text = sa.func.string_agg(sa.distinct(account_issues.c.error_description), "; ")
    query = (
        sa.select(linked_accounts.c.id, text.label("issues"))
        .select_from(
            linked_accounts.outerjoin(
                account_issues,
                sa.and_(
                    account_issues.c.linked_account_id == linked_accounts.c.id,
                    account_issues.c.status == ONGOING,
                    sa.not_(account_issues.c.is_muted),
                ),
            )
        )
        .where(
            linked_accounts.c.category == category,
            linked_accounts.c.is_active,
            linked_accounts.c.status.in_(sorted(HOLDING_STATUSES)),
        )
        .group_by(linked_accounts.c.id)
        .order_by(linked_accounts.c.id)
    )
    return [(row.id, row.issues) for row in connection.execute(query)]


def stale_syncs(
    connection: sa.Connection, category: str, model_ids: list[str], window_hours: float
) -> dict[str, list[tuple[str, datetime | None]]]:
    """model id -> (account, last successful sync) for syncs older than the window.

    Held accounts are left out (the relink check names them), and an account younger than the
    window is not stale for never having synced.
    """
    last_ok = (
        sa.select(
            sync_runs.c.linked_account_id,
            sync_runs.c.model_id,
            sa.func.max(sync_runs.c.finished_at).label("last_ok"),
        )
        .where(
            sync_runs.c.status == SUCCEEDED,
            sync_runs.c.linked_account_id.in_(_category_accounts(category)),
        )
        .group_by(sync_runs.c.linked_account_id, sync_runs.c.model_id)
        .subquery()
    )
    models = (
        sa.func.unnest(sa.cast(model_ids, sa.ARRAY(sa.Text())))
        .table_valued("model_id")
        .render_derived(name="models")
    )
    cutoff = sa.func.now() - sa.func.make_interval(0, 0, 0, 0, 0, 0, window_hours * 3600)
    query = (
        sa.select(linked_accounts.c.id, models.c.model_id, last_ok.c.last_ok)
        .select_from(
            linked_accounts.join(models, sa.true()).outerjoin(
                last_ok,
                sa.and_(
                    last_ok.c.linked_account_id == linked_accounts.c.id,
                    last_ok.c.model_id == models.c.model_id,
                ),
            )
        )
        .where(
            linked_accounts.c.category == category,
            linked_accounts.c.is_active,
            sa.or_(
                linked_accounts.c.status.is_(None),
                linked_accounts.c.status.not_in(sorted(HOLDING_STATUSES)),
            ),
            sa.func.coalesce(last_ok.c.last_ok, linked_accounts.c.created_at) < cutoff,
        )
        .order_by(linked_accounts.c.id)
    )
    found: dict[str, list[tuple[str, datetime | None]]] = defaultdict(list)
    for row in connection.execute(query):
        found[row.model_id].append((row.id, row.last_ok))
    return dict(found)


def quarantine_pending(
    connection: sa.Connection, category: str
) -> dict[str, list[tuple[str, int]]]:
    """model id -> (account, records pending in quarantine)."""
    query = (
        sa.select(
            quarantined_records.c.model_id,
            quarantined_records.c.linked_account_id,
            sa.func.count().label("pending"),
        )
        .where(
            quarantined_records.c.resolved_at.is_(None),
            quarantined_records.c.linked_account_id.in_(_category_accounts(category)),
        )
        .group_by(quarantined_records.c.model_id, quarantined_records.c.linked_account_id)
        .order_by(quarantined_records.c.linked_account_id)
    )
    found: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for row in connection.execute(query):
        found[row.model_id].append((row.linked_account_id, int(row.pending)))
    return dict(found)
