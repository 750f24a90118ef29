"""Remove everything mirrored for a linked account (the ``purge`` policy for deleted accounts)."""

import sqlalchemy as sa

from merge_pipeline.catalog import load_catalog
from merge_pipeline.warehouse.mirror_tables import mirror_tables
from merge_pipeline.warehouse.pipeline_tables import sync_cursors


def purge_account_rows(connection: sa.Connection, account_id: str, category: str) -> int:
    """Delete the account's rows from its category's mirror tables and its cursors.

    Cursors go too, so that if the account ever came back it would be fetched in full again.
    """
    deleted = 0
    for model in load_catalog().category(category):
        table = mirror_tables()[model]
        result = connection.execute(sa.delete(table).where(table.c.linked_account_id == account_id))
        deleted += result.rowcount
    connection.execute(
        sa.delete(sync_cursors).where(sync_cursors.c.linked_account_id == account_id)
    )
    return deleted
