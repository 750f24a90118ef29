"""Cross-process mutual exclusion for syncs, with PostgreSQL advisory locks.

A session-level advisory lock is held by the sync's own connection, so it spans processes and
machines, and PostgreSQL releases it by itself if the process dies (no stale lock files).
"""

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa

_NAMESPACE = "merge_pipeline.sync"


def _key(*parts: str) -> sa.ColumnElement[int]:
    return sa.func.hashtextextended(":".join((_NAMESPACE, *parts)), 0)


@contextmanager
def sync_lock(connection: sa.Connection, linked_account_id: str, model_id: str) -> Iterator[None]:
    """Hold the lock of one (linked account, model) pair; waits while another sync holds it."""
    key = _key(linked_account_id, model_id)
    connection.execute(sa.select(sa.func.pg_advisory_lock(key)))
    connection.commit()
    try:
        yield
    finally:
        if connection.in_transaction():
            connection.rollback()
        connection.execute(sa.select(sa.func.pg_advisory_unlock(key)))
        connection.commit()
