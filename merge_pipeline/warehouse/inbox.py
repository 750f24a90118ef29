"""The webhook inbox: each verified delivery once, for the sensors to read from their cursor.

``body_sha256`` is unique, so a redelivery of the same body (Merge's retries, duplicates)
collapses into the row already there.
"""

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from merge_pipeline.warehouse.pipeline_tables import webhook_inbox


def store_event(
    connection: sa.Connection,
    *,
    event: str,
    linked_account_id: str | None,
    body_sha256: str,
    payload: dict[str, Any],
) -> int | None:
    """Insert one event; its new id, or ``None`` when the same body is already stored."""
    statement = (
        insert(webhook_inbox)
        .values(
            event=event,
            linked_account_id=linked_account_id,
            body_sha256=body_sha256,
            payload=payload,
        )
        .on_conflict_do_nothing(index_elements=[webhook_inbox.c.body_sha256])
        .returning(webhook_inbox.c.id)
    )
    return connection.execute(statement).scalar()
