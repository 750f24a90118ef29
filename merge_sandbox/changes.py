"""How a change is stamped and how a record is deleted, as the adversity switches say.

Kept apart from the code that picks *which* records change, so every path that changes records
(simulated Merge syncs, the admin API, background mutations) behaves alike.
"""

from merge_sandbox.state import Sandbox
from merge_sandbox.table import ModelTable, Row
from merge_sandbox.timefmt import US_PER_SECOND


def change_moment(sandbox: Sandbox) -> int:
    """The ``modified_at`` a change made now carries.

    With ``visibility_lag_seconds`` the change becomes readable now but is stamped that much
    earlier: exactly what a client sees when Merge's writes become visible after their
    ``modified_at`` (replication lag, a long Merge sync writing with its start time).
    """
    lag_us = round(sandbox.adversity.visibility_lag_seconds * US_PER_SECOND)
    return sandbox.clock.now_us() - lag_us


def delete_row(sandbox: Sandbox, table: ModelTable, index: int) -> Row | None:
    """Delete one record; None when it is already gone or cannot be deleted.

    A model without ``remote_was_deleted`` cannot say a record was deleted; Merge's behaviour
    for them is undocumented, so by default they are never deleted, and with
    ``unflagged_deletes`` (or ``hard_deletes``) their records vanish from listings.
    """
    adversity = sandbox.adversity
    flagged = table.spec.model.flags_deletions
    if not flagged and not (adversity.unflagged_deletes or adversity.hard_deletes):
        return None
    return table.delete(
        index,
        change_moment(sandbox),
        bump=not adversity.delete_without_bump,
        purge=adversity.hard_deletes or not flagged,
    )
