"""Mirror vs the sandbox's ground truth for the Dagster tests (same rule as the sync tests)."""

import sqlalchemy as sa

from merge_pipeline.warehouse.mirror_tables import mirror_tables
from merge_sandbox.admin import SandboxAdmin


def assert_mirror_matches_sandbox(
    engine: sa.Engine, admin: SandboxAdmin, account_id: str, model_id: str
) -> None:
    truth = admin.records(account_id, model_id)
    expected = {key: (record, key in truth.deleted) for key, record in truth.by_key().items()}
    table = mirror_tables()[model_id]
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(table.c.id, table.c._raw, table.c.remote_was_deleted).where(
                table.c.linked_account_id == account_id
            )
        )
        mirrored = {row.id: (row._raw, row.remote_was_deleted) for row in rows}
    assert mirrored == expected, f"{model_id}: mirror differs from the sandbox"
