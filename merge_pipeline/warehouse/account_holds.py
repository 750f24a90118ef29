"""Accounts that must get no sync runs for now, and why.

An account whose credentials Merge no longer accepts (``RELINK_NEEDED``) can only fail its
syncs: every path that requests runs (sensors, schedules, discovery) asks here first, while
the account's mirrored data stays readable. Merge's own status is the source (written by the
account-health sensor and the linked-account webhooks), so a relink lifts the hold by itself.
"""

import sqlalchemy as sa

from merge_pipeline.warehouse.pipeline_tables import linked_accounts

#: Merge's account statuses (CONTRACT §5) under which a sync cannot succeed.
HOLDING_STATUSES = {
    "RELINK_NEEDED": "Merge says its credentials need relinking",
}


def held_accounts(connection: sa.Connection, ids: list[str] | None = None) -> dict[str, str]:
    """Account id -> why it gets no runs, for active stored accounts that are held."""
    query = sa.select(linked_accounts.c.id, linked_accounts.c.status).where(
        linked_accounts.c.is_active,
        linked_accounts.c.status.in_(sorted(HOLDING_STATUSES)),
    )
    if ids is not None:
        query = query.where(linked_accounts.c.id.in_(ids))
    return {row.id: HOLDING_STATUSES[row.status] for row in connection.execute(query)}
