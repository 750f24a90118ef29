"""Account health as stored: each account's Merge status and the Issues Merge reports.

Written by the account-health sensor (from ``/account-details``, ``/issues`` and the ``Issue.*``
webhooks); read by ``account_holds`` (which accounts get no runs), the asset checks and the
relink command. Nothing here deletes: a resolved Issue stays, marked RESOLVED.
"""

from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from merge_pipeline.planning.account_health import ONGOING, RESOLVED, IssueRow, OpenIssue
from merge_pipeline.warehouse.pipeline_tables import account_issues, linked_accounts

#: ``/account-details`` fields copied onto the stored account when Merge states them (CONTRACT §5)
_DETAIL_COLUMNS = (
    "integration",
    "integration_slug",
    "end_user_origin_id",
    "end_user_organization_name",
    "end_user_email_address",
    "account_type",
)


def record_health(
    connection: sa.Connection,
    account_id: str,
    *,
    status: str | None,
    detail: str,
    details: Mapping[str, Any] | None = None,
) -> bool:
    """Store what a health read found; ``status=None`` keeps the stored status.

    Returns whether the stored status changed. Who the account is (end user, integration) is
    refreshed from ``details`` so a relink can name the end user even for accounts stored by id.
    """
    values: dict[str, Any] = {"health_checked_at": sa.func.now(), "health_detail": detail}
    for name in _DETAIL_COLUMNS:
        value = (details or {}).get(name)
        if isinstance(value, str) and value:
            values[name] = value
    previous = connection.execute(
        sa.select(linked_accounts.c.status).where(linked_accounts.c.id == account_id)
    ).scalar()
    if status is not None:
        values["status"] = status
        if status != previous:
            values["updated_at"] = sa.func.now()
    connection.execute(
        sa.update(linked_accounts).where(linked_accounts.c.id == account_id).values(values)
    )
    return status is not None and status != previous


def set_status(connection: sa.Connection, account_id: str, status: str) -> bool:
    """Store Merge's status from a webhook envelope; returns whether it changed."""
    changed = connection.execute(
        sa.update(linked_accounts)
        .where(
            linked_accounts.c.id == account_id, linked_accounts.c.status.is_distinct_from(status)
        )
        .values(status=status, updated_at=sa.func.now())
    ).rowcount
    return bool(changed)


def upsert_issues(connection: sa.Connection, rows: Iterable[IssueRow]) -> int:
    """Insert or update Issues by Merge's id; returns how many rows were written."""
    values = [
        {
            "id": row.id,
            "linked_account_id": row.linked_account_id,
            "status": row.status,
            "error_description": row.error_description,
            "first_incident_time": row.first_incident_time,
            "last_incident_time": row.last_incident_time,
            "is_muted": row.is_muted,
        }
        for row in rows
    ]
    if not values:
        return 0
    statement = insert(account_issues).values(values)
    connection.execute(
        statement.on_conflict_do_update(
            index_elements=[account_issues.c.id],
            set_={
                **{
                    name: statement.excluded[name]
                    for name in values[0]
                    if name not in ("id", "first_incident_time")
                },
                "first_incident_time": sa.func.coalesce(
                    account_issues.c.first_incident_time, statement.excluded.first_incident_time
                ),
                "observed_at": sa.func.now(),
            },
        )
    )
    return len(values)


def stored_open_issue_ids(connection: sa.Connection) -> set[str]:
    """Issues we hold as ONGOING (unmuted or not)."""
    query = sa.select(account_issues.c.id).where(account_issues.c.status == ONGOING)
    return set(connection.execute(query).scalars())


def mark_resolved(connection: sa.Connection, ids: Iterable[str]) -> None:
    """Issues Merge no longer lists as ongoing are RESOLVED (never deleted)."""
    chosen = sorted(ids)
    if chosen:
        connection.execute(
            sa.update(account_issues)
            .where(account_issues.c.id.in_(chosen))
            .values(status=RESOLVED, observed_at=sa.func.now())
        )


def resolve_account_issues(connection: sa.Connection, account_id: str) -> None:
    """A relink resolves every ongoing Issue of the account at once (CONTRACT §5)."""
    connection.execute(
        sa.update(account_issues)
        .where(account_issues.c.linked_account_id == account_id, account_issues.c.status == ONGOING)
        .values(status=RESOLVED, observed_at=sa.func.now())
    )


def open_issues(
    connection: sa.Connection, account_ids: Iterable[str] | None = None
) -> dict[str, list[OpenIssue]]:
    """Account id -> its ONGOING Issues (muted ones included, flagged)."""
    query = (
        sa.select(
            account_issues.c.linked_account_id,
            account_issues.c.id,
            account_issues.c.error_description,
            account_issues.c.is_muted,
        )
        .where(account_issues.c.status == ONGOING)
        .order_by(account_issues.c.linked_account_id, account_issues.c.id)
    )
    if account_ids is not None:
        query = query.where(account_issues.c.linked_account_id.in_(sorted(account_ids)))
    found: dict[str, list[OpenIssue]] = {}
    for row in connection.execute(query):
        found.setdefault(row.linked_account_id, []).append(
            OpenIssue(row.id, row.error_description, row.is_muted)
        )
    return found
