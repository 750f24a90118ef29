"""One line saying why a sync failed, safe to store in ``sync_runs.error`` and to print.

Safe means: no secret (whatever its escaping) and no row data. Merge errors are built safe;
database errors are reduced to what their SQLSTATE means (``warehouse/db_errors.py``), because
their text quotes values (``invalid input syntax for type bigint: "..."``) and SQLAlchemy's adds
the statement and its parameters; anything else is named by its type and where it happened,
never by its message.
"""

import traceback
from collections.abc import Iterable

import sqlalchemy.exc

from merge_pipeline.merge.credentials import MalformedAccountToken
from merge_pipeline.merge.errors import MergeError
from merge_pipeline.merge.hygiene import redact
from merge_pipeline.warehouse.accounts import UnknownLinkedAccount
from merge_pipeline.warehouse.db_errors import describe_database_error
from merge_pipeline.warehouse.locks import SyncLockTimeout
from merge_pipeline.warehouse.vault import TokenDecryptionError

#: our own errors, whose messages are written to be shown (no secret, no row data)
_EXPLAINED = (
    MergeError,
    SyncLockTimeout,
    MalformedAccountToken,
    UnknownLinkedAccount,
    TokenDecryptionError,
)


def _first_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[0].strip() if lines else ""


def _where(error: BaseException) -> str:
    """The innermost frame of our own code the error passed through (file:line)."""
    frames = [
        f for f in traceback.extract_tb(error.__traceback__) if "merge_pipeline" in f.filename
    ]
    if not frames:
        return "outside merge-pipeline"
    frame = frames[-1]
    return f"{frame.filename.rsplit('merge_pipeline/', 1)[-1]}:{frame.lineno}"


def describe_failure(error: BaseException, secrets: Iterable[str] = ()) -> str:
    """Why the sync failed, in one line with no secret and no row data."""
    if isinstance(error, _EXPLAINED):
        text = str(error)
    elif isinstance(error, sqlalchemy.exc.DBAPIError):
        text = describe_database_error(error)
    elif isinstance(error, sqlalchemy.exc.SQLAlchemyError):
        text = f"database error ({type(error).__name__} at {_where(error)})"
    else:
        text = f"unexpected {type(error).__name__} at {_where(error)}"
    return redact(" ".join(text.split()), [s for s in secrets if s])
