"""Recognise transaction conflicts PostgreSQL resolves by aborting one side (safe to re-run).

A deadlock (SQLSTATE 40P01) or a serialization failure (40001) says nothing about the database
being down: the aborted transaction can simply be run again. The driver reports both as
``OperationalError``, the same class as a lost connection, so they must be told apart by code.
"""

import sqlalchemy as sa

CONFLICT_CODES = frozenset({"40P01", "40001"})
#: times a page's transaction is re-run after a conflict before the error is raised
CONFLICT_RETRIES = 3


def is_transaction_conflict(error: BaseException) -> bool:
    """True for a deadlock or serialization failure reported by PostgreSQL."""
    if not isinstance(error, sa.exc.DBAPIError):
        return False
    return getattr(error.orig, "pgcode", None) in CONFLICT_CODES
