"""A lease per linked account, held for the whole of a Dagster sync run.

Two jobs at once: it is the second line behind the run queue's one-run-per-account limit (a run
started around the queue, e.g. by ``materialize()``, cannot sync the same account at the same
time), and it is a liveness signal that works across machines. The lease is a session-level
advisory lock on the run's own connection, so PostgreSQL drops it the moment the run's process
dies; a run that Dagster still calls STARTED but whose lease nobody holds is dead.
"""

import os
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import sqlalchemy as sa

_NAMESPACE = "merge_pipeline.run"


class LeaseTaken(RuntimeError):
    """Another run holds the account's lease (it is syncing the same account right now)."""


def _key(account_id: str) -> sa.ColumnElement[int]:
    return sa.func.hashtextextended(f"{_NAMESPACE}:{account_id}", 0)


@contextmanager
def account_run_lease(
    engine: sa.Engine,
    account_id: str,
    *,
    holder: str = "",
    wait_s: float = 30.0,
    poll_s: float = 0.5,
) -> Iterator[None]:
    """Hold the account's lease on a connection of its own; LeaseTaken after ``wait_s``.

    The connection names its holder (``pid=... run=...``) in ``pg_stat_activity``, so an
    operator can see which process syncs which account.
    """
    deadline = time.monotonic() + wait_s
    with engine.connect() as connection:
        name = f"merge-pipeline pid={os.getpid()} {holder}"[:63]  # PostgreSQL's limit
        connection.execute(sa.select(sa.func.set_config("application_name", name, False)))
        while not connection.execute(
            sa.select(sa.func.pg_try_advisory_lock(_key(account_id)))
        ).scalar_one():
            connection.commit()
            if time.monotonic() >= deadline:
                raise LeaseTaken(f"another run is syncing linked account {account_id}")
            time.sleep(poll_s)
        connection.commit()
        try:
            yield
        finally:
            connection.execute(sa.select(sa.func.pg_advisory_unlock(_key(account_id))))
            connection.commit()


_LEASED = sa.text(
    """
    SELECT w.account_id
    FROM unnest(CAST(:ids AS text[])) AS w(account_id)
    JOIN pg_locks AS l
      ON l.locktype = 'advisory' AND l.objsubid = 1 AND l.granted
     AND ((l.classid::bigint << 32) | l.objid::bigint)
         = hashtextextended(:namespace || ':' || w.account_id, 0)
    """
)


def leased_accounts(connection: sa.Connection, account_ids: Iterable[str]) -> set[str]:
    """Which of the accounts have their lease held by some session right now."""
    ids = sorted(set(account_ids))
    if not ids:
        return set()
    rows = connection.execute(_LEASED, {"ids": ids, "namespace": _NAMESPACE})
    return {row.account_id for row in rows}


_HOLDER = sa.text(
    """
    SELECT a.application_name
    FROM pg_locks AS l JOIN pg_stat_activity AS a ON a.pid = l.pid
    WHERE l.locktype = 'advisory' AND l.objsubid = 1 AND l.granted
      AND ((l.classid::bigint << 32) | l.objid::bigint)
          = hashtextextended(:namespace || ':' || :account_id, 0)
    """
)


def lease_holder(connection: sa.Connection, account_id: str) -> str | None:
    """The ``application_name`` of the session holding the account's lease, if any."""
    row = connection.execute(_HOLDER, {"namespace": _NAMESPACE, "account_id": account_id}).first()
    return None if row is None else str(row.application_name)
