"""Cross-process mutual exclusion for syncs, with PostgreSQL advisory locks.

A session-level advisory lock is held by the sync's own connection, so it spans processes and
machines, and PostgreSQL releases it by itself if the process dies (no stale lock files). The
wait for it is bounded by PostgreSQL's ``lock_timeout`` (which advisory locks obey), so a sync
stuck behind a hung one gives up with a clear error instead of waiting for ever.
"""

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy.exc import OperationalError

_NAMESPACE = "merge_pipeline.sync"
#: SQLSTATE lock_not_available: the lock_timeout expired
_LOCK_NOT_AVAILABLE = "55P03"


class SyncLockTimeout(RuntimeError):
    """Another sync of the same pair held its lock for longer than we were willing to wait."""


def _key(*parts: str) -> sa.ColumnElement[int]:
    return sa.func.hashtextextended(":".join((_NAMESPACE, *parts)), 0)


def _acquire(connection: sa.Connection, key: sa.ColumnElement[int], timeout_s: float) -> bool:
    """Wait up to ``timeout_s`` for the lock; False when the wait ran out."""
    connection.execute(
        sa.select(sa.func.set_config("lock_timeout", f"{max(1, round(timeout_s * 1000))}ms", True))
    )
    try:
        connection.execute(sa.select(sa.func.pg_advisory_lock(key)))
    except OperationalError as error:
        if getattr(error.orig, "pgcode", None) != _LOCK_NOT_AVAILABLE:
            raise
        connection.rollback()
        return False
    connection.commit()  # ends the transaction: lock_timeout (set locally) reverts, the lock stays
    return True


@contextmanager
def sync_lock(
    connection: sa.Connection,
    linked_account_id: str,
    model_id: str,
    *,
    timeout_s: float = 1800.0,
) -> Iterator[None]:
    """Hold the lock of one (linked account, model) pair; waits at most ``timeout_s`` for it."""
    key = _key(linked_account_id, model_id)
    if connection.in_transaction():
        connection.commit()
    if not _acquire(connection, key, timeout_s):
        raise SyncLockTimeout(
            f"another sync of {model_id} for linked account {linked_account_id} held the lock "
            f"for more than {timeout_s:g}s; not syncing it now (MERGE_PIPELINE_LOCK_TIMEOUT_S)"
        ) from None
    try:
        yield
    finally:
        if connection.in_transaction():
            connection.rollback()
        connection.execute(sa.select(sa.func.pg_advisory_unlock(key)))
        connection.commit()
