"""Records Merge sent that could not be mirrored, kept whole until a later sync stores them.

A record lands here with the reason (which names the field, never a value) instead of failing
its page; the page's other records are stored. Entries are keyed by (account, model, record id),
or by a digest of the record when it has no id, so re-reading the same bad record updates one
entry. An entry is *pending* until the record is stored (listed again in a good form, or fetched
by id on a later sync) or Merge no longer has it; ``resolved_at`` then says when.
"""

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg

from merge_pipeline.warehouse.pipeline_tables import quarantined_records

STORED, GONE = "stored", "gone"
#: ids longer than this are keyed by their digest (a btree index entry holds ~2.7 kB at most)
_MAX_KEY_CHARS = 200


@dataclass(frozen=True)
class Quarantined:
    """A record kept aside: its model, id (if it has one), why, and itself as exact JSON."""

    model_id: str
    record_id: str | None
    reason: str
    raw_json: str
    modified_at: datetime | None

    @property
    def record_key(self) -> str:
        """The id, or a digest of it (or of the record) when it is missing or too long to index."""
        if self.record_id is not None and len(self.record_id) <= _MAX_KEY_CHARS:
            return self.record_id
        keyed = self.record_id if self.record_id is not None else self.raw_json
        return "sha256:" + hashlib.sha256(keyed.encode()).hexdigest()


_UPSERT = sa.text(
    "INSERT INTO merge_pipeline.quarantined_records AS q (linked_account_id, model_id, "
    "record_id, record_key, reason, raw, modified_at, sync_run_id) VALUES (:account, :model, "
    ":record_id, :record_key, :reason, CAST(:raw AS json), :modified_at, :sync_run_id) "
    "ON CONFLICT (linked_account_id, model_id, record_key) DO UPDATE SET "
    "reason = EXCLUDED.reason, raw = EXCLUDED.raw, modified_at = EXCLUDED.modified_at, "
    "sync_run_id = EXCLUDED.sync_run_id, last_seen_at = now(), attempts = q.attempts + 1, "
    "resolved_at = NULL, resolution = NULL"
)


def quarantine(
    connection: sa.Connection,
    linked_account_id: str,
    entries: Sequence[Quarantined],
    sync_run_id: str,
) -> None:
    """Keep ``entries`` (in the caller's transaction); a record seen again updates its entry."""
    if not entries:
        return
    connection.execute(
        _UPSERT,
        [
            {
                "account": linked_account_id,
                "model": entry.model_id,
                "record_id": entry.record_id,
                "record_key": entry.record_key,
                "reason": entry.reason,
                "raw": entry.raw_json,
                "modified_at": entry.modified_at,
                "sync_run_id": sync_run_id,
            }
            for entry in entries
        ],
    )


def _pending(
    linked_account_id: str | sa.BindParameter[Any], model_id: str | sa.BindParameter[Any]
) -> sa.ColumnElement[bool]:
    q = quarantined_records.c
    return sa.and_(
        q.linked_account_id == linked_account_id, q.model_id == model_id, q.resolved_at.is_(None)
    )


# Built once, the ids as one array parameter: every page of every sync runs it, and an ``IN``
# list of a page's ids was rendered anew each time (6 % of a sync's samples).
_RESOLVE = (
    sa.update(quarantined_records)
    .where(
        _pending(sa.bindparam("account"), sa.bindparam("model")),
        quarantined_records.c.record_id == sa.any_(sa.bindparam("ids", type_=pg.ARRAY(sa.Text))),
    )
    .values(resolved_at=sa.func.now(), resolution=sa.bindparam("resolution"))
)


def resolve(
    connection: sa.Connection,
    linked_account_id: str,
    model_id: str,
    record_ids: Sequence[str],
    resolution: str = STORED,
) -> int:
    """Mark the pending entries of ``record_ids`` resolved (they were stored, or are gone)."""
    if not record_ids:
        return 0
    result = connection.execute(
        _RESOLVE,
        {
            "account": linked_account_id,
            "model": model_id,
            "ids": list(record_ids),
            "resolution": resolution,
        },
    )
    return result.rowcount


def pending_count(connection: sa.Connection, linked_account_id: str, model_id: str) -> int:
    """How many records of the pair wait in quarantine (for the Dagster check and the CLI)."""
    count: int = connection.execute(
        sa.select(sa.func.count()).where(_pending(linked_account_id, model_id))
    ).scalar_one()
    return count


def pending_ids(
    connection: sa.Connection, linked_account_id: str, model_id: str, limit: int
) -> list[str]:
    """Ids of pending entries, least recently seen first (the ones to fetch again by id)."""
    q = quarantined_records.c
    rows = connection.execute(
        sa.select(q.record_id)
        .where(_pending(linked_account_id, model_id), q.record_id.is_not(None))
        .order_by(q.last_seen_at, q.id)
        .limit(limit)
    )
    return [row.record_id for row in rows]
